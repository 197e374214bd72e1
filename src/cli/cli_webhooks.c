/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_webhooks.c - the "kabar webhooks" command group.
 *
 * One struct cmd_entry per command of the Gemini-style WebhookService
 * (docs/api.md): create, get, list, update, delete, rotate-secret, ping.
 * Each command turns its parsed arguments into one request (list --all into
 * several), and prints either the server's JSON (--json) or a short text
 * for people. Validation of values (event names, URIs, states) is left to
 * the server, so that a newer kabard's catalog works with an older kabar;
 * the tool only rejects what it cannot even encode.
 *
 * Every string that comes from the server goes through cli_print_safe():
 * a webhook name is user data, and must not write escape sequences to the
 * terminal of whoever lists it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_output.h"
#include "cli/cli_print.h"

#define WEBHOOKS_PATH_MAX 4096

/* --- helpers ------------------------------------------------------------ */

/*
 * Write "/v1/webhooks/ID" + suffix into out, the ID percent-encoded so that
 * a "/" or "?" in it cannot reach another route. Returns 0, or an exit code
 * after printing why.
 */
static int
webhooks_path(struct cli_ctx *ctx, const struct cmd_entry *entry,
              const char *id, const char *suffix, char *out, size_t cap)
{
    char *escaped;
    int n;

    if (id[0] == '\0')
        return cli_usage_error(entry, "the ID is empty");
    escaped = cli_client_escape(id);
    if (escaped == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    n = snprintf(out, cap, "/v1/webhooks/%s%s", escaped, suffix);
    free(escaped);
    if (n < 0 || (size_t)n >= cap)
        return cli_usage_error(entry, "the ID is too long");
    return 0;
}

/*
 * Send method to "/v1/webhooks/ID" + suffix, ID being the command's
 * argument, with cli_output_call(): with --json the answer is printed,
 * else it is left in *resp for the command to print. Returns a CLI_EXIT_*
 * code; *resp is the caller's to json_decref() either way.
 */
static int
webhooks_id_call(struct cli_ctx *ctx, const struct cmd_entry *entry,
                 const struct cmd_args *args, const char *method,
                 const char *suffix, const json_t *body, json_t **resp)
{
    char path[WEBHOOKS_PATH_MAX];
    int rc;

    *resp = NULL;
    if ((rc = webhooks_path(ctx, entry, args->arg[0], suffix, path,
                            sizeof(path))) != 0)
        return rc;
    return cli_output_call(ctx, method, path, body, resp);
}

/*
 * Turn "e1,e2" into a JSON array of strings. Spaces around names are
 * dropped; an empty name ("a,,b") is a usage error rather than something to
 * guess about. Returns 0 with *out set (the caller's), or an exit code.
 */
static int
webhooks_parse_events(const struct cmd_entry *entry, const char *list,
                      json_t **out)
{
    json_t *events = json_array();
    const char *p = list, *end, *comma;

    *out = NULL;
    if (events == NULL)
        goto nomem;
    for (;;) {
        comma = strchr(p, ',');
        end = comma != NULL ? comma : p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end == p) {
            json_decref(events);
            return cli_usage_error(entry, "--events has an empty event name "
                                   "(give e.g. --events batch.succeeded,"
                                   "batch.failed)");
        }
        if (json_array_append_new(events, json_stringn(p, end - p)) != 0)
            goto nomem;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *out = events;
    return 0;

nomem:
    json_decref(events);
    fprintf(stderr, "kabar: out of memory\n");
    return CLI_EXIT_FAIL;
}

/* Set key to a new value in obj; on failure print and return an exit code. */
static int
webhooks_set(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL || json_object_set_new(obj, key, value) != 0) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    return 0;
}

/* Print the subscribed events of w separated by sep. */
static void
webhooks_print_events(const json_t *w, const char *sep)
{
    const json_t *events = json_object_get(w, "subscribed_events");
    const json_t *e;
    size_t i;

    json_array_foreach(events, i, e) {
        if (i > 0)
            fputs(sep, stdout);
        cli_print_safe(json_string_value(e) ? json_string_value(e) : "?",
                       stdout);
    }
}

/* The printed width of the events column of w. */
static size_t
webhooks_events_width(const json_t *w)
{
    const json_t *events = json_object_get(w, "subscribed_events");
    const json_t *e;
    size_t i, width = 0;

    json_array_foreach(events, i, e)
        width += (i > 0) + strlen(json_string_value(e) ? json_string_value(e)
                                                       : "?");
    return width;
}

/* The live secrets, newest (the signing one) first, as the server lists
 * them. Only truncated forms ever come back here. */
static void
webhooks_print_secrets(const json_t *w)
{
    const json_t *secrets = json_object_get(w, "signing_secrets");
    const json_t *s;
    const char *expire;
    size_t i;

    cli_output_label("secrets:");
    if (json_array_size(secrets) == 0) {
        printf("(none)\n");
        return;
    }
    json_array_foreach(secrets, i, s) {
        if (i > 0)
            cli_output_label("");
        cli_print_safe(cli_output_str(s, "truncated_secret"), stdout);
        expire = cli_output_str(s, "expire_time");
        if (expire[0] != '\0') {
            fputs(" (expires ", stdout);
            cli_print_safe(expire, stdout);
            putchar(')');
        } else if (i == 0) {
            fputs(" (signing)", stdout);
        }
        putchar('\n');
    }
}

/* The readable block of get and update. */
static void
webhooks_print_resource(const json_t *w)
{
    const char *name = cli_output_str(w, "name");

    cli_output_field("id:", cli_output_str(w, "id"));
    cli_output_field("name:", name[0] != '\0' ? name : "(none)");
    cli_output_field("uri:", cli_output_str(w, "uri"));
    cli_output_label("events:");
    webhooks_print_events(w, ", ");
    putchar('\n');
    cli_output_field("state:", cli_output_str(w, "state"));
    webhooks_print_secrets(w);
    cli_output_field("created:", cli_output_str(w, "create_time"));
    cli_output_field("updated:", cli_output_str(w, "update_time"));
}

/* Print the whole secret once, with the warning that goes with it. */
static void
webhooks_print_new_secret(const char *secret)
{
    cli_output_field("secret:", secret);
    printf("This signing secret is shown only once: store it now.\n");
}

static size_t
webhooks_max(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The table of "webhooks list": ID, STATE, EVENTS, URI. */
static void
webhooks_print_table(const json_t *list)
{
    size_t w_id = strlen("ID"), w_state = strlen("STATE");
    size_t w_events = strlen("EVENTS"), i;
    const json_t *w;

    if (json_array_size(list) == 0) {
        printf("No webhooks.\n");
        return;
    }
    json_array_foreach(list, i, w) {
        w_id = webhooks_max(w_id, strlen(cli_output_str(w, "id")));
        w_state = webhooks_max(w_state, strlen(cli_output_str(w, "state")));
        w_events = webhooks_max(w_events, webhooks_events_width(w));
    }
    cli_output_cell("ID", w_id);
    cli_output_cell("STATE", w_state);
    cli_output_cell("EVENTS", w_events);
    printf("URI\n");
    json_array_foreach(list, i, w) {
        size_t len = webhooks_events_width(w);

        cli_output_cell(cli_output_str(w, "id"), w_id);
        cli_output_cell(cli_output_str(w, "state"), w_state);
        webhooks_print_events(w, ",");
        while (len++ < w_events + 2)
            putchar(' ');
        cli_print_safe(cli_output_str(w, "uri"), stdout);
        putchar('\n');
    }
}

/* --- create ------------------------------------------------------------- */

enum { CREATE_URI, CREATE_EVENTS, CREATE_NAME, CREATE_DISABLED };

static const struct cmd_opt webhooks_create_opts[] = {
    [CREATE_URI] = {"uri", true},
    [CREATE_EVENTS] = {"events", true},
    [CREATE_NAME] = {"name", true},
    [CREATE_DISABLED] = {"disabled", false},
    {NULL, false},
};

static int
webhooks_create(struct cli_ctx *ctx, const struct cmd_entry *entry,
                const struct cmd_args *args)
{
    json_t *body = NULL, *events = NULL, *resp = NULL;
    int rc;

    if (args->opt[CREATE_URI] == NULL)
        return cli_usage_error(entry, "missing --uri");
    if (args->opt[CREATE_EVENTS] == NULL)
        return cli_usage_error(entry, "missing --events");
    if ((rc = webhooks_parse_events(entry, args->opt[CREATE_EVENTS],
                                    &events)) != 0)
        return rc;

    if ((body = json_object()) == NULL) {
        json_decref(events);
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    if ((rc = webhooks_set(body, "uri",
                           json_string(args->opt[CREATE_URI]))) != 0 ||
        (rc = webhooks_set(body, "subscribed_events", events)) != 0)
        goto out;
    if (args->opt[CREATE_NAME] != NULL &&
        (rc = webhooks_set(body, "name",
                           json_string(args->opt[CREATE_NAME]))) != 0)
        goto out;
    if (args->opt[CREATE_DISABLED] != NULL &&
        (rc = webhooks_set(body, "state", json_string("disabled"))) != 0)
        goto out;

    if ((rc = cli_output_call(ctx, "POST", "/v1/webhooks", body, &resp)) != 0 ||
        ctx->json)
        goto out;
    cli_output_field("id:", cli_output_str(resp, "id"));
    if (cli_output_str(resp, "name")[0] != '\0')
        cli_output_field("name:", cli_output_str(resp, "name"));
    cli_output_field("uri:", cli_output_str(resp, "uri"));
    cli_output_label("events:");
    webhooks_print_events(resp, ", ");
    putchar('\n');
    cli_output_field("state:", cli_output_str(resp, "state"));
    webhooks_print_new_secret(cli_output_str(resp, "new_signing_secret"));

out:
    json_decref(resp);
    json_decref(body);
    return rc;
}

const struct cmd_entry cmd_webhooks_create_entry = {
    .group = "webhooks",
    .name = "create",
    .usage = "--uri URI --events E1,E2 [--name NAME] [--disabled]",
    .help = "Create a webhook. Its signing secret is printed once, now.",
    .opts = webhooks_create_opts,
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = webhooks_create,
};

/* --- get ---------------------------------------------------------------- */

static int
webhooks_get(struct cli_ctx *ctx, const struct cmd_entry *entry,
             const struct cmd_args *args)
{
    json_t *resp;
    int rc;

    if ((rc = webhooks_id_call(ctx, entry, args, "GET", "", NULL,
                               &resp)) == 0 && !ctx->json)
        webhooks_print_resource(resp);
    json_decref(resp);
    return rc;
}

const struct cmd_entry cmd_webhooks_get_entry = {
    .group = "webhooks",
    .name = "get",
    .usage = "ID",
    .help = "Show one webhook.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = webhooks_get,
};

/* --- list --------------------------------------------------------------- */

enum { LIST_PAGE_SIZE, LIST_PAGE_TOKEN, LIST_ALL };

static const struct cmd_opt webhooks_list_opts[] = {
    [LIST_PAGE_SIZE] = {"page-size", true},
    [LIST_PAGE_TOKEN] = {"page-token", true},
    [LIST_ALL] = {"all", false},
    {NULL, false},
};

/* What every page of one "list" asks for; NULL members are not sent. */
struct webhooks_query {
    const char *page_size;
};

/* The path of the page at token (NULL: the first), for cli_output_list();
 * arg is the struct webhooks_query. Returns 0 or an exit code after
 * printing why. */
static int
webhooks_list_path(const void *arg, const char *token, char *out, size_t cap)
{
    const struct webhooks_query *q = arg;
    const char *page_size = q->page_size;
    char *escaped = NULL;
    int n;

    if (token != NULL && (escaped = cli_client_escape(token)) == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    n = snprintf(out, cap, "/v1/webhooks%s%s%s%s%s",
                 page_size != NULL || escaped != NULL ? "?" : "",
                 page_size != NULL ? "page_size=" : "",
                 page_size != NULL ? page_size : "",
                 page_size != NULL && escaped != NULL ? "&page_token="
                 : escaped != NULL ? "page_token=" : "",
                 escaped != NULL ? escaped : "");
    free(escaped);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "kabar: the page token is too long\n");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* What "webhooks list" shows for people, for cli_output_list(); arg is the
 * struct webhooks_query. */
static void
webhooks_list_print(const void *arg, const json_t *items, const char *next)
{
    const struct webhooks_query *q = arg;

    webhooks_print_table(items);
    if (next != NULL) {
        printf("\nMore webhooks: kabar webhooks list");
        if (q->page_size != NULL)
            printf(" --page-size %s", q->page_size);
        printf(" --page-token ");
        cli_print_safe(next, stdout);
        putchar('\n');
    }
}

static int
webhooks_list(struct cli_ctx *ctx, const struct cmd_entry *entry,
              const struct cmd_args *args)
{
    const struct webhooks_query q = {
        .page_size = args->opt[LIST_PAGE_SIZE],
    };
    const struct cli_output_list list = {
        .collection = "webhooks",
        .path = webhooks_list_path,
        .print = webhooks_list_print,
        .arg = &q,
    };
    int rc;

    if ((rc = cli_output_page_size_check(entry, q.page_size)) != 0)
        return rc;
    return cli_output_list(ctx, &list, args->opt[LIST_PAGE_TOKEN],
                           args->opt[LIST_ALL] != NULL);
}

const struct cmd_entry cmd_webhooks_list_entry = {
    .group = "webhooks",
    .name = "list",
    .usage = "[--page-size N] [--page-token TOKEN] [--all]",
    .help = "List webhooks in creation order; --all follows every page.",
    .opts = webhooks_list_opts,
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = webhooks_list,
};

/* --- update ------------------------------------------------------------- */

enum { UPDATE_URI, UPDATE_EVENTS, UPDATE_NAME, UPDATE_ENABLE, UPDATE_DISABLE };

static const struct cmd_opt webhooks_update_opts[] = {
    [UPDATE_URI] = {"uri", true},
    [UPDATE_EVENTS] = {"events", true},
    [UPDATE_NAME] = {"name", true},
    [UPDATE_ENABLE] = {"enable", false},
    [UPDATE_DISABLE] = {"disable", false},
    {NULL, false},
};

/* Append field to the comma-separated mask. */
static void
webhooks_mask_add(char *mask, size_t cap, const char *field)
{
    size_t len = strlen(mask);

    /* The mask buffer holds every field name at once, so this fits. */
    snprintf(mask + len, cap - len, "%s%s", len > 0 ? "," : "", field);
}

static int
webhooks_update(struct cli_ctx *ctx, const struct cmd_entry *entry,
                const struct cmd_args *args)
{
    char mask[sizeof("name,uri,subscribed_events,state")] = "";
    char suffix[sizeof("?update_mask=") + sizeof(mask)];
    json_t *body = NULL, *events = NULL, *resp = NULL;
    int rc;

    if (args->opt[UPDATE_ENABLE] != NULL && args->opt[UPDATE_DISABLE] != NULL)
        return cli_usage_error(entry, "--enable and --disable contradict "
                               "each other");
    if (args->opt[UPDATE_EVENTS] != NULL &&
        (rc = webhooks_parse_events(entry, args->opt[UPDATE_EVENTS],
                                    &events)) != 0)
        return rc;
    if ((body = json_object()) == NULL) {
        json_decref(events);
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }

    /* The mask names exactly the fields given, so that the server changes
     * those and nothing else; the order is the resource's. */
    if (args->opt[UPDATE_NAME] != NULL) {
        if ((rc = webhooks_set(body, "name",
                               json_string(args->opt[UPDATE_NAME]))) != 0)
            goto out;
        webhooks_mask_add(mask, sizeof(mask), "name");
    }
    if (args->opt[UPDATE_URI] != NULL) {
        if ((rc = webhooks_set(body, "uri",
                               json_string(args->opt[UPDATE_URI]))) != 0)
            goto out;
        webhooks_mask_add(mask, sizeof(mask), "uri");
    }
    if (events != NULL) {
        rc = webhooks_set(body, "subscribed_events", events);
        events = NULL;
        if (rc != 0)
            goto out;
        webhooks_mask_add(mask, sizeof(mask), "subscribed_events");
    }
    if (args->opt[UPDATE_ENABLE] != NULL || args->opt[UPDATE_DISABLE] != NULL) {
        if ((rc = webhooks_set(body, "state", json_string(
                 args->opt[UPDATE_ENABLE] != NULL ? "enabled"
                                                  : "disabled"))) != 0)
            goto out;
        webhooks_mask_add(mask, sizeof(mask), "state");
    }
    if (mask[0] == '\0') {
        rc = cli_usage_error(entry, "nothing to update: give --uri, "
                             "--events, --name, --enable or --disable");
        goto out;
    }

    snprintf(suffix, sizeof(suffix), "?update_mask=%s", mask);
    if ((rc = webhooks_id_call(ctx, entry, args, "PATCH", suffix, body,
                               &resp)) == 0 && !ctx->json)
        webhooks_print_resource(resp);

out:
    json_decref(resp);
    json_decref(events);
    json_decref(body);
    return rc;
}

const struct cmd_entry cmd_webhooks_update_entry = {
    .group = "webhooks",
    .name = "update",
    .usage = "ID [--uri URI] [--events E1,E2] [--name NAME] "
             "[--enable|--disable]",
    .help = "Change the given fields of a webhook, and only those.",
    .opts = webhooks_update_opts,
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = webhooks_update,
};

/* --- delete ------------------------------------------------------------- */

static int
webhooks_delete(struct cli_ctx *ctx, const struct cmd_entry *entry,
                const struct cmd_args *args)
{
    json_t *resp;
    int rc;

    if ((rc = webhooks_id_call(ctx, entry, args, "DELETE", "", NULL,
                               &resp)) == 0 && !ctx->json) {
        printf("Deleted webhook ");
        cli_print_safe(args->arg[0], stdout);
        printf(".\n");
    }
    json_decref(resp);
    return rc;
}

const struct cmd_entry cmd_webhooks_delete_entry = {
    .group = "webhooks",
    .name = "delete",
    .usage = "ID",
    .help = "Delete a webhook and its signing secrets.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = webhooks_delete,
};

/* --- rotate-secret ------------------------------------------------------ */

enum { ROTATE_REVOKE_NOW };

static const struct cmd_opt webhooks_rotate_opts[] = {
    [ROTATE_REVOKE_NOW] = {"revoke-now", false},
    {NULL, false},
};

static int
webhooks_rotate_secret(struct cli_ctx *ctx, const struct cmd_entry *entry,
                       const struct cmd_args *args)
{
    bool now = args->opt[ROTATE_REVOKE_NOW] != NULL;
    char path[WEBHOOKS_PATH_MAX];
    json_t *body = NULL, *resp = NULL;
    int rc;

    if ((rc = webhooks_path(ctx, entry, args->arg[0], ":rotateSigningSecret",
                            path, sizeof(path))) != 0)
        return rc;
    if ((body = json_object()) == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    if ((rc = webhooks_set(body, "revocation_behavior", json_string(
             now ? "revoke_previous_secrets_immediately"
                 : "revoke_previous_secrets_after_h24"))) != 0)
        goto out;
    if ((rc = cli_output_call(ctx, "POST", path, body, &resp)) != 0 || ctx->json)
        goto out;
    webhooks_print_new_secret(cli_output_str(resp, "secret"));
    printf(now ? "Previous secrets were revoked.\n"
               : "Previous secrets stay valid for 24 hours.\n");

out:
    json_decref(resp);
    json_decref(body);
    return rc;
}

const struct cmd_entry cmd_webhooks_rotate_secret_entry = {
    .group = "webhooks",
    .name = "rotate-secret",
    .usage = "ID [--revoke-now]",
    .help = "Make a new signing secret. Previous ones stay valid for 24 "
            "hours, or stop at once with --revoke-now.",
    .opts = webhooks_rotate_opts,
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = webhooks_rotate_secret,
};

/* --- ping --------------------------------------------------------------- */

static int
webhooks_ping(struct cli_ctx *ctx, const struct cmd_entry *entry,
              const struct cmd_args *args)
{
    char path[WEBHOOKS_PATH_MAX];
    json_t *body = NULL, *resp = NULL;
    int rc;

    if ((rc = webhooks_path(ctx, entry, args->arg[0], ":ping", path,
                            sizeof(path))) != 0)
        return rc;
    if ((body = json_object()) == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    if ((rc = cli_output_call(ctx, "POST", path, body, &resp)) == 0 &&
        !ctx->json) {
        printf("Ping accepted for webhook ");
        cli_print_safe(args->arg[0], stdout);
        printf(".\n");
    }
    json_decref(resp);
    json_decref(body);
    return rc;
}

const struct cmd_entry cmd_webhooks_ping_entry = {
    .group = "webhooks",
    .name = "ping",
    .usage = "ID",
    .help = "Ask the server to send a test event to the webhook.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = webhooks_ping,
};
