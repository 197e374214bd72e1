/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_deliver.c - deliveries and attempts (store.h), written once over
 * the driver: per-target queues claimed round robin (store_claim.h),
 * batched outcome records, and the delivery log. Events come in through
 * store_messages.c.
 *
 * Deliveries queue per target (a webhook, or one uri of one project): the
 * targets table keeps each target's next due time, and every write that
 * makes a delivery due lowers it. A claim reads the due targets in that
 * order, then takes from each through deliveries_target_due, so what it
 * costs follows what it claims, never the backlog.
 *
 * Backend-specific on purpose, in one place only: the claim. PostgreSQL
 * locks the due targets FOR UPDATE SKIP LOCKED and leases the deliveries it
 * takes in the same statement, so several processes claim at once without
 * waiting on each other; SQLite chooses under its write lock and the claim
 * leases the chosen rows after (driver->claim_leases says which). And the
 * outcomes' rows: PostgreSQL writes a batch's in two statements, since each
 * is a round trip; SQLite two per outcome, cheaper than JSON for it
 * (driver->batch_rows).
 *
 * Lock order on PostgreSQL (so no two transactions wait on each other in a
 * cycle): webhooks, then deliveries, then targets, the targets of one
 * transaction in one statement in id order (TARGETS_UPSERT,
 * TARGETS_LOWER_OF). A claim skips what is locked and so never waits.
 *
 * Writes that make deliveries due now call store_notify(), so that the
 * delivery threads of every process wake at the commit (PostgreSQL's
 * NOTIFY; nothing on SQLite, where one process has the database).
 */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/log.h"
#include "store/store_claim.h"
#include "store/store_driver.h"
#include "store/store_opevents.h"

/* Deliveries leased by one claim at most. */
#define CLAIM_MAX ((size_t)1 << 16)

/* ---- claims ------------------------------------------------------------- */

/* Fill job from a TARGET_TAKE row of target t, with a malloc'd copy of the
 * payload. */
static enum store_rc row_job(struct store_conn *c, const struct store_claim_target *t,
                             struct store_job *job)
{
    int64_t attempts = store_col_int(c, 3);

    memset(job, 0, sizeof *job);
    if (store_col_text(c, 0, job->id, sizeof job->id) != 0 ||
        store_col_text(c, 1, job->message_id, sizeof job->message_id) != 0 ||
        store_col_text_opt(c, 2, job->webhook_id, sizeof job->webhook_id) != 0 ||
        store_col_text_opt(c, 7, job->operation_id, sizeof job->operation_id) != 0 ||
        attempts < 0 || attempts > INT_MAX)
        return store_row_error("deliveries_claim", "delivery");
    snprintf(job->project, sizeof job->project, "%s", t->project);
    snprintf(job->target_uri, sizeof job->target_uri, "%s", t->uri);
    job->attempts = (int)attempts;
    job->message_time_us = store_col_int(c, 5);
    job->payload = store_col_blob_dup(c, 6, &job->payload_len);
    return job->payload ? STORE_OK : store_oom("deliveries_claim");
}

/* The targets due at now_us, oldest first, as many as plan has room for
 * (locked on PostgreSQL, skipping those another claim holds). */
static enum store_rc targets_due(struct store_conn *c, int64_t now_us,
                                 struct store_claim_plan *plan)
{
    enum store_rc ret = store_run(c, STORE_SQL_TARGETS_DUE,
                                  STORE_ARGS(STORE_INT(now_us), STORE_INT(plan->cap)));

    while (ret == STORE_OK && plan->nt < plan->cap && (ret = store_next(c)) == STORE_OK) {
        struct store_claim_target *x = &plan->t[plan->nt];
        bool oom = false;

        if (store_col_text(c, 0, x->id, sizeof x->id) != 0 ||
            store_col_text(c, 1, x->project, sizeof x->project) != 0)
            return store_row_error("deliveries_claim", "target");
        x->uri = store_col_strdup(c, 3, &oom);
        if (!x->uri)
            return oom ? store_oom("deliveries_claim")
                       : store_row_error("deliveries_claim", "target uri");
        if (strlen(x->uri) > WEBHOOK_URI_MAX) {
            free(x->uri);
            x->uri = NULL;
            return store_row_error("deliveries_claim", "target uri");
        }
        x->webhook = !store_col_null(c, 2);
        x->enabled = !x->webhook ||
                     (!store_col_null(c, 4) && store_col_int(c, 4) == WEBHOOK_STATE_ENABLED);
        x->next_due = store_col_int(c, 5);
        plan->nt++;
    }
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

/* Take up to want ready deliveries of target t into out[0..*taken) (due
 * times in due[]), leased to owner until lease_until_us, then set the
 * target's next due time (TARGET_SETTLE). On error nothing is left in out. */
static enum store_rc target_take(struct store_conn *c, struct store_claim_target *t,
                                 const char *owner, int64_t now_us, int64_t lease_until_us,
                                 size_t want, struct store_job *out, int64_t *due,
                                 size_t *taken)
{
    size_t n = 0;
    enum store_rc ret;

    *taken = 0;
    ret = store_run(c, STORE_SQL_TARGET_TAKE,
                    STORE_ARGS(STORE_TEXT(t->id), STORE_INT(now_us), STORE_INT(want),
                               STORE_TEXT(owner), STORE_INT(lease_until_us)));
    while (ret == STORE_OK && n < want && (ret = store_next(c)) == STORE_OK) {
        ret = row_job(c, t, &out[n]);
        if (ret == STORE_OK)
            due[n++] = store_col_int(c, 4);
    }
    if (ret == STORE_NOT_FOUND)
        ret = STORE_OK;
    /* Lease after the rows are read, not while stepping them (updating rows
     * under a running scan of the same table is what SQLite leaves
     * undefined). */
    for (size_t i = 0; ret == STORE_OK && !c->driver->claim_leases && i < n; i++)
        ret = store_run(c, STORE_SQL_DELIVERY_LEASE,
                        STORE_ARGS(STORE_TEXT(out[i].id), STORE_TEXT(owner),
                                   STORE_INT(lease_until_us)));
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_TARGET_SETTLE,
                        STORE_ARGS(STORE_TEXT(t->id), STORE_INT(now_us),
                                   STORE_INT(lease_until_us)));
    if (ret != STORE_OK) {
        for (size_t i = 0; i < n; i++) {
            free(out[i].payload);
            out[i].payload = NULL;
        }
        return ret;
    }
    /* Given all it asked for: it may have more ready, for a second turn. */
    t->more = n == want;
    *taken = n;
    return STORE_OK;
}

/* One write transaction: the due targets, then each chosen target's
 * deliveries in the plan's round robin (store_claim.h). */
enum store_rc store_deliveries_claim(struct store *st, const char *owner, int64_t now_us,
                                     int64_t lease_until_us, size_t limit, size_t per_target,
                                     const char *const *busy, const size_t *inflight,
                                     size_t nbusy, struct store_job *out, size_t *n)
{
    struct store_claim_plan plan;
    struct store_conn *c = NULL;
    int64_t *due = NULL;
    size_t k, want;
    enum store_rc ret = STORE_ERROR;

    *n = 0;
    if (limit == 0 || per_target == 0)
        return STORE_OK;
    if (limit > CLAIM_MAX)
        limit = CLAIM_MAX;
    /* The targets at their cap are among those read (at most nbusy of
     * them), so limit + nbusy targets leave room for limit more. */
    if (store_claim_plan_alloc(&plan, limit + nbusy) != 0 ||
        !(due = malloc(limit * sizeof *due))) {
        ret = store_oom("deliveries_claim");
        goto out;
    }
    ret = store_conn_get(st, &c);
    /* On SQLite the write lock is taken before choosing, so two claimers
     * never lease the same row. */
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = targets_due(c, now_us, &plan);
    if (ret == STORE_OK &&
        store_claim_plan_start(&plan, limit, per_target, busy, inflight, nbusy) != 0)
        ret = store_oom("deliveries_claim");
    for (size_t i = 0; ret == STORE_OK && i < plan.nt; i++) {
        if (!plan.t[i].enabled)
            ret = store_run(c, STORE_SQL_TARGET_PARK, STORE_ARGS(STORE_TEXT(plan.t[i].id)));
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
        ret = store_commit(c);
    if (ret == STORE_OK) {
        store_claim_sort(out, due, *n);
    } else {
        for (size_t i = 0; i < *n; i++) {
            free(out[i].payload);
            out[i].payload = NULL;
        }
        *n = 0;
    }
    store_conn_put(c);                       /* rolls back what did not commit */
out:
    store_claim_plan_free(&plan);
    free(due);
    return ret;
}

/* ---- outcomes ------------------------------------------------------------- */

static int delivery_state_of(enum store_outcome outcome)
{
    switch (outcome) {
    case STORE_OUTCOME_SUCCEEDED:
        return STORE_DELIVERY_SUCCEEDED;
    case STORE_OUTCOME_RETRY:
        return STORE_DELIVERY_PENDING;
    default:
        return STORE_DELIVERY_FAILED;
    }
}

/* Record one attempt and its delivery's new state, a statement each
 * (where statements are cheap: !driver->batch_rows). *recorded as in
 * results_write. */
static enum store_rc attempt_write(struct store_conn *c, const struct store_attempt *a,
                                   bool *recorded)
{
    size_t excerpt_len = a->excerpt_len, changed = 0;
    enum store_rc ret;

    *recorded = false;
    if (a->outcome == STORE_OUTCOME_RELEASED)
        return STORE_OK;
    ret = store_run_changes(c, STORE_SQL_DELIVERY_RESULT,
                            STORE_ARGS(STORE_TEXT(a->delivery_id),
                                       STORE_INT(delivery_state_of(a->outcome)),
                                       STORE_INT(a->next_due_us), STORE_INT(a->time_us)),
                            &changed);
    if (ret != STORE_OK)
        return ret;
    if (changed == 0) {
        log_info("attempt of a deleted delivery not recorded", "delivery=%s", a->delivery_id);
        return STORE_OK;
    }
    if (excerpt_len > sizeof a->excerpt) {
        assert(!"excerpt_len beyond the excerpt");
        excerpt_len = sizeof a->excerpt;
    }
    *recorded = true;
    return store_run(c, STORE_SQL_ATTEMPT_INSERT,
                     STORE_ARGS(STORE_TEXT(a->id), STORE_TEXT(a->delivery_id),
                                STORE_INT(a->time_us), STORE_INT(a->latency_us),
                                STORE_INT(a->response_status), STORE_TEXT_OPT(a->error),
                                excerpt_len ? STORE_BLOB(a->excerpt, excerpt_len)
                                            : STORE_TEXT(NULL)));
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The new states of attempts[0..n) (all but RELEASED) in one statement
 * (DELIVERIES_RESULT); recorded[i] false for a delivery that is gone: its
 * webhook was deleted while it was in flight, and failing the batch would
 * only make the engine retry this forever. */
static enum store_rc results_write(struct store_conn *c, const struct store_attempt *attempts,
                                   size_t n, bool *recorded)
{
    json_t *arr = json_array();
    char **ids = malloc((n ? n : 1) * sizeof *ids);
    char *text = NULL;
    size_t nids = 0, nrows = 0;
    enum store_rc ret = STORE_OK;

    if (!arr || !ids)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        const struct store_attempt *a = &attempts[i];

        recorded[i] = false;
        if (a->outcome == STORE_OUTCOME_RELEASED)
            continue;
        if (json_array_append_new(arr, json_pack("{s:s, s:i, s:I, s:I}", "id", a->delivery_id,
                                                 "state", delivery_state_of(a->outcome),
                                                 "due", (json_int_t)a->next_due_us,
                                                 "time", (json_int_t)a->time_us)) != 0)
            goto oom;
        nrows++;
    }
    if (nrows == 0)
        goto out;
    if (!(text = json_dumps(arr, JSON_COMPACT)))
        goto oom;
    ret = store_run(c, STORE_SQL_DELIVERIES_RESULT, STORE_ARGS(STORE_TEXT(text)));
    while (ret == STORE_OK && nids < nrows && (ret = store_next(c)) == STORE_OK) {
        bool oom = false;

        if (!(ids[nids] = store_col_strdup(c, 0, &oom))) {
            ret = oom ? store_oom("attempts_record") : store_row_error("attempts_record", "id");
            break;
        }
        nids++;
    }
    if (ret == STORE_NOT_FOUND || (ret == STORE_OK && nids == nrows))
        ret = STORE_OK;
    if (ret == STORE_OK) {
        qsort(ids, nids, sizeof *ids, id_cmp);
        for (size_t i = 0; i < n; i++) {
            const char *key = attempts[i].delivery_id;

            if (attempts[i].outcome == STORE_OUTCOME_RELEASED)
                continue;
            recorded[i] = nids && bsearch(&key, ids, nids, sizeof *ids, id_cmp);
            if (!recorded[i])
                log_info("attempt of a deleted delivery not recorded", "delivery=%s",
                         attempts[i].delivery_id);
        }
    }
    goto out;
oom:
    ret = store_oom("attempts_record");
out:
    for (size_t i = 0; ids && i < nids; i++)
        free(ids[i]);
    free(ids);
    free(text);
    json_decref(arr);
    return ret;
}

/* The attempt row of a: NULL when it does not fit the JSON of
 * ATTEMPTS_INSERT (an excerpt or error that is not UTF-8 text). */
static json_t *attempt_json(const struct store_attempt *a)
{
    size_t excerpt_len = a->excerpt_len;
    json_t *o, *excerpt = json_null(), *error = json_null();

    if (excerpt_len > sizeof a->excerpt) {
        assert(!"excerpt_len beyond the excerpt");
        excerpt_len = sizeof a->excerpt;
    }
    if (excerpt_len > 0 && (memchr(a->excerpt, 0, excerpt_len) ||
                            !(excerpt = json_stringn((const char *)a->excerpt, excerpt_len))))
        return NULL;
    if (a->error[0] && !(error = json_string(a->error))) {
        json_decref(excerpt);
        return NULL;
    }
    o = json_pack("{s:s, s:s, s:I, s:I, s:i, s:o, s:o}", "id", a->id,
                  "delivery_id", a->delivery_id, "time", (json_int_t)a->time_us,
                  "latency", (json_int_t)a->latency_us, "status", a->response_status,
                  "error", error, "excerpt", excerpt);
    return o;
}

/* Insert the attempt rows of the recorded attempts[0..n): one statement
 * for the batch (ATTEMPTS_INSERT), one each for those whose excerpt is
 * not text. */
static enum store_rc attempts_write(struct store_conn *c, const struct store_attempt *attempts,
                                    size_t n, const bool *recorded)
{
    json_t *arr = json_array();
    char *text;
    enum store_rc ret = STORE_OK;

    if (!arr)
        return store_oom("attempts_record");
    for (size_t i = 0; ret == STORE_OK && i < n; i++) {
        const struct store_attempt *a = &attempts[i];
        json_t *o;

        if (!recorded[i])
            continue;
        if ((o = attempt_json(a)) != NULL) {
            if (json_array_append_new(arr, o) != 0)
                ret = store_oom("attempts_record");
            continue;
        }
        ret = store_run(c, STORE_SQL_ATTEMPT_INSERT,
                        STORE_ARGS(STORE_TEXT(a->id), STORE_TEXT(a->delivery_id),
                                   STORE_INT(a->time_us), STORE_INT(a->latency_us),
                                   STORE_INT(a->response_status), STORE_TEXT_OPT(a->error),
                                   a->excerpt_len ? STORE_BLOB(a->excerpt, a->excerpt_len <=
                                                               sizeof a->excerpt
                                                               ? a->excerpt_len
                                                               : sizeof a->excerpt)
                                                  : STORE_TEXT(NULL)));
    }
    if (ret == STORE_OK && json_array_size(arr) > 0) {
        if ((text = json_dumps(arr, JSON_COMPACT)) == NULL) {
            ret = store_oom("attempts_record");
        } else {
            ret = store_run(c, STORE_SQL_ATTEMPTS_INSERT, STORE_ARGS(STORE_TEXT(text)));
            free(text);
        }
    }
    json_decref(arr);
    return ret;
}

/* A failed attempt of a delivery to a webhook: disable the webhook if this
 * failure does it (a 410, or failing for disable_after_us) and emit
 * kabar.webhook.disabled with it; otherwise note the failure. */
static enum store_rc attempt_failed(struct store_conn *c, const struct store_attempt *a,
                                    int64_t now_us, int64_t disable_after_us, bool *emitted)
{
    struct store_opevent_disabled ev = {0};
    struct store_message msg = {0};
    char project[WEBHOOK_PROJECT_MAX + 1], uri[WEBHOOK_URI_MAX + 1];
    bool gone = a->outcome == STORE_OUTCOME_GONE;
    enum store_rc ret;

    ret = store_run(c, STORE_SQL_WEBHOOK_DISABLE_NOW,
                    STORE_ARGS(STORE_TEXT(a->webhook_id), STORE_INT(now_us),
                               STORE_INT(disable_after_us), STORE_INT(gone)));
    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_NOT_FOUND)     /* not disabled by this failure: only noted */
        return store_run(c, STORE_SQL_WEBHOOK_FAILED,
                         STORE_ARGS(STORE_TEXT(a->webhook_id), STORE_INT(now_us),
                                    STORE_INT(disable_after_us), STORE_INT(gone)));
    if (ret != STORE_OK)
        return ret;
    if (store_col_text(c, 0, project, sizeof project) != 0 ||
        store_col_text(c, 1, uri, sizeof uri) != 0)
        return store_row_error("attempts_record", "webhook");
    ev.failing_since_us = store_col_int(c, 2);
    ev.project = project;
    ev.webhook_id = a->webhook_id;
    ev.uri = uri;
    ev.gone = gone;
    ev.time_us = now_us;
    ev.last_status = a->response_status;
    ev.last_error = a->error;
    return store_opevents_insert(c, &msg, store_opevents_webhook_disabled(&ev, &msg), emitted);
}

/* The webhook's health after a: see attempts_record in store.h. */
static enum store_rc attempt_health(struct store_conn *c, const struct store_attempt *a,
                                    int64_t now_us, int64_t disable_after_us, bool *emitted)
{
    if (a->outcome != STORE_OUTCOME_SUCCEEDED)
        return attempt_failed(c, a, now_us, disable_after_us, emitted);
    return store_run(c, STORE_SQL_WEBHOOK_SUCCEEDED,
                     STORE_ARGS(STORE_TEXT(a->webhook_id), STORE_INT(now_us)));
}

/* A delivery out of retries: emit kabar.delivery.exhausted (unless it
 * delivered an operator event or a ping). */
static enum store_rc attempt_exhausted(struct store_conn *c, const struct store_attempt *a,
                                       int64_t now_us, bool *emitted)
{
    struct store_opevent_exhausted ev = {0};
    struct store_message msg = {0};
    char project[WEBHOOK_PROJECT_MAX + 1], message_id[IDS_MAX], type[STORE_TYPE_MAX];
    char webhook_id[IDS_MAX], uri[WEBHOOK_URI_MAX + 1];
    int64_t attempts;
    enum store_rc ret;

    ret = store_run(c, STORE_SQL_DELIVERY_EXHAUSTED, STORE_ARGS(STORE_TEXT(a->delivery_id)));
    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_NOT_FOUND)
        return STORE_OK;
    if (ret != STORE_OK)
        return ret;
    attempts = store_col_int(c, 5);
    if (store_col_text(c, 0, project, sizeof project) != 0 ||
        store_col_text(c, 1, message_id, sizeof message_id) != 0 ||
        store_col_text(c, 2, type, sizeof type) != 0 ||
        store_col_text_opt(c, 3, webhook_id, sizeof webhook_id) != 0 ||
        store_col_text(c, 4, uri, sizeof uri) != 0 || attempts < 0 || attempts > INT_MAX)
        return store_row_error("attempts_record", "delivery");
    if (!store_opevents_reports_exhaustion(type))
        return STORE_OK;
    ev.project = project;
    ev.delivery_id = a->delivery_id;
    ev.event_id = message_id;
    ev.event_type = type;
    ev.webhook_id = webhook_id;
    ev.target_uri = uri;
    ev.attempts = (int)attempts;
    ev.time_us = now_us;
    ev.last_status = a->response_status;
    ev.last_error = a->error;
    return store_opevents_insert(c, &msg, store_opevents_delivery_exhausted(&ev, &msg), emitted);
}

/* Order of the webhook updates: by webhook id, then by position in the
 * batch. Every process updates webhooks in the same order, so two batches
 * recording outcomes for the same webhooks cannot deadlock; within one
 * webhook the batch's order (and so the meaning of success after failure)
 * is kept. */
struct health_ref {
    const struct store_attempt *a;
    size_t pos;
    bool recorded;
};

static int health_cmp(const void *x, const void *y)
{
    const struct health_ref *a = x, *b = y;
    int d = strcmp(a->a->webhook_id, b->a->webhook_id);

    if (d != 0)
        return d;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Two outcomes in a row for one webhook at the same now_us leave its health
 * as the first alone did when they are of the same kind, so the second is
 * not written. */
static int health_kind(enum store_outcome outcome)
{
    return outcome == STORE_OUTCOME_SUCCEEDED ? 0 : outcome == STORE_OUTCOME_GONE ? 2 : 1;
}

/* The distinct webhook ids of refs[0..n) (sorted) as a JSON array text. */
static char *hooks_json_new(const struct health_ref *refs, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;

    if (!arr)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if ((i == 0 || strcmp(refs[i].a->webhook_id, refs[i - 1].a->webhook_id) != 0) &&
            json_array_append_new(arr, json_string(refs[i].a->webhook_id)) != 0)
            goto out;
    }
    text = json_dumps(arr, JSON_COMPACT);
out:
    json_decref(arr);
    return text;
}

/* The retried and released deliveries of attempts[0..n) with the time
 * each is due again, as the JSON array TARGETS_LOWER_OF reads; "[]" when
 * there is none. Returns a string for free(), or NULL when out of memory. */
static char *lower_json_new(const struct store_attempt *attempts, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;

    if (!arr)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const struct store_attempt *a = &attempts[i];
        json_int_t due = a->outcome == STORE_OUTCOME_RETRY ? (json_int_t)a->next_due_us : 0;

        if (a->outcome != STORE_OUTCOME_RETRY && a->outcome != STORE_OUTCOME_RELEASED)
            continue;
        if (json_array_append_new(arr, json_pack("{s:s, s:I}", "delivery_id", a->delivery_id,
                                                 "due", due)) != 0)
            goto out;
    }
    text = json_dumps(arr, JSON_COMPACT);
out:
    json_decref(arr);
    return text;
}

/*
 * One transaction: lock the batch's webhooks in id order (WEBHOOKS_LOCK,
 * PostgreSQL only), write every outcome and attempt row (in two statements
 * for the batch where each statement is a round trip, driver->batch_rows;
 * else two per outcome, in batch order), then the health of each webhook in id order, then the operator events of
 * the deliveries out of retries in batch order, then make the targets of
 * retried and released deliveries due by then (one statement, the lock
 * order of store_deliver.c's head). A success or failure leaves its target
 * alone: a row write per delivery saved; the target's next due time may be
 * early (a lease expiry), never late.
 */
enum store_rc store_attempts_record(struct store *st, const struct store_attempt *attempts,
                                    size_t n, int64_t now_us, int64_t disable_after_us)
{
    struct store_conn *c = NULL;
    struct health_ref *refs = malloc((n ? n : 1) * sizeof *refs);
    bool *recorded = calloc(n ? n : 1, sizeof *recorded);
    char *hooks = NULL, *lower = NULL;
    size_t nrefs = 0;
    bool released = false, emitted = false;
    enum store_rc ret;

    if (!refs || !recorded) {
        free(refs);
        free(recorded);
        return store_oom("attempts_record");
    }
    for (size_t i = 0; i < n; i++) {
        if (attempts[i].outcome != STORE_OUTCOME_RELEASED && attempts[i].webhook_id[0] != '\0')
            refs[nrefs++] = (struct health_ref){&attempts[i], i, false};
        released |= attempts[i].outcome == STORE_OUTCOME_RELEASED;
    }
    qsort(refs, nrefs, sizeof *refs, health_cmp);
    hooks = hooks_json_new(refs, nrefs);
    lower = lower_json_new(attempts, n);
    if (!hooks || !lower) {
        free(hooks);
        free(lower);
        free(refs);
        free(recorded);
        return store_oom("attempts_record");
    }

    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK && nrefs > 0)
        ret = store_run(c, STORE_SQL_WEBHOOKS_LOCK, STORE_ARGS(STORE_TEXT(hooks)));
    for (size_t i = 0; ret == STORE_OK && released && i < n; i++) {
        if (attempts[i].outcome == STORE_OUTCOME_RELEASED)
            ret = store_run(c, STORE_SQL_DELIVERY_RELEASE,
                            STORE_ARGS(STORE_TEXT(attempts[i].delivery_id)));
    }
    if (ret == STORE_OK && c->driver->batch_rows) {
        ret = results_write(c, attempts, n, recorded);
        if (ret == STORE_OK)
            ret = attempts_write(c, attempts, n, recorded);
    }
    for (size_t i = 0; ret == STORE_OK && !c->driver->batch_rows && i < n; i++)
        ret = attempt_write(c, &attempts[i], &recorded[i]);
    for (size_t j = 0; j < nrefs; j++)
        refs[j].recorded = recorded[refs[j].pos];
    for (size_t i = 0; ret == STORE_OK && i < nrefs; i++) {
        if (!refs[i].recorded)
            continue;
        if (i > 0 && refs[i - 1].recorded &&
            strcmp(refs[i].a->webhook_id, refs[i - 1].a->webhook_id) == 0 &&
            health_kind(refs[i].a->outcome) == health_kind(refs[i - 1].a->outcome))
            continue;
        ret = attempt_health(c, refs[i].a, now_us, disable_after_us, &emitted);
    }
    for (size_t i = 0; ret == STORE_OK && i < n; i++) {
        if (recorded[i] && attempts[i].outcome == STORE_OUTCOME_FAILED)
            ret = attempt_exhausted(c, &attempts[i], now_us, &emitted);
    }
    if (ret == STORE_OK && strcmp(lower, "[]") != 0)
        ret = store_run(c, STORE_SQL_TARGETS_LOWER_OF, STORE_ARGS(STORE_TEXT(lower)));
    /* Released deliveries and operator events are due at once: any process
     * may take them. */
    if (ret == STORE_OK && (released || emitted))
        ret = store_notify(c);
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    free(hooks);
    free(lower);
    free(recorded);
    free(refs);
    return ret;
}

enum store_rc store_deliveries_pending_count(struct store *st, size_t *n)
{
    int64_t v = 0;
    enum store_rc ret = store_read_int(st, STORE_SQL_DELIVERY_PENDING_COUNT, STORE_NO_ARGS, &v);

    *n = ret == STORE_OK && v > 0 ? (size_t)v : 0;
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

enum store_rc store_deliveries_next_due(struct store *st, int64_t *due_us)
{
    return store_read_int(st, STORE_SQL_TARGETS_NEXT_DUE, STORE_NO_ARGS, due_us);
}

/* ---- the delivery log ----------------------------------------------------- */

/* Fill d from a DELIVERY_LOG_COLUMNS row. Returns 0, or -1 when a column
 * does not fit. */
static int row_delivery(struct store_conn *c, struct store_delivery *d)
{
    int64_t state = store_col_int(c, 5);
    int64_t attempts = store_col_int(c, 6);

    memset(d, 0, sizeof *d);
    if (store_col_text(c, 0, d->id, sizeof d->id) != 0 ||
        store_col_text(c, 1, d->message_id, sizeof d->message_id) != 0 ||
        store_col_text_opt(c, 2, d->webhook_id, sizeof d->webhook_id) != 0 ||
        store_col_text(c, 3, d->target_uri, sizeof d->target_uri) != 0 ||
        store_col_text(c, 4, d->type, sizeof d->type) != 0)
        return -1;
    if (state < 0 || state >= STORE_DELIVERY_STATE_COUNT || attempts < 0 || attempts > INT_MAX)
        return -1;
    d->state = (enum store_delivery_state)state;
    d->attempts = (int)attempts;
    d->create_time_us = store_col_int(c, 7);
    d->due_time_us = store_col_int(c, 8);
    d->last_attempt_time_us = store_col_int(c, 9);
    d->last_response_status = (int)store_col_int(c, 10);
    return 0;
}

/* Run delivery log statement id, whose args ask for limit + 1 rows, and
 * read its rows into out[0..*n), setting *more when the extra row came.
 * On error *n is 0 and *more false. */
static enum store_rc delivery_log_read(struct store *st, enum store_sql id,
                                       const struct store_arg *args, size_t nargs, size_t limit,
                                       struct store_delivery *out, size_t *n, bool *more)
{
    struct store_conn *c = NULL;
    enum store_rc ret = store_conn_get(st, &c);

    *n = 0;
    *more = false;
    if (ret == STORE_OK)
        ret = store_run(c, id, args, nargs);
    while (ret == STORE_OK && (ret = store_next(c)) == STORE_OK) {
        if (*n == limit) {
            *more = true;
            break;
        }
        if (row_delivery(c, &out[*n]) != 0)
            ret = store_row_error(store_sql_name(id), "delivery");
        else
            (*n)++;
    }
    if (ret == STORE_NOT_FOUND)
        ret = STORE_OK;
    if (ret != STORE_OK) {
        *n = 0;
        *more = false;
    }
    store_conn_put(c);
    return ret;
}

/* The first page of the delivery log starts below "~", which sorts after
 * every id (ids are ASCII letters, digits and '_'). */
static const char *delivery_log_before(const char *before_id)
{
    return before_id && *before_id ? before_id : "~";
}

enum store_rc store_deliveries_list(struct store *st, const char *project,
                                    const char *webhook_id, int state, const char *before_id,
                                    size_t limit, struct store_delivery *out, size_t *n,
                                    bool *more)
{
    if (limit > STORE_ROWS_MAX)
        limit = STORE_ROWS_MAX;
    return delivery_log_read(st, STORE_SQL_DELIVERY_LIST,
                             STORE_ARGS(STORE_TEXT(project), STORE_TEXT(webhook_id),
                                        STORE_INT(state < 0 ? -1 : state),
                                        STORE_TEXT(delivery_log_before(before_id)),
                                        STORE_INT(limit + 1)),
                             limit, out, n, more);
}

enum store_rc store_deliveries_search(struct store *st, const struct store_delivery_filter *f,
                                      const char *before_id, size_t limit,
                                      struct store_delivery *out, size_t *n, bool *more)
{
    if (limit > STORE_ROWS_MAX)
        limit = STORE_ROWS_MAX;
    return delivery_log_read(st, STORE_SQL_DELIVERY_SEARCH,
                             STORE_ARGS(STORE_TEXT(f->project),
                                        STORE_TEXT(f->webhook_id ? f->webhook_id : ""),
                                        STORE_TEXT(f->type ? f->type : ""),
                                        STORE_INT(f->state < 0 ? -1 : f->state),
                                        STORE_INT(f->since_us),
                                        STORE_INT(f->until_us > 0 ? f->until_us : INT64_MAX),
                                        STORE_TEXT(delivery_log_before(before_id)),
                                        STORE_INT(f->status_class), STORE_INT(limit + 1),
                                        STORE_TEXT(f->tenant ? f->tenant : "")),
                             limit, out, n, more);
}

enum store_rc store_attempts_since(struct store *st, const char *project, int64_t since_us,
                                   struct store_attempt_sample *out, size_t cap, size_t *n)
{
    struct store_conn *c = NULL;
    char floor_id[IDS_MAX];
    enum store_rc ret;

    *n = 0;
    if (cap > STORE_ROWS_MAX)
        cap = STORE_ROWS_MAX;
    /* Attempt ids sort by time: the walk starts at the first id of since. */
    if (ids_floor("att_", since_us / 1000, floor_id, sizeof floor_id) != 0)
        return STORE_ERROR;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_ATTEMPTS_SINCE,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(floor_id), STORE_INT(cap)));
    while (ret == STORE_OK && *n < cap && (ret = store_next(c)) == STORE_OK) {
        struct store_attempt_sample *a = &out[*n];

        memset(a, 0, sizeof *a);
        if (store_col_text_opt(c, 0, a->webhook_id, sizeof a->webhook_id) != 0) {
            ret = store_row_error("attempts_since", "attempt");
            break;
        }
        a->time_us = store_col_int(c, 1);
        a->latency_us = store_col_int(c, 2);
        a->response_status = (int)store_col_int(c, 3);
        (*n)++;
    }
    if (ret == STORE_NOT_FOUND)
        ret = STORE_OK;
    if (ret != STORE_OK)
        *n = 0;
    store_conn_put(c);
    return ret;
}

enum store_rc store_deliveries_pending_project(struct store *st, const char *project,
                                               size_t *n)
{
    int64_t v = 0;
    enum store_rc ret = store_read_int(st, STORE_SQL_DELIVERY_PENDING_PROJECT,
                                       STORE_ARGS(STORE_TEXT(project)), &v);

    *n = ret == STORE_OK && v > 0 ? (size_t)v : 0;
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

/* Read up to cap attempts of delivery id into attempts[0..*n). */
static enum store_rc attempts_read(struct store_conn *c, const char *id,
                                   struct store_attempt_info *attempts, size_t cap, size_t *n)
{
    enum store_rc ret = store_run(c, STORE_SQL_ATTEMPT_LIST,
                                  STORE_ARGS(STORE_TEXT(id), STORE_INT(cap)));

    while (ret == STORE_OK && *n < cap && (ret = store_next(c)) == STORE_OK) {
        struct store_attempt_info *a = &attempts[*n];

        memset(a, 0, sizeof *a);
        if (store_col_text(c, 0, a->id, sizeof a->id) != 0 ||
            store_col_text_opt(c, 4, a->error, sizeof a->error) != 0 ||
            store_col_blob(c, 5, a->excerpt, sizeof a->excerpt, &a->excerpt_len) != 0)
            return store_row_error("delivery_get", "attempt");
        a->time_us = store_col_int(c, 1);
        a->latency_us = store_col_int(c, 2);
        a->response_status = (int)store_col_int(c, 3);
        (*n)++;
    }
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

enum store_rc store_delivery_get(struct store *st, const char *project, const char *id,
                                 struct store_delivery *out, struct store_attempt_info *attempts,
                                 size_t cap, size_t *nattempts)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    *nattempts = 0;
    out->payload = NULL;
    out->payload_len = 0;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    ret = store_conn_get(st, &c);
    /* One snapshot for the delivery and its attempts. */
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_READ);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_DELIVERY_GET,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id)));
    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_OK && row_delivery(c, out) != 0)
        ret = store_row_error("delivery_get", "delivery");
    if (ret == STORE_OK) {
        /* Column 11: the event's payload. row_delivery cleared out. */
        out->payload = store_col_blob_dup(c, 11, &out->payload_len);
        if (out->payload == NULL)
            ret = store_oom("delivery_get");
    }
    if (ret == STORE_OK)
        ret = attempts_read(c, id, attempts, cap, nattempts);
    if (ret == STORE_OK)
        ret = store_commit(c);
    if (ret != STORE_OK) {
        *nattempts = 0;
        free(out->payload);
        out->payload = NULL;
        out->payload_len = 0;
    }
    store_conn_put(c);
    return ret;
}

enum store_rc store_delivery_retry(struct store *st, const char *project, const char *id,
                                   int64_t now_us)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_DELIVERY_STATE,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id)));
    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_OK && store_col_int(c, 0) == STORE_DELIVERY_PENDING)
        ret = STORE_CONFLICT;
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_DELIVERY_RETRY,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(id), STORE_INT(now_us)));
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_TARGET_LOWER_OF,
                        STORE_ARGS(STORE_TEXT(id), STORE_INT(now_us)));
    if (ret == STORE_OK)
        ret = store_notify(c);
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}

enum store_rc store_webhook_recover(struct store *st, const char *project,
                                    const char *webhook_id, int64_t since_us, int64_t now_us,
                                    size_t *n)
{
    struct store_conn *c = NULL;
    size_t changed = 0;
    enum store_rc ret;

    *n = 0;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_WEBHOOK_URI,
                        STORE_ARGS(STORE_TEXT(project), STORE_TEXT(webhook_id)));
    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_WEBHOOK_RECOVER,
                                STORE_ARGS(STORE_TEXT(project), STORE_TEXT(webhook_id),
                                           STORE_INT(since_us), STORE_INT(now_us)),
                                &changed);
    if (ret == STORE_OK && changed > 0)
        ret = store_run(c, STORE_SQL_TARGET_LOWER,
                        STORE_ARGS(STORE_TEXT(webhook_id), STORE_INT(now_us)));
    if (ret == STORE_OK && changed > 0)
        ret = store_notify(c);
    if (ret == STORE_OK)
        ret = store_commit(c);
    if (ret == STORE_OK)
        *n = changed;
    store_conn_put(c);
    return ret;
}

/* Clear the leases a previous life of this process held (store.h), their
 * targets first, while the leases still say which deliveries they are. Due
 * again at once: any process may take them. */
enum store_rc store_deliveries_release(struct store *st, const char *owner_prefix, size_t *n)
{
    struct store_conn *c = NULL;
    size_t changed = 0;
    enum store_rc ret;

    *n = 0;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_TARGETS_WAKE_RELEASED,
                        STORE_ARGS(STORE_TEXT(owner_prefix)));
    if (ret == STORE_OK)
        ret = store_run_changes(c, STORE_SQL_DELIVERIES_RELEASE,
                                STORE_ARGS(STORE_TEXT(owner_prefix)), &changed);
    if (ret == STORE_OK && changed > 0)
        ret = store_notify(c);
    if (ret == STORE_OK)
        ret = store_commit(c);
    if (ret == STORE_OK)
        *n = changed;
    store_conn_put(c);
    return ret;
}
