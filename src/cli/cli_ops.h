/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_ops.h - what the job command groups of kabar share: "interactions",
 * "batches" and "operations" (cli_interactions.c, cli_batches.c,
 * cli_operations.c).
 *
 * A job is a long-running operation of kabard (docs/operations.md). Each
 * group shows a job as its own API resource (an Interaction, a batch
 * Operation, the generic operation record), but all three list jobs the
 * same way, through GET /v1/operations with a kind filter, so that their
 * tables, filters and states read alike. "wait" is one loop for all three:
 * it polls the group's GET until the resource says it is final, and its
 * exit status says how the job ended.
 */
#ifndef KABAR_CLI_OPS_H
#define KABAR_CLI_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli/cli.h"

/* Room for a job's path, query included. */
#define CLI_OPS_PATH_MAX 4096

/* What a resource says about the job's state. */
struct cli_ops_state {
    const char *name;   /* as the resource spells it; points into it */
    bool final;         /* the job will not change any more */
    bool succeeded;     /* final, and it ended as asked */
};

/* One group's view of a job. */
struct cli_ops_kind {
    const char *noun;           /* "interaction": in messages */
    const char *id_prefix;      /* "batches/": a name prefix that "get ID"
                                 * also accepts; NULL for none */
    const char *get_prefix;     /* "/v1/interactions/": GET prefix + ID */
    /* Read the state out of a resource. Returns false when the resource
     * does not carry one. */
    bool (*state)(const json_t *resource, struct cli_ops_state *out);
    /* The block "get" prints for people. */
    void (*print)(const json_t *resource);
};

/*
 * Write prefix + ID + suffix into out, the ID (the command's argument,
 * without kind->id_prefix when it starts with it) percent-encoded so that
 * a "/" or "?" in it cannot reach another route. Returns 0, or an exit code
 * after printing why.
 */
int cli_ops_path(const struct cmd_entry *entry, const struct cli_ops_kind *kind,
                 const char *prefix, const char *id, const char *suffix, char *out,
                 size_t cap);

/* "GROUP get ID": one GET, its answer printed (--json) or kind->print(). */
int cli_ops_get(struct cli_ctx *ctx, const struct cmd_entry *entry,
                const struct cli_ops_kind *kind, const char *id);

/* --- list --------------------------------------------------------------- */

/* The options of every "GROUP list"; --kind only in "operations list". */
enum { CLI_OPS_LIST_STATE, CLI_OPS_LIST_PAGE_SIZE, CLI_OPS_LIST_PAGE_TOKEN, CLI_OPS_LIST_ALL,
       CLI_OPS_LIST_KIND };

extern const struct cmd_opt cli_ops_list_opts[];            /* without --kind */
extern const struct cmd_opt cli_ops_list_kind_opts[];       /* with it */

/* The usage of "list" (without --kind). */
#define CLI_OPS_LIST_USAGE                                                          \
    "[--state pending|running|succeeded|failed|cancelled|expired|requires_action] " \
    "[--page-size N] [--page-token TOKEN] [--all]"

/*
 * "GROUP list": GET /v1/operations?kind=KIND&state=... and a table of ID,
 * (KIND when kind is NULL,) STATE, MODEL, CREATED, oldest first. kind NULL
 * lists every kind and takes --kind from args (cli_ops_list_kind_opts).
 * The hint for the next page names entry's group.
 */
int cli_ops_list(struct cli_ctx *ctx, const struct cmd_entry *entry, const char *kind,
                 const struct cmd_args *args);

/* --- wait --------------------------------------------------------------- */

enum { CLI_OPS_WAIT_TIMEOUT, CLI_OPS_WAIT_INTERVAL };

extern const struct cmd_opt cli_ops_wait_opts[];

#define CLI_OPS_WAIT_USAGE "ID [--timeout DURATION] [--interval DURATION]"

/* The sentences of "wait"'s help after its first: durations, exit status. */
#define CLI_OPS_WAIT_HELP                                                              \
    "DURATION is a number with an optional unit ms, s (the default), m or h. "         \
    "--timeout defaults to 10m (0: no limit), --interval to 1s. The job is shown "     \
    "when it ends, or as it was when the time ran out. Exit status: 0 it succeeded, "  \
    "1 it ended otherwise (or a request failed), 3 it was still running at the "      \
    "timeout."

/* Default and bounds of the durations, in milliseconds. */
#define CLI_OPS_WAIT_TIMEOUT_DEFAULT_MS (10 * 60 * 1000)
#define CLI_OPS_WAIT_TIMEOUT_MAX_MS (INT64_C(30) * 24 * 3600 * 1000)
#define CLI_OPS_WAIT_INTERVAL_DEFAULT_MS 1000
#define CLI_OPS_WAIT_INTERVAL_MIN_MS 10
#define CLI_OPS_WAIT_INTERVAL_MAX_MS (3600 * 1000)

/*
 * Parse a duration: digits, an optional fraction, and an optional unit
 * ("ms", "s", "m", "h"; seconds without one), into *ms, rounded down to
 * whole milliseconds but never from more than zero to zero. Returns 0, or
 * -1 when s is not such a duration or it exceeds max_ms.
 */
int cli_ops_duration(const char *s, int64_t max_ms, int64_t *ms);

/*
 * "GROUP wait ID": poll the job (GET get_prefix + ID) until its resource is
 * final, at most --timeout, every --interval. Prints the last resource (as
 * "get" does) and returns CLI_EXIT_OK when the job succeeded, CLI_EXIT_FAIL
 * (with a line on stderr) when it ended otherwise or a request failed,
 * CLI_EXIT_TIMEOUT when it was not final when the time ran out.
 */
int cli_ops_wait(struct cli_ctx *ctx, const struct cmd_entry *entry,
                 const struct cli_ops_kind *kind, const struct cmd_args *args);

/* --- printing ----------------------------------------------------------- */

/* "label: a, b" for the uris of a webhook_config object, when there are
 * any. */
void cli_ops_print_webhook_uris(const json_t *webhook_config);

/* "label: STATUS: message" for a google.rpc.Status-like error object
 * ({status|code, message}), when err is an object. */
void cli_ops_print_error(const char *label, const json_t *err);

#endif
