/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_interactions.c - the "kabar interactions" command group, over the
 * Interactions API of docs/operations.md:
 *
 *   interactions list              GET  /v1/operations?kind=interaction&...
 *   interactions get ID            GET  /v1/interactions/ID
 *   interactions cancel ID         POST /v1/interactions/ID/cancel
 *   interactions wait ID           GET  /v1/interactions/ID until final
 *
 * An interaction's "status" is in_progress until it is final: completed
 * (which "wait" counts as success), failed, cancelled or requires_action
 * (the model asks the caller for a function result; for "wait" that is not
 * a success, since the interaction did not complete). Its text comes from
 * the user, and reaches the terminal only through cli_print_safe().
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_ops.h"
#include "cli/cli_output.h"
#include "cli/cli_print.h"

/* How much of the model's output "get" shows, in bytes, on one line. */
#define INTERACTIONS_OUTPUT_SHOWN 200

static bool
interactions_state(const json_t *resource, struct cli_ops_state *out)
{
    const char *status = json_string_value(json_object_get(resource, "status"));

    if (status == NULL)
        return false;
    out->name = status;
    out->final = strcmp(status, "in_progress") != 0;
    out->succeeded = strcmp(status, "completed") == 0;
    return true;
}

/* The text parts of the model_output steps, one after the other, cut. */
static void
interactions_print_output(const json_t *steps)
{
    const json_t *step, *part;
    size_t i, j, shown = 0;
    bool any = false;

    json_array_foreach(steps, i, step) {
        if (strcmp(cli_output_str(step, "type"), "model_output") != 0)
            continue;
        json_array_foreach(json_object_get(step, "content"), j, part) {
            const char *text = cli_output_str(part, "text");

            if (text[0] == '\0')
                continue;
            if (!any)
                cli_output_label("output:");
            any = true;
            if (shown >= INTERACTIONS_OUTPUT_SHOWN) {
                fputs("...", stdout);
                goto done;
            }
            cli_output_excerpt(text, INTERACTIONS_OUTPUT_SHOWN - shown);
            shown += strlen(text);
        }
    }
done:
    if (any)
        putchar('\n');
}

/* The function calls the interaction waits on, when it requires action. */
static void
interactions_print_actions(const json_t *steps)
{
    const json_t *step;
    size_t i;

    json_array_foreach(steps, i, step) {
        if (strcmp(cli_output_str(step, "type"), "function_call") != 0)
            continue;
        cli_output_label("action:");
        fputs("function_call ", stdout);
        cli_print_safe(cli_output_str(step, "name"), stdout);
        fputs(" (id ", stdout);
        cli_print_safe(cli_output_str(step, "id"), stdout);
        fputs(")\n", stdout);
    }
}

static void
interactions_print(const json_t *o)
{
    const json_t *steps = json_object_get(o, "steps");
    const json_t *errors = json_object_get(o, "errors");
    bool agent = json_object_get(o, "agent") != NULL;

    cli_output_field("id:", cli_output_str(o, "id"));
    cli_output_field("status:", cli_output_str(o, "status"));
    cli_output_field(agent ? "agent:" : "model:", cli_output_str(o, agent ? "agent" : "model"));
    cli_output_field("created:", cli_output_str(o, "created"));
    cli_output_field("updated:", cli_output_str(o, "updated"));
    interactions_print_output(steps);
    interactions_print_actions(steps);
    cli_ops_print_error("error:", json_array_get(errors, 0));
    cli_ops_print_webhook_uris(json_object_get(o, "webhook_config"));
}

static const struct cli_ops_kind interactions_kind = {
    .noun = "interaction",
    .id_prefix = NULL,
    .get_prefix = "/v1/interactions/",
    .state = interactions_state,
    .print = interactions_print,
};

/* --- list --------------------------------------------------------------- */

static int
interactions_list(struct cli_ctx *ctx, const struct cmd_entry *entry,
                  const struct cmd_args *args)
{
    return cli_ops_list(ctx, entry, "interaction", args);
}

const struct cmd_entry cmd_interactions_list_entry = {
    .group = "interactions",
    .name = "list",
    .usage = CLI_OPS_LIST_USAGE,
    .help = "List the project's interactions, oldest first, with their states as "
            "kabar operations list names them; --all follows every page.",
    .opts = cli_ops_list_opts,
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = interactions_list,
};

/* --- get ---------------------------------------------------------------- */

static int
interactions_get(struct cli_ctx *ctx, const struct cmd_entry *entry,
                 const struct cmd_args *args)
{
    return cli_ops_get(ctx, entry, &interactions_kind, args->arg[0]);
}

const struct cmd_entry cmd_interactions_get_entry = {
    .group = "interactions",
    .name = "get",
    .usage = "ID",
    .help = "Show one interaction: its status (in_progress, completed, failed, cancelled, "
            "requires_action), the model's output, the error or the function call it "
            "waits on.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = interactions_get,
};

/* --- cancel ------------------------------------------------------------- */

static int
interactions_cancel(struct cli_ctx *ctx, const struct cmd_entry *entry,
                    const struct cmd_args *args)
{
    char path[CLI_OPS_PATH_MAX];
    json_t *body, *resp = NULL;
    int rc;

    if ((rc = cli_ops_path(entry, &interactions_kind, "/v1/interactions/", args->arg[0],
                           "/cancel", path, sizeof(path))) != 0)
        return rc;
    if ((body = json_object()) == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    if ((rc = cli_output_call(ctx, "POST", path, body, &resp)) == 0 && !ctx->json) {
        printf("Interaction ");
        cli_print_safe(args->arg[0], stdout);
        printf(" cancelled.\n");
    }
    json_decref(resp);
    json_decref(body);
    return rc;
}

const struct cmd_entry cmd_interactions_cancel_entry = {
    .group = "interactions",
    .name = "cancel",
    .usage = "ID",
    .help = "Cancel an interaction in progress (it emits interaction.cancelled); one that "
            "has ended cannot be.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = interactions_cancel,
};

/* --- wait --------------------------------------------------------------- */

static int
interactions_wait(struct cli_ctx *ctx, const struct cmd_entry *entry,
                  const struct cmd_args *args)
{
    return cli_ops_wait(ctx, entry, &interactions_kind, args);
}

const struct cmd_entry cmd_interactions_wait_entry = {
    .group = "interactions",
    .name = "wait",
    .usage = CLI_OPS_WAIT_USAGE,
    .help = "Wait until the interaction is no longer in_progress; it succeeded when it is "
            "completed. " CLI_OPS_WAIT_HELP,
    .opts = cli_ops_wait_opts,
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = interactions_wait,
};
