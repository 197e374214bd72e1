/*
 * store_pg_deliver.c - messages, deliveries and attempts in the PostgreSQL
 * backend: group commit of events, leased claims with per-target caps that
 * several processes run at once (FOR UPDATE SKIP LOCKED), batched outcome
 * records, and the delivery log (see store.h; store_sqlite_deliver.c is the
 * same on SQLite).
 *
 * Writes that make deliveries due now NOTIFY STORE_PG_CHANNEL in their
 * transaction, so the delivery threads of every process wake at the commit
 * (store_pg.c listens).
 */
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/b64.h"
#include "common/ids.h"
#include "common/log.h"
#include "store/store_claim.h"
#include "store/store_pg_int.h"

#define NOTIFY_SQL "NOTIFY " STORE_PG_CHANNEL

/* ---- messages and deliveries ---------------------------------------------- */

/* Append one delivery {id, webhook_id, uri} to arr. Returns STORE_OK, or
 * STORE_ERROR when no id can be made or memory runs out. */
static enum store_rc delivery_add(json_t *arr, const char *project, const char *webhook_id,
                                  const char *uri)
{
    char id[IDS_MAX];
    char target[STORE_TARGET_ID_MAX];
    json_t *o;

    if (ids_new("dlv_", id, sizeof id) != 0) {
        log_error("cannot make a delivery id", NULL);
        return STORE_ERROR;
    }
    store_target_id(project, webhook_id, uri, target);
    o = json_pack("{s:s, s:s?, s:s, s:s}", "id", id, "webhook_id", webhook_id, "uri", uri,
                  "target", target);
    if (!o || json_array_append_new(arr, o) != 0) {
        log_error("out of memory", "op=delivery_add");
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* Look up m's idempotency key. Sets *found and, when the earlier message is
 * within the window, marks m a duplicate of it. */
static enum store_rc idem_find(struct store_pg_conn *c, struct store_message *m,
                               int64_t idem_since_us, bool *found, const char *op)
{
    struct store_pg_params p = {0};
    PGresult *r;
    enum store_rc ret;

    *found = false;
    store_pg_text(&p, m->project);
    store_pg_text(&p, m->idempotency_key);
    ret = store_pg_run(c, PGSQL_MESSAGE_IDEM_FIND, &p, &r, NULL, op);
    if (ret != STORE_OK)
        return ret;
    if (PQntuples(r) > 0) {
        *found = true;
        if (store_pg_col_int(r, 0, 1) >= idem_since_us) {
            if (store_pg_col_text(r, 0, 0, m->id, sizeof m->id) == 0)
                m->duplicate = true;
            else
                m->rc = store_pg_row_error(op, "message id");
        }
    }
    PQclear(r);
    return STORE_OK;
}

/* Fill arr with one delivery per enabled webhook of m's project subscribed
 * to its type. */
static enum store_rc deliveries_fan_out(struct store_pg_conn *c, struct store_message *m,
                                        json_t *arr)
{
    struct store_pg_params p = {0};
    char webhook_id[IDS_MAX], uri[WEBHOOK_URI_MAX + 1];
    PGresult *r;
    enum store_rc ret;

    if (m->type_mask == 0)
        return STORE_OK;
    store_pg_text(&p, m->project);
    store_pg_int(&p, m->type_mask);
    ret = store_pg_run(c, PGSQL_WEBHOOK_SUBSCRIBED, &p, &r, NULL, "deliveries_fan_out");
    if (ret != STORE_OK)
        return ret;
    for (int i = 0; i < PQntuples(r) && ret == STORE_OK; i++) {
        if (store_pg_col_text(r, i, 0, webhook_id, sizeof webhook_id) != 0 ||
            store_pg_col_text(r, i, 1, uri, sizeof uri) != 0) {
            ret = store_pg_row_error("deliveries_fan_out", "webhook");
            break;
        }
        ret = delivery_add(arr, m->project, webhook_id, uri);
    }
    PQclear(r);
    return ret;
}

/*
 * Insert m and its deliveries inside the caller's transaction and fill in
 * m's outputs. The return value is for the transaction (an SQL failure
 * aborts it); a result of m's own (its ping target not found, its id taken)
 * is in m->rc, and then nothing of m has been written - every check comes
 * before the first write, and the insert itself does nothing on a conflict
 * - so no savepoint is needed (see MESSAGE_INSERT). Other files use it to
 * emit an event in their own transaction.
 */
enum store_rc store_pg_message_insert(struct store_pg_conn *c, struct store_message *m,
                                      int64_t idem_since_us)
{
    struct store_pg_params p = {0};
    char target[WEBHOOK_URI_MAX + 1];
    json_t *arr = NULL;
    char *text = NULL;
    bool found = false;
    size_t changed = 0;
    PGresult *r;
    enum store_rc ret;

    m->rc = STORE_OK;
    m->duplicate = false;
    m->ndeliveries = 0;

    /* Earlier messages of this batch are rows of this transaction, so a key
     * used twice in one batch is found here too. */
    if (m->idempotency_key) {
        ret = idem_find(c, m, idem_since_us, &found, __func__);
        if (ret != STORE_OK || m->duplicate || m->rc != STORE_OK)
            return ret;
    }

    /* A ping's webhook is looked up before anything is written. */
    if (m->nuris == 0 && m->webhook_id) {
        store_pg_text(&p, m->project);
        store_pg_text(&p, m->webhook_id);
        ret = store_pg_run(c, PGSQL_WEBHOOK_TARGET, &p, &r, NULL, __func__);
        if (ret != STORE_OK)
            return ret;
        if (PQntuples(r) == 0)
            m->rc = STORE_NOT_FOUND;
        else if (store_pg_col_text(r, 0, 0, target, sizeof target) != 0)
            m->rc = store_pg_row_error(__func__, "uri");
        PQclear(r);
        if (m->rc != STORE_OK)
            return STORE_OK;
    }

    /* Used, but before the window: the key is free again. The old message
     * keeps its row, without the key. */
    if (found) {
        memset(&p, 0, sizeof p);
        store_pg_text(&p, m->project);
        store_pg_text(&p, m->idempotency_key);
        ret = store_pg_run(c, PGSQL_MESSAGE_IDEM_RELEASE, &p, NULL, NULL, __func__);
        if (ret != STORE_OK)
            return ret;
    }

    memset(&p, 0, sizeof p);
    store_pg_text(&p, m->id);
    store_pg_text(&p, m->project);
    store_pg_text(&p, m->type);
    /* An empty payload is an empty bytea, not NULL (the column is NOT NULL). */
    store_pg_bytea(&p, m->payload ? (const void *)m->payload : "", m->payload_len);
    store_pg_int(&p, m->create_time_us);
    store_pg_text(&p, m->operation_id);
    store_pg_text(&p, m->idempotency_key);
    ret = store_pg_run(c, PGSQL_MESSAGE_INSERT, &p, NULL, &changed, __func__);
    if (ret != STORE_OK)
        return ret;
    if (changed == 0) {
        /* Another process committed the same key since the lookup above
         * (the insert waited for it): a duplicate. Otherwise the id is
         * taken. */
        if (m->idempotency_key) {
            ret = idem_find(c, m, idem_since_us, &found, __func__);
            if (ret != STORE_OK || m->duplicate || m->rc != STORE_OK)
                return ret;
        }
        m->rc = STORE_CONFLICT;
        return STORE_OK;
    }

    arr = json_array();
    if (!arr) {
        log_error("out of memory", "op=%s", __func__);
        return STORE_ERROR;
    }
    if (m->nuris > 0) {
        for (size_t i = 0; i < m->nuris && ret == STORE_OK; i++)
            ret = delivery_add(arr, m->project, NULL, m->uris[i]);
    } else if (m->webhook_id) {
        ret = delivery_add(arr, m->project, m->webhook_id, target);
    } else {
        ret = deliveries_fan_out(c, m, arr);
    }
    if (ret != STORE_OK || json_array_size(arr) == 0)
        goto out;
    text = json_dumps(arr, JSON_COMPACT);
    if (!text) {
        log_error("out of memory", "op=%s", __func__);
        ret = STORE_ERROR;
        goto out;
    }
    memset(&p, 0, sizeof p);
    store_pg_text(&p, text);
    store_pg_text(&p, m->id);
    store_pg_text(&p, m->project);
    store_pg_int(&p, m->create_time_us);
    ret = store_pg_run(c, PGSQL_DELIVERY_INSERT, &p, NULL, &changed, __func__);
    if (ret == STORE_OK)
        m->ndeliveries = changed;
out:
    free(text);
    json_decref(arr);
    return ret;
}

enum store_rc store_pg_messages_insert(struct store *st, struct store_message *msgs, size_t n,
                                       int64_t idem_since_us)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_conn *c;
    size_t created = 0;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        goto fail_all;
    /* One transaction, so one WAL flush, for the whole batch. */
    ret = store_pg_begin(c, __func__);
    for (size_t i = 0; i < n && ret == STORE_OK; i++) {
        ret = store_pg_message_insert(c, &msgs[i], idem_since_us);
        if (ret == STORE_OK && msgs[i].rc != STORE_OK) {
            msgs[i].duplicate = false;
            msgs[i].ndeliveries = 0;
        }
        if (ret == STORE_OK)
            created += msgs[i].ndeliveries;
    }
    if (ret == STORE_OK && created > 0)
        ret = store_pg_exec(c, NOTIFY_SQL, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    store_pg_conn_put(s, c);                 /* rolls the whole batch back on failure */
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

/* Fill job from row i of a TARGET_TAKE result, with a malloc'd copy of the
 * payload. */
static enum store_rc row_job(const PGresult *r, int i, const struct store_claim_target *t,
                             struct store_job *job)
{
    int64_t attempts = store_pg_col_int(r, i, 3);
    size_t len = 0;
    uint8_t *payload;

    memset(job, 0, sizeof *job);
    if (store_pg_col_text(r, i, 0, job->id, sizeof job->id) != 0 ||
        store_pg_col_text(r, i, 1, job->message_id, sizeof job->message_id) != 0 ||
        store_pg_col_text_opt(r, i, 2, job->webhook_id, sizeof job->webhook_id) != 0 ||
        store_pg_col_text_opt(r, i, 7, job->operation_id, sizeof job->operation_id) != 0 ||
        attempts < 0 || attempts > INT_MAX)
        return store_pg_row_error("deliveries_claim", "delivery");
    snprintf(job->project, sizeof job->project, "%s", t->project);
    snprintf(job->target_uri, sizeof job->target_uri, "%s", t->uri);
    job->attempts = (int)attempts;
    job->message_time_us = store_pg_col_int(r, i, 5);
    /* One byte at least, so that an empty payload is not a NULL. */
    len = (size_t)PQgetlength(r, i, 6);
    payload = malloc(len + 1);
    if (!payload) {
        log_error("out of memory", "op=deliveries_claim");
        return STORE_ERROR;
    }
    if (store_pg_col_bytea(r, i, 6, payload, len + 1, &len) != 0) {
        free(payload);
        return store_pg_row_error("deliveries_claim", "payload");
    }
    job->payload = payload;
    job->payload_len = len;
    return STORE_OK;
}

/* The targets due at now_us, locked, as many as plan has room for. */
static enum store_rc targets_due(struct store_pg_conn *c, int64_t now_us,
                                 struct store_claim_plan *plan)
{
    struct store_pg_params p = {0};
    PGresult *r;
    enum store_rc ret;

    store_pg_int(&p, now_us);
    store_pg_int(&p, (int64_t)plan->cap);
    ret = store_pg_run(c, PGSQL_TARGETS_DUE, &p, &r, NULL, "deliveries_claim");
    if (ret != STORE_OK)
        return ret;
    for (int i = 0; i < PQntuples(r) && plan->nt < plan->cap; i++) {
        struct store_claim_target *x = &plan->t[plan->nt];
        bool err = false;

        if (store_pg_col_text(r, i, 0, x->id, sizeof x->id) != 0 ||
            store_pg_col_text(r, i, 1, x->project, sizeof x->project) != 0 ||
            (x->uri = store_pg_col_strdup(r, i, 3, &err)) == NULL || err) {
            ret = store_pg_row_error("deliveries_claim", "target");
            break;
        }
        x->webhook = !PQgetisnull(r, i, 2);
        x->enabled = !x->webhook ||
                     (!PQgetisnull(r, i, 4) && store_pg_col_int(r, i, 4) == WEBHOOK_STATE_ENABLED);
        x->next_due = store_pg_col_int(r, i, 5);
        plan->nt++;
    }
    PQclear(r);
    return ret;
}

/* Take up to want due deliveries of t into out, leased, and settle its
 * next due time (TARGET_SETTLE). */
static enum store_rc target_take(struct store_pg_conn *c, struct store_claim_target *t,
                                 const char *owner, int64_t now_us, int64_t lease_until_us,
                                 size_t want, struct store_job *out, int64_t *due, size_t *taken)
{
    struct store_pg_params p = {0};
    PGresult *r;
    size_t n = 0;
    enum store_rc ret;

    *taken = 0;
    store_pg_text(&p, t->id);
    store_pg_int(&p, now_us);
    store_pg_int(&p, (int64_t)want);
    store_pg_text(&p, owner);
    store_pg_int(&p, lease_until_us);
    ret = store_pg_run(c, PGSQL_TARGET_TAKE, &p, &r, NULL, "deliveries_claim");
    if (ret != STORE_OK)
        return ret;
    for (int i = 0; i < PQntuples(r) && n < want; i++) {
        ret = row_job(r, i, t, &out[n]);
        if (ret != STORE_OK)
            break;
        due[n++] = store_pg_col_int(r, i, 4);
    }
    PQclear(r);
    t->more = n == want;
    if (ret == STORE_OK) {
        memset(&p, 0, sizeof p);
        store_pg_text(&p, t->id);
        store_pg_int(&p, now_us);
        store_pg_int(&p, lease_until_us);
        ret = store_pg_run(c, PGSQL_TARGET_SETTLE, &p, NULL, NULL, "deliveries_claim");
    }
    if (ret != STORE_OK) {
        for (size_t i = 0; i < n; i++)
            free(out[i].payload);
        return ret;
    }
    *taken = n;
    return STORE_OK;
}

/* One transaction: the due targets (locked, skipping those another process
 * is claiming), then each chosen target's deliveries (store_claim.h). */
enum store_rc store_pg_deliveries_claim(struct store *st, const char *owner, int64_t now_us,
                                        int64_t lease_until_us, size_t limit, size_t per_target,
                                        const char *const *busy, const size_t *inflight,
                                        size_t nbusy, struct store_job *out, size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_claim_plan plan;
    struct store_pg_conn *c = NULL;
    int64_t *due = NULL;
    size_t k, want;
    enum store_rc ret = STORE_ERROR;

    *n = 0;
    if (limit == 0 || per_target == 0)
        return STORE_OK;
    if (limit > STORE_PG_CLAIM_MAX)
        limit = STORE_PG_CLAIM_MAX;
    if (store_claim_plan_alloc(&plan, limit + nbusy) != 0)
        goto out;
    due = malloc(limit * sizeof *due);
    if (!due)
        goto out;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK) {
        c = NULL;
        goto out;
    }
    ret = store_pg_begin(c, __func__);
    if (ret == STORE_OK)
        ret = targets_due(c, now_us, &plan);
    if (ret == STORE_OK &&
        store_claim_plan_start(&plan, limit, per_target, busy, inflight, nbusy) != 0)
        ret = STORE_ERROR;
    for (size_t i = 0; ret == STORE_OK && i < plan.nt; i++) {
        struct store_pg_params p = {0};

        if (plan.t[i].enabled)
            continue;
        store_pg_text(&p, plan.t[i].id);
        ret = store_pg_run(c, PGSQL_TARGET_PARK, &p, NULL, NULL, __func__);
    }
    while (ret == STORE_OK && *n < limit &&
           (k = store_claim_plan_next(&plan, limit - *n, &want)) != SIZE_MAX) {
        size_t got = 0;

        ret = target_take(c, &plan.t[k], owner, now_us, lease_until_us, want, out + *n,
                          due + *n, &got);
        store_claim_plan_took(&plan, k, got);
        *n += got;
    }
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    if (ret == STORE_OK) {
        store_claim_sort(out, due, *n);
    } else {
        for (size_t i = 0; i < *n; i++) {
            free(out[i].payload);
            out[i].payload = NULL;
        }
        *n = 0;
    }
out:
    if (c)
        store_pg_conn_put(s, c);         /* rolls back what did not commit */
    store_claim_plan_free(&plan);
    free(due);
    return ret;
}

/* The stored delivery state of an outcome (not RELEASED). */
static int outcome_state(enum store_outcome outcome)
{
    switch (outcome) {
    case STORE_OUTCOME_SUCCEEDED:
        return STORE_DELIVERY_SUCCEEDED;
    case STORE_OUTCOME_RETRY:
        return STORE_DELIVERY_PENDING;
    default:
        assert(outcome == STORE_OUTCOME_FAILED || outcome == STORE_OUTCOME_GONE);
        return STORE_DELIVERY_FAILED;
    }
}

/* A JSON string of text, which is kept only when it is UTF-8 (PostgreSQL's
 * text must be): other bytes become '?'. */
static json_t *json_text(const char *text)
{
    char buf[STORE_ERROR_MAX];
    json_t *j = json_string(text);
    size_t i;

    if (j)
        return j;
    for (i = 0; text[i] && i + 1 < sizeof buf; i++)
        buf[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
    buf[i] = '\0';
    return json_string(buf);
}

/* The ATTEMPTS_RECORD object of a. Returns NULL when out of memory. */
static json_t *attempt_json(const struct store_attempt *a)
{
    char excerpt[B64_ENCODED_SIZE(STORE_EXCERPT_MAX)];
    size_t len = a->excerpt_len;
    json_t *o;

    if (len > sizeof a->excerpt) {
        assert(!"excerpt_len beyond the excerpt");
        len = sizeof a->excerpt;
    }
    if (len > 0 && b64_encode(a->excerpt, len, excerpt, sizeof excerpt) < 0)
        return NULL;
    o = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:i}", "id", a->id,
                  "delivery_id", a->delivery_id, "state", outcome_state(a->outcome),
                  "next_due", (json_int_t)a->next_due_us, "t_us", (json_int_t)a->time_us,
                  "latency_us", (json_int_t)a->latency_us, "status", a->response_status);
    /* No error, no body: NULL, as on SQLite. */
    if (o && a->error[0] && json_object_set_new(o, "error", json_text(a->error)) != 0)
        goto fail;
    if (o && len > 0 && json_object_set_new(o, "excerpt", json_string(excerpt)) != 0)
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* The webhook part of one attempt record: its health. No row changes when
 * the webhook is gone. */
static enum store_rc attempt_health(struct store_pg_conn *c, const struct store_attempt *a,
                                    int64_t now_us, int64_t disable_after_us)
{
    struct store_pg_params p = {0};

    store_pg_text(&p, a->webhook_id);
    store_pg_int(&p, now_us);
    if (a->outcome == STORE_OUTCOME_SUCCEEDED)
        return store_pg_run(c, PGSQL_WEBHOOK_SUCCEEDED, &p, NULL, NULL, "attempt_health");
    store_pg_int(&p, disable_after_us);
    store_pg_int(&p, a->outcome == STORE_OUTCOME_GONE);
    return store_pg_run(c, PGSQL_WEBHOOK_FAILED, &p, NULL, NULL, "attempt_health");
}

/* Order of the webhook updates: by webhook id, then by position in the
 * batch. Every process updates webhooks in the same order, so two batches
 * recording outcomes for the same webhooks cannot deadlock; within one
 * webhook the batch's order (and so the meaning of success after failure)
 * is kept. */
struct health_ref {
    const struct store_attempt *a;
    size_t pos;
};

static int health_cmp(const void *x, const void *y)
{
    const struct health_ref *a = x, *b = y;
    int d = strcmp(a->a->webhook_id, b->a->webhook_id);

    if (d != 0)
        return d;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Two outcomes in a row for one webhook at the same now_us leave its
 * health as the first alone did when they are of the same kind, so the
 * second is not written (one statement per run, not per attempt). */
static int health_kind(enum store_outcome outcome)
{
    return outcome == STORE_OUTCOME_SUCCEEDED ? 0 : outcome == STORE_OUTCOME_GONE ? 2 : 1;
}

/* Run statement id with the JSON text of j as its only parameter. */
static enum store_rc run_json(struct store_pg_conn *c, enum store_pg_sql id, const json_t *j,
                              PGresult **res, const char *op)
{
    struct store_pg_params p = {0};
    char *text = json_dumps(j, JSON_COMPACT);
    enum store_rc ret;

    if (!text) {
        log_error("out of memory", "op=%s", op);
        return STORE_ERROR;
    }
    store_pg_text(&p, text);
    ret = store_pg_run(c, id, &p, res, NULL, op);
    free(text);
    return ret;
}

/*
 * One transaction, a handful of statements whatever the batch size: lock
 * the batch's webhooks (WEBHOOKS_LOCK), write every outcome and attempt row
 * (ATTEMPTS_RECORD), clear the released leases, then the health of each
 * webhook in id order.
 */
enum store_rc store_pg_attempts_record(struct store *st, const struct store_attempt *attempts,
                                       size_t n, int64_t now_us, int64_t disable_after_us)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_conn *c = NULL;
    struct health_ref *refs = NULL;
    json_t *rows = json_array(), *released = json_array(), *hooks = json_array();
    json_t *recorded = json_object(), *lower = json_array();
    PGresult *r = NULL;
    size_t nrefs = 0;
    enum store_rc ret = STORE_ERROR;

    refs = malloc((n ? n : 1) * sizeof *refs);
    if (!refs || !rows || !released || !hooks || !recorded || !lower) {
        log_error("out of memory", "op=%s", __func__);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_attempt *a = &attempts[i];

        /* A released delivery is due again at once, a retry at its
         * time: their targets too, by then. */
        if ((a->outcome == STORE_OUTCOME_RELEASED || a->outcome == STORE_OUTCOME_RETRY) &&
            json_array_append_new(lower, json_pack("{s:s, s:I}", "delivery_id", a->delivery_id,
                                                   "due", (json_int_t)(a->outcome == STORE_OUTCOME_RETRY
                                                                       ? a->next_due_us : 0))) != 0)
            goto oom;
        if (a->outcome == STORE_OUTCOME_RELEASED) {
            if (json_array_append_new(released, json_string(a->delivery_id)) != 0)
                goto oom;
            continue;
        }
        if (json_array_append_new(rows, attempt_json(a)) != 0)
            goto oom;
        if (a->webhook_id[0] != '\0')
            refs[nrefs++] = (struct health_ref){a, i};
    }
    qsort(refs, nrefs, sizeof *refs, health_cmp);
    for (size_t i = 0; i < nrefs; i++) {
        if ((i == 0 || strcmp(refs[i].a->webhook_id, refs[i - 1].a->webhook_id) != 0) &&
            json_array_append_new(hooks, json_string(refs[i].a->webhook_id)) != 0)
            goto oom;
    }

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        goto out;
    ret = store_pg_begin(c, __func__);
    if (ret == STORE_OK && json_array_size(hooks) > 0)
        ret = run_json(c, PGSQL_WEBHOOKS_LOCK, hooks, NULL, __func__);
    if (ret == STORE_OK && json_array_size(rows) > 0)
        ret = run_json(c, PGSQL_ATTEMPTS_RECORD, rows, &r, __func__);
    for (int i = 0; ret == STORE_OK && r && i < PQntuples(r); i++) {
        char id[IDS_MAX];

        if (store_pg_col_text(r, i, 0, id, sizeof id) == 0)
            json_object_set_new(recorded, id, json_true());
    }
    if (ret == STORE_OK && json_array_size(released) > 0)
        ret = run_json(c, PGSQL_DELIVERIES_UNLEASE, released, NULL, __func__);
    if (ret == STORE_OK && json_array_size(lower) > 0)
        ret = run_json(c, PGSQL_TARGETS_LOWER_OF, lower, NULL, __func__);
    for (size_t i = 0; ret == STORE_OK && i < nrefs; i++) {
        const struct store_attempt *a = refs[i].a;

        /* Its webhook was deleted while it was in flight, and the delivery
         * with it: there is nothing left to record. */
        if (!json_object_get(recorded, a->delivery_id))
            continue;
        if (i > 0 && strcmp(a->webhook_id, refs[i - 1].a->webhook_id) == 0 &&
            health_kind(a->outcome) == health_kind(refs[i - 1].a->outcome) &&
            json_object_get(recorded, refs[i - 1].a->delivery_id))
            continue;
        ret = attempt_health(c, a, now_us, disable_after_us);
    }
    if (ret == STORE_OK) {
        for (size_t i = 0; i < n; i++) {
            if (attempts[i].outcome != STORE_OUTCOME_RELEASED &&
                !json_object_get(recorded, attempts[i].delivery_id))
                log_info("attempt of a deleted delivery not recorded", "delivery=%s",
                         attempts[i].delivery_id);
        }
    }
    /* Released deliveries are due again at once: any process may take them. */
    if (ret == STORE_OK && json_array_size(released) > 0)
        ret = store_pg_exec(c, NOTIFY_SQL, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    goto out;
oom:
    log_error("out of memory", "op=%s", __func__);
    ret = STORE_ERROR;
out:
    PQclear(r);
    if (c)
        store_pg_conn_put(s, c);
    json_decref(rows);
    json_decref(released);
    json_decref(hooks);
    json_decref(recorded);
    json_decref(lower);
    free(refs);
    return ret;
}

enum store_rc store_pg_deliveries_pending_count(struct store *st, size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_conn *c;
    PGresult *r;
    enum store_rc ret;

    *n = 0;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_run(c, PGSQL_DELIVERY_PENDING_COUNT, NULL, &r, NULL, __func__);
    if (ret == STORE_OK) {
        *n = (size_t)store_pg_col_int(r, 0, 0);
        PQclear(r);
    }
    store_pg_conn_put(s, c);
    return ret;
}

/* See store_sqlite_deliveries_next_due. */
enum store_rc store_pg_deliveries_next_due(struct store *st, int64_t *due_us)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_conn *c;
    PGresult *r;
    enum store_rc ret;

    *due_us = 0;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_run(c, PGSQL_TARGETS_NEXT_DUE, NULL, &r, NULL, __func__);
    if (ret == STORE_OK) {
        if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0) || store_pg_col_int(r, 0, 0) == INT64_MAX)
            ret = STORE_NOT_FOUND;
        else
            *due_us = store_pg_col_int(r, 0, 0);
        PQclear(r);
    }
    store_pg_conn_put(s, c);
    return ret;
}

/* Fill d from row i of a PG_DELIVERY_COLUMNS result. Returns 0, or -1 when
 * a column does not fit. */
static int row_delivery(const PGresult *r, int i, struct store_delivery *d)
{
    int64_t state = store_pg_col_int(r, i, 5);
    int64_t attempts = store_pg_col_int(r, i, 6);

    memset(d, 0, sizeof *d);
    if (store_pg_col_text(r, i, 0, d->id, sizeof d->id) != 0 ||
        store_pg_col_text(r, i, 1, d->message_id, sizeof d->message_id) != 0 ||
        store_pg_col_text_opt(r, i, 2, d->webhook_id, sizeof d->webhook_id) != 0 ||
        store_pg_col_text(r, i, 3, d->target_uri, sizeof d->target_uri) != 0 ||
        store_pg_col_text(r, i, 4, d->type, sizeof d->type) != 0)
        return -1;
    if (state < 0 || state >= STORE_DELIVERY_STATE_COUNT || attempts < 0 || attempts > INT_MAX)
        return -1;
    d->state = (enum store_delivery_state)state;
    d->attempts = (int)attempts;
    d->create_time_us = store_pg_col_int(r, i, 7);
    d->due_time_us = store_pg_col_int(r, i, 8);
    d->last_attempt_time_us = store_pg_col_int(r, i, 9);
    return 0;
}

enum store_rc store_pg_deliveries_list(struct store *st, const char *project,
                                       const char *webhook_id, int state, const char *before_id,
                                       size_t limit, struct store_delivery *out, size_t *n,
                                       bool *more)
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
    store_pg_text(&p, project);
    store_pg_text(&p, webhook_id);
    store_pg_int(&p, state < 0 ? -1 : state);
    /* "~" sorts after every id under the "C" collation of the id columns. */
    store_pg_text(&p, before_id && *before_id ? before_id : "~");
    store_pg_int(&p, (int64_t)limit + 1);
    ret = store_pg_run(c, PGSQL_DELIVERY_LIST, &p, &r, NULL, __func__);
    for (int i = 0; ret == STORE_OK && i < PQntuples(r); i++) {
        if (*n == limit) {
            *more = true;
            break;
        }
        if (row_delivery(r, i, &out[*n]) != 0) {
            ret = store_pg_row_error(__func__, "delivery");
            break;
        }
        (*n)++;
    }
    if (ret != STORE_OK) {
        *n = 0;
        *more = false;
    }
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

enum store_rc store_pg_delivery_get(struct store *st, const char *project, const char *id,
                                    struct store_delivery *out,
                                    struct store_attempt_info *attempts, size_t cap,
                                    size_t *nattempts)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    *nattempts = 0;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* One snapshot for the delivery and its attempts. */
    ret = store_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", __func__);
    store_pg_text(&p, project);
    store_pg_text(&p, id);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_DELIVERY_GET, &p, &r, NULL, __func__);
    if (ret != STORE_OK)
        goto out;
    if (PQntuples(r) == 0) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (row_delivery(r, 0, out) != 0) {
        ret = store_pg_row_error(__func__, "delivery");
        goto out;
    }
    PQclear(r);
    r = NULL;

    memset(&p, 0, sizeof p);
    store_pg_text(&p, id);
    store_pg_int(&p, (int64_t)cap);
    ret = store_pg_run(c, PGSQL_ATTEMPT_LIST, &p, &r, NULL, __func__);
    for (int i = 0; ret == STORE_OK && i < PQntuples(r); i++) {
        struct store_attempt_info *a = &attempts[*nattempts];

        memset(a, 0, sizeof *a);
        if (store_pg_col_text(r, i, 0, a->id, sizeof a->id) != 0 ||
            store_pg_col_text_opt(r, i, 4, a->error, sizeof a->error) != 0 ||
            store_pg_col_bytea(r, i, 5, a->excerpt, sizeof a->excerpt, &a->excerpt_len) != 0) {
            ret = store_pg_row_error(__func__, "attempt");
            break;
        }
        a->time_us = store_pg_col_int(r, i, 1);
        a->latency_us = store_pg_col_int(r, i, 2);
        a->response_status = (int)store_pg_col_int(r, i, 3);
        (*nattempts)++;
    }
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
out:
    if (ret != STORE_OK)
        *nattempts = 0;
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

enum store_rc store_pg_delivery_retry(struct store *st, const char *project, const char *id,
                                      int64_t now_us)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_begin(c, __func__);
    store_pg_text(&p, project);
    store_pg_text(&p, id);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_DELIVERY_STATE, &p, &r, NULL, __func__);
    if (ret != STORE_OK)
        goto out;
    if (PQntuples(r) == 0) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (store_pg_col_int(r, 0, 0) == STORE_DELIVERY_PENDING) {
        ret = STORE_CONFLICT;
        goto out;
    }
    store_pg_int(&p, now_us);
    ret = store_pg_run(c, PGSQL_DELIVERY_RETRY, &p, NULL, NULL, __func__);
    if (ret == STORE_OK) {
        memset(&p, 0, sizeof p);
        store_pg_text(&p, id);
        store_pg_int(&p, now_us);
        ret = store_pg_run(c, PGSQL_TARGET_LOWER_OF, &p, NULL, NULL, __func__);
    }
    if (ret == STORE_OK)
        ret = store_pg_exec(c, NOTIFY_SQL, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
out:
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

enum store_rc store_pg_webhook_recover(struct store *st, const char *project,
                                       const char *webhook_id, int64_t since_us, int64_t now_us,
                                       size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    size_t changed = 0;
    enum store_rc ret;

    *n = 0;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_begin(c, __func__);
    store_pg_text(&p, project);
    store_pg_text(&p, webhook_id);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_WEBHOOK_URI, &p, &r, NULL, __func__);
    if (ret != STORE_OK)
        goto out;
    if (PQntuples(r) == 0) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    store_pg_int(&p, since_us);
    store_pg_int(&p, now_us);
    ret = store_pg_run(c, PGSQL_WEBHOOK_RECOVER, &p, NULL, &changed, __func__);
    if (ret == STORE_OK && changed > 0) {
        memset(&p, 0, sizeof p);
        store_pg_text(&p, webhook_id);
        store_pg_int(&p, now_us);
        ret = store_pg_run(c, PGSQL_TARGET_LOWER, &p, NULL, NULL, __func__);
    }
    if (ret == STORE_OK && changed > 0)
        ret = store_pg_exec(c, NOTIFY_SQL, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    if (ret == STORE_OK)
        *n = changed;
out:
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

enum store_rc store_pg_deliveries_release(struct store *st, const char *owner_prefix,
                                          size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    size_t changed = 0;
    enum store_rc ret;

    *n = 0;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, owner_prefix);
    ret = store_pg_begin(c, __func__);
    /* Their targets first, while the leases still say which they are. */
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_TARGETS_WAKE_RELEASED, &p, NULL, NULL, __func__);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_DELIVERIES_RELEASE, &p, NULL, &changed, __func__);
    /* Due again at once: any process may take them. */
    if (ret == STORE_OK && changed > 0)
        ret = store_pg_exec(c, NOTIFY_SQL, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    if (ret == STORE_OK)
        *n = changed;
    store_pg_conn_put(s, c);
    return ret;
}
