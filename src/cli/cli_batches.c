/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_batches.c - the "kabar batches" command group, over the Batch API of
 * docs/operations.md:
 *
 *   batches list                   GET  /v1/operations?kind=batch&...
 *   batches get ID                 GET  /v1/batches/ID
 *   batches cancel ID              POST /v1/batches/ID:cancel
 *   batches wait ID                GET  /v1/batches/ID until done
 *
 * A batch is shown as Google's Operation: "done" says it is final, and
 * metadata.state (BATCH_STATE_...) how it ended; "wait" counts
 * BATCH_STATE_SUCCEEDED as success. The ID may be given as the resource
 * names itself, "batches/batch_...".
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_ops.h"
#include "cli/cli_output.h"
#include "cli/cli_print.h"

#define BATCHES_NAME_PREFIX "batches/"

static bool
batches_state(const json_t *resource, struct cli_ops_state *out)
{
    const json_t *meta = json_object_get(resource, "metadata");
    const char *state = json_string_value(json_object_get(meta, "state"));
    const json_t *done = json_object_get(resource, "done");

    if (state == NULL || (done != NULL && !json_is_boolean(done)))
        return false;
    out->name = state;
    /* Google's Operation leaves "done" out until it is true. */
    out->final = json_is_true(done);
    out->succeeded = out->final && strcmp(state, "BATCH_STATE_SUCCEEDED") == 0;
    return true;
}

/* "requests: 3 (2 succeeded, 1 failed)", the counts the server gave (as
 * strings: proto3 JSON spells an int64 so). */
static void
batches_print_stats(const json_t *stats)
{
    static const struct { const char *key, *label; } counts[] = {
        {"successfulRequestCount", "succeeded"},
        {"failedRequestCount", "failed"},
        {"pendingRequestCount", "pending"},
    };
    const char *sep = " (";
    size_t i;

    if (cli_output_str(stats, "requestCount")[0] == '\0')
        return;
    cli_output_label("requests:");
    cli_print_safe(cli_output_str(stats, "requestCount"), stdout);
    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        const char *n = cli_output_str(stats, counts[i].key);

        if (n[0] == '\0')
            continue;
        fputs(sep, stdout);
        cli_print_safe(n, stdout);
        printf(" %s", counts[i].label);
        sep = ", ";
    }
    if (strcmp(sep, ", ") == 0)
        putchar(')');
    putchar('\n');
}

static void
batches_print(const json_t *o)
{
    const json_t *meta = json_object_get(o, "metadata");
    const char *name = cli_output_str(o, "name");
    size_t plen = strlen(BATCHES_NAME_PREFIX);

    if (strncmp(name, BATCHES_NAME_PREFIX, plen) == 0)
        name += plen;
    cli_output_field("id:", name);
    if (cli_output_str(meta, "displayName")[0] != '\0')
        cli_output_field("name:", cli_output_str(meta, "displayName"));
    cli_output_field("state:", cli_output_str(meta, "state"));
    cli_output_field("model:", cli_output_str(meta, "model"));
    cli_output_field("created:", cli_output_str(meta, "createTime"));
    cli_output_field("updated:", cli_output_str(meta, "updateTime"));
    if (cli_output_str(meta, "endTime")[0] != '\0')
        cli_output_field("ended:", cli_output_str(meta, "endTime"));
    batches_print_stats(json_object_get(meta, "batchStats"));
    if (cli_output_str(o, "output_file_uri")[0] != '\0')
        cli_output_field("results:", cli_output_str(o, "output_file_uri"));
    cli_ops_print_error("error:", json_object_get(o, "error"));
    cli_ops_print_webhook_uris(json_object_get(meta, "webhookConfig"));
}

static const struct cli_ops_kind batches_kind = {
    .noun = "batch",
    .id_prefix = BATCHES_NAME_PREFIX,
    .get_prefix = "/v1/batches/",
    .state = batches_state,
    .print = batches_print,
};

/* --- list --------------------------------------------------------------- */

static int
batches_list(struct cli_ctx *ctx, const struct cmd_entry *entry, const struct cmd_args *args)
{
    return cli_ops_list(ctx, entry, "batch", args);
}

const struct cmd_entry cmd_batches_list_entry = {
    .group = "batches",
    .name = "list",
    .usage = CLI_OPS_LIST_USAGE,
    .help = "List the project's batches, oldest first, with their states as kabar "
            "operations list names them (batches get shows BATCH_STATE_...); --all follows "
            "every page.",
    .opts = cli_ops_list_opts,
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = batches_list,
};

/* --- get ---------------------------------------------------------------- */

static int
batches_get(struct cli_ctx *ctx, const struct cmd_entry *entry, const struct cmd_args *args)
{
    return cli_ops_get(ctx, entry, &batches_kind, args->arg[0]);
}

const struct cmd_entry cmd_batches_get_entry = {
    .group = "batches",
    .name = "get",
    .usage = "ID",
    .help = "Show one batch: its state (BATCH_STATE_...), request counts, the URI of its "
            "results or its error.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = batches_get,
};

/* --- cancel ------------------------------------------------------------- */

static int
batches_cancel(struct cli_ctx *ctx, const struct cmd_entry *entry, const struct cmd_args *args)
{
    char path[CLI_OPS_PATH_MAX];
    json_t *body, *resp = NULL;
    int rc;

    if ((rc = cli_ops_path(entry, &batches_kind, "/v1/batches/", args->arg[0], ":cancel",
                           path, sizeof(path))) != 0)
        return rc;
    if ((body = json_object()) == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    if ((rc = cli_output_call(ctx, "POST", path, body, &resp)) == 0 && !ctx->json) {
        printf("Batch ");
        cli_print_safe(args->arg[0], stdout);
        printf(" cancelled.\n");
    }
    json_decref(resp);
    json_decref(body);
    return rc;
}

const struct cmd_entry cmd_batches_cancel_entry = {
    .group = "batches",
    .name = "cancel",
    .usage = "ID",
    .help = "Cancel a pending or running batch (it emits batch.cancelled); one that has "
            "ended cannot be.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = batches_cancel,
};

/* --- wait --------------------------------------------------------------- */

static int
batches_wait(struct cli_ctx *ctx, const struct cmd_entry *entry, const struct cmd_args *args)
{
    return cli_ops_wait(ctx, entry, &batches_kind, args);
}

const struct cmd_entry cmd_batches_wait_entry = {
    .group = "batches",
    .name = "wait",
    .usage = CLI_OPS_WAIT_USAGE,
    .help = "Wait until the batch is done; it succeeded when its state is "
            "BATCH_STATE_SUCCEEDED. " CLI_OPS_WAIT_HELP,
    .opts = cli_ops_wait_opts,
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = batches_wait,
};
