/*
 * store_sqlite_webhooks.c - webhooks and their signing secrets in the
 * SQLite backend (see store.h for what each op promises).
 */
#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/log.h"
#include "store/store_opevents.h"
#include "store/store_sqlite_int.h"

/* ---- webhooks ----------------------------------------------------------- */

/* Fill wh (all but its secrets) from a WEBHOOK_GET or WEBHOOK_LIST row.
 * Returns 0, or -1 when a column does not fit. */
static int row_webhook(sqlite3_stmt *q, struct webhook *wh)
{
    int64_t events = sqlite3_column_int64(q, 4);
    int64_t state = sqlite3_column_int64(q, 5);

    memset(wh, 0, sizeof *wh);
    if (store_sqlite_col_text(q, 0, wh->id, sizeof wh->id) != 0 ||
        store_sqlite_col_text(q, 1, wh->project, sizeof wh->project) != 0 ||
        store_sqlite_col_text(q, 2, wh->name, sizeof wh->name) != 0 ||
        store_sqlite_col_text(q, 3, wh->uri, sizeof wh->uri) != 0)
        return -1;
    if (events < 0 || events > UINT32_MAX || state < 0 || state >= WEBHOOK_STATE_COUNT)
        return -1;
    wh->events = (uint32_t)events;
    wh->state = (enum webhook_state)state;
    wh->create_time_us = sqlite3_column_int64(q, 6);
    wh->update_time_us = sqlite3_column_int64(q, 7);
    return 0;
}

/* Fill wh->secrets with the webhook's secrets live at now_us, newest first. */
static enum store_rc load_secret_infos(struct store_conn *c, struct webhook *wh, int64_t now_us,
                                       const char *op)
{
    sqlite3_stmt *q = NULL;
    int rc = store_sqlite_stmt_get(c, SQL_SECRET_INFO_LIVE, &q);

    store_sqlite_bind_text(q, 1, wh->id, &rc);
    store_sqlite_bind_int64(q, 2, now_us, &rc);
    store_sqlite_bind_int64(q, 3, WEBHOOK_SECRETS_MAX, &rc);
    if (rc != SQLITE_OK)
        return store_sqlite_sql_error(c, rc, op);
    wh->nsecrets = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct webhook_secret_info *si = &wh->secrets[wh->nsecrets];

        assert(wh->nsecrets < WEBHOOK_SECRETS_MAX);
        if (store_sqlite_col_text(q, 0, si->id, sizeof si->id) != 0 ||
            store_sqlite_col_text(q, 1, si->truncated, sizeof si->truncated) != 0)
            return store_sqlite_row_error(op, "secret");
        si->expire_time_us = sqlite3_column_int64(q, 2);
        wh->nsecrets++;
    }
    if (rc != SQLITE_DONE)
        return store_sqlite_sql_error(c, rc, op);
    sqlite3_reset(q);
    return STORE_OK;
}

static int secret_insert(struct store_conn *c, const char *webhook_id,
                         const struct store_secret *secret)
{
    sqlite3_stmt *q = NULL;
    int rc = store_sqlite_stmt_get(c, SQL_SECRET_INSERT, &q);

    store_sqlite_bind_text(q, 1, secret->id, &rc);
    store_sqlite_bind_text(q, 2, webhook_id, &rc);
    store_sqlite_bind_blob(q, 3, secret->blob, secret->blob_len, &rc);
    store_sqlite_bind_text(q, 4, secret->truncated, &rc);
    store_sqlite_bind_int64(q, 5, secret->create_time_us, &rc);
    store_sqlite_bind_int64(q, 6, secret->expire_time_us, &rc);
    return rc == SQLITE_OK ? store_sqlite_stmt_done(q) : rc;
}

enum store_rc store_sqlite_webhook_create(struct store *st, const struct webhook *wh,
                                           const struct store_secret *secret)
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
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_INSERT, &q);
    store_sqlite_bind_text(q, 1, wh->id, &rc);
    store_sqlite_bind_text(q, 2, wh->project, &rc);
    store_sqlite_bind_text(q, 3, wh->name, &rc);
    store_sqlite_bind_text(q, 4, wh->uri, &rc);
    store_sqlite_bind_int64(q, 5, wh->events, &rc);
    store_sqlite_bind_int64(q, 6, wh->state, &rc);
    store_sqlite_bind_int64(q, 7, wh->create_time_us, &rc);
    store_sqlite_bind_int64(q, 8, wh->update_time_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK)
        rc = secret_insert(c, wh->id, secret);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
    return ret;
}

enum store_rc store_sqlite_webhook_get(struct store *st, const char *project, const char *id,
                                        int64_t now_us, struct webhook *out)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* One read transaction, so the webhook and its secrets are one
     * snapshot. */
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_READ);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_GET, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = store_sqlite_sql_error(c, rc, __func__);
        goto out;
    }
    if (row_webhook(q, out) != 0) {
        ret = store_sqlite_row_error(__func__, "webhook");
        goto out;
    }
    ret = load_secret_infos(c, out, now_us, __func__);
    if (ret != STORE_OK)
        goto out;
    rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK)
        ret = store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);             /* ends the read transaction on every path */
    return ret;
}

enum store_rc store_sqlite_webhook_list(struct store *st, const char *project,
                                         const char *after_id, size_t limit, int64_t now_us,
                                         struct webhook *out, size_t *n, bool *more)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    *more = false;
    if (limit > STORE_SQLITE_LIST_MAX)
        limit = STORE_SQLITE_LIST_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_READ);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_LIST, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, after_id ? after_id : "", &rc);
    /* One row beyond the page tells whether there is a next one. */
    store_sqlite_bind_int64(q, 3, (int64_t)limit + 1, &rc);
    if (rc != SQLITE_OK) {
        ret = store_sqlite_sql_error(c, rc, __func__);
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == limit) {
            *more = true;
            break;
        }
        if (row_webhook(q, &out[*n]) != 0) {
            ret = store_sqlite_row_error(__func__, "webhook");
            goto out;
        }
        ret = load_secret_infos(c, &out[*n], now_us, __func__);
        if (ret != STORE_OK)
            goto out;
        (*n)++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        ret = store_sqlite_sql_error(c, rc, __func__);
        goto out;
    }
    sqlite3_reset(q);
    rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK)
        ret = store_sqlite_sql_error(c, rc, __func__);
out:
    if (ret != STORE_OK) {
        *n = 0;
        *more = false;
    }
    store_sqlite_conn_put(s, c);
    return ret;
}

enum store_rc store_sqlite_webhook_update(struct store *st, const struct webhook *wh)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_message msg = {0};
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int previous, rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* The state before, to know whether this update enables the webhook
     * (kabar.webhook.enabled, committed with the update). */
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_STATE_URI, &q);
    store_sqlite_bind_text(q, 1, wh->project, &rc);
    store_sqlite_bind_text(q, 2, wh->id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto fail;
    previous = sqlite3_column_int(q, 0);
    sqlite3_reset(q);

    rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_UPDATE, &q);
    store_sqlite_bind_text(q, 1, wh->project, &rc);
    store_sqlite_bind_text(q, 2, wh->id, &rc);
    store_sqlite_bind_text(q, 3, wh->name, &rc);
    store_sqlite_bind_text(q, 4, wh->uri, &rc);
    store_sqlite_bind_int64(q, 5, wh->events, &rc);
    store_sqlite_bind_int64(q, 6, wh->state, &rc);
    store_sqlite_bind_int64(q, 7, wh->update_time_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK && wh->state == WEBHOOK_STATE_ENABLED &&
        previous != WEBHOOK_STATE_ENABLED) {
        if (store_opevents_webhook_enabled(wh->project, wh->id, wh->uri,
                                           (enum webhook_state)previous, wh->update_time_us,
                                           &msg) != 0) {
            ret = STORE_ERROR;
            goto out;
        }
        rc = store_sqlite_message_insert(c, &msg, 0);
        if (rc == SQLITE_OK && msg.rc != STORE_OK)
            rc = SQLITE_ERROR;
        store_opevents_done(&msg);
    }
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc == SQLITE_OK)
        goto out;
fail:
    ret = store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);            /* rolls back when not committed */
    return ret;
}

enum store_rc store_sqlite_webhook_delete(struct store *st, const char *project, const char *id)
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
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_DELETE, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    /* The secrets go by ON DELETE CASCADE (foreign_keys is on for every
     * connection). */
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc != SQLITE_OK) {
        ret = store_sqlite_sql_error(c, rc, __func__);
        goto out;
    }
    if (sqlite3_changes(c->db) == 0) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    /* Deliveries have no foreign key to their webhook (see the schema), so
     * they are deleted here; their attempts go by ON DELETE CASCADE. A
     * delivery in flight meanwhile is recorded as gone by attempts_record. */
    rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_DELIVERIES_DELETE, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK)
        ret = store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);
    return ret;
}

/* ---- secrets ------------------------------------------------------------ */

enum store_rc store_sqlite_secret_rotate(struct store *st, const char *project,
                                          const char *webhook_id,
                                          const struct store_secret *secret,
                                          int64_t prev_expire_us, size_t max_live,
                                          int64_t now_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    if (max_live > INT32_MAX)
        max_live = INT32_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);

    /* Touch the webhook first: it is the project check too (no row changed:
     * the webhook is not in this project). */
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_TOUCH, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, webhook_id, &rc);
    store_sqlite_bind_int64(q, 3, now_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK && sqlite3_changes(c->db) == 0) {
        ret = STORE_NOT_FOUND;
        goto out;
    }

    /* Shorten the lives of the current secrets to the grace period. */
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_SECRET_EXPIRE_LIVE, &q);
    store_sqlite_bind_text(q, 1, webhook_id, &rc);
    store_sqlite_bind_int64(q, 2, now_us, &rc);
    store_sqlite_bind_int64(q, 3, prev_expire_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);

    if (rc == SQLITE_OK)
        rc = secret_insert(c, webhook_id, secret);

    /* Beyond max_live, the oldest live secrets end now. */
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_SECRET_EXPIRE_EXCESS, &q);
    store_sqlite_bind_text(q, 1, webhook_id, &rc);
    store_sqlite_bind_int64(q, 2, now_us, &rc);
    store_sqlite_bind_int64(q, 3, (int64_t)max_live, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);

    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);
    return ret;
}

enum store_rc store_sqlite_secrets_live(struct store *st, const char *webhook_id,
                                         int64_t now_us, struct store_secret *out, size_t cap,
                                         size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    *n = 0;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_SECRET_LIVE, &q);
    store_sqlite_bind_text(q, 1, webhook_id, &rc);
    store_sqlite_bind_int64(q, 2, now_us, &rc);
    store_sqlite_bind_int64(q, 3, (int64_t)cap, &rc);
    if (rc != SQLITE_OK) {
        ret = store_sqlite_sql_error(c, rc, __func__);
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_secret *sec = &out[*n];
        const void *blob = sqlite3_column_blob(q, 1);
        int len = sqlite3_column_bytes(q, 1);

        memset(sec, 0, sizeof *sec);
        if (!blob || len <= 0 || (size_t)len > sizeof sec->blob ||
            store_sqlite_col_text(q, 0, sec->id, sizeof sec->id) != 0 ||
            store_sqlite_col_text(q, 2, sec->truncated, sizeof sec->truncated) != 0) {
            ret = store_sqlite_row_error(__func__, "secret");
            goto out;
        }
        memcpy(sec->blob, blob, (size_t)len);
        sec->blob_len = (size_t)len;
        sec->create_time_us = sqlite3_column_int64(q, 3);
        sec->expire_time_us = sqlite3_column_int64(q, 4);
        (*n)++;
    }
    if (rc != SQLITE_DONE)
        ret = store_sqlite_sql_error(c, rc, __func__);
out:
    if (ret != STORE_OK) {
        /* Do not leave half a result, and no sealed copies, behind. */
        memset(out, 0, *n * sizeof *out);
        *n = 0;
    }
    store_sqlite_conn_put(s, c);
    return ret;
}
