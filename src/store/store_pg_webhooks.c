/*
 * store_pg_webhooks.c - webhooks and their signing secrets in the
 * PostgreSQL backend (see store.h for what each op promises, and
 * store_sqlite_webhooks.c for the same ops on SQLite).
 */
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "store/store_opevents.h"
#include "store/store_pg_int.h"

/* Fill wh (all but its secrets) from row i of a WEBHOOK_GET or WEBHOOK_LIST
 * result. Returns 0, or -1 when a column does not fit. */
static int row_webhook(const PGresult *r, int i, struct webhook *wh)
{
    int64_t events = store_pg_col_int(r, i, 4);
    int64_t state = store_pg_col_int(r, i, 5);

    memset(wh, 0, sizeof *wh);
    if (store_pg_col_text(r, i, 0, wh->id, sizeof wh->id) != 0 ||
        store_pg_col_text(r, i, 1, wh->project, sizeof wh->project) != 0 ||
        store_pg_col_text(r, i, 2, wh->name, sizeof wh->name) != 0 ||
        store_pg_col_text(r, i, 3, wh->uri, sizeof wh->uri) != 0)
        return -1;
    if (events < 0 || events > UINT32_MAX || state < 0 || state >= WEBHOOK_STATE_COUNT)
        return -1;
    wh->events = (uint32_t)events;
    wh->state = (enum webhook_state)state;
    wh->create_time_us = store_pg_col_int(r, i, 6);
    wh->update_time_us = store_pg_col_int(r, i, 7);
    return 0;
}

/* Fill wh->secrets with the webhook's secrets live at now_us, newest first. */
static enum store_rc load_secret_infos(struct store_pg_conn *c, struct webhook *wh,
                                       int64_t now_us, const char *op)
{
    struct store_pg_params p = {0};
    PGresult *r;
    enum store_rc ret;

    store_pg_text(&p, wh->id);
    store_pg_int(&p, now_us);
    store_pg_int(&p, WEBHOOK_SECRETS_MAX);
    ret = store_pg_run(c, PGSQL_SECRET_INFO_LIVE, &p, &r, NULL, op);
    if (ret != STORE_OK)
        return ret;
    wh->nsecrets = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        struct webhook_secret_info *si = &wh->secrets[wh->nsecrets];

        assert(wh->nsecrets < WEBHOOK_SECRETS_MAX);
        if (store_pg_col_text(r, i, 0, si->id, sizeof si->id) != 0 ||
            store_pg_col_text(r, i, 1, si->truncated, sizeof si->truncated) != 0) {
            ret = store_pg_row_error(op, "secret");
            break;
        }
        si->expire_time_us = store_pg_col_int(r, i, 2);
        wh->nsecrets++;
    }
    PQclear(r);
    return ret;
}

static enum store_rc secret_insert(struct store_pg_conn *c, const char *webhook_id,
                                   const struct store_secret *secret, const char *op)
{
    struct store_pg_params p = {0};

    store_pg_text(&p, secret->id);
    store_pg_text(&p, webhook_id);
    store_pg_bytea(&p, secret->blob, secret->blob_len);
    store_pg_text(&p, secret->truncated);
    store_pg_int(&p, secret->create_time_us);
    store_pg_int(&p, secret->expire_time_us);
    return store_pg_run(c, PGSQL_SECRET_INSERT, &p, NULL, NULL, op);
}

enum store_rc store_pg_webhook_create(struct store *st, const struct webhook *wh,
                                      const struct store_secret *secret)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, wh->id);
    store_pg_text(&p, wh->project);
    store_pg_text(&p, wh->name);
    store_pg_text(&p, wh->uri);
    store_pg_int(&p, wh->events);
    store_pg_int(&p, wh->state);
    store_pg_int(&p, wh->create_time_us);
    store_pg_int(&p, wh->update_time_us);
    ret = store_pg_begin(c, __func__);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_WEBHOOK_INSERT, &p, NULL, NULL, __func__);
    if (ret == STORE_OK)
        ret = secret_insert(c, wh->id, secret, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    store_pg_conn_put(s, c);
    return ret;
}

enum store_rc store_pg_webhook_get(struct store *st, const char *project, const char *id,
                                   int64_t now_us, struct webhook *out)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* One transaction at REPEATABLE READ, so the webhook and its secrets
     * are one snapshot. */
    ret = store_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", __func__);
    store_pg_text(&p, project);
    store_pg_text(&p, id);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_WEBHOOK_GET, &p, &r, NULL, __func__);
    if (ret != STORE_OK)
        goto out;
    if (PQntuples(r) == 0)
        ret = STORE_NOT_FOUND;
    else if (row_webhook(r, 0, out) != 0)
        ret = store_pg_row_error(__func__, "webhook");
    else
        ret = load_secret_infos(c, out, now_us, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
out:
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

enum store_rc store_pg_webhook_list(struct store *st, const char *project,
                                    const char *after_id, size_t limit, int64_t now_us,
                                    struct webhook *out, size_t *n, bool *more)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    *n = 0;
    *more = false;
    if (limit > STORE_PG_LIST_MAX)
        limit = STORE_PG_LIST_MAX;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", __func__);
    store_pg_text(&p, project);
    store_pg_text(&p, after_id ? after_id : "");
    /* One row beyond the page tells whether there is a next one. */
    store_pg_int(&p, (int64_t)limit + 1);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_WEBHOOK_LIST, &p, &r, NULL, __func__);
    if (ret != STORE_OK)
        goto out;
    for (int i = 0; i < PQntuples(r) && ret == STORE_OK; i++) {
        if (*n == limit) {
            *more = true;
            break;
        }
        if (row_webhook(r, i, &out[*n]) != 0) {
            ret = store_pg_row_error(__func__, "webhook");
            break;
        }
        ret = load_secret_infos(c, &out[*n], now_us, __func__);
        if (ret == STORE_OK)
            (*n)++;
    }
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
out:
    if (ret != STORE_OK) {
        *n = 0;
        *more = false;
    }
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

enum store_rc store_pg_webhook_update(struct store *st, const struct webhook *wh)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    size_t changed = 0;
    int previous = WEBHOOK_STATE_ENABLED;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, wh->project);
    store_pg_text(&p, wh->id);
    store_pg_text(&p, wh->name);
    store_pg_text(&p, wh->uri);
    store_pg_int(&p, wh->events);
    store_pg_int(&p, wh->state);
    store_pg_int(&p, wh->update_time_us);
    ret = store_pg_begin(c, __func__);
    /* The state before (the row locked), to know whether this update
     * enables the webhook: kabar.webhook.enabled commits with it. */
    if (ret == STORE_OK) {
        struct store_pg_params k = {0};

        store_pg_text(&k, wh->project);
        store_pg_text(&k, wh->id);
        ret = store_pg_run(c, PGSQL_WEBHOOK_STATE_URI, &k, &r, NULL, __func__);
        if (ret == STORE_OK && PQntuples(r) == 0)
            ret = STORE_NOT_FOUND;
        if (ret == STORE_OK)
            previous = (int)store_pg_col_int(r, 0, 0);
        PQclear(r);
    }
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_WEBHOOK_UPDATE, &p, NULL, &changed, __func__);
    if (ret == STORE_OK && changed == 0)
        ret = STORE_NOT_FOUND;
    if (ret == STORE_OK && wh->state == WEBHOOK_STATE_ENABLED &&
        previous != WEBHOOK_STATE_ENABLED) {
        struct store_message msg = {0};

        if (store_opevents_webhook_enabled(wh->project, wh->id, wh->uri,
                                           (enum webhook_state)previous, wh->update_time_us,
                                           &msg) != 0) {
            ret = STORE_ERROR;
        } else {
            ret = store_pg_message_insert(c, &msg, 0);
            if (ret == STORE_OK)
                ret = msg.rc;
            store_opevents_done(&msg);
        }
    }
    /* A webhook enabled again may have pending deliveries that are due:
     * tell the delivery threads of every process. */
    if (ret == STORE_OK && wh->state == WEBHOOK_STATE_ENABLED)
        ret = store_pg_exec(c, "NOTIFY " STORE_PG_CHANNEL, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    store_pg_conn_put(s, c);                 /* rolls back when not committed */
    return ret;
}

enum store_rc store_pg_webhook_delete(struct store *st, const char *project, const char *id)
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
    ret = store_pg_begin(c, __func__);
    /* The secrets go by ON DELETE CASCADE. */
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_WEBHOOK_DELETE, &p, NULL, &changed, __func__);
    if (ret == STORE_OK && changed == 0)
        ret = STORE_NOT_FOUND;
    /* Deliveries have no foreign key to their webhook (see the schema);
     * their attempts go by ON DELETE CASCADE. */
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_WEBHOOK_DELIVERIES_DELETE, &p, NULL, NULL, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    store_pg_conn_put(s, c);
    return ret;
}

enum store_rc store_pg_secret_rotate(struct store *st, const char *project,
                                     const char *webhook_id, const struct store_secret *secret,
                                     int64_t prev_expire_us, size_t max_live, int64_t now_us)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    size_t changed = 0;
    enum store_rc ret;

    if (max_live > INT32_MAX)
        max_live = INT32_MAX;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_begin(c, __func__);

    /* Touch the webhook first: it is the project check too, and its row
     * lock orders two rotations of one webhook (from two processes). */
    store_pg_text(&p, project);
    store_pg_text(&p, webhook_id);
    store_pg_int(&p, now_us);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_WEBHOOK_TOUCH, &p, NULL, &changed, __func__);
    if (ret == STORE_OK && changed == 0)
        ret = STORE_NOT_FOUND;

    /* Shorten the lives of the current secrets to the grace period. */
    memset(&p, 0, sizeof p);
    store_pg_text(&p, webhook_id);
    store_pg_int(&p, now_us);
    store_pg_int(&p, prev_expire_us);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_SECRET_EXPIRE_LIVE, &p, NULL, NULL, __func__);

    if (ret == STORE_OK)
        ret = secret_insert(c, webhook_id, secret, __func__);

    /* Beyond max_live, the oldest live secrets end now. */
    memset(&p, 0, sizeof p);
    store_pg_text(&p, webhook_id);
    store_pg_int(&p, now_us);
    store_pg_int(&p, (int64_t)max_live);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_SECRET_EXPIRE_EXCESS, &p, NULL, NULL, __func__);

    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    store_pg_conn_put(s, c);
    return ret;
}

enum store_rc store_pg_secrets_live(struct store *st, const char *webhook_id, int64_t now_us,
                                    struct store_secret *out, size_t cap, size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    *n = 0;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, webhook_id);
    store_pg_int(&p, now_us);
    store_pg_int(&p, (int64_t)cap);
    ret = store_pg_run(c, PGSQL_SECRET_LIVE, &p, &r, NULL, __func__);
    for (int i = 0; ret == STORE_OK && i < PQntuples(r); i++) {
        struct store_secret *sec = &out[*n];

        memset(sec, 0, sizeof *sec);
        if (store_pg_col_text(r, i, 0, sec->id, sizeof sec->id) != 0 ||
            store_pg_col_bytea(r, i, 1, sec->blob, sizeof sec->blob, &sec->blob_len) != 0 ||
            sec->blob_len == 0 ||
            store_pg_col_text(r, i, 2, sec->truncated, sizeof sec->truncated) != 0) {
            ret = store_pg_row_error(__func__, "secret");
            break;
        }
        sec->create_time_us = store_pg_col_int(r, i, 3);
        sec->expire_time_us = store_pg_col_int(r, i, 4);
        (*n)++;
    }
    if (ret != STORE_OK) {
        /* Do not leave half a result, and no sealed copies, behind. */
        memset(out, 0, *n * sizeof *out);
        *n = 0;
    }
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}
