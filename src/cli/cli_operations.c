/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_operations.c - the "kabar operations" command group: every job of
 * the project, whatever its kind, as the generic operation record of
 * docs/operations.md:
 *
 *   operations list [--kind K]     GET  /v1/operations?kind=K&...
 *   operations get ID              GET  /v1/operations/ID
 *   operations cancel ID           the cancel route of the job's kind
 *   operations wait ID             GET  /v1/operations/ID until done
 *
 * kabard has no kind-blind cancel route, so "cancel" first reads the
 * record for its kind, then calls that kind's own cancel (an interaction's
 * or a batch's) and shows the record again; the Gemini API has no cancel for
 * video operations, and neither has kabard. "wait" counts the state
 * "succeeded" as success. The ID may be given as the resource names itself,
 * "operations/...".
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_ops.h"
#include "cli/cli_output.h"
#include "cli/cli_print.h"

#define OPERATIONS_NAME_PREFIX "operations/"

static bool
operations_state(const json_t *resource, struct cli_ops_state *out)
{
    const char *state = json_string_value(json_object_get(resource, "state"));
    const json_t *done = json_object_get(resource, "done");

    if (state == NULL || !json_is_boolean(done))
        return false;
    out->name = state;
    out->final = json_is_true(done);
    out->succeeded = out->final && strcmp(state, "succeeded") == 0;
    return true;
}

/* The worker that holds the job, and until when. */
static void
operations_print_lease(const json_t *lease)
{
    if (!json_is_object(lease))
        return;
    cli_output_label("worker:");
    cli_print_safe(cli_output_str(lease, "worker"), stdout);
    fputs(" until ", stdout);
    cli_print_safe(cli_output_str(lease, "expire_time"), stdout);
    putchar('\n');
}

/* How many deliveries the job's events made, then one line each: type,
 * delivery, state, attempts, target. */
static void
operations_print_deliveries(const json_t *deliveries)
{
    const json_t *d, *attempts;
    size_t i;

    if (!json_is_array(deliveries))
        return;
    printf("deliveries: %zu\n", json_array_size(deliveries));
    json_array_foreach(deliveries, i, d) {
        attempts = json_object_get(d, "attempts");
        fputs("  ", stdout);
        cli_print_safe(cli_output_str(d, "type"), stdout);
        fputs("  ", stdout);
        cli_print_safe(cli_output_str(d, "delivery_id"), stdout);
        fputs("  ", stdout);
        cli_print_safe(cli_output_str(d, "state"), stdout);
        if (json_is_integer(attempts))
            printf("  attempts %" JSON_INTEGER_FORMAT, json_integer_value(attempts));
        fputs("  ", stdout);
        cli_print_safe(cli_output_str(d, "target_uri"), stdout);
        putchar('\n');
    }
}

static void
operations_print(const json_t *o)
{
    cli_output_field("id:", cli_output_str(o, "id"));
    cli_output_field("kind:", cli_output_str(o, "kind"));
    cli_output_field("state:", cli_output_str(o, "state"));
    cli_output_field("model:", cli_output_str(o, "model"));
    cli_output_field("created:", cli_output_str(o, "create_time"));
    cli_output_field("updated:", cli_output_str(o, "update_time"));
    operations_print_lease(json_object_get(o, "lease"));
    if (cli_output_str(o, "output_file_uri")[0] != '\0')
        cli_output_field("results:", cli_output_str(o, "output_file_uri"));
    cli_ops_print_error("error:", json_object_get(o, "error"));
    cli_ops_print_webhook_uris(json_object_get(o, "webhook_config"));
    operations_print_deliveries(json_object_get(o, "deliveries"));
}

static const struct cli_ops_kind operations_kind = {
    .noun = "operation",
    .id_prefix = OPERATIONS_NAME_PREFIX,
    .get_prefix = "/v1/operations/",
    .state = operations_state,
    .print = operations_print,
};

/* --- list --------------------------------------------------------------- */

static int
operations_list(struct cli_ctx *ctx, const struct cmd_entry *entry,
                const struct cmd_args *args)
{
    return cli_ops_list(ctx, entry, NULL, args);
}

const struct cmd_entry cmd_operations_list_entry = {
    .group = "operations",
    .name = "list",
    .usage = "[--kind interaction|batch|video] " CLI_OPS_LIST_USAGE,
    .help = "List the project's jobs of every kind (or of --kind), by kind and oldest first "
            "within a kind; --all follows every page.",
    .opts = cli_ops_list_kind_opts,
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = operations_list,
};

/* --- get ---------------------------------------------------------------- */

static int
operations_get(struct cli_ctx *ctx, const struct cmd_entry *entry,
               const struct cmd_args *args)
{
    return cli_ops_get(ctx, entry, &operations_kind, args->arg[0]);
}

const struct cmd_entry cmd_operations_get_entry = {
    .group = "operations",
    .name = "get",
    .usage = "ID",
    .help = "Show one job of any kind: its state, the worker holding it, its results or "
            "error, and the deliveries of the events it emitted.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = operations_get,
};

/* --- cancel ------------------------------------------------------------- */

/* The cancel route of a kind: prefix + ID + suffix. */
static const struct {
    const char *kind;
    const char *prefix;
    const char *suffix;
} operations_cancel_routes[] = {
    {"interaction", "/v1/interactions/", "/cancel"},
    {"batch", "/v1/batches/", ":cancel"},
};

static int
operations_cancel(struct cli_ctx *ctx, const struct cmd_entry *entry,
                  const struct cmd_args *args)
{
    char path[CLI_OPS_PATH_MAX];
    json_t *op = NULL, *body = NULL, *resp = NULL;
    const char *kind, *id;
    size_t i;
    int rc;

    if ((rc = cli_ops_path(entry, &operations_kind, "/v1/operations/", args->arg[0], "", path,
                           sizeof(path))) != 0)
        return rc;
    if ((rc = cli_call(ctx, "GET", path, NULL, &op)) != 0)
        return rc;
    kind = cli_output_str(op, "kind");
    id = cli_output_str(op, "id");
    if (id[0] == '\0')
        id = args->arg[0];
    for (i = 0; i < sizeof(operations_cancel_routes) / sizeof(operations_cancel_routes[0]); i++) {
        if (strcmp(kind, operations_cancel_routes[i].kind) == 0)
            break;
    }
    if (i == sizeof(operations_cancel_routes) / sizeof(operations_cancel_routes[0])) {
        fputs("kabar: operations cancel: ", stderr);
        cli_print_safe(args->arg[0], stderr);
        fputs(" is a ", stderr);
        cli_print_safe(kind[0] != '\0' ? kind : "(unknown kind)", stderr);
        fputs(" operation, and only interactions and batches can be cancelled\n", stderr);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    /* The record's own id: the argument may carry "operations/". */
    if ((rc = cli_ops_path(entry, &operations_kind, operations_cancel_routes[i].prefix, id,
                           operations_cancel_routes[i].suffix, path, sizeof(path))) != 0)
        goto out;
    if ((body = json_object()) == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if ((rc = cli_call(ctx, "POST", path, body, &resp)) != 0)
        goto out;
    if (!ctx->json) {
        printf("Operation ");
        cli_print_safe(id, stdout);
        printf(" cancelled.\n");
        goto out;
    }
    /* --json shows the record as it is now, as "get" would. */
    if ((rc = cli_ops_path(entry, &operations_kind, "/v1/operations/", id, "", path,
                           sizeof(path))) == 0) {
        json_decref(resp);
        resp = NULL;
        rc = cli_output_call(ctx, "GET", path, NULL, &resp);
    }
out:
    json_decref(resp);
    json_decref(body);
    json_decref(op);
    return rc;
}

const struct cmd_entry cmd_operations_cancel_entry = {
    .group = "operations",
    .name = "cancel",
    .usage = "ID",
    .help = "Cancel a pending or running interaction or batch through its kind's own "
            "cancel (videos cannot be cancelled); --json shows the record afterwards.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = operations_cancel,
};

/* --- wait --------------------------------------------------------------- */

static int
operations_wait(struct cli_ctx *ctx, const struct cmd_entry *entry,
                const struct cmd_args *args)
{
    return cli_ops_wait(ctx, entry, &operations_kind, args);
}

const struct cmd_entry cmd_operations_wait_entry = {
    .group = "operations",
    .name = "wait",
    .usage = CLI_OPS_WAIT_USAGE,
    .help = "Wait until the job is done, whatever its kind; it succeeded when its state is "
            "succeeded. " CLI_OPS_WAIT_HELP,
    .opts = cli_ops_wait_opts,
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = operations_wait,
};
