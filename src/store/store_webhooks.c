/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_webhooks.c - webhooks and their signing secrets (store.h), written
 * once over the driver. Secrets arrive sealed (common/secretbox.h); the
 * store only keeps the blobs.
 */
#include <assert.h>
#include <string.h>

#include "store/store_driver.h"
#include "store/store_opevents.h"

/* Fill wh (all but its secrets) from a WEBHOOK_GET or WEBHOOK_LIST row.
 * Returns 0, or -1 when a column does not fit. */
static int row_webhook(struct store_conn *c, struct webhook *wh)
{
    int64_t events = store_col_int(c, 4);
    int64_t state = store_col_int(c, 5);

    memset(wh, 0, sizeof *wh);
    if (store_col_text(c, 0, wh->id, sizeof wh->id) != 0 ||
        store_col_text(c, 1, wh->project, sizeof wh->project) != 0 ||
        store_col_text(c, 2, wh->name, sizeof wh->name) != 0 ||
        store_col_text(c, 3, wh->uri, sizeof wh->uri) != 0)
        return -1;
    if (events < 0 || events > UINT32_MAX || state < 0 || state >= WEBHOOK_STATE_COUNT)
        return -1;
    wh->events = (uint32_t)events;
    wh->state = (enum webhook_state)state;
    wh->create_time_us = store_col_int(c, 6);
    wh->update_time_us = store_col_int(c, 7);
    if (store_col_text(c, 8, wh->tenant, sizeof wh->tenant) != 0)
        return -1;
    return 0;
}

/* Fill wh->secrets with the webhook's secrets live at now_us, newest first. */
static enum store_rc load_secret_infos(struct store_conn *c, struct webhook *wh, int64_t now_us)
{
    enum store_rc ret = store_run(c, STORE_SQL_SECRET_INFO_LIVE,
                                  STORE_ARGS(STORE_TEXT(wh->id), STORE_INT(now_us),
                                             STORE_INT(WEBHOOK_SECRETS_MAX)));

    wh->nsecrets = 0;
    while (ret == STORE_OK && (ret = store_next(c)) == STORE_OK) {
        struct webhook_secret_info *si = &wh->secrets[wh->nsecrets];

        assert(wh->nsecrets < WEBHOOK_SECRETS_MAX);
        if (store_col_text(c, 0, si->id, sizeof si->id) != 0 ||
            store_col_text(c, 1, si->truncated, sizeof si->truncated) != 0)
            return store_row_error("webhook_get", "secret");
        si->expire_time_us = store_col_int(c, 2);
        wh->nsecrets++;
    }
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

static enum store_rc secret_insert(struct store_conn *c, const char *webhook_id,
                                   const struct store_secret *secret)
{
    return store_run(c, STORE_SQL_SECRET_INSERT,
                     STORE_ARGS(STORE_TEXT(secret->id), STORE_TEXT(webhook_id),
                                STORE_BLOB(secret->blob, secret->blob_len),
                                STORE_TEXT(secret->truncated), STORE_INT(secret->create_time_us),
                                STORE_INT(secret->expire_time_us)));
}

enum store_rc store_webhook_create(struct store *st, const struct webhook *wh,
                                   const struct store_secret *secret)
{
    struct store_conn *c = NULL;
    enum store_rc ret = store_conn_get(st, &c);

    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_WEBHOOK_INSERT,
                        STORE_ARGS(STORE_TEXT(wh->id), STORE_TEXT(wh->project),
                                   STORE_TEXT(wh->name), STORE_TEXT(wh->uri),
                                   STORE_INT(wh->events), STORE_INT(wh->state),
                                   STORE_INT(wh->create_time_us), STORE_INT(wh->update_time_us),
                                   STORE_TEXT(wh->tenant)));
    if (ret == STORE_OK)
        ret = secret_insert(c, wh->id, secret);
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}

enum store_rc store_webhook_get(struct store *st, const char *project, const char *id,
                                int64_t now_us, struct webhook *out)
{
    struct store_conn *c = NULL;
    enum store_rc ret = store_conn_get(st, &c);

    /* The webhook and its secrets from one snapshot. */
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_READ);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_WEBHOOK_GET,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id)));
    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_OK && row_webhook(c, out) != 0)
        ret = store_row_error("webhook_get", "webhook");
    if (ret == STORE_OK)
        ret = load_secret_infos(c, out, now_us);
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}

enum store_rc store_webhook_list(struct store *st, const char *project, const char *tenant,
                                 const char *after_id,
                                 size_t limit, int64_t now_us, struct webhook *out,
                                 size_t *n, bool *more)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    *n = 0;
    *more = false;
    if (limit > STORE_ROWS_MAX)
        limit = STORE_ROWS_MAX;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_READ);
    /* One row beyond the page tells whether there is a next one. */
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_WEBHOOK_LIST,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(after_id ? after_id : ""),
                                   STORE_INT(limit + 1), STORE_TEXT(tenant ? tenant : "")));
    while (ret == STORE_OK && (ret = store_next(c)) == STORE_OK) {
        if (*n == limit) {
            *more = true;
            break;
        }
        if (row_webhook(c, &out[*n]) != 0)
            ret = store_row_error("webhook_list", "webhook");
        else
            (*n)++;
    }
    if (ret == STORE_NOT_FOUND)
        ret = STORE_OK;
    /* The secrets after the page: one statement runs at a time. */
    for (size_t i = 0; ret == STORE_OK && i < *n; i++)
        ret = load_secret_infos(c, &out[i], now_us);
    if (ret == STORE_OK)
        ret = store_commit(c);
    if (ret != STORE_OK) {
        *n = 0;
        *more = false;
    }
    store_conn_put(c);
    return ret;
}

/* Whether this update enables the webhook: then kabar.webhook.enabled
 * commits with it (store_opevents.h). */
static enum store_rc webhook_enabled_event(struct store_conn *c, const struct webhook *wh,
                                           int64_t previous, bool *emitted)
{
    struct store_message msg = {0};

    if (wh->state != WEBHOOK_STATE_ENABLED || previous == WEBHOOK_STATE_ENABLED)
        return STORE_OK;
    return store_opevents_insert(c, &msg,
                                 store_opevents_webhook_enabled(wh->project, wh->id, wh->uri,
                                                                (enum webhook_state)previous,
                                                                wh->update_time_us, &msg),
                                 emitted);
}

enum store_rc store_webhook_update(struct store *st, const struct webhook *wh)
{
    struct store_conn *c = NULL;
    size_t changed = 0;
    int64_t previous = WEBHOOK_STATE_ENABLED;
    bool emitted = false;
    enum store_rc ret = store_conn_get(st, &c);

    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    /* The state before (PostgreSQL: the row locked until the commit). */
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_WEBHOOK_STATE,
                        STORE_ARGS(STORE_TEXT(wh->project), STORE_TEXT(wh->id)));
    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_OK)
        previous = store_col_int(c, 0);
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_WEBHOOK_UPDATE,
                                STORE_ARGS(STORE_TEXT(wh->project), STORE_TEXT(wh->id),
                                           STORE_TEXT(wh->name), STORE_TEXT(wh->uri),
                                           STORE_INT(wh->events), STORE_INT(wh->state),
                                           STORE_INT(wh->update_time_us), STORE_TEXT(wh->tenant)),
                                &changed);
    if (ret == STORE_OK && changed == 0)
        ret = STORE_NOT_FOUND;
    if (ret == STORE_OK)
        ret = webhook_enabled_event(c, wh, previous, &emitted);
    /* A webhook enabled again may have pending deliveries that are due. */
    if (ret == STORE_OK && wh->state == WEBHOOK_STATE_ENABLED)
        ret = store_notify(c);
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);                       /* rolls back when not committed */
    return ret;
}

enum store_rc store_webhook_delete(struct store *st, const char *project, const char *id)
{
    struct store_conn *c = NULL;
    size_t changed = 0;
    enum store_rc ret = store_conn_get(st, &c);

    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    /* The secrets go by ON DELETE CASCADE. */
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_WEBHOOK_DELETE,
                                STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id)), &changed);
    if (ret == STORE_OK && changed == 0)
        ret = STORE_NOT_FOUND;
    /* Deliveries have no foreign key to their webhook (delivery history
     * outlives it otherwise); their attempts go by ON DELETE CASCADE. */
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_WEBHOOK_DELIVERIES_DELETE,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id)));
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}

enum store_rc store_secret_rotate(struct store *st, const char *project, const char *webhook_id,
                                  const struct store_secret *secret, int64_t prev_expire_us,
                                  size_t max_live, int64_t now_us)
{
    struct store_conn *c = NULL;
    size_t changed = 0;
    enum store_rc ret;

    if (max_live > INT32_MAX)
        max_live = INT32_MAX;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    /* Touch the webhook first: it is the project check too, and its row
     * lock orders two rotations of one webhook (from two processes). */
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_WEBHOOK_TOUCH,
                                STORE_ARGS(STORE_TEXT(project), STORE_TEXT(webhook_id),
                                           STORE_INT(now_us)),
                                &changed);
    if (ret == STORE_OK && changed == 0)
        ret = STORE_NOT_FOUND;
    /* Shorten the lives of the current secrets to the grace period. */
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_SECRET_EXPIRE_LIVE,
                        STORE_ARGS(STORE_TEXT(webhook_id), STORE_INT(now_us),
                                   STORE_INT(prev_expire_us)));
    if (ret == STORE_OK)
        ret = secret_insert(c, webhook_id, secret);
    /* Beyond max_live, the oldest live secrets end now. */
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_SECRET_EXPIRE_EXCESS,
                        STORE_ARGS(STORE_TEXT(webhook_id), STORE_INT(now_us),
                                   STORE_INT(max_live)));
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}

enum store_rc store_secrets_live(struct store *st, const char *webhook_id, int64_t now_us,
                                 struct store_secret *out, size_t cap, size_t *n)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    *n = 0;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_SECRET_LIVE,
                        STORE_ARGS(STORE_TEXT(webhook_id), STORE_INT(now_us), STORE_INT(cap)));
    while (ret == STORE_OK && *n < cap && (ret = store_next(c)) == STORE_OK) {
        struct store_secret *sec = &out[*n];

        memset(sec, 0, sizeof *sec);
        if (store_col_text(c, 0, sec->id, sizeof sec->id) != 0 ||
            store_col_blob(c, 1, sec->blob, sizeof sec->blob, &sec->blob_len) != 0 ||
            sec->blob_len == 0 ||
            store_col_text(c, 2, sec->truncated, sizeof sec->truncated) != 0) {
            ret = store_row_error("secrets_live", "secret");
            break;
        }
        sec->create_time_us = store_col_int(c, 3);
        sec->expire_time_us = store_col_int(c, 4);
        (*n)++;
    }
    if (ret == STORE_NOT_FOUND)
        ret = STORE_OK;
    if (ret != STORE_OK) {
        /* Do not leave half a result, and no sealed copies, behind. */
        memset(out, 0, *n * sizeof *out);
        *n = 0;
    }
    store_conn_put(c);
    return ret;
}
