/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_table.c - the command table, cmd_table[]: one entry per command,
 * exported by the file of its group (cli.h), and the two lookups the parse
 * and the help need. Adding a command is adding its entry here.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "cli/cli.h"

const struct cmd_entry *const cmd_table[] = {
    &cmd_webhooks_create_entry,
    &cmd_webhooks_get_entry,
    &cmd_webhooks_list_entry,
    &cmd_webhooks_update_entry,
    &cmd_webhooks_delete_entry,
    &cmd_webhooks_rotate_secret_entry,
    &cmd_webhooks_ping_entry,
    &cmd_events_publish_entry,
    &cmd_deliveries_list_entry,
    &cmd_deliveries_get_entry,
    &cmd_deliveries_retry_entry,
    &cmd_webhooks_recover_entry,
    &cmd_interactions_list_entry,
    &cmd_interactions_get_entry,
    &cmd_interactions_cancel_entry,
    &cmd_interactions_wait_entry,
    &cmd_batches_list_entry,
    &cmd_batches_get_entry,
    &cmd_batches_cancel_entry,
    &cmd_batches_wait_entry,
    &cmd_operations_list_entry,
    &cmd_operations_get_entry,
    &cmd_operations_cancel_entry,
    &cmd_operations_wait_entry,
    &cmd_keys_rotate_entry,
    &cmd_verify_entry,
    &cmd_listen_entry,
    &cmd_help_entry,
    &cmd_completion_entry,
};
#define CMD_TABLE_LEN (sizeof(cmd_table) / sizeof(cmd_table[0]))
const size_t cmd_table_len = CMD_TABLE_LEN;

bool
cli_table_group_exists(const char *group)
{
    size_t i;

    for (i = 0; i < CMD_TABLE_LEN; i++) {
        if (strcmp(cmd_table[i]->group, group) == 0)
            return true;
    }
    return false;
}

const struct cmd_entry *
cli_table_find(const char *group, const char *name)
{
    size_t i;

    for (i = 0; i < CMD_TABLE_LEN; i++) {
        if (strcmp(cmd_table[i]->group, group) == 0 &&
            (name == NULL ? cmd_table[i]->name == NULL
                          : cmd_table[i]->name != NULL &&
                            strcmp(cmd_table[i]->name, name) == 0))
            return cmd_table[i];
    }
    return NULL;
}

