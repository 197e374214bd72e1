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
#include "store/store_opevents.h"
#include "store/store_pg_int.h"

#define NOTIFY_SQL "NOTIFY " STORE_PG_CHANNEL

/* ---- messages and deliveries ---------------------------------------------- */

/* Append one delivery {id, webhook_id, uri} to arr. Returns STORE_OK, or
 * STORE_ERROR when no id can be made or memory runs out. */
static enum store_rc delivery_add(json_t *arr, const char *webhook_id, const char *uri)
{
    char id[IDS_MAX];
    json_t *o;

    if (ids_new("dlv_", id, sizeof id) != 0) {
        log_error("cannot make a delivery id", NULL);
        return STORE_ERROR;
    }
    o = json_pack("{s:s, s:s?, s:s}", "id", id, "webhook_id", webhook_id, "uri", uri);
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
        ret = delivery_add(arr, webhook_id, uri);
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
            ret = delivery_add(arr, NULL, m->uris[i]);
    } else if (m->webhook_id) {
        ret = delivery_add(arr, m->webhook_id, target);
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

/* The in-flight counts as the JSON object {"uri": count, ...} that the claim
 * reads with json_each_text (see busy_json_new in store_sqlite_deliver.c). */
static char *busy_json_new(const char *const *busy, const size_t *inflight, size_t nbusy)
{
    json_t *obj = json_object();
    char *text = NULL;

    if (!obj)
        return NULL;
    for (size_t i = 0; i < nbusy; i++) {
        json_t *prev = json_object_get(obj, busy[i]);
        json_int_t count = inflight[i] > INT32_MAX ? INT32_MAX : (json_int_t)inflight[i];

        if (prev)
            count += json_integer_value(prev);
        if (json_object_set_new(obj, busy[i], json_integer(count)) != 0)
            goto out;
    }
    text = json_dumps(obj, JSON_COMPACT);
out:
    json_decref(obj);
    return text;
}

/* Fill job from row i of a DELIVERY_CLAIM result, with a malloc'd copy of
 * the payload. */
static enum store_rc row_job(const PGresult *r, int i, struct store_job *job)
{
    int64_t attempts = store_pg_col_int(r, i, 5);
    int len = PQgetlength(r, i, 7);

    memset(job, 0, sizeof *job);
    if (store_pg_col_text(r, i, 0, job->id, sizeof job->id) != 0 ||
        store_pg_col_text(r, i, 1, job->message_id, sizeof job->message_id) != 0 ||
        store_pg_col_text(r, i, 2, job->project, sizeof job->project) != 0 ||
        store_pg_col_text_opt(r, i, 3, job->webhook_id, sizeof job->webhook_id) != 0 ||
        store_pg_col_text(r, i, 4, job->target_uri, sizeof job->target_uri) != 0 ||
        store_pg_col_text_opt(r, i, 8, job->operation_id, sizeof job->operation_id) != 0 ||
        attempts < 0 || attempts > INT_MAX || len < 0)
        return store_pg_row_error("deliveries_claim", "delivery");
    job->attempts = (int)attempts;
    job->message_time_us = store_pg_col_int(r, i, 6);
    job->payload = malloc(len > 0 ? (size_t)len : 1);
    if (!job->payload) {
        log_error("out of memory", "op=deliveries_claim bytes=%d", len);
        return STORE_ERROR;
    }
    if (len > 0)
        memcpy(job->payload, PQgetvalue(r, i, 7), (size_t)len);
    job->payload_len = (size_t)len;
    return STORE_OK;
}

enum store_rc store_pg_deliveries_claim(struct store *st, const char *owner, int64_t now_us,
                                        int64_t lease_until_us, size_t limit, size_t per_target,
                                        const char *const *busy, const size_t *inflight,
                                        size_t nbusy, struct store_job *out, size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    char *busy_json;
    size_t scan;
    enum store_rc ret;

    *n = 0;
    if (limit == 0 || per_target == 0)
        return STORE_OK;
    if (limit > STORE_PG_CLAIM_MAX)
        limit = STORE_PG_CLAIM_MAX;
    if (per_target > INT32_MAX)
        per_target = INT32_MAX;
    /* See store_sqlite_deliveries_claim for the scan. */
    scan = limit * STORE_PG_CLAIM_SCAN;
    if (scan < STORE_PG_CLAIM_SCAN_MIN)
        scan = STORE_PG_CLAIM_SCAN_MIN;

    busy_json = busy_json_new(busy, inflight, nbusy);
    if (!busy_json) {
        log_error("cannot encode in-flight targets", "op=%s count=%zu", __func__, nbusy);
        return STORE_ERROR;
    }
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        goto out_json;
    /* One statement, so one transaction of its own: choose, lock, lease. */
    store_pg_int(&p, now_us);
    store_pg_text(&p, busy_json);
    store_pg_int(&p, (int64_t)per_target);
    store_pg_int(&p, (int64_t)scan);
    store_pg_int(&p, (int64_t)limit);
    store_pg_text(&p, owner);
    store_pg_int(&p, lease_until_us);
    ret = store_pg_run(c, PGSQL_DELIVERY_CLAIM, &p, &r, NULL, __func__);
    for (int i = 0; ret == STORE_OK && i < PQntuples(r); i++) {
        if (*n >= limit) {
            ret = store_pg_row_error(__func__, "row count");
            break;
        }
        ret = row_job(r, i, &out[*n]);
        if (ret == STORE_OK)
            (*n)++;
    }
    if (ret != STORE_OK) {
        /* Leased but not returned: the leases run out and another claim
         * takes them. */
        for (size_t i = 0; i < *n; i++) {
            free(out[i].payload);
            out[i].payload = NULL;
        }
        *n = 0;
    }
    PQclear(r);
    store_pg_conn_put(s, c);
out_json:
    free(busy_json);
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
/* Insert an operator event filled by store_opevents_*() in the current
 * transaction and release its payload; *emitted is set when it has
 * deliveries (the caller then notifies). A message that cannot be made or
 * inserted fails the transaction: never a state change without its event. */
static enum store_rc opevent_insert(struct store_pg_conn *c, struct store_message *msg, int made,
                                    bool *emitted)
{
    enum store_rc ret;

    if (made != 0) {
        log_error("cannot make an operator event", "type=%s", msg->type);
        return STORE_ERROR;
    }
    ret = store_pg_message_insert(c, msg, 0);
    if (ret == STORE_OK)
        ret = msg->rc;
    if (ret == STORE_OK && msg->ndeliveries > 0)
        *emitted = true;
    store_opevents_done(msg);
    return ret;
}

/* A failed attempt to a webhook: disable it if this failure does (a 410,
 * or failing for disable_after_us) and emit kabar.webhook.disabled with
 * it; otherwise note the failure. */
static enum store_rc attempt_failed(struct store_pg_conn *c, const struct store_attempt *a,
                                    int64_t now_us, int64_t disable_after_us, bool *emitted)
{
    struct store_pg_params p = {0};
    struct store_opevent_disabled ev = {0};
    struct store_message msg = {0};
    char project[WEBHOOK_PROJECT_MAX + 1], uri[WEBHOOK_URI_MAX + 1];
    PGresult *r = NULL;
    enum store_rc ret;

    store_pg_text(&p, a->webhook_id);
    store_pg_int(&p, now_us);
    store_pg_int(&p, disable_after_us);
    store_pg_int(&p, a->outcome == STORE_OUTCOME_GONE);
    ret = store_pg_run(c, PGSQL_WEBHOOK_DISABLE_NOW, &p, &r, NULL, "attempt_failed");
    if (ret != STORE_OK)
        return ret;
    if (PQntuples(r) == 0) {
        PQclear(r);
        /* Not disabled by this failure: only the failure record changes. */
        return store_pg_run(c, PGSQL_WEBHOOK_FAILED, &p, NULL, NULL, "attempt_failed");
    }
    if (store_pg_col_text(r, 0, 0, project, sizeof project) != 0 ||
        store_pg_col_text(r, 0, 1, uri, sizeof uri) != 0) {
        PQclear(r);
        return store_pg_row_error("attempt_failed", "webhook");
    }
    ev.failing_since_us = store_pg_col_int(r, 0, 2);
    PQclear(r);
    ev.project = project;
    ev.webhook_id = a->webhook_id;
    ev.uri = uri;
    ev.gone = a->outcome == STORE_OUTCOME_GONE;
    ev.time_us = now_us;
    ev.last_status = a->response_status;
    ev.last_error = a->error;
    return opevent_insert(c, &msg, store_opevents_webhook_disabled(&ev, &msg), emitted);
}

/* A delivery out of retries: emit kabar.delivery.exhausted (unless it
 * delivered an operator event or a ping). */
static enum store_rc attempt_exhausted(struct store_pg_conn *c, const struct store_attempt *a,
                                       int64_t now_us, bool *emitted)
{
    struct store_pg_params p = {0};
    struct store_opevent_exhausted ev = {0};
    struct store_message msg = {0};
    char project[WEBHOOK_PROJECT_MAX + 1], message_id[IDS_MAX], type[STORE_TYPE_MAX];
    char webhook_id[IDS_MAX], uri[WEBHOOK_URI_MAX + 1];
    PGresult *r = NULL;
    enum store_rc ret;

    store_pg_text(&p, a->delivery_id);
    ret = store_pg_run(c, PGSQL_DELIVERY_EXHAUSTED, &p, &r, NULL, "attempt_exhausted");
    if (ret != STORE_OK)
        return ret;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return STORE_OK;
    }
    if (store_pg_col_text(r, 0, 0, project, sizeof project) != 0 ||
        store_pg_col_text(r, 0, 1, message_id, sizeof message_id) != 0 ||
        store_pg_col_text(r, 0, 2, type, sizeof type) != 0 ||
        store_pg_col_text(r, 0, 3, webhook_id, sizeof webhook_id) != 0 ||
        store_pg_col_text(r, 0, 4, uri, sizeof uri) != 0) {
        PQclear(r);
        return store_pg_row_error("attempt_exhausted", "delivery");
    }
    ev.attempts = (int)store_pg_col_int(r, 0, 5);
    PQclear(r);
    if (!store_opevents_reports_exhaustion(type))
        return STORE_OK;
    ev.project = project;
    ev.delivery_id = a->delivery_id;
    ev.event_id = message_id;
    ev.event_type = type;
    ev.webhook_id = webhook_id;
    ev.target_uri = uri;
    ev.time_us = now_us;
    ev.last_status = a->response_status;
    ev.last_error = a->error;
    return opevent_insert(c, &msg, store_opevents_delivery_exhausted(&ev, &msg), emitted);
}

static enum store_rc attempt_health(struct store_pg_conn *c, const struct store_attempt *a,
                                    int64_t now_us, int64_t disable_after_us, bool *emitted)
{
    struct store_pg_params p = {0};

    if (a->outcome != STORE_OUTCOME_SUCCEEDED)
        return attempt_failed(c, a, now_us, disable_after_us, emitted);
    store_pg_text(&p, a->webhook_id);
    store_pg_int(&p, now_us);
    return store_pg_run(c, PGSQL_WEBHOOK_SUCCEEDED, &p, NULL, NULL, "attempt_health");
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
    json_t *recorded = json_object();
    PGresult *r = NULL;
    size_t nrefs = 0;
    enum store_rc ret = STORE_ERROR;
    bool emitted = false;

    refs = malloc((n ? n : 1) * sizeof *refs);
    if (!refs || !rows || !released || !hooks || !recorded) {
        log_error("out of memory", "op=%s", __func__);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_attempt *a = &attempts[i];

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
        ret = attempt_health(c, a, now_us, disable_after_us, &emitted);
    }
    /* Deliveries out of retries, each reported in this transaction. */
    for (size_t i = 0; ret == STORE_OK && i < n; i++) {
        if (attempts[i].outcome == STORE_OUTCOME_FAILED &&
            json_object_get(recorded, attempts[i].delivery_id))
            ret = attempt_exhausted(c, &attempts[i], now_us, &emitted);
    }
    if (ret == STORE_OK) {
        for (size_t i = 0; i < n; i++) {
            if (attempts[i].outcome != STORE_OUTCOME_RELEASED &&
                !json_object_get(recorded, attempts[i].delivery_id))
                log_info("attempt of a deleted delivery not recorded", "delivery=%s",
                         attempts[i].delivery_id);
        }
    }
    /* Released deliveries and operator events are due at once: any process
     * may take them. */
    if (ret == STORE_OK && (json_array_size(released) > 0 || emitted))
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

/* See store_sqlite_deliveries_next_due for how the query avoids visiting
 * every pending row. */
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
    ret = store_pg_run(c, PGSQL_DELIVERY_NEXT_DUE, NULL, &r, NULL, __func__);
    if (ret == STORE_OK) {
        if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0))
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
