/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_ops.c - the list, get and wait shared by the job command groups
 * (see cli_ops.h): the path of a job, the table of GET /v1/operations, the
 * polling loop of "wait" and its durations.
 *
 * "wait" sleeps between polls on the monotonic clock, so that a change of
 * the wall clock neither ends it early nor keeps it waiting, and its last
 * sleep is cut to the deadline, so that the job is always looked at once
 * more when the time runs out.
 */
#include "cli/cli_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_client.h"
#include "cli/cli_output.h"
#include "cli/cli_print.h"

/* --- paths -------------------------------------------------------------- */

int
cli_ops_path(const struct cmd_entry *entry, const struct cli_ops_kind *kind,
             const char *prefix, const char *id, const char *suffix, char *out, size_t cap)
{
    size_t plen = kind->id_prefix != NULL ? strlen(kind->id_prefix) : 0;
    char *escaped;
    int n;

    /* "batches/batch_..." is how the resource names itself. */
    if (plen > 0 && strncmp(id, kind->id_prefix, plen) == 0)
        id += plen;
    if (id[0] == '\0')
        return cli_usage_error(entry, "the ID is empty");
    if ((escaped = cli_client_escape(id)) == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    n = snprintf(out, cap, "%s%s%s", prefix, escaped, suffix);
    free(escaped);
    if (n < 0 || (size_t)n >= cap)
        return cli_usage_error(entry, "the ID is too long");
    return 0;
}

int
cli_ops_get(struct cli_ctx *ctx, const struct cmd_entry *entry,
            const struct cli_ops_kind *kind, const char *id)
{
    char path[CLI_OPS_PATH_MAX];
    json_t *resp = NULL;
    int rc;

    if ((rc = cli_ops_path(entry, kind, kind->get_prefix, id, "", path, sizeof(path))) != 0)
        return rc;
    if ((rc = cli_output_call(ctx, "GET", path, NULL, &resp)) == 0 && !ctx->json)
        kind->print(resp);
    json_decref(resp);
    return rc;
}

/* --- list --------------------------------------------------------------- */

const struct cmd_opt cli_ops_list_opts[] = {
    [CLI_OPS_LIST_STATE] = {"state", true},
    [CLI_OPS_LIST_PAGE_SIZE] = {"page-size", true},
    [CLI_OPS_LIST_PAGE_TOKEN] = {"page-token", true},
    [CLI_OPS_LIST_ALL] = {"all", false},
    {NULL, false},
};

const struct cmd_opt cli_ops_list_kind_opts[] = {
    [CLI_OPS_LIST_STATE] = {"state", true},
    [CLI_OPS_LIST_PAGE_SIZE] = {"page-size", true},
    [CLI_OPS_LIST_PAGE_TOKEN] = {"page-token", true},
    [CLI_OPS_LIST_ALL] = {"all", false},
    [CLI_OPS_LIST_KIND] = {"kind", true},
    {NULL, false},
};

/* What every page of one "list" asks for; NULL members are not sent. */
struct cli_ops_query {
    const struct cmd_entry *entry;
    const char *kind;               /* fixed by the group */
    const char *kind_opt;           /* --kind of "operations list" */
    const char *state;
    const char *page_size;
};

/* The path of the page at token, for cli_output_list(); arg is the
 * struct cli_ops_query. The server checks the values. */
static int
cli_ops_list_path(const void *arg, const char *token, char *out, size_t cap)
{
    const struct cli_ops_query *q = arg;
    const struct cli_output_param params[] = {
        {"kind", q->kind != NULL ? q->kind : q->kind_opt},
        {"state", q->state},
        {"page_size", q->page_size},
    };

    return cli_output_list_path(q->entry, "/v1/operations", params,
                                sizeof params / sizeof params[0], token, out, cap);
}

static size_t
cli_ops_max(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The table: ID, KIND (when every kind is listed), STATE, MODEL, CREATED. */
static void
cli_ops_print_table(const struct cli_ops_query *q, const json_t *list)
{
    size_t w_id = strlen("ID"), w_kind = strlen("KIND"), w_state = strlen("STATE");
    size_t w_model = strlen("MODEL"), i;
    bool kinds = q->kind == NULL;
    const json_t *o;

    if (json_array_size(list) == 0) {
        printf("No %s.\n", q->entry->group);
        return;
    }
    json_array_foreach(list, i, o) {
        w_id = cli_ops_max(w_id, strlen(cli_output_str(o, "id")));
        w_kind = cli_ops_max(w_kind, strlen(cli_output_str(o, "kind")));
        w_state = cli_ops_max(w_state, strlen(cli_output_str(o, "state")));
        w_model = cli_ops_max(w_model, strlen(cli_output_str(o, "model")));
    }
    cli_output_cell("ID", w_id);
    if (kinds)
        cli_output_cell("KIND", w_kind);
    cli_output_cell("STATE", w_state);
    cli_output_cell("MODEL", w_model);
    printf("CREATED\n");
    json_array_foreach(list, i, o) {
        cli_output_cell(cli_output_str(o, "id"), w_id);
        if (kinds)
            cli_output_cell(cli_output_str(o, "kind"), w_kind);
        cli_output_cell(cli_output_str(o, "state"), w_state);
        cli_output_cell(cli_output_str(o, "model"), w_model);
        cli_output_cell(cli_output_str(o, "create_time"), 0);
        putchar('\n');
    }
}

/* What "list" shows for people, for cli_output_list(): the table, and the
 * command line of the next page when there is one. */
static void
cli_ops_list_print(const void *arg, const json_t *items, const char *next)
{
    const struct cli_ops_query *q = arg;

    cli_ops_print_table(q, items);
    if (next == NULL)
        return;
    printf("\nMore %s: kabar %s list", q->entry->group, q->entry->group);
    if (q->kind_opt != NULL) {
        fputs(" --kind ", stdout);
        cli_print_safe(q->kind_opt, stdout);
    }
    if (q->state != NULL) {
        fputs(" --state ", stdout);
        cli_print_safe(q->state, stdout);
    }
    if (q->page_size != NULL)
        printf(" --page-size %s", q->page_size);
    fputs(" --page-token ", stdout);
    cli_print_safe(next, stdout);
    putchar('\n');
}

int
cli_ops_list(struct cli_ctx *ctx, const struct cmd_entry *entry, const char *kind,
             const struct cmd_args *args)
{
    struct cli_ops_query q = {
        .entry = entry,
        .kind = kind,
        .kind_opt = kind == NULL ? args->opt[CLI_OPS_LIST_KIND] : NULL,
        .state = args->opt[CLI_OPS_LIST_STATE],
        .page_size = args->opt[CLI_OPS_LIST_PAGE_SIZE],
    };
    const struct cli_output_list list = {
        .collection = "operations",
        .path = cli_ops_list_path,
        .print = cli_ops_list_print,
        .arg = &q,
    };
    int rc;

    if ((rc = cli_output_page_size_check(entry, q.page_size)) != 0)
        return rc;
    /* An empty filter is no filter, as the server reads it. */
    if (q.state != NULL && q.state[0] == '\0')
        q.state = NULL;
    if (q.kind_opt != NULL && q.kind_opt[0] == '\0')
        q.kind_opt = NULL;
    return cli_output_list(ctx, &list, args->opt[CLI_OPS_LIST_PAGE_TOKEN],
                           args->opt[CLI_OPS_LIST_ALL] != NULL);
}

/* --- wait --------------------------------------------------------------- */

const struct cmd_opt cli_ops_wait_opts[] = {
    [CLI_OPS_WAIT_TIMEOUT] = {"timeout", true},
    [CLI_OPS_WAIT_INTERVAL] = {"interval", true},
    {NULL, false},
};

int
cli_ops_duration(const char *s, int64_t max_ms, int64_t *ms)
{
    static const struct { const char *name; int64_t ms; } units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000},
    };
    int64_t whole = 0, frac = 0, scale = 1, unit = -1, total;
    const char *p = s;
    size_t i;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        /* More digits than any bound needs: refuse before overflowing. */
        if (whole > max_ms)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        /* Digits past the sixth cannot matter to a millisecond. */
        for (; *p >= '0' && *p <= '9'; p++) {
            if (scale < 1000000) {
                frac = frac * 10 + (*p - '0');
                scale *= 10;
            }
        }
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].name) == 0)
            unit = units[i].ms;
    }
    if (unit < 0 || whole > max_ms)
        return -1;
    total = whole * unit + frac * unit / scale;
    /* "0.0001" is not "0", which means no limit for --timeout. */
    if (total == 0 && (whole != 0 || frac != 0))
        total = 1;
    if (total > max_ms)
        return -1;
    *ms = total;
    return 0;
}

static int64_t
cli_ops_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
cli_ops_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};

    /* A signal that does not end kabar (SIGWINCH, SIGCONT) must not cut
     * the sleep short into a busy loop: sleep the rest. */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* " after 90s\n": a duration in the largest unit that divides it. */
static void
cli_ops_print_duration(int64_t ms, FILE *f)
{
    static const struct { const char *name; int64_t ms; } units[] = {
        {"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1},
    };
    size_t i;

    for (i = 0; i < sizeof(units) / sizeof(units[0]) - 1; i++) {
        if (ms % units[i].ms == 0)
            break;
    }
    fprintf(f, " after %lld%s\n", (long long)(ms / units[i].ms), units[i].name);
}

/* Read --timeout and --interval into milliseconds. Returns 0 or
 * CLI_EXIT_USAGE after printing why. */
static int
cli_ops_wait_times(const struct cmd_entry *entry, const struct cmd_args *args,
                   int64_t *timeout_ms, int64_t *interval_ms)
{
    const char *t = args->opt[CLI_OPS_WAIT_TIMEOUT], *i = args->opt[CLI_OPS_WAIT_INTERVAL];

    *timeout_ms = CLI_OPS_WAIT_TIMEOUT_DEFAULT_MS;
    *interval_ms = CLI_OPS_WAIT_INTERVAL_DEFAULT_MS;
    if (t != NULL && cli_ops_duration(t, CLI_OPS_WAIT_TIMEOUT_MAX_MS, timeout_ms) != 0)
        return cli_usage_error(entry, "--timeout must be a duration such as 90, 30s, 5m or "
                               "1.5h, at most 30 days (0: no limit)");
    if (i != NULL && (cli_ops_duration(i, CLI_OPS_WAIT_INTERVAL_MAX_MS, interval_ms) != 0 ||
                      *interval_ms < CLI_OPS_WAIT_INTERVAL_MIN_MS))
        return cli_usage_error(entry, "--interval must be a duration from 10ms to 1h, such "
                               "as 500ms or 2s");
    return 0;
}

/* Print the job as it was last seen: its JSON, or the block of "get". */
static int
cli_ops_wait_show(const struct cli_ctx *ctx, const struct cli_ops_kind *kind,
                  const json_t *resource)
{
    if (ctx->json)
        return cli_print_json(resource);
    kind->print(resource);
    return CLI_EXIT_OK;
}

int
cli_ops_wait(struct cli_ctx *ctx, const struct cmd_entry *entry,
             const struct cli_ops_kind *kind, const struct cmd_args *args)
{
    char path[CLI_OPS_PATH_MAX];
    int64_t timeout_ms, interval_ms, deadline, now;
    struct cli_ops_state st;
    json_t *resource = NULL;
    int rc;

    if ((rc = cli_ops_wait_times(entry, args, &timeout_ms, &interval_ms)) != 0)
        return rc;
    if ((rc = cli_ops_path(entry, kind, kind->get_prefix, args->arg[0], "", path,
                           sizeof(path))) != 0)
        return rc;
    deadline = cli_ops_now_ms() + timeout_ms;
    for (;;) {
        if ((rc = cli_call(ctx, "GET", path, NULL, &resource)) != 0)
            return rc;
        if (!kind->state(resource, &st)) {
            fprintf(stderr, "kabar: %s answered with a %s that has no state\n", ctx->server,
                    kind->noun);
            json_decref(resource);
            return CLI_EXIT_FAIL;
        }
        if (st.final)
            break;
        now = cli_ops_now_ms();
        if (timeout_ms > 0 && now >= deadline) {
            rc = cli_ops_wait_show(ctx, kind, resource);
            fprintf(stderr, "kabar: %s ", kind->noun);
            cli_print_safe(args->arg[0], stderr);
            fputs(" is still ", stderr);
            cli_print_safe(st.name, stderr);
            cli_ops_print_duration(timeout_ms, stderr);
            json_decref(resource);
            return rc != CLI_EXIT_OK ? rc : CLI_EXIT_TIMEOUT;
        }
        json_decref(resource);
        resource = NULL;
        cli_ops_sleep_ms(timeout_ms > 0 && deadline - now < interval_ms ? deadline - now
                                                                        : interval_ms);
    }
    rc = cli_ops_wait_show(ctx, kind, resource);
    if (rc == CLI_EXIT_OK && !st.succeeded) {
        fprintf(stderr, "kabar: %s ", kind->noun);
        cli_print_safe(args->arg[0], stderr);
        fputs(" ended ", stderr);
        cli_print_safe(st.name, stderr);
        fputc('\n', stderr);
        rc = CLI_EXIT_FAIL;
    }
    json_decref(resource);
    return rc;
}

/* --- printing ----------------------------------------------------------- */

void
cli_ops_print_webhook_uris(const json_t *webhook_config)
{
    const json_t *uris = json_object_get(webhook_config, "uris"), *u;
    size_t i;

    if (json_array_size(uris) == 0)
        return;
    cli_output_label("webhooks:");
    json_array_foreach(uris, i, u) {
        if (i > 0)
            fputs(", ", stdout);
        cli_print_safe(json_is_string(u) ? json_string_value(u) : "?", stdout);
    }
    putchar('\n');
}

void
cli_ops_print_error(const char *label, const json_t *err)
{
    const char *status = cli_output_str(err, "status");
    const char *message = cli_output_str(err, "message");

    if (!json_is_object(err))
        return;
    if (status[0] == '\0')
        status = cli_output_str(err, "code");
    cli_output_label(label);
    cli_print_safe(status[0] != '\0' ? status : "error", stdout);
    if (message[0] != '\0') {
        fputs(": ", stdout);
        cli_print_safe(message, stdout);
    }
    putchar('\n');
}
