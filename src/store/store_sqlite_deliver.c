/*
 * store_sqlite_deliver.c - messages, deliveries and attempts in the SQLite
 * backend: group commit of events, leased claims with per-target caps,
 * batched outcome records, and the delivery log (see store.h).
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
#include "store/store_claim.h"
#include "store/store_sqlite_int.h"

/* ---- messages and deliveries -------------------------------------------- */

/* Reset every cached statement of c, keeping its bindings: after a failed
 * step inside a savepoint nothing may be left running when it is rolled
 * back. */
static void conn_reset_stmts(struct store_conn *c)
{
    for (size_t i = 0; i < SQL_COUNT; i++) {
        if (c->stmts[i])
            sqlite3_reset(c->stmts[i]);
    }
}

/* store_sqlite_col_text for a nullable column: NULL becomes "". */
static int store_sqlite_col_text_opt(sqlite3_stmt *q, int i, char *dst, size_t cap)
{
    if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        dst[0] = '\0';
        return 0;
    }
    return store_sqlite_col_text(q, i, dst, cap);
}

/* Copy blob column i (NULL: empty) into dst, which holds cap bytes, and its
 * length into *len. Returns 0, or -1 when it does not fit. */
static int store_sqlite_col_blob(sqlite3_stmt *q, int i, uint8_t *dst, size_t cap, size_t *len)
{
    const void *b = sqlite3_column_blob(q, i);
    int n = sqlite3_column_bytes(q, i);

    if (n < 0 || (size_t)n > cap)
        return -1;
    if (n > 0)
        memcpy(dst, b, (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* Insert one pending delivery of m to uri (webhook_id NULL for a dynamic
 * target), due when the message was created, and make its target due by
 * then (one index probe, and no write when it already is). Returns an
 * SQLite result code; when no id can be made it sets m->rc instead. The
 * values are bound SQLITE_TRANSIENT because the ids are on this stack and
 * the caller's uri may be a column of a statement it steps next. */
static int delivery_insert(struct store_conn *c, struct store_message *m, const char *webhook_id,
                           const char *uri)
{
    sqlite3_stmt *q = NULL;
    char id[IDS_MAX];
    char target[STORE_TARGET_ID_MAX];
    int rc;

    if (ids_new("dlv_", id, sizeof id) != 0) {
        log_error("cannot make a delivery id", "message=%s", m->id);
        m->rc = STORE_ERROR;
        return SQLITE_OK;
    }
    store_target_id(m->project, webhook_id, uri, target);
    rc = store_sqlite_stmt_get(c, SQL_DELIVERY_INSERT, &q);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    store_sqlite_bind_text(q, 2, m->id, &rc);
    store_sqlite_bind_text(q, 3, m->project, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 4, webhook_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 5, uri, -1, SQLITE_TRANSIENT);
    store_sqlite_bind_int64(q, 6, m->create_time_us, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 7, target, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_TARGET_UPSERT, &q);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 1, target, -1, SQLITE_TRANSIENT);
    store_sqlite_bind_text(q, 2, m->project, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 3, webhook_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 4, uri, -1, SQLITE_TRANSIENT);
    store_sqlite_bind_int64(q, 5, m->create_time_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK)
        m->ndeliveries++;
    return rc;
}

/* One delivery per enabled webhook of m's project subscribed to its type. */
static int deliveries_fan_out(struct store_conn *c, struct store_message *m)
{
    sqlite3_stmt *q = NULL;
    int rc;

    if (m->type_mask == 0)
        return SQLITE_OK;
    rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_SUBSCRIBED, &q);
    store_sqlite_bind_text(q, 1, m->project, &rc);
    store_sqlite_bind_int64(q, 2, m->type_mask, &rc);
    if (rc != SQLITE_OK)
        return rc;
    /* Inserting into deliveries while stepping over webhooks is safe: the
     * scan reads another table. */
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *webhook_id = (const char *)sqlite3_column_text(q, 0);
        const char *uri = (const char *)sqlite3_column_text(q, 1);

        if (!webhook_id || !uri) {
            m->rc = store_sqlite_row_error(__func__, "webhook");
            return SQLITE_OK;
        }
        rc = delivery_insert(c, m, webhook_id, uri);
        if (rc != SQLITE_OK || m->rc != STORE_OK)
            return rc;
    }
    if (rc != SQLITE_DONE)
        return rc;
    sqlite3_reset(q);
    return SQLITE_OK;
}

/* Insert m and its deliveries, inside the caller's savepoint, and fill in
 * m's outputs. Returns an SQLite result code; a result of m's own that is no
 * SQL failure (its ping target not found, a damaged row) is in m->rc, and
 * the caller rolls the savepoint back when m->rc is not STORE_OK. Other
 * files of the backend use it to emit an event in their own transaction
 * (an operation's state change and its event commit together). */
int store_sqlite_message_insert(struct store_conn *c, struct store_message *m, int64_t idem_since_us)
{
    sqlite3_stmt *q = NULL;
    char target[WEBHOOK_URI_MAX + 1];
    bool release_key = false;
    int rc = SQLITE_OK;

    m->rc = STORE_OK;
    m->duplicate = false;
    m->ndeliveries = 0;

    /* Earlier messages of this batch are already rows of this transaction,
     * so a key used twice in one batch is found here too. */
    if (m->idempotency_key) {
        rc = store_sqlite_stmt_get(c, SQL_MESSAGE_IDEM_FIND, &q);
        store_sqlite_bind_text(q, 1, m->project, &rc);
        store_sqlite_bind_text(q, 2, m->idempotency_key, &rc);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            if (sqlite3_column_int64(q, 1) >= idem_since_us) {
                if (store_sqlite_col_text(q, 0, m->id, sizeof m->id) == 0)
                    m->duplicate = true;
                else
                    m->rc = store_sqlite_row_error(__func__, "message id");
                sqlite3_reset(q);
                return SQLITE_OK;
            }
            /* Used, but before the window: the key is free again. The old
             * message keeps its row, without the key, so that the unique
             * (project, idempotency_key) index admits the new one. */
            release_key = true;
            rc = SQLITE_DONE;
        }
        if (rc != SQLITE_DONE)
            return rc;
        sqlite3_reset(q);
    }

    /* A ping's webhook is looked up before anything is written. */
    if (m->nuris == 0 && m->webhook_id) {
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_URI, &q);
        store_sqlite_bind_text(q, 1, m->project, &rc);
        store_sqlite_bind_text(q, 2, m->webhook_id, &rc);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(q);
        if (rc == SQLITE_DONE) {
            m->rc = STORE_NOT_FOUND;
            sqlite3_reset(q);
            return SQLITE_OK;
        }
        if (rc != SQLITE_ROW)
            return rc;
        if (store_sqlite_col_text(q, 0, target, sizeof target) != 0) {
            m->rc = store_sqlite_row_error(__func__, "uri");
            return SQLITE_OK;
        }
        sqlite3_reset(q);
    }

    rc = SQLITE_OK;
    if (release_key) {
        rc = store_sqlite_stmt_get(c, SQL_MESSAGE_IDEM_RELEASE, &q);
        store_sqlite_bind_text(q, 1, m->project, &rc);
        store_sqlite_bind_text(q, 2, m->idempotency_key, &rc);
        if (rc == SQLITE_OK)
            rc = store_sqlite_stmt_done(q);
    }

    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_MESSAGE_INSERT, &q);
    store_sqlite_bind_text(q, 1, m->id, &rc);
    store_sqlite_bind_text(q, 2, m->project, &rc);
    store_sqlite_bind_text(q, 3, m->type, &rc);
    /* An empty payload is an empty blob, not NULL (the column is NOT NULL). */
    store_sqlite_bind_blob(q, 4, m->payload ? (const void *)m->payload : "", m->payload_len, &rc);
    store_sqlite_bind_int64(q, 5, m->create_time_us, &rc);
    store_sqlite_bind_text(q, 6, m->operation_id, &rc);
    store_sqlite_bind_text(q, 7, m->idempotency_key, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc != SQLITE_OK)
        return rc;

    if (m->nuris > 0) {
        for (size_t i = 0; i < m->nuris && rc == SQLITE_OK && m->rc == STORE_OK; i++)
            rc = delivery_insert(c, m, NULL, m->uris[i]);
    } else if (m->webhook_id) {
        rc = delivery_insert(c, m, m->webhook_id, target);
    } else {
        rc = deliveries_fan_out(c, m);
    }
    return rc;
}

enum store_rc store_sqlite_messages_insert(struct store *st, struct store_message *msgs,
                                            size_t n, int64_t idem_since_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    enum store_rc ret;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        goto fail_all;
    /* One transaction, so one fsync, for the whole batch; a savepoint per
     * message lets one message fail without the others. */
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        struct store_message *m = &msgs[i];

        rc = store_sqlite_stmt_exec(c, SQL_SAVEPOINT);
        if (rc == SQLITE_OK)
            rc = store_sqlite_message_insert(c, m, idem_since_us);
        if ((rc & 0xff) == SQLITE_CONSTRAINT) {
            /* A constraint (a message id used twice) is this message's
             * failure, not the batch's. */
            m->rc = store_sqlite_sql_error(c, rc, __func__);
            rc = SQLITE_OK;
        }
        if (rc != SQLITE_OK)
            break;
        if (m->rc != STORE_OK) {
            m->duplicate = false;
            m->ndeliveries = 0;
            conn_reset_stmts(c);
            rc = store_sqlite_stmt_exec(c, SQL_SAVEPOINT_ROLLBACK);
        }
        /* ROLLBACK TO keeps the savepoint open; RELEASE ends it either way. */
        if (rc == SQLITE_OK)
            rc = store_sqlite_stmt_exec(c, SQL_SAVEPOINT_RELEASE);
    }
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);             /* rolls the whole batch back on failure */
    if (ret == STORE_OK)
        return STORE_OK;

fail_all:
    /* Nothing was committed: every message shares the failure. */
    for (size_t i = 0; i < n; i++) {
        msgs[i].rc = ret;
        msgs[i].duplicate = false;
        msgs[i].ndeliveries = 0;
    }
    return ret;
}

/* Fill job from a TARGET_WALK row, with a malloc'd copy of the payload. */
static enum store_rc row_job(sqlite3_stmt *q, const char *project, const char *uri,
                             struct store_job *job)
{
    const void *payload;
    int64_t attempts = sqlite3_column_int64(q, 3);
    int len;

    memset(job, 0, sizeof *job);
    if (store_sqlite_col_text(q, 0, job->id, sizeof job->id) != 0 ||
        store_sqlite_col_text(q, 1, job->message_id, sizeof job->message_id) != 0 ||
        store_sqlite_col_text_opt(q, 2, job->webhook_id, sizeof job->webhook_id) != 0 ||
        store_sqlite_col_text_opt(q, 8, job->operation_id, sizeof job->operation_id) != 0 ||
        attempts < 0 || attempts > INT_MAX)
        return store_sqlite_row_error("deliveries_claim", "delivery");
    snprintf(job->project, sizeof job->project, "%s", project);
    snprintf(job->target_uri, sizeof job->target_uri, "%s", uri);
    job->attempts = (int)attempts;
    job->message_time_us = sqlite3_column_int64(q, 6);
    payload = sqlite3_column_blob(q, 7);
    len = sqlite3_column_bytes(q, 7);
    if (len < 0)
        return store_sqlite_row_error("deliveries_claim", "payload");
    /* One byte at least, so that an empty payload is not a NULL that looks
     * like a failed malloc. */
    job->payload = malloc(len > 0 ? (size_t)len : 1);
    if (!job->payload) {
        log_error("out of memory", "op=deliveries_claim bytes=%d", len);
        return STORE_ERROR;
    }
    if (len > 0)
        memcpy(job->payload, payload, (size_t)len);
    job->payload_len = (size_t)len;
    return STORE_OK;
}

/* Take up to want due deliveries of target t into out (room for them),
 * leasing each, and set the target's next due time: now when it has more
 * due than it was given (it waits behind the targets waiting since
 * earlier: round robin), else the earliest time one of its deliveries may
 * be claimable. Returns an SQLite result code, or SQLITE_ABORT with *ret
 * set for a damaged row. */
static int target_take(struct store_conn *c, struct store_claim_target *t, const char *owner,
                       int64_t now_us, int64_t lease_until_us, size_t want,
                       struct store_job *out, int64_t *due, size_t *taken, enum store_rc *ret)
{
    sqlite3_stmt *q = NULL;
    int64_t next = INT64_MAX;
    size_t n = 0;
    int rc;

    *taken = 0;
    rc = store_sqlite_stmt_get(c, SQL_TARGET_WALK, &q);
    store_sqlite_bind_text(q, 1, t->id, &rc);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t d = sqlite3_column_int64(q, 4);
        int64_t lease = sqlite3_column_int64(q, 5);

        if (lease > now_us) {           /* in flight: claimable again at its expiry */
            if (lease < next)
                next = lease;
            continue;
        }
        if (d > now_us || n == want) {
            if (d > now_us && d < next)
                next = d;
            else if (d <= now_us)
                next = now_us;          /* more due: another turn */
            break;
        }
        *ret = row_job(q, t->project, t->uri, &out[n]);
        if (*ret != STORE_OK) {
            sqlite3_reset(q);
            for (size_t i = 0; i < n; i++)
                free(out[i].payload);
            return SQLITE_ABORT;
        }
        due[n++] = d;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto fail;
    sqlite3_reset(q);

    /* Lease after the walk, not while stepping it (updating rows under a
     * running scan of the same table is what SQLite leaves undefined). */
    rc = store_sqlite_stmt_get(c, SQL_DELIVERY_LEASE, &q);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        store_sqlite_bind_text(q, 1, out[i].id, &rc);
        store_sqlite_bind_text(q, 2, owner, &rc);
        store_sqlite_bind_int64(q, 3, lease_until_us, &rc);
        if (rc == SQLITE_OK)
            rc = store_sqlite_stmt_done(q);
    }
    if (n > 0 && lease_until_us < next)
        next = lease_until_us;
    if (rc == SQLITE_OK && next != t->next_due) {
        rc = store_sqlite_stmt_get(c, SQL_TARGET_SET, &q);
        store_sqlite_bind_text(q, 1, t->id, &rc);
        store_sqlite_bind_int64(q, 2, next, &rc);
        if (rc == SQLITE_OK)
            rc = store_sqlite_stmt_done(q);
        t->next_due = next;
    }
    t->more = next == now_us;
    if (rc != SQLITE_OK)
        goto fail;
    *taken = n;
    return SQLITE_OK;
fail:
    for (size_t i = 0; i < n; i++)
        free(out[i].payload);
    return rc;
}

/* The targets due at now_us, in due order, as many as plan has room for.
 * Returns an SQLite result code, or SQLITE_ABORT with *ret set. */
static int targets_due(struct store_conn *c, int64_t now_us, struct store_claim_plan *plan,
                       enum store_rc *ret)
{
    sqlite3_stmt *q = NULL;
    int rc;

    rc = store_sqlite_stmt_get(c, SQL_TARGETS_DUE, &q);
    store_sqlite_bind_int64(q, 1, now_us, &rc);
    store_sqlite_bind_int64(q, 2, (int64_t)plan->cap, &rc);
    if (rc != SQLITE_OK)
        return rc;
    while (plan->nt < plan->cap && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_claim_target *x = &plan->t[plan->nt];
        const char *uri = (const char *)sqlite3_column_text(q, 3);

        if (store_sqlite_col_text(q, 0, x->id, sizeof x->id) != 0 ||
            store_sqlite_col_text(q, 1, x->project, sizeof x->project) != 0 ||
            !uri || strlen(uri) > WEBHOOK_URI_MAX) {
            sqlite3_reset(q);
            *ret = store_sqlite_row_error("deliveries_claim", "target");
            return SQLITE_ABORT;
        }
        x->uri = strdup(uri);
        if (!x->uri) {
            sqlite3_reset(q);
            *ret = STORE_ERROR;
            return SQLITE_ABORT;
        }
        x->webhook = sqlite3_column_type(q, 2) != SQLITE_NULL;
        x->enabled = !x->webhook || (sqlite3_column_type(q, 4) != SQLITE_NULL &&
                                     sqlite3_column_int64(q, 4) == WEBHOOK_STATE_ENABLED);
        x->next_due = sqlite3_column_int64(q, 5);
        plan->nt++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return rc;
    sqlite3_reset(q);
    return SQLITE_OK;
}

/* Park a target whose webhook is gone or not enabled, out of the claims'
 * way, until the webhook is enabled again (the webhooks_wake_target
 * trigger). */
static int target_park(struct store_conn *c, const struct store_claim_target *t)
{
    sqlite3_stmt *q = NULL;
    int rc = store_sqlite_stmt_get(c, SQL_TARGET_SET, &q);

    store_sqlite_bind_text(q, 1, t->id, &rc);
    store_sqlite_bind_int64(q, 2, INT64_MAX, &rc);
    return rc == SQLITE_OK ? store_sqlite_stmt_done(q) : rc;
}

enum store_rc store_sqlite_deliveries_claim(struct store *st, const char *owner, int64_t now_us,
                                             int64_t lease_until_us, size_t limit,
                                             size_t per_target, const char *const *busy,
                                             const size_t *inflight, size_t nbusy,
                                             struct store_job *out, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_claim_plan plan;
    struct store_conn *c;
    int64_t *due = NULL;
    enum store_rc ret = STORE_ERROR;
    size_t k, want;
    int rc = SQLITE_ABORT;

    *n = 0;
    if (limit == 0 || per_target == 0)
        return STORE_OK;
    if (limit > STORE_SQLITE_CLAIM_MAX)
        limit = STORE_SQLITE_CLAIM_MAX;
    /* The targets at their cap are among those read (at most nbusy of
     * them), so limit + nbusy targets leave room for limit more. */
    if (store_claim_plan_alloc(&plan, limit + nbusy) != 0)
        goto out_plan;
    due = malloc(limit * sizeof *due);
    if (!due)
        goto out_plan;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        goto out_plan;

    /* The write lock is taken before choosing, so two claimers never lease
     * the same row. */
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = targets_due(c, now_us, &plan, &ret);
    if (rc != SQLITE_OK)
        goto fail;
    if (store_claim_plan_start(&plan, limit, per_target, busy, inflight, nbusy) != 0) {
        ret = STORE_ERROR;
        rc = SQLITE_ABORT;
        goto fail;
    }
    for (size_t i = 0; i < plan.nt && rc == SQLITE_OK; i++)
        if (!plan.t[i].enabled)
            rc = target_park(c, &plan.t[i]);
    if (rc != SQLITE_OK)
        goto fail;
    while (*n < limit && (k = store_claim_plan_next(&plan, limit - *n, &want)) != SIZE_MAX) {
        size_t got = 0;

        rc = target_take(c, &plan.t[k], owner, now_us, lease_until_us, want, out + *n,
                         due + *n, &got, &ret);
        if (rc != SQLITE_OK)
            goto fail;
        store_claim_plan_took(&plan, k, got);
        *n += got;
    }
    rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK)
        goto fail;
    store_claim_sort(out, due, *n);
    ret = STORE_OK;
    goto out;

fail:
    if (rc != SQLITE_ABORT)
        ret = store_sqlite_sql_error(c, rc, __func__);
    for (size_t i = 0; i < *n; i++) {
        free(out[i].payload);
        out[i].payload = NULL;
    }
    *n = 0;
out:
    store_sqlite_conn_put(s, c);         /* rolls back what did not commit */
out_plan:
    store_claim_plan_free(&plan);
    free(due);
    return ret;
}

/* Make the target of delivery_id due by due_us (no write when it is). */
static int target_lower_of(struct store_conn *c, const char *delivery_id, int64_t due_us)
{
    sqlite3_stmt *q = NULL;
    int rc = store_sqlite_stmt_get(c, SQL_TARGET_LOWER_OF, &q);

    store_sqlite_bind_text(q, 1, delivery_id, &rc);
    store_sqlite_bind_int64(q, 2, due_us, &rc);
    return rc == SQLITE_OK ? store_sqlite_stmt_done(q) : rc;
}

/* Record one attempt: see attempts_record in store.h. */
static int attempt_record(struct store_conn *c, const struct store_attempt *a, int64_t now_us,
                          int64_t disable_after_us)
{
    sqlite3_stmt *q = NULL;
    size_t excerpt_len = a->excerpt_len;
    bool changed;
    int state;
    int rc;

    if (a->outcome == STORE_OUTCOME_RELEASED) {
        rc = store_sqlite_stmt_get(c, SQL_DELIVERY_RELEASE, &q);
        store_sqlite_bind_text(q, 1, a->delivery_id, &rc);
        if (rc == SQLITE_OK)
            rc = store_sqlite_stmt_done(q);
        return rc == SQLITE_OK ? target_lower_of(c, a->delivery_id, 0) : rc;
    }
    switch (a->outcome) {
    case STORE_OUTCOME_SUCCEEDED:
        state = STORE_DELIVERY_SUCCEEDED;
        break;
    case STORE_OUTCOME_RETRY:
        state = STORE_DELIVERY_PENDING;
        break;
    default:
        assert(a->outcome == STORE_OUTCOME_FAILED || a->outcome == STORE_OUTCOME_GONE);
        state = STORE_DELIVERY_FAILED;
        break;
    }

    rc = store_sqlite_stmt_get(c, SQL_DELIVERY_RESULT, &q);
    store_sqlite_bind_text(q, 1, a->delivery_id, &rc);
    store_sqlite_bind_int64(q, 2, state, &rc);
    store_sqlite_bind_int64(q, 3, a->next_due_us, &rc);
    store_sqlite_bind_int64(q, 4, a->time_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    changed = rc == SQLITE_OK && sqlite3_changes(c->db) > 0;
    /* A retry is due again at next_due_us: its target too, by then. */
    if (changed && state == STORE_DELIVERY_PENDING)
        rc = target_lower_of(c, a->delivery_id, a->next_due_us);
    if (rc != SQLITE_OK)
        return rc;
    if (!changed) {
        /* Its webhook was deleted while it was in flight, and the delivery
         * with it: there is nothing left to record, and failing the batch
         * would only make the engine retry this forever. */
        log_info("attempt of a deleted delivery not recorded", "delivery=%s", a->delivery_id);
        return SQLITE_OK;
    }

    if (excerpt_len > sizeof a->excerpt) {
        assert(!"excerpt_len beyond the excerpt");
        excerpt_len = sizeof a->excerpt;
    }
    rc = store_sqlite_stmt_get(c, SQL_ATTEMPT_INSERT, &q);
    store_sqlite_bind_text(q, 1, a->id, &rc);
    store_sqlite_bind_text(q, 2, a->delivery_id, &rc);
    store_sqlite_bind_int64(q, 3, a->time_us, &rc);
    store_sqlite_bind_int64(q, 4, a->latency_us, &rc);
    store_sqlite_bind_int64(q, 5, a->response_status, &rc);
    /* NULL pointers bind NULL: no error, no response body. */
    store_sqlite_bind_text(q, 6, a->error[0] ? a->error : NULL, &rc);
    store_sqlite_bind_blob(q, 7, excerpt_len > 0 ? a->excerpt : NULL, excerpt_len, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc != SQLITE_OK || a->webhook_id[0] == '\0')
        return rc;

    /* The webhook's health. No row changes when the webhook is gone. */
    if (a->outcome == STORE_OUTCOME_SUCCEEDED) {
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_SUCCEEDED, &q);
        store_sqlite_bind_text(q, 1, a->webhook_id, &rc);
        store_sqlite_bind_int64(q, 2, now_us, &rc);
    } else {
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_FAILED, &q);
        store_sqlite_bind_text(q, 1, a->webhook_id, &rc);
        store_sqlite_bind_int64(q, 2, now_us, &rc);
        store_sqlite_bind_int64(q, 3, disable_after_us, &rc);
        store_sqlite_bind_int64(q, 4, a->outcome == STORE_OUTCOME_GONE, &rc);
    }
    return rc == SQLITE_OK ? store_sqlite_stmt_done(q) : rc;
}

enum store_rc store_sqlite_attempts_record(struct store *st, const struct store_attempt *attempts,
                                            size_t n, int64_t now_us, int64_t disable_after_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    enum store_rc ret;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
        rc = attempt_record(c, &attempts[i], now_us, disable_after_us);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
    return ret;
}

enum store_rc store_sqlite_deliveries_pending_count(struct store *st, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_DELIVERY_PENDING_COUNT, &q);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *n = (size_t)sqlite3_column_int64(q, 0);
        ret = STORE_OK;
    } else {
        ret = store_sqlite_sql_error(c, rc, __func__);
    }
    store_sqlite_conn_put(s, c);
    return ret;
}

/*
 * The earliest time a delivery may be claimable: the least next_due of the
 * targets (one step of targets_next_due). It may be early - a target whose
 * leases are all out says "at the first expiry" - never late.
 */
enum store_rc store_sqlite_deliveries_next_due(struct store *st, int64_t *due_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *due_us = 0;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_TARGETS_NEXT_DUE, &q);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        ret = store_sqlite_sql_error(c, rc, __func__);
    } else if (sqlite3_column_type(q, 0) == SQLITE_NULL ||
               sqlite3_column_int64(q, 0) == INT64_MAX) {
        ret = STORE_NOT_FOUND;
    } else {
        *due_us = sqlite3_column_int64(q, 0);
        ret = STORE_OK;
    }
    store_sqlite_conn_put(s, c);
    return ret;
}

/* Fill d from a row of DELIVERY_COLUMNS. Returns 0, or -1 when a column does
 * not fit. */
static int row_delivery(sqlite3_stmt *q, struct store_delivery *d)
{
    int64_t state = sqlite3_column_int64(q, 5);
    int64_t attempts = sqlite3_column_int64(q, 6);

    memset(d, 0, sizeof *d);
    if (store_sqlite_col_text(q, 0, d->id, sizeof d->id) != 0 ||
        store_sqlite_col_text(q, 1, d->message_id, sizeof d->message_id) != 0 ||
        store_sqlite_col_text_opt(q, 2, d->webhook_id, sizeof d->webhook_id) != 0 ||
        store_sqlite_col_text(q, 3, d->target_uri, sizeof d->target_uri) != 0 ||
        store_sqlite_col_text(q, 4, d->type, sizeof d->type) != 0)
        return -1;
    if (state < 0 || state >= STORE_DELIVERY_STATE_COUNT || attempts < 0 || attempts > INT_MAX)
        return -1;
    d->state = (enum store_delivery_state)state;
    d->attempts = (int)attempts;
    d->create_time_us = sqlite3_column_int64(q, 7);
    d->due_time_us = sqlite3_column_int64(q, 8);
    d->last_attempt_time_us = sqlite3_column_int64(q, 9);
    return 0;
}

enum store_rc store_sqlite_deliveries_list(struct store *st, const char *project,
                                            const char *webhook_id, int state,
                                            const char *before_id, size_t limit,
                                            struct store_delivery *out, size_t *n, bool *more)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    *n = 0;
    *more = false;
    if (limit > STORE_SQLITE_LIST_MAX)
        limit = STORE_SQLITE_LIST_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_DELIVERY_LIST, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, webhook_id, &rc);
    store_sqlite_bind_int64(q, 3, state < 0 ? -1 : state, &rc);
    /* The first page starts below "~", which sorts after every id (ids are
     * lowercase letters, digits and '_'), so that one statement walks the
     * (webhook_id, id) index for every page. */
    store_sqlite_bind_text(q, 4, before_id && *before_id ? before_id : "~", &rc);
    store_sqlite_bind_int64(q, 5, (int64_t)limit + 1, &rc);
    if (rc != SQLITE_OK)
        goto fail_sql;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == limit) {
            *more = true;
            break;
        }
        if (row_delivery(q, &out[*n]) != 0) {
            ret = store_sqlite_row_error(__func__, "delivery");
            goto out;
        }
        (*n)++;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        goto out;

fail_sql:
    ret = store_sqlite_sql_error(c, rc, __func__);
out:
    if (ret != STORE_OK) {
        *n = 0;
        *more = false;
    }
    store_sqlite_conn_put(s, c);
    return ret;
}

enum store_rc store_sqlite_delivery_get(struct store *st, const char *project, const char *id,
                                         struct store_delivery *out,
                                         struct store_attempt_info *attempts, size_t cap,
                                         size_t *nattempts)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    *nattempts = 0;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* One read transaction: the delivery and its attempts are one
     * snapshot. */
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_READ);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_DELIVERY_GET, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto fail_sql;
    if (row_delivery(q, out) != 0) {
        ret = store_sqlite_row_error(__func__, "delivery");
        goto out;
    }

    rc = store_sqlite_stmt_get(c, SQL_ATTEMPT_LIST, &q);
    store_sqlite_bind_text(q, 1, id, &rc);
    store_sqlite_bind_int64(q, 2, (int64_t)cap, &rc);
    if (rc != SQLITE_OK)
        goto fail_sql;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_attempt_info *a = &attempts[*nattempts];

        memset(a, 0, sizeof *a);
        if (store_sqlite_col_text(q, 0, a->id, sizeof a->id) != 0 ||
            store_sqlite_col_text_opt(q, 4, a->error, sizeof a->error) != 0 ||
            store_sqlite_col_blob(q, 5, a->excerpt, sizeof a->excerpt, &a->excerpt_len) != 0) {
            ret = store_sqlite_row_error(__func__, "attempt");
            goto out;
        }
        a->time_us = sqlite3_column_int64(q, 1);
        a->latency_us = sqlite3_column_int64(q, 2);
        a->response_status = sqlite3_column_int(q, 3);
        (*nattempts)++;
    }
    if (rc != SQLITE_DONE)
        goto fail_sql;
    sqlite3_reset(q);
    rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc == SQLITE_OK)
        goto out;

fail_sql:
    ret = store_sqlite_sql_error(c, rc, __func__);
out:
    if (ret != STORE_OK)
        *nattempts = 0;
    store_sqlite_conn_put(s, c);
    return ret;
}

enum store_rc store_sqlite_delivery_retry(struct store *st, const char *project, const char *id,
                                           int64_t now_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_DELIVERY_STATE, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto fail_sql;
    if (sqlite3_column_int64(q, 0) == STORE_DELIVERY_PENDING) {
        ret = STORE_CONFLICT;
        goto out;
    }
    sqlite3_reset(q);

    rc = store_sqlite_stmt_get(c, SQL_DELIVERY_RETRY, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, id, &rc);
    store_sqlite_bind_int64(q, 3, now_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK)
        rc = target_lower_of(c, id, now_us);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc == SQLITE_OK)
        goto out;

fail_sql:
    ret = store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);
    return ret;
}

enum store_rc store_sqlite_webhook_recover(struct store *st, const char *project,
                                            const char *webhook_id, int64_t since_us,
                                            int64_t now_us, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    *n = 0;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_URI, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, webhook_id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto fail_sql;
    sqlite3_reset(q);

    /* WEBHOOK_RECOVER spells "+state" so that SQLite walks this webhook's
     * deliveries (deliveries_webhook_id) rather than every failed delivery
     * of every webhook (deliveries_state_due). */
    rc = store_sqlite_stmt_get(c, SQL_WEBHOOK_RECOVER, &q);
    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_text(q, 2, webhook_id, &rc);
    store_sqlite_bind_int64(q, 3, since_us, &rc);
    store_sqlite_bind_int64(q, 4, now_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK) {
        *n = (size_t)sqlite3_changes(c->db);
        rc = store_sqlite_stmt_get(c, SQL_TARGET_LOWER, &q);
        store_sqlite_bind_text(q, 1, webhook_id, &rc);
        store_sqlite_bind_int64(q, 2, now_us, &rc);
        if (rc == SQLITE_OK)
            rc = store_sqlite_stmt_done(q);
    }
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc == SQLITE_OK)
        goto out;

fail_sql:
    *n = 0;
    ret = store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);
    return ret;
}

/* The released deliveries' targets are made due first, while the leases
 * still say which deliveries they are. */
enum store_rc store_sqlite_deliveries_release(struct store *st, const char *owner_prefix,
                                              size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_TARGETS_WAKE_RELEASED, &q);
    store_sqlite_bind_text(q, 1, owner_prefix, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_DELIVERIES_RELEASE, &q);
    store_sqlite_bind_text(q, 1, owner_prefix, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK) {
        *n = (size_t)sqlite3_changes(c->db);
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    }
    if (rc != SQLITE_OK) {
        *n = 0;
        ret = store_sqlite_sql_error(c, rc, __func__);
    }
    store_sqlite_conn_put(s, c);
    return ret;
}
