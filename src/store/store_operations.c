/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_operations.c - long-running operations (store_operations.h),
 * written once over the driver: one row per operation, compare-and-set
 * transitions that commit their event in the same transaction, and leased
 * claims.
 *
 * Backend-specific on purpose, in one place only: the claim. PostgreSQL's
 * OP_CLAIM finds and leases in one statement (FOR UPDATE SKIP LOCKED), so
 * workers of several processes claim at once; SQLite's finds the row under
 * its write lock and the claim leases it after (driver->claim_leases).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/store_messages.h"
#include "store/store_driver.h"
#include "store/store_operations.h"

/* Rows one list/due/stale call may return. */
#define OPS_LIST_MAX 10000

void store_operation_clear(struct store_operation *op)
{
    free(op->request);
    free(op->result);
    webhook_config_free(op->webhook_config);
    op->request = NULL;
    op->result = NULL;
    op->webhook_config = NULL;
}

void store_operations_clear(struct store_operation *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_operation_clear(&ops[i]);
}

static bool text_too_long(struct store_conn *c, int col)
{
    size_t len = 0;

    c->driver->col_text(c, col, &len);
    return len > STORE_OP_TEXT_MAX;
}

/* Fill op from an OPERATION_ROW_COLUMNS row. Returns STORE_OK, or
 * STORE_ERROR (logged) with op cleared. */
static enum store_rc row_operation(struct store_conn *c, struct store_operation *op)
{
    const char *what = NULL;
    bool oom = false;
    int64_t state = store_col_int(c, 4);

    memset(op, 0, sizeof *op);
    if (store_col_text(c, 0, op->id, sizeof op->id) != 0)
        what = "id";
    else if (store_col_text(c, 1, op->project, sizeof op->project) != 0)
        what = "project";
    else if (store_col_text(c, 2, op->kind, sizeof op->kind) != 0)
        what = "kind";
    else if (store_col_text_opt(c, 3, op->model, sizeof op->model) != 0)
        what = "model";
    else if (store_col_text_opt(c, 11, op->lease_owner, sizeof op->lease_owner) != 0)
        what = "lease_owner";
    else if (state < 0 || state >= STORE_OP_STATE_COUNT)
        what = "state";
    else if (text_too_long(c, 5) || text_too_long(c, 6) || text_too_long(c, 7))
        what = "text";
    if (!what) {
        op->request = store_col_strdup(c, 5, &oom);
        op->result = store_col_strdup(c, 6, &oom);
        char *wc = store_col_strdup(c, 7, &oom);

        if (oom)
            what = "text (out of memory)";
        else if (wc && (op->webhook_config = webhook_config_load(wc)) == NULL)
            what = "webhook_config";
        free(wc);
    }
    if (what) {
        store_operation_clear(op);
        return store_row_error("operation", what);
    }
    op->state = (enum store_op_state)state;
    op->create_time_us = store_col_int(c, 8);
    op->update_time_us = store_col_int(c, 9);
    op->due_time_us = store_col_int(c, 10);
    op->lease_expire_time_us = store_col_int(c, 12);
    return STORE_OK;
}

/* Rows of the current result into out[0..*n), at most limit; with more
 * set, a row beyond limit tells that more follow. */
static enum store_rc read_rows(struct store_conn *c, enum store_rc ret, size_t limit,
                               struct store_operation *out, size_t *n, bool *more)
{
    *n = 0;
    if (more)
        *more = false;
    while (ret == STORE_OK && (ret = store_next(c)) == STORE_OK) {
        if (*n == limit) {
            if (more)
                *more = true;
            break;
        }
        ret = row_operation(c, &out[*n]);
        if (ret == STORE_OK)
            (*n)++;
    }
    if (ret == STORE_NOT_FOUND)
        ret = STORE_OK;
    if (ret != STORE_OK) {
        store_operations_clear(out, *n);
        *n = 0;
    }
    return ret;
}

/* Run read statement id and read its first row into out: NOT_FOUND
 * without one. */
static enum store_rc read_one(struct store_conn *c, enum store_rc ret,
                              struct store_operation *out)
{
    if (ret == STORE_OK)
        ret = store_next(c);
    return ret == STORE_OK ? row_operation(c, out) : ret;
}

enum store_rc store_operation_create(struct store *st, const struct store_operation *op)
{
    char *wc = NULL;
    enum store_rc rc;

    if (op->webhook_config && (wc = webhook_config_dump(op->webhook_config)) == NULL)
        return STORE_ERROR;
    rc = store_write_one(st, STORE_SQL_OP_INSERT,
                         STORE_ARGS(STORE_TEXT(op->id), STORE_TEXT(op->project),
                                    STORE_TEXT(op->kind), STORE_TEXT_OPT(op->model),
                                    STORE_INT(op->state), STORE_TEXT_OPT(op->request),
                                    STORE_TEXT_OPT(op->result),
                                    STORE_TEXT_OPT(wc),
                                    STORE_INT(op->create_time_us),
                                    STORE_INT(op->update_time_us), STORE_INT(op->due_time_us),
                                    STORE_TEXT_OPT(op->lease_owner),
                                    STORE_INT(op->lease_expire_time_us)),
                       false, NULL, false);
    free(wc);
    return rc;
}

enum store_rc store_operation_get(struct store *st, const char *project, const char *id,
                                  struct store_operation *out)
{
    struct store_conn *c = NULL;
    enum store_rc ret = store_conn_get(st, &c);

    memset(out, 0, sizeof *out);
    if (ret == STORE_OK)
        ret = read_one(c, store_run(c, STORE_SQL_OP_GET,
                                    STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id))), out);
    store_conn_put(c);
    return ret;
}

enum store_rc store_operation_list(struct store *st, const char *project, const char *kind,
                                   int state, const char *after_id, size_t limit,
                                   struct store_operation *out, size_t *n, bool *more)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    *n = 0;
    *more = false;
    if (limit > OPS_LIST_MAX)
        limit = OPS_LIST_MAX;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = read_rows(c, store_run(c, STORE_SQL_OP_LIST,
                                     STORE_ARGS(STORE_TEXT(project), STORE_TEXT_OPT(kind),
                                                STORE_INT(state),
                                                STORE_TEXT(after_id ? after_id : ""),
                                                STORE_INT(limit + 1))),
                        limit, out, n, more);
    store_conn_put(c);
    return ret;
}

enum store_rc store_operation_delete(struct store *st, const char *project, const char *id)
{
    return store_write_one(st, STORE_SQL_OP_DELETE,
                           STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id)), true, NULL, false);
}

/* After an UPDATE of (project, id) that changed nothing: NOT_FOUND when the
 * row does not exist, CONFLICT when it does (its state or owner differ). */
static enum store_rc op_missing_or_conflict(struct store_conn *c, const char *project,
                                            const char *id)
{
    enum store_rc ret = store_run(c, STORE_SQL_OP_STATE,
                                  STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id)));

    if (ret == STORE_OK)
        ret = store_next(c);
    return ret == STORE_OK ? STORE_CONFLICT : ret;
}

enum store_rc store_operation_transition(struct store *st, const struct store_op_transition *t,
                                         struct store_message *msg)
{
    struct store_conn *c = NULL;
    size_t changed = 0;
    enum store_rc ret = store_conn_get(st, &c);

    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    /* The compare and set: under READ COMMITTED a concurrent transition of
     * the same row makes this one wait, then re-check the state, so only one
     * of them changes it. */
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_OP_TRANSITION,
                                STORE_ARGS(STORE_TEXT(t->project), STORE_TEXT(t->id),
                                           STORE_INT(t->from_state), STORE_TEXT(t->owner),
                                           STORE_INT(t->to_state), STORE_TEXT(t->result),
                                           STORE_INT(t->now_us)),
                                &changed);
    if (ret == STORE_OK && changed == 0)
        ret = op_missing_or_conflict(c, t->project, t->id);
    /* The event rides in this transaction: both commit or neither. */
    if (ret == STORE_OK && msg) {
        ret = store_message_insert_in(c, msg, 0);
        if (ret == STORE_OK && msg->rc != STORE_OK)
            ret = msg->rc;
        if (ret == STORE_OK && msg->ndeliveries > 0)
            ret = store_notify(c);
    }
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);                       /* rolls back when not committed */
    return ret;
}

/* kinds[0..n) as a JSON array text, or NULL for n == 0. Returns 0, or -1
 * when out of memory; *out is the caller's to free. */
static int kinds_json(const char *const *kinds, size_t n, char **out)
{
    json_t *arr;

    *out = NULL;
    if (n == 0)
        return 0;
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(kinds[i]));
    *out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return *out ? 0 : -1;
}

enum store_rc store_operation_claim(struct store *st, const char *project,
                                    const char *const *kinds, size_t nkinds, const char *owner,
                                    int64_t now_us, int64_t lease_until_us,
                                    struct store_operation *out)
{
    struct store_conn *c = NULL;
    char id[IDS_MAX];
    char *kj = NULL;
    enum store_rc ret;

    memset(out, 0, sizeof *out);
    if (kinds_json(kinds, nkinds, &kj) != 0)
        return store_oom("operation_claim");
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_OP_CLAIM,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(kj), STORE_TEXT(owner),
                                   STORE_INT(lease_until_us), STORE_INT(now_us)));
    if (ret == STORE_OK && c->driver->claim_leases) {
        ret = read_one(c, ret, out);
    } else if (ret == STORE_OK) {
        ret = store_next(c);
        if (ret == STORE_OK && store_col_text(c, 0, id, sizeof id) != 0)
            ret = store_row_error("operation_claim", "id");
        if (ret == STORE_OK)
            ret = store_run(c, STORE_SQL_OP_LEASE,
                            STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id), STORE_TEXT(owner),
                                       STORE_INT(lease_until_us), STORE_INT(now_us)));
        if (ret == STORE_OK)
            ret = read_one(c, store_run(c, STORE_SQL_OP_GET,
                                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id))),
                           out);
    }
    if (ret == STORE_OK)
        ret = store_commit(c);
    if (ret != STORE_OK)
        store_operation_clear(out);
    store_conn_put(c);
    free(kj);
    return ret;
}

enum store_rc store_operation_heartbeat(struct store *st, const char *project, const char *id,
                                        const char *owner, int64_t lease_until_us,
                                        int64_t now_us)
{
    struct store_conn *c = NULL;
    size_t changed = 0;
    enum store_rc ret = store_conn_get(st, &c);

    (void)now_us;
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_OP_HEARTBEAT,
                                STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id), STORE_TEXT(owner),
                                           STORE_INT(lease_until_us)),
                                &changed);
    if (ret == STORE_OK && changed == 0)
        ret = op_missing_or_conflict(c, project, id);
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}

enum store_rc store_operation_due(struct store *st, int64_t now_us, size_t limit,
                                  struct store_operation *out, size_t *n)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    *n = 0;
    if (limit > OPS_LIST_MAX)
        limit = OPS_LIST_MAX;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = read_rows(c, store_run(c, STORE_SQL_OP_DUE,
                                     STORE_ARGS(STORE_INT(now_us), STORE_INT(limit))),
                        limit, out, n, NULL);
    store_conn_put(c);
    return ret;
}

enum store_rc store_operation_stale(struct store *st, const char *kind,
                                    int64_t created_before_us, size_t limit,
                                    struct store_operation *out, size_t *n)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    *n = 0;
    if (limit > OPS_LIST_MAX)
        limit = OPS_LIST_MAX;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = read_rows(c, store_run(c, STORE_SQL_OP_STALE,
                                     STORE_ARGS(STORE_TEXT(kind), STORE_INT(created_before_us),
                                                STORE_INT(limit))),
                        limit, out, n, NULL);
    store_conn_put(c);
    return ret;
}

enum store_rc store_operation_deliveries(struct store *st, const char *project, const char *id,
                                         struct store_op_delivery *out, size_t cap, size_t *n)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    *n = 0;
    if (cap > OPS_LIST_MAX)
        cap = OPS_LIST_MAX;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_OP_DELIVERIES,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id), STORE_INT(cap)));
    while (ret == STORE_OK && *n < cap && (ret = store_next(c)) == STORE_OK) {
        struct store_op_delivery *d = &out[*n];
        int64_t state = store_col_int(c, 5);

        memset(d, 0, sizeof *d);
        if (store_col_text(c, 0, d->message_id, sizeof d->message_id) != 0 ||
            store_col_text(c, 1, d->type, sizeof d->type) != 0 ||
            store_col_text(c, 2, d->delivery_id, sizeof d->delivery_id) != 0 ||
            store_col_text_opt(c, 3, d->webhook_id, sizeof d->webhook_id) != 0 ||
            store_col_text(c, 4, d->target_uri, sizeof d->target_uri) != 0 ||
            state < 0 || state >= STORE_DELIVERY_STATE_COUNT) {
            ret = store_row_error("operation_deliveries", "delivery");
            break;
        }
        d->state = (enum store_delivery_state)state;
        d->attempts = (int)store_col_int(c, 6);
        d->create_time_us = store_col_int(c, 7);
        (*n)++;
    }
    if (ret == STORE_NOT_FOUND)
        ret = STORE_OK;
    if (ret != STORE_OK)
        *n = 0;
    store_conn_put(c);
    return ret;
}
