/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_retention.c - pruning (store_retention.h), written once over the
 * driver: a batch picks its messages (PRUNE_PICK), deletes their attempts,
 * deliveries and the messages by that list, then a batch of final
 * operations, all in one write transaction. Compaction is the driver's
 * (SQLite's incremental vacuum; nothing on PostgreSQL).
 */
#include "store/store_retention.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "store/store_driver.h"

/* Collect the ids PRUNE_PICK returns into a JSON array text (for free()),
 * or NULL with *ret set. *n: how many. */
static char *prune_pick(struct store_conn *c, const char *bound, int64_t cutoff_us,
                        size_t limit, size_t *n, enum store_rc *ret)
{
    char id[IDS_MAX];
    json_t *arr = json_array();
    char *text = NULL;

    *n = 0;
    if (!arr) {
        *ret = store_oom("prune");
        return NULL;
    }
    *ret = store_run(c, STORE_SQL_PRUNE_PICK,
                     STORE_ARGS(STORE_TEXT(bound), STORE_INT(cutoff_us), STORE_INT(limit)));
    while (*ret == STORE_OK && (*ret = store_next(c)) == STORE_OK) {
        if (store_col_text(c, 0, id, sizeof id) != 0)
            *ret = store_row_error("prune", "message id");
        else if (json_array_append_new(arr, json_string(id)) != 0)
            *ret = store_oom("prune");
        else
            (*n)++;
    }
    if (*ret == STORE_NOT_FOUND)
        *ret = STORE_OK;
    if (*ret == STORE_OK && !(text = json_dumps(arr, JSON_COMPACT)))
        *ret = store_oom("prune");
    json_decref(arr);
    return text;
}

/* The messages of picked (a JSON array of ids) with their deliveries and
 * attempts; children first, so that each count is the rows its statement
 * removed (a cascade would hide them). */
static enum store_rc prune_messages(struct store_conn *c, const char *picked,
                                    struct store_prune *out)
{
    enum store_rc ret;

    ret = store_run_changes(c, STORE_SQL_PRUNE_ATTEMPTS, STORE_ARGS(STORE_TEXT(picked)),
                            &out->attempts);
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_PRUNE_DELIVERIES, STORE_ARGS(STORE_TEXT(picked)),
                                &out->deliveries);
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_PRUNE_MESSAGES, STORE_ARGS(STORE_TEXT(picked)),
                                &out->messages);
    return ret;
}

/* A batch of final operations; their ids into out->op_ids. */
static enum store_rc prune_operations(struct store_conn *c, int64_t cutoff_us, size_t limit,
                                      struct store_prune *out)
{
    enum store_rc ret = store_run(c, STORE_SQL_PRUNE_OPERATIONS,
                                  STORE_ARGS(STORE_INT(cutoff_us), STORE_INT(limit)));

    while (ret == STORE_OK && (ret = store_next(c)) == STORE_OK) {
        if (out->operations >= limit ||
            store_col_text(c, 0, out->op_ids[out->operations], sizeof out->op_ids[0]) != 0)
            ret = store_row_error("prune", "operation id");
        else
            out->operations++;
    }
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

enum store_rc store_prune(struct store *st, int64_t cutoff_us, size_t limit,
                          struct store_prune *out)
{
    struct store_conn *c = NULL;
    char bound[IDS_MAX];
    char *picked = NULL;
    size_t npicked = 0;
    enum store_rc ret;

    out->messages = out->deliveries = out->attempts = out->operations = 0;
    if (limit > STORE_PRUNE_BATCH_MAX)
        limit = STORE_PRUNE_BATCH_MAX;
    if (limit == 0)
        return STORE_OK;
    if (ids_floor("msg_", cutoff_us / 1000, bound, sizeof bound) != 0) {
        log_error("cannot make the prune bound", NULL);
        return STORE_ERROR;
    }
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        picked = prune_pick(c, bound, cutoff_us, limit, &npicked, &ret);
    if (ret == STORE_OK && npicked > 0)
        ret = prune_messages(c, picked, out);
    if (ret == STORE_OK)
        ret = prune_operations(c, cutoff_us, limit, out);
    if (ret == STORE_OK)
        ret = store_commit(c);
    if (ret != STORE_OK)
        out->messages = out->deliveries = out->attempts = out->operations = 0;
    store_conn_put(c);                      /* rolls back when not committed */
    free(picked);
    return ret;
}

enum store_rc store_compact(struct store *st, size_t max_pages, size_t *pages)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    *pages = 0;
    if (!st->driver->compact)
        return STORE_OK;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = st->driver->compact(c, max_pages, pages);
    store_conn_put(c);
    return ret;
}
