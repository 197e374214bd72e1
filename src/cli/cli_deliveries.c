/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_deliveries.c - the "kabar deliveries" command group, and "kabar
 * webhooks recover", over the delivery log of docs/delivery.md.
 *
 *   deliveries list [--webhook WH] GET  /v1/deliveries?webhook=WH&...
 *   deliveries get ID              GET  /v1/deliveries/ID
 *   deliveries retry ID            POST /v1/deliveries/ID:retry
 *   webhooks recover ID --since T  POST /v1/webhooks/ID:recover
 *
 * recover lives here rather than in cli_webhooks.c because it acts on
 * deliveries; its entry still belongs to the "webhooks" group, like the
 * route it calls. As in cli_webhooks.c, values (states, times) are checked
 * by the server, and everything the server sends goes through
 * cli_print_safe() on its way to the terminal: a response excerpt is
 * whatever the endpoint chose to answer.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_output.h"
#include "cli/cli_print.h"

#define DELIVERIES_PATH_MAX 4096
/* How much of a response excerpt "get" shows, in bytes, on one line. */
#define DELIVERIES_EXCERPT_SHOWN 80

/* --- helpers ------------------------------------------------------------ */

/*
 * Write prefix + ID + suffix into out, the ID percent-encoded so that a "/"
 * or "?" in it cannot reach another route. what names the ID in messages
 * ("the ID", "--webhook"). Returns 0, or an exit code after printing why.
 */
static int
deliveries_path(const struct cmd_entry *entry, const char *prefix,
                const char *id, const char *what, const char *suffix,
                char *out, size_t cap)
{
    char *escaped;
    int n;

    if (id[0] == '\0')
        return cli_usage_error(entry, "%s is empty", what);
    escaped = cli_client_escape(id);
    if (escaped == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    n = snprintf(out, cap, "%s%s%s", prefix, escaped, suffix);
    free(escaped);
    if (n < 0 || (size_t)n >= cap)
        return cli_usage_error(entry, "%s is too long", what);
    return 0;
}

/* The command's resource id (its one argument) as a delivery path. */
static int
deliveries_id_path(const struct cmd_entry *entry, const struct cmd_args *args,
                   const char *suffix, char *out, size_t cap)
{
    return deliveries_path(entry, "/v1/deliveries/", args->arg[0], "the ID",
                           suffix, out, cap);
}

/* An empty JSON object for the POST routes, or NULL after printing why. */
static json_t *
deliveries_empty_body(void)
{
    json_t *body = json_object();

    if (body == NULL)
        fprintf(stderr, "kabar: out of memory\n");
    return body;
}

/* --- list --------------------------------------------------------------- */

enum { LIST_WEBHOOK, LIST_STATE, LIST_EVENT_TYPE, LIST_STATUS_CLASS, LIST_SINCE, LIST_UNTIL,
       LIST_PAGE_SIZE, LIST_PAGE_TOKEN, LIST_ALL };

static const struct cmd_opt deliveries_list_opts[] = {
    [LIST_WEBHOOK] = {"webhook", true},
    [LIST_STATE] = {"state", true},
    [LIST_EVENT_TYPE] = {"event-type", true},
    [LIST_STATUS_CLASS] = {"status-class", true},
    [LIST_SINCE] = {"since", true},
    [LIST_UNTIL] = {"until", true},
    [LIST_PAGE_SIZE] = {"page-size", true},
    [LIST_PAGE_TOKEN] = {"page-token", true},
    [LIST_ALL] = {"all", false},
    {NULL, false},
};

/* What every page of one "list" asks for; NULL members are not sent. */
struct deliveries_query {
    const struct cmd_entry *entry;  /* for usage errors */
    const char *webhook;
    const char *state;
    const char *event_type;
    const char *status_class;
    const char *since;
    const char *until;
    const char *page_size;
};

/* The path of the page at token (NULL: the first), for cli_output_list();
 * arg is the struct deliveries_query. Returns 0 or an exit code after
 * printing why. */
static int
deliveries_list_path(const void *arg, const char *token, char *out,
                     size_t cap)
{
    const struct deliveries_query *q = arg;
    /* The project-wide log takes every filter, the webhook among them;
     * the server checks their values. */
    const struct cli_output_param params[] = {
        {"webhook", q->webhook},
        {"state", q->state},
        {"event_type", q->event_type},
        {"status_class", q->status_class},
        {"since", q->since},
        {"until", q->until},
        {"page_size", q->page_size},
    };

    return cli_output_list_path(q->entry, "/v1/deliveries", params,
                                sizeof params / sizeof params[0], token,
                                out, cap);
}

/* attempt_count of d as text; "?" when the server sent no number. */
static void
deliveries_attempts_text(const json_t *d, char *out, size_t cap)
{
    const json_t *n = json_object_get(d, "attempt_count");

    if (json_is_integer(n))
        snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(n));
    else
        snprintf(out, cap, "?");
}

static size_t
deliveries_max(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The table of "deliveries list": ID, STATE, ATTEMPTS, EVENT, CREATED. */
static void
deliveries_print_table(const json_t *list)
{
    size_t w_id = strlen("ID"), w_state = strlen("STATE");
    size_t w_attempts = strlen("ATTEMPTS"), w_event = strlen("EVENT"), i;
    char attempts[32];
    const json_t *d;

    if (json_array_size(list) == 0) {
        printf("No deliveries.\n");
        return;
    }
    json_array_foreach(list, i, d) {
        deliveries_attempts_text(d, attempts, sizeof(attempts));
        w_id = deliveries_max(w_id, strlen(cli_output_str(d, "id")));
        w_state = deliveries_max(w_state, strlen(cli_output_str(d, "state")));
        w_attempts = deliveries_max(w_attempts, strlen(attempts));
        w_event = deliveries_max(w_event,
                                 strlen(cli_output_str(d, "event_type")));
    }
    cli_output_cell("ID", w_id);
    cli_output_cell("STATE", w_state);
    cli_output_cell("ATTEMPTS", w_attempts);
    cli_output_cell("EVENT", w_event);
    printf("CREATED\n");
    json_array_foreach(list, i, d) {
        deliveries_attempts_text(d, attempts, sizeof(attempts));
        cli_output_cell(cli_output_str(d, "id"), w_id);
        cli_output_cell(cli_output_str(d, "state"), w_state);
        cli_output_cell(attempts, w_attempts);
        cli_output_cell(cli_output_str(d, "event_type"), w_event);
        cli_output_cell(cli_output_str(d, "create_time"), 0);
        putchar('\n');
    }
}

/* The command line that shows the page after this one. */
static void
deliveries_print_next_hint(const struct deliveries_query *q, const char *next)
{
    const struct { const char *opt, *value; } f[] = {
        {"--webhook", q->webhook}, {"--state", q->state}, {"--event-type", q->event_type},
        {"--status-class", q->status_class}, {"--since", q->since}, {"--until", q->until},
    };

    printf("\nMore deliveries: kabar deliveries list");
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (f[i].value == NULL)
            continue;
        printf(" %s ", f[i].opt);
        cli_print_safe(f[i].value, stdout);
    }
    if (q->page_size != NULL)
        printf(" --page-size %s", q->page_size);
    printf(" --page-token ");
    cli_print_safe(next, stdout);
    putchar('\n');
}

/* What "deliveries list" shows for people, for cli_output_list(); arg is
 * the struct deliveries_query. */
static void
deliveries_list_print(const void *arg, const json_t *items, const char *next)
{
    deliveries_print_table(items);
    if (next != NULL)
        deliveries_print_next_hint(arg, next);
}

static int
deliveries_list(struct cli_ctx *ctx, const struct cmd_entry *entry,
                const struct cmd_args *args)
{
    struct deliveries_query q = {
        .entry = entry,
        .webhook = args->opt[LIST_WEBHOOK],
        .state = args->opt[LIST_STATE],
        .event_type = args->opt[LIST_EVENT_TYPE],
        .status_class = args->opt[LIST_STATUS_CLASS],
        .since = args->opt[LIST_SINCE],
        .until = args->opt[LIST_UNTIL],
        .page_size = args->opt[LIST_PAGE_SIZE],
    };
    const struct cli_output_list list = {
        .collection = "deliveries",
        .path = deliveries_list_path,
        .print = deliveries_list_print,
        .arg = &q,
    };
    int rc;

    if (q.webhook != NULL && q.webhook[0] == '\0')
        return cli_usage_error(entry, "--webhook is empty");
    if ((rc = cli_output_page_size_check(entry, q.page_size)) != 0)
        return rc;
    if (q.state != NULL && q.state[0] == '\0')
        q.state = NULL;
    return cli_output_list(ctx, &list, args->opt[LIST_PAGE_TOKEN],
                           args->opt[LIST_ALL] != NULL);
}

const struct cmd_entry cmd_deliveries_list_entry = {
    .group = "deliveries",
    .name = "list",
    .usage = "[--webhook ID|dynamic] [--state pending|succeeded|failed] "
             "[--event-type TYPE] [--status-class 2xx|3xx|4xx|5xx|none] [--since TIME] "
             "[--until TIME] [--page-size N] [--page-token TOKEN] [--all]",
    .help = "List the project's deliveries, newest first, filtered (--webhook dynamic: "
            "those to jobs' own URIs); --all follows every page.",
    .opts = deliveries_list_opts,
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = deliveries_list,
};

/* --- get ---------------------------------------------------------------- */

/* One attempt: time, latency, the status or the error, the response. */
static void
deliveries_print_attempt(const json_t *a)
{
    const json_t *latency = json_object_get(a, "latency_ms");
    const json_t *status = json_object_get(a, "response_status");
    const char *error = cli_output_str(a, "error");
    const char *excerpt = cli_output_str(a, "response_excerpt");

    fputs("  ", stdout);
    cli_print_safe(cli_output_str(a, "time"), stdout);
    if (json_is_number(latency))
        printf("  %.1f ms", json_number_value(latency));
    if (json_is_integer(status))
        printf("  HTTP %" JSON_INTEGER_FORMAT, json_integer_value(status));
    if (error[0] != '\0') {
        fputs("  error: ", stdout);
        cli_print_safe(error, stdout);
    }
    if (excerpt[0] != '\0') {
        fputs("  ", stdout);
        cli_output_excerpt(excerpt, DELIVERIES_EXCERPT_SHOWN);
    } else if (json_object_get(a, "response_excerpt_base64") != NULL) {
        fputs("  (binary response)", stdout);
    }
    putchar('\n');
}

/* The readable block of "get": the delivery, then its attempts. */
static void
deliveries_print_resource(const json_t *d)
{
    const json_t *attempts = json_object_get(d, "attempts");
    const json_t *a;
    char count[32];
    size_t i;

    cli_output_field("id:", cli_output_str(d, "id"));
    cli_output_field("message:", cli_output_str(d, "message_id"));
    cli_output_field("webhook:", cli_output_str(d, "webhook_id"));
    cli_output_field("uri:", cli_output_str(d, "uri"));
    cli_output_field("event:", cli_output_str(d, "event_type"));
    cli_output_field("state:", cli_output_str(d, "state"));
    cli_output_field("created:", cli_output_str(d, "create_time"));
    if (cli_output_str(d, "next_attempt_time")[0] != '\0')
        cli_output_field("next try:", cli_output_str(d, "next_attempt_time"));
    if (cli_output_str(d, "last_attempt_time")[0] != '\0')
        cli_output_field("last try:", cli_output_str(d, "last_attempt_time"));
    deliveries_attempts_text(d, count, sizeof(count));
    cli_output_field("attempts:", count);
    json_array_foreach(attempts, i, a)
        deliveries_print_attempt(a);
}

static int
deliveries_get(struct cli_ctx *ctx, const struct cmd_entry *entry,
               const struct cmd_args *args)
{
    char path[DELIVERIES_PATH_MAX];
    json_t *resp = NULL;
    int rc;

    if ((rc = deliveries_id_path(entry, args, "", path, sizeof(path))) != 0)
        return rc;
    if ((rc = cli_output_call(ctx, "GET", path, NULL, &resp)) == 0 &&
        !ctx->json)
        deliveries_print_resource(resp);
    json_decref(resp);
    return rc;
}

const struct cmd_entry cmd_deliveries_get_entry = {
    .group = "deliveries",
    .name = "get",
    .usage = "ID",
    .help = "Show one delivery and its attempts, oldest first.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = deliveries_get,
};

/* --- retry -------------------------------------------------------------- */

static int
deliveries_retry(struct cli_ctx *ctx, const struct cmd_entry *entry,
                 const struct cmd_args *args)
{
    char path[DELIVERIES_PATH_MAX];
    json_t *body, *resp = NULL;
    int rc;

    if ((rc = deliveries_id_path(entry, args, ":retry", path,
                                 sizeof(path))) != 0)
        return rc;
    if ((body = deliveries_empty_body()) == NULL)
        return CLI_EXIT_FAIL;
    if ((rc = cli_output_call(ctx, "POST", path, body, &resp)) == 0 &&
        !ctx->json) {
        printf("Delivery ");
        cli_print_safe(args->arg[0], stdout);
        printf(" queued for another attempt.\n");
    }
    json_decref(resp);
    json_decref(body);
    return rc;
}

const struct cmd_entry cmd_deliveries_retry_entry = {
    .group = "deliveries",
    .name = "retry",
    .usage = "ID",
    .help = "Send a failed or succeeded delivery again, now.",
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = deliveries_retry,
};

/* --- webhooks recover --------------------------------------------------- */

enum { RECOVER_SINCE };

static const struct cmd_opt webhooks_recover_opts[] = {
    [RECOVER_SINCE] = {"since", true},
    {NULL, false},
};

static int
webhooks_recover(struct cli_ctx *ctx, const struct cmd_entry *entry,
                 const struct cmd_args *args)
{
    const char *since = args->opt[RECOVER_SINCE];
    char path[DELIVERIES_PATH_MAX];
    json_t *body = NULL, *value, *resp = NULL;
    const json_t *n;
    int rc;

    if (since == NULL)
        return cli_usage_error(entry, "missing --since");
    if ((rc = deliveries_path(entry, "/v1/webhooks/", args->arg[0], "the ID",
                              ":recover", path, sizeof(path))) != 0)
        return rc;
    /* jansson refuses a string that is not UTF-8; say so rather than
     * reporting it as a lack of memory. */
    if ((value = json_string(since)) == NULL)
        return cli_usage_error(entry, "--since is not valid UTF-8");
    /* json_object_set_new() takes value whether or not it succeeds. */
    if ((body = json_object()) == NULL ||
        json_object_set_new(body, "since", value) != 0) {
        if (body == NULL)
            json_decref(value);
        json_decref(body);
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    if ((rc = cli_output_call(ctx, "POST", path, body, &resp)) == 0 &&
        !ctx->json) {
        n = json_object_get(resp, "recovered");
        printf("Re-queued %" JSON_INTEGER_FORMAT " failed deliveries.\n",
               json_is_integer(n) ? json_integer_value(n) : 0);
    }
    json_decref(resp);
    json_decref(body);
    return rc;
}

const struct cmd_entry cmd_webhooks_recover_entry = {
    .group = "webhooks",
    .name = "recover",
    .usage = "ID --since TIME",
    .help = "Send again every failed delivery of the webhook made since "
            "TIME (RFC 3339, e.g. 2026-01-22T00:00:00Z).",
    .opts = webhooks_recover_opts,
    .arg_name = "ID",
    .min_args = 1,
    .max_args = 1,
    .exec = webhooks_recover,
};
