/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_sqlite_ops.c - long-running operations in the SQLite backend (see
 * store_operations.h): one row per operation in the operations table of
 * migration 1, compare-and-set transitions that commit their event in the
 * same transaction, and leased claims for external workers.
 */
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "store/store_sqlite_int.h"

/* Rows one list/due/stale call may return; bound as an SQL integer. */
#define OPS_LIST_MAX 10000

/* A copy of nullable text column i: NULL stays NULL. Returns 0, or -1 when
 * out of memory or too long. */
static int col_text_dup(sqlite3_stmt *q, int i, char **out)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    int len = sqlite3_column_bytes(q, i);

    *out = NULL;
    if (sqlite3_column_type(q, i) == SQLITE_NULL)
        return 0;
    if (!t || len < 0 || (size_t)len > STORE_OP_TEXT_MAX)
        return -1;
    *out = malloc((size_t)len + 1);
    if (!*out)
        return -1;
    memcpy(*out, t, (size_t)len);
    (*out)[len] = '\0';
    return 0;
}

/* Fill op from a row of OPERATION_COLUMNS. Returns STORE_OK, or
 * STORE_ERROR (logged) with op cleared. */
static enum store_rc row_operation(sqlite3_stmt *q, struct store_operation *op)
{
    const char *what = NULL;
    int state;

    memset(op, 0, sizeof *op);
    if (store_sqlite_col_text(q, 0, op->id, sizeof op->id) != 0)
        what = "id";
    else if (store_sqlite_col_text(q, 1, op->project, sizeof op->project) != 0)
        what = "project";
    else if (store_sqlite_col_text(q, 2, op->kind, sizeof op->kind) != 0)
        what = "kind";
    else if (sqlite3_column_type(q, 3) != SQLITE_NULL &&
             store_sqlite_col_text(q, 3, op->model, sizeof op->model) != 0)
        what = "model";
    else if (col_text_dup(q, 5, &op->request) != 0)
        what = "request";
    else if (col_text_dup(q, 6, &op->result) != 0)
        what = "result";
    else if (col_text_dup(q, 7, &op->webhook_config) != 0)
        what = "webhook_config";
    else if (sqlite3_column_type(q, 11) != SQLITE_NULL &&
             store_sqlite_col_text(q, 11, op->lease_owner, sizeof op->lease_owner) != 0)
        what = "lease_owner";
    state = sqlite3_column_int(q, 4);
    if (!what && (state < 0 || state >= STORE_OP_STATE_COUNT))
        what = "state";
    if (what) {
        store_operation_clear(op);
        return store_sqlite_row_error("operation", what);
    }
    op->state = (enum store_op_state)state;
    op->create_time_us = sqlite3_column_int64(q, 8);
    op->update_time_us = sqlite3_column_int64(q, 9);
    op->due_time_us = sqlite3_column_int64(q, 10);
    op->lease_expire_time_us = sqlite3_column_int64(q, 12);
    return STORE_OK;
}

static enum store_rc sqlite_op_create(struct store *st, const struct store_operation *op)
{
    const struct store_sqlite_arg args[] = {
        STORE_SQLITE_TEXT(op->id),
        STORE_SQLITE_TEXT(op->project),
        STORE_SQLITE_TEXT(op->kind),
        STORE_SQLITE_TEXT_OPT(op->model),
        STORE_SQLITE_INT64(op->state),
        STORE_SQLITE_TEXT_OPT(op->request),
        STORE_SQLITE_TEXT_OPT(op->result),
        STORE_SQLITE_TEXT_OPT(op->webhook_config),
        STORE_SQLITE_INT64(op->create_time_us),
        STORE_SQLITE_INT64(op->update_time_us),
        STORE_SQLITE_INT64(op->due_time_us),
        STORE_SQLITE_TEXT_OPT(op->lease_owner),
        STORE_SQLITE_INT64(op->lease_expire_time_us),
    };

    return store_sqlite_write((struct store_sqlite *)st, SQL_OP_INSERT, args,
                              sizeof args / sizeof args[0], STORE_SQLITE_NONE_OK, NULL,
                              __func__);
}

static enum store_rc sqlite_op_get(struct store *st, const char *project, const char *id,
                                   struct store_operation *out)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    memset(out, 0, sizeof *out);
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_OP_GET, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        ret = row_operation(q, out);
    else if (rc == SQLITE_DONE)
        ret = STORE_NOT_FOUND;
    else
        ret = store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
    return ret;
}

/* Step q (bound), reading up to limit rows into out[0..*n); with more set,
 * one extra row tells whether more follow. */
static enum store_rc read_rows(struct store_conn *c, sqlite3_stmt *q, size_t limit,
                               struct store_operation *out, size_t *n, bool *more,
                               const char *op)
{
    enum store_rc ret = STORE_OK;
    int rc;

    *n = 0;
    if (more)
        *more = false;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == limit) {
            if (more)
                *more = true;
            break;
        }
        ret = row_operation(q, &out[*n]);
        if (ret != STORE_OK)
            break;
        (*n)++;
    }
    if (ret == STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_sqlite_sql_error(c, rc, op);
    if (ret != STORE_OK) {
        store_operations_clear(out, *n);
        *n = 0;
    }
    return ret;
}

static enum store_rc sqlite_op_list(struct store *st, const char *project, const char *kind,
                                    int state, const char *after_id, size_t limit,
                                    struct store_operation *out, size_t *n, bool *more)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    *more = false;
    if (limit > OPS_LIST_MAX)
        limit = OPS_LIST_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_OP_LIST, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text_opt(q, 2, kind, &rc);
    store_sqlite_bind_int64(q, 3, state, &rc);
    store_sqlite_bind_text(q, 4, after_id ? after_id : "", &rc);
    store_sqlite_bind_int64(q, 5, (int64_t)limit + 1, &rc);
    if (rc == SQLITE_OK)
        ret = read_rows(c, q, limit, out, n, more, __func__);
    else
        ret = store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_op_remove(struct store *st, const char *project, const char *id)
{
    const struct store_sqlite_arg args[] = {STORE_SQLITE_TEXT(project), STORE_SQLITE_TEXT(id)};

    return store_sqlite_write((struct store_sqlite *)st, SQL_OP_DELETE, args, 2,
                              STORE_SQLITE_NONE_NOT_FOUND, NULL, __func__);
}

/* After an UPDATE of (project, id) that changed nothing: NOT_FOUND when the
 * row does not exist, CONFLICT when it does (its state or owner differ). */
static enum store_rc op_missing_or_conflict(struct store_conn *c, const char *project,
                                            const char *id, const char *op)
{
    sqlite3_stmt *q = NULL;
    int rc = store_sqlite_stmt_get(c, SQL_OP_STATE, &q);

    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        return STORE_CONFLICT;
    if (rc == SQLITE_DONE)
        return STORE_NOT_FOUND;
    return store_sqlite_sql_error(c, rc, op);
}

static enum store_rc sqlite_op_transition(struct store *st, const struct store_op_transition *t,
                                          struct store_message *msg)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_OP_TRANSITION, &q);
    store_sqlite_bind_text(q, 1, t->project, &rc);
    store_sqlite_bind_text(q, 2, t->id, &rc);
    store_sqlite_bind_int64(q, 3, t->from_state, &rc);
    store_sqlite_bind_text(q, 4, t->owner, &rc);
    store_sqlite_bind_int64(q, 5, t->to_state, &rc);
    store_sqlite_bind_text(q, 6, t->result, &rc);
    store_sqlite_bind_int64(q, 7, t->now_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK && sqlite3_changes(c->db) == 0) {
        ret = op_missing_or_conflict(c, t->project, t->id, __func__);
        goto out;
    }
    /* The event rides in this transaction: both commit or neither. */
    if (rc == SQLITE_OK && msg) {
        rc = store_sqlite_message_insert(c, msg, 0);
        if (rc == SQLITE_OK && msg->rc != STORE_OK) {
            ret = msg->rc;
            goto out;
        }
    }
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);
    return ret;
}

/* kinds[0..n) as a JSON array text for json_each, or NULL for n == 0.
 * Returns 0, or -1 when out of memory; *out is the caller's to free. */
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

static enum store_rc sqlite_op_claim(struct store *st, const char *project,
                                     const char *const *kinds, size_t nkinds, const char *owner,
                                     int64_t now_us, int64_t lease_until_us,
                                     struct store_operation *out)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    char id[IDS_MAX];
    char *kj = NULL;
    enum store_rc ret;
    int rc;

    memset(out, 0, sizeof *out);
    if (kinds_json(kinds, nkinds, &kj) != 0)
        return STORE_ERROR;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        goto out_kinds;
    /* Find and lease in one write transaction, so two workers never lease
     * the same operation. */
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_OP_CLAIM_FIND, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, kj, &rc);
    store_sqlite_bind_int64(q, 3, now_us, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out_conn;
    }
    if (rc != SQLITE_ROW)
        goto fail_sql;
    if (store_sqlite_col_text(q, 0, id, sizeof id) != 0) {
        ret = store_sqlite_row_error(__func__, "id");
        goto out_conn;
    }
    sqlite3_reset(q);
    rc = store_sqlite_stmt_get(c, SQL_OP_LEASE, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    store_sqlite_bind_text(q, 3, owner, &rc);
    store_sqlite_bind_int64(q, 4, lease_until_us, &rc);
    store_sqlite_bind_int64(q, 5, now_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_OP_GET, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW)
        goto fail_sql;
    ret = row_operation(q, out);
    if (ret != STORE_OK)
        goto out_conn;
    sqlite3_reset(q);
    rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc == SQLITE_OK)
        goto out_conn;
    store_operation_clear(out);
fail_sql:
    ret = store_sqlite_sql_error(c, rc == SQLITE_DONE ? SQLITE_ERROR : rc, __func__);
out_conn:
    store_sqlite_conn_put(s, c);
out_kinds:
    free(kj);
    return ret;
}

static enum store_rc sqlite_op_heartbeat(struct store *st, const char *project, const char *id,
                                         const char *owner, int64_t lease_until_us,
                                         int64_t now_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_OP_HEARTBEAT, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    store_sqlite_bind_text(q, 3, owner, &rc);
    store_sqlite_bind_int64(q, 4, lease_until_us, &rc);
    (void)now_us;
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK && sqlite3_changes(c->db) == 0) {
        ret = op_missing_or_conflict(c, project, id, __func__);
        goto out;
    }
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_op_due(struct store *st, int64_t now_us, size_t limit,
                                   struct store_operation *out, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    if (limit > OPS_LIST_MAX)
        limit = OPS_LIST_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_OP_DUE, &q);
    store_sqlite_bind_int64(q, 1, now_us, &rc);
    store_sqlite_bind_int64(q, 2, (int64_t)limit, &rc);
    ret = rc == SQLITE_OK ? read_rows(c, q, limit, out, n, NULL, __func__)
                          : store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_op_stale(struct store *st, const char *kind,
                                     int64_t created_before_us, size_t limit,
                                     struct store_operation *out, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    if (limit > OPS_LIST_MAX)
        limit = OPS_LIST_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_OP_STALE, &q);
    store_sqlite_bind_text(q, 1, kind, &rc);
    store_sqlite_bind_int64(q, 2, created_before_us, &rc);
    store_sqlite_bind_int64(q, 3, (int64_t)limit, &rc);
    ret = rc == SQLITE_OK ? read_rows(c, q, limit, out, n, NULL, __func__)
                          : store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_op_deliveries(struct store *st, const char *project,
                                          const char *id, struct store_op_delivery *out,
                                          size_t cap, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    if (cap > OPS_LIST_MAX)
        cap = OPS_LIST_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_OP_DELIVERIES, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    store_sqlite_bind_int64(q, 3, (int64_t)cap, &rc);
    if (rc != SQLITE_OK) {
        ret = store_sqlite_sql_error(c, rc, __func__);
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_op_delivery *d = &out[*n];
        int state = sqlite3_column_int(q, 5);

        memset(d, 0, sizeof *d);
        if (store_sqlite_col_text(q, 0, d->message_id, sizeof d->message_id) != 0 ||
            store_sqlite_col_text(q, 1, d->type, sizeof d->type) != 0 ||
            store_sqlite_col_text(q, 2, d->delivery_id, sizeof d->delivery_id) != 0 ||
            (sqlite3_column_type(q, 3) != SQLITE_NULL &&
             store_sqlite_col_text(q, 3, d->webhook_id, sizeof d->webhook_id) != 0) ||
            store_sqlite_col_text(q, 4, d->target_uri, sizeof d->target_uri) != 0 ||
            state < 0 || state >= STORE_DELIVERY_STATE_COUNT) {
            ret = store_sqlite_row_error(__func__, "delivery");
            *n = 0;
            goto out;
        }
        d->state = (enum store_delivery_state)state;
        d->attempts = sqlite3_column_int(q, 6);
        d->create_time_us = sqlite3_column_int64(q, 7);
        (*n)++;
    }
    ret = rc == SQLITE_DONE ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
    if (ret != STORE_OK)
        *n = 0;
out:
    store_sqlite_conn_put(s, c);
    return ret;
}

const struct store_operations_ops store_sqlite_operations_ops = {
    .version = STORE_OPERATIONS_OPS_VERSION,
    .create = sqlite_op_create,
    .get = sqlite_op_get,
    .list = sqlite_op_list,
    .remove = sqlite_op_remove,
    .transition = sqlite_op_transition,
    .claim = sqlite_op_claim,
    .heartbeat = sqlite_op_heartbeat,
    .due = sqlite_op_due,
    .stale = sqlite_op_stale,
    .deliveries = sqlite_op_deliveries,
};
