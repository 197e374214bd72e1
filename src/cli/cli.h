/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - the command table of the kabar command-line tool.
 *
 * Every command is one struct cmd_entry, exported by the file of its group
 * (cli_webhooks.c for "kabar webhooks ...") and collected in cmd_table[] in
 * cli_table.c, as tmux does with its cmd-*.c files. An entry declares its
 * options and how many positional arguments it takes; cli_main.c parses the
 * command line against it (global options may appear anywhere), so a command
 * function only ever sees a well-formed struct cmd_args.
 */
#ifndef KABAR_CLI_H
#define KABAR_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes: success, a failed request, a command line we cannot run, and
 * for "wait", a job still running when the time ran out. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_TIMEOUT 3

#define CLI_DEFAULT_SERVER "http://127.0.0.1:8080"

/* API keys are short tokens; anything longer than this is a mistake. */
#define CLI_API_KEY_MAX 512

/* Room in struct cmd_args; an entry with more is rejected by an assert. */
#define CMD_MAX_OPTS 10
#define CMD_MAX_ARGS 2

struct cli_client;

/* What the global options decided, shared by every command. */
struct cli_ctx {
    const char *server_opt;         /* --server, or NULL */
    bool api_key_opt;               /* api_key came from --api-key */
    bool json;                      /* --json: print the server's JSON */
    const char *server;             /* base URL, set on the first request */
    char api_key[CLI_API_KEY_MAX];  /* wiped with OPENSSL_cleanse at exit */
    struct cli_client *client;      /* made on the first request (cli_client.c) */
};

/* One option of a command: "--name VALUE" (has_arg) or a "--flag". */
struct cmd_opt {
    const char *name;               /* without the leading dashes */
    bool has_arg;
};

/* A parsed command line. opt[i] belongs to entry->opts[i]: the value of an
 * option with an argument, "" for a flag that was given, NULL when absent.
 * The strings point into argv. argv_value[i] is opt[i] again, writable,
 * when it is an option's value in argv (NULL otherwise), so that a command
 * can wipe a secret given on its command line. */
struct cmd_args {
    const char *opt[CMD_MAX_OPTS];
    char *argv_value[CMD_MAX_OPTS];
    const char *arg[CMD_MAX_ARGS];
    int nargs;
};

struct cmd_entry {
    const char *group;              /* "webhooks" */
    const char *name;               /* "create"; NULL for "kabar verify" */
    const char *usage;              /* what follows "kabar group name" */
    const char *help;               /* one sentence for --help */
    const struct cmd_opt *opts;     /* ends with a NULL name */
    const char *arg_name;           /* "ID", for "missing ID" */
    int min_args;
    int max_args;
    /* Returns a CLI_EXIT_* code; has printed its own errors. */
    int (*exec)(struct cli_ctx *ctx, const struct cmd_entry *entry,
                const struct cmd_args *args);
};

extern const struct cmd_entry cmd_webhooks_create_entry;
extern const struct cmd_entry cmd_webhooks_get_entry;
extern const struct cmd_entry cmd_webhooks_list_entry;
extern const struct cmd_entry cmd_webhooks_update_entry;
extern const struct cmd_entry cmd_webhooks_delete_entry;
extern const struct cmd_entry cmd_webhooks_rotate_secret_entry;
extern const struct cmd_entry cmd_webhooks_ping_entry;
extern const struct cmd_entry cmd_events_publish_entry;
extern const struct cmd_entry cmd_deliveries_list_entry;
extern const struct cmd_entry cmd_deliveries_get_entry;
extern const struct cmd_entry cmd_deliveries_retry_entry;
extern const struct cmd_entry cmd_webhooks_recover_entry;
extern const struct cmd_entry cmd_interactions_list_entry;
extern const struct cmd_entry cmd_interactions_get_entry;
extern const struct cmd_entry cmd_interactions_cancel_entry;
extern const struct cmd_entry cmd_interactions_wait_entry;
extern const struct cmd_entry cmd_batches_list_entry;
extern const struct cmd_entry cmd_batches_get_entry;
extern const struct cmd_entry cmd_batches_cancel_entry;
extern const struct cmd_entry cmd_batches_wait_entry;
extern const struct cmd_entry cmd_operations_list_entry;
extern const struct cmd_entry cmd_operations_get_entry;
extern const struct cmd_entry cmd_operations_cancel_entry;
extern const struct cmd_entry cmd_operations_wait_entry;
extern const struct cmd_entry cmd_keys_rotate_entry;
extern const struct cmd_entry cmd_verify_entry;       /* single word: name NULL */
extern const struct cmd_entry cmd_listen_entry;
extern const struct cmd_entry cmd_help_entry;         /* single word */
extern const struct cmd_entry cmd_completion_entry;   /* single word */

/* The command table itself, in cli_table.c: the parse, the help and
 * "kabar completion" read it. */
extern const struct cmd_entry *const cmd_table[];
extern const size_t cmd_table_len;

/* Whether a command of group exists. */
bool cli_table_group_exists(const char *group);

/* The entry of "kabar group name", or of the single-word command group
 * when name is NULL; NULL when there is none. */
const struct cmd_entry *cli_table_find(const char *group, const char *name);

/* Print "kabar: group name: message" and the entry's usage line to stderr
 * (cli_usage.c). Returns CLI_EXIT_USAGE so that a command can "return
 * cli_usage_error()". */
int cli_usage_error(const struct cmd_entry *entry, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
