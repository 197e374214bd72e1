/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_pg_ops.c - long-running operations in the PostgreSQL backend (see
 * store_operations.h; store_sqlite_ops.c is the same on SQLite): one row per
 * operation, compare-and-set transitions that commit their event in the
 * same transaction, and leased claims that workers of several processes run
 * at once (FOR UPDATE SKIP LOCKED).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "store/store_pg_int.h"

/* Rows one list/due/stale call may return. */
#define OPS_LIST_MAX 10000

/* Fill op from row i of a PG_OPERATION_COLUMNS result. Returns STORE_OK, or
 * STORE_ERROR (logged) with op cleared. */
static enum store_rc row_operation(const PGresult *r, int i, struct store_operation *op)
{
    const char *what = NULL;
    bool oom = false;
    int64_t state = store_pg_col_int(r, i, 4);

    memset(op, 0, sizeof *op);
    if (store_pg_col_text(r, i, 0, op->id, sizeof op->id) != 0)
        what = "id";
    else if (store_pg_col_text(r, i, 1, op->project, sizeof op->project) != 0)
        what = "project";
    else if (store_pg_col_text(r, i, 2, op->kind, sizeof op->kind) != 0)
        what = "kind";
    else if (store_pg_col_text_opt(r, i, 3, op->model, sizeof op->model) != 0)
        what = "model";
    else if (store_pg_col_text_opt(r, i, 11, op->lease_owner, sizeof op->lease_owner) != 0)
        what = "lease_owner";
    else if (state < 0 || state >= STORE_OP_STATE_COUNT)
        what = "state";
    else if (PQgetlength(r, i, 5) > STORE_OP_TEXT_MAX || PQgetlength(r, i, 6) > STORE_OP_TEXT_MAX ||
             PQgetlength(r, i, 7) > STORE_OP_TEXT_MAX)
        what = "text";
    if (!what) {
        op->request = store_pg_col_strdup(r, i, 5, &oom);
        op->result = store_pg_col_strdup(r, i, 6, &oom);
        op->webhook_config = store_pg_col_strdup(r, i, 7, &oom);
        if (oom)
            what = "text (out of memory)";
    }
    if (what) {
        store_operation_clear(op);
        return store_pg_row_error("operation", what);
    }
    op->state = (enum store_op_state)state;
    op->create_time_us = store_pg_col_int(r, i, 8);
    op->update_time_us = store_pg_col_int(r, i, 9);
    op->due_time_us = store_pg_col_int(r, i, 10);
    op->lease_expire_time_us = store_pg_col_int(r, i, 12);
    return STORE_OK;
}

/* Text as given, or NULL for "" (nullable columns). */
static void text_opt(struct store_pg_params *p, const char *v)
{
    store_pg_text(p, v && v[0] ? v : NULL);
}

/* Rows of r into out[0..*n), at most limit; with more set, a row beyond
 * limit tells that more follow. */
static enum store_rc read_rows(const PGresult *r, size_t limit, struct store_operation *out,
                               size_t *n, bool *more)
{
    enum store_rc ret = STORE_OK;

    *n = 0;
    if (more)
        *more = false;
    for (int i = 0; i < PQntuples(r); i++) {
        if (*n == limit) {
            if (more)
                *more = true;
            break;
        }
        ret = row_operation(r, i, &out[*n]);
        if (ret != STORE_OK)
            break;
        (*n)++;
    }
    if (ret != STORE_OK) {
        store_operations_clear(out, *n);
        *n = 0;
    }
    return ret;
}

static enum store_rc pg_op_create(struct store *st, const struct store_operation *op)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, op->id);
    store_pg_text(&p, op->project);
    store_pg_text(&p, op->kind);
    text_opt(&p, op->model);
    store_pg_int(&p, op->state);
    text_opt(&p, op->request);
    text_opt(&p, op->result);
    text_opt(&p, op->webhook_config);
    store_pg_int(&p, op->create_time_us);
    store_pg_int(&p, op->update_time_us);
    store_pg_int(&p, op->due_time_us);
    text_opt(&p, op->lease_owner);
    store_pg_int(&p, op->lease_expire_time_us);
    ret = store_pg_run(c, PGSQL_OP_INSERT, &p, NULL, NULL, __func__);
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_op_get(struct store *st, const char *project, const char *id,
                               struct store_operation *out)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    memset(out, 0, sizeof *out);
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, project);
    store_pg_text(&p, id);
    ret = store_pg_run(c, PGSQL_OP_GET, &p, &r, NULL, __func__);
    if (ret == STORE_OK)
        ret = PQntuples(r) == 0 ? STORE_NOT_FOUND : row_operation(r, 0, out);
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_op_list(struct store *st, const char *project, const char *kind,
                                int state, const char *after_id, size_t limit,
                                struct store_operation *out, size_t *n, bool *more)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    *n = 0;
    *more = false;
    if (limit > OPS_LIST_MAX)
        limit = OPS_LIST_MAX;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, project);
    text_opt(&p, kind);
    store_pg_int(&p, state);
    store_pg_text(&p, after_id ? after_id : "");
    store_pg_int(&p, (int64_t)limit + 1);
    ret = store_pg_run(c, PGSQL_OP_LIST, &p, &r, NULL, __func__);
    if (ret == STORE_OK)
        ret = read_rows(r, limit, out, n, more);
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_op_remove(struct store *st, const char *project, const char *id)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    size_t changed = 0;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, project);
    store_pg_text(&p, id);
    ret = store_pg_run(c, PGSQL_OP_DELETE, &p, NULL, &changed, __func__);
    if (ret == STORE_OK && changed == 0)
        ret = STORE_NOT_FOUND;
    store_pg_conn_put(s, c);
    return ret;
}

/* After an UPDATE of (project, id) that changed nothing: NOT_FOUND when the
 * row does not exist, CONFLICT when it does (its state or owner differ). */
static enum store_rc op_missing_or_conflict(struct store_pg_conn *c, const char *project,
                                            const char *id, const char *op)
{
    struct store_pg_params p = {0};
    PGresult *r;
    enum store_rc ret;

    store_pg_text(&p, project);
    store_pg_text(&p, id);
    ret = store_pg_run(c, PGSQL_OP_STATE, &p, &r, NULL, op);
    if (ret != STORE_OK)
        return ret;
    ret = PQntuples(r) > 0 ? STORE_CONFLICT : STORE_NOT_FOUND;
    PQclear(r);
    return ret;
}

static enum store_rc pg_op_transition(struct store *st, const struct store_op_transition *t,
                                      struct store_message *msg)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    size_t changed = 0;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, t->project);
    store_pg_text(&p, t->id);
    store_pg_int(&p, t->from_state);
    store_pg_text(&p, t->owner);
    store_pg_int(&p, t->to_state);
    store_pg_text(&p, t->result);
    store_pg_int(&p, t->now_us);
    ret = store_pg_begin(c, __func__);
    /* The compare and set: under READ COMMITTED a concurrent transition of
     * the same row makes this one wait, then re-check the state, so only one
     * of them changes it. */
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_OP_TRANSITION, &p, NULL, &changed, __func__);
    if (ret == STORE_OK && changed == 0) {
        ret = op_missing_or_conflict(c, t->project, t->id, __func__);
        goto out;
    }
    /* The event rides in this transaction: both commit or neither. */
    if (ret == STORE_OK && msg) {
        ret = store_pg_message_insert(c, msg, 0);
        if (ret == STORE_OK && msg->rc != STORE_OK) {
            ret = msg->rc;
            goto out;
        }
        if (ret == STORE_OK && msg->ndeliveries > 0)
            ret = store_pg_exec(c, "NOTIFY " STORE_PG_CHANNEL, __func__);
    }
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
out:
    store_pg_conn_put(s, c);                 /* rolls back when not committed */
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

static enum store_rc pg_op_claim(struct store *st, const char *project,
                                 const char *const *kinds, size_t nkinds, const char *owner,
                                 int64_t now_us, int64_t lease_until_us,
                                 struct store_operation *out)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    char *kj = NULL;
    enum store_rc ret;

    memset(out, 0, sizeof *out);
    if (kinds_json(kinds, nkinds, &kj) != 0)
        return STORE_ERROR;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        goto out_kinds;
    store_pg_text(&p, project);
    store_pg_text(&p, kj);
    store_pg_text(&p, owner);
    store_pg_int(&p, lease_until_us);
    store_pg_int(&p, now_us);
    ret = store_pg_run(c, PGSQL_OP_CLAIM, &p, &r, NULL, __func__);
    if (ret == STORE_OK)
        ret = PQntuples(r) == 0 ? STORE_NOT_FOUND : row_operation(r, 0, out);
    PQclear(r);
    store_pg_conn_put(s, c);
out_kinds:
    free(kj);
    return ret;
}

static enum store_rc pg_op_heartbeat(struct store *st, const char *project, const char *id,
                                     const char *owner, int64_t lease_until_us, int64_t now_us)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    size_t changed = 0;
    enum store_rc ret;

    (void)now_us;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, project);
    store_pg_text(&p, id);
    store_pg_text(&p, owner);
    store_pg_int(&p, lease_until_us);
    ret = store_pg_run(c, PGSQL_OP_HEARTBEAT, &p, NULL, &changed, __func__);
    if (ret == STORE_OK && changed == 0)
        ret = op_missing_or_conflict(c, project, id, __func__);
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_op_due(struct store *st, int64_t now_us, size_t limit,
                               struct store_operation *out, size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    *n = 0;
    if (limit > OPS_LIST_MAX)
        limit = OPS_LIST_MAX;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_int(&p, now_us);
    store_pg_int(&p, (int64_t)limit);
    ret = store_pg_run(c, PGSQL_OP_DUE, &p, &r, NULL, __func__);
    if (ret == STORE_OK)
        ret = read_rows(r, limit, out, n, NULL);
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_op_stale(struct store *st, const char *kind, int64_t created_before_us,
                                 size_t limit, struct store_operation *out, size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    *n = 0;
    if (limit > OPS_LIST_MAX)
        limit = OPS_LIST_MAX;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, kind);
    store_pg_int(&p, created_before_us);
    store_pg_int(&p, (int64_t)limit);
    ret = store_pg_run(c, PGSQL_OP_STALE, &p, &r, NULL, __func__);
    if (ret == STORE_OK)
        ret = read_rows(r, limit, out, n, NULL);
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_op_deliveries(struct store *st, const char *project, const char *id,
                                      struct store_op_delivery *out, size_t cap, size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    *n = 0;
    if (cap > OPS_LIST_MAX)
        cap = OPS_LIST_MAX;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, project);
    store_pg_text(&p, id);
    store_pg_int(&p, (int64_t)cap);
    ret = store_pg_run(c, PGSQL_OP_DELIVERIES, &p, &r, NULL, __func__);
    for (int i = 0; ret == STORE_OK && i < PQntuples(r); i++) {
        struct store_op_delivery *d = &out[*n];
        int64_t state = store_pg_col_int(r, i, 5);

        memset(d, 0, sizeof *d);
        if (store_pg_col_text(r, i, 0, d->message_id, sizeof d->message_id) != 0 ||
            store_pg_col_text(r, i, 1, d->type, sizeof d->type) != 0 ||
            store_pg_col_text(r, i, 2, d->delivery_id, sizeof d->delivery_id) != 0 ||
            store_pg_col_text_opt(r, i, 3, d->webhook_id, sizeof d->webhook_id) != 0 ||
            store_pg_col_text(r, i, 4, d->target_uri, sizeof d->target_uri) != 0 ||
            state < 0 || state >= STORE_DELIVERY_STATE_COUNT) {
            ret = store_pg_row_error(__func__, "delivery");
            break;
        }
        d->state = (enum store_delivery_state)state;
        d->attempts = (int)store_pg_col_int(r, i, 6);
        d->create_time_us = store_pg_col_int(r, i, 7);
        (*n)++;
    }
    if (ret != STORE_OK)
        *n = 0;
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

const struct store_operations_ops store_pg_operations_ops = {
    .version = STORE_OPERATIONS_OPS_VERSION,
    .create = pg_op_create,
    .get = pg_op_get,
    .list = pg_op_list,
    .remove = pg_op_remove,
    .transition = pg_op_transition,
    .claim = pg_op_claim,
    .heartbeat = pg_op_heartbeat,
    .due = pg_op_due,
    .stale = pg_op_stale,
    .deliveries = pg_op_deliveries,
};
