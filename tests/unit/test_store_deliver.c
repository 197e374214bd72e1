/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store_deliver.c - the messages and deliveries ops of the SQLite store
 * (group commit, fan-out, idempotency, claiming with leases and per-target
 * caps, recording attempts and webhook health, the delivery log).
 *
 * Each test gets a fresh database in its own mkdtemp directory under
 * $TMPDIR. Message, webhook and attempt ids are literals of the right shape;
 * delivery ids come from the store (ids_new). Where a test needs to look
 * below the interface it opens the file with SQLite directly.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "common/ids.h"
#include "core/events.h"
#include "store/store.h"
#include "store/store_driver.h"
#include "store_testdb.h"

#define NOW INT64_C(1700000000000000)
#define SEC INT64_C(1000000)
#define DAY (INT64_C(24) * 3600 * SEC)
#define BIT(e) (UINT32_C(1) << (e))

static int setup(void **state)
{
    return testdb_fixture_setup(state, "test_store_deliver");
}

static int teardown(void **state)
{
    store_fault_set(NULL);              /* a test that failed midway */
    return testdb_fixture_teardown(state);
}

/* ---- helpers ------------------------------------------------------------ */

/* The first column of the first row of sql (printf-style), run below the
 * interface; NULL reads as -1. */
static int64_t db_int(const struct testdb_fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int64_t db_int(const struct testdb_fixture *f, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return testdb_int(&f->db, sql);
}

static void db_exec(const struct testdb_fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void db_exec(const struct testdb_fixture *f, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    testdb_exec(&f->db, sql);
}

static void webhook_id(char *out, size_t cap, unsigned n)
{
    snprintf(out, cap, "wh_%026u", n);
}

/* Create webhook n of project with the given subscriptions and state; its
 * uri is https://example.com/hooks/n. */
static void create_webhook(struct testdb_fixture *f, struct webhook *wh, const char *project,
                           unsigned n, uint32_t events, enum webhook_state state)
{
    struct store_secret sec;

    memset(wh, 0, sizeof *wh);
    webhook_id(wh->id, sizeof wh->id, n);
    snprintf(wh->project, sizeof wh->project, "%s", project);
    snprintf(wh->name, sizeof wh->name, "hook %u", n);
    snprintf(wh->uri, sizeof wh->uri, "https://example.com/hooks/%u", n);
    wh->events = events;
    wh->state = state;
    wh->create_time_us = NOW;
    wh->update_time_us = NOW;
    memset(&sec, 0, sizeof sec);
    snprintf(sec.id, sizeof sec.id, "sec_%026u", n);
    sec.blob_len = SECRETBOX_OVERHEAD + 32;
    snprintf(sec.truncated, sizeof sec.truncated, "whsec_...%04u", n);
    sec.create_time_us = NOW;
    assert_int_equal(store_webhook_create(f->st, wh, &sec), STORE_OK);
}

static void set_webhook_state(struct testdb_fixture *f, const struct webhook *wh,
                              enum webhook_state state, int64_t now)
{
    struct webhook got;

    assert_int_equal(store_webhook_get(f->st, wh->project, wh->id, now, &got), STORE_OK);
    got.state = state;
    got.update_time_us = now;
    assert_int_equal(store_webhook_update(f->st, &got), STORE_OK);
}

static enum webhook_state webhook_state_of(struct testdb_fixture *f, const struct webhook *wh)
{
    struct webhook got;

    assert_int_equal(store_webhook_get(f->st, wh->project, wh->id, NOW, &got), STORE_OK);
    return got.state;
}

/* A payload whose bytes, zeros included, depend on n. */
struct payload {
    uint8_t bytes[64];
    size_t len;
};

static void make_payload(struct payload *p, unsigned n)
{
    p->len = 20 + n % 30;
    for (size_t i = 0; i < p->len; i++)
        p->bytes[i] = (uint8_t)(i * 7 + n);
    p->bytes[3] = 0;
}

/* Message n of project: an event of type t created at time, fanned out to
 * the project's webhooks unless the caller sets uris or webhook_id. */
static void make_message(struct store_message *m, const struct payload *p, const char *project,
                         unsigned n, enum event_type t, int64_t time)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "msg_%026u", n);
    snprintf(m->project, sizeof m->project, "%s", project);
    snprintf(m->type, sizeof m->type, "%s", events_name(t));
    m->type_mask = BIT(t);
    m->payload = p->bytes;
    m->payload_len = p->len;
    m->create_time_us = time;
    m->rc = STORE_ERROR;            /* must be overwritten */
}

/* Insert one message and check its result. */
static void insert_one(struct testdb_fixture *f, struct store_message *m, size_t want_deliveries)
{
    assert_int_equal(store_messages_insert(f->st, m, 1, 0), STORE_OK);
    assert_int_equal(m->rc, STORE_OK);
    assert_false(m->duplicate);
    assert_int_equal(m->ndeliveries, want_deliveries);
}

/* A dynamic message with one uri. */
static void insert_dynamic(struct testdb_fixture *f, unsigned n, const char *uri, int64_t time)
{
    struct payload p;
    struct store_message m;
    const char *uris[1] = { uri };

    make_payload(&p, n);
    make_message(&m, &p, "p1", n, EVENT_BATCH_SUCCEEDED, time);
    m.uris = uris;
    m.nuris = 1;
    insert_one(f, &m, 1);
}

static void free_jobs(struct store_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(jobs[i].payload);
}

/* Claim with no busy list; returns how many were claimed (jobs freed). */
static size_t claim_count(struct testdb_fixture *f, int64_t now, size_t limit, size_t per_target)
{
    struct store_job jobs[64];
    size_t n;

    assert_true(limit <= 64);
    assert_int_equal(store_deliveries_claim(f->st, "owner-a", now, now + 30 * SEC, limit,
                                            per_target, NULL, NULL, 0, jobs, &n),
                     STORE_OK);
    free_jobs(jobs, n);
    return n;
}

/* The id of the only delivery of message n. */
static void delivery_of(struct testdb_fixture *f, unsigned n, char *out, size_t cap)
{
    char sql[256];

    snprintf(sql, sizeof sql,
             "SELECT id FROM deliveries WHERE message_id = 'msg_%026u'", n);
    testdb_text(&f->db, sql, out, cap);
}

static void make_attempt(struct store_attempt *a, unsigned n, const char *delivery_id,
                         const char *wh_id, enum store_outcome outcome, int64_t time)
{
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "att_%026u", n);
    snprintf(a->delivery_id, sizeof a->delivery_id, "%s", delivery_id);
    snprintf(a->webhook_id, sizeof a->webhook_id, "%s", wh_id ? wh_id : "");
    a->outcome = outcome;
    a->time_us = time;
    a->latency_us = 1234 + n;
    a->next_due_us = time + 60 * SEC;
}

static void record_one(struct testdb_fixture *f, const struct store_attempt *a, int64_t now,
                       int64_t disable_after)
{
    assert_int_equal(store_attempts_record(f->st, a, 1, now, disable_after), STORE_OK);
}

/* ---- messages_insert ---------------------------------------------------- */

static void test_insert_fan_out(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh[7];
    struct payload p[4];
    struct store_message m[4];
    const char *uris[2] = { "https://dyn.example/a", "https://dyn.example/b" };

    create_webhook(f, &wh[1], "p1", 1, BIT(EVENT_BATCH_SUCCEEDED) | BIT(EVENT_BATCH_EXPIRED),
                   WEBHOOK_STATE_ENABLED);
    create_webhook(f, &wh[2], "p1", 2, BIT(EVENT_BATCH_CANCELLED), WEBHOOK_STATE_ENABLED);
    create_webhook(f, &wh[3], "p1", 3, BIT(EVENT_BATCH_SUCCEEDED), WEBHOOK_STATE_DISABLED);
    create_webhook(f, &wh[4], "p1", 4, BIT(EVENT_BATCH_SUCCEEDED),
                   WEBHOOK_STATE_DISABLED_DUE_TO_FAILED_DELIVERIES);
    create_webhook(f, &wh[5], "p1", 5, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    create_webhook(f, &wh[6], "p2", 6, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);

    for (unsigned i = 0; i < 4; i++)
        make_payload(&p[i], i);
    /* p1 batch.succeeded: webhooks 1 and 5 (2 is not subscribed, 3 and 4
     * are not enabled, 6 is another project's). */
    make_message(&m[0], &p[0], "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    m[0].operation_id = "batches/123";
    /* p2: webhook 6 only. */
    make_message(&m[1], &p[1], "p2", 2, EVENT_BATCH_SUCCEEDED, NOW + 1);
    /* p1 batch.cancelled: webhooks 2 and 5. */
    make_message(&m[2], &p[2], "p1", 3, EVENT_BATCH_CANCELLED, NOW + 2);
    /* Dynamic: its uris, not the project's webhooks. */
    make_message(&m[3], &p[3], "p1", 4, EVENT_INTERACTION_COMPLETED, NOW + 3);
    m[3].uris = uris;
    m[3].nuris = 2;

    assert_int_equal(store_messages_insert(f->st, m, 4, 0), STORE_OK);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(m[i].rc, STORE_OK);
        assert_false(m[i].duplicate);
        assert_int_equal(m[i].ndeliveries, 2 - (i == 1));
    }
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages"), 4);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries"), 7);

    /* Who gets what. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE message_id = '%s'"
                               " AND webhook_id IN ('%s', '%s')", m[0].id, wh[1].id, wh[5].id),
                     2);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE message_id = '%s'"
                               " AND webhook_id = '%s' AND project = 'p2'", m[1].id, wh[6].id),
                     1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE message_id = '%s'"
                               " AND webhook_id IN ('%s', '%s')", m[2].id, wh[2].id, wh[5].id),
                     2);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE message_id = '%s'"
                               " AND webhook_id IS NULL AND target_uri IN ('%s', '%s')",
                            m[3].id, uris[0], uris[1]),
                     2);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE webhook_id IN"
                               " ('%s', '%s')", wh[3].id, wh[4].id),
                     0);

    /* Every delivery: pending, due when the event was made, no lease, its
     * webhook's uri, a delivery id. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries d JOIN messages m"
                               " ON m.id = d.message_id WHERE d.state = 0 AND d.attempts = 0"
                               " AND d.due_time = m.create_time"
                               " AND d.create_time = m.create_time"
                               " AND d.lease_expire_time = 0 AND d.lease_owner IS NULL"
                               " AND d.last_attempt_time = 0 AND d.project = m.project"
                               " AND d.id LIKE 'dlv\\_%%' ESCAPE '\\'"
                               " AND length(d.id) = 30"),
                     7);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries d JOIN webhooks w"
                               " ON w.id = d.webhook_id WHERE d.target_uri = w.uri"),
                     5);
    assert_int_equal(db_int(f, "SELECT count(DISTINCT id) FROM deliveries"), 7);

    /* The message rows: exact payload bytes, type, operation. */
    assert_int_equal(db_int(f, "SELECT length(payload) FROM messages WHERE id = '%s'", m[0].id),
                     p[0].len);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages WHERE id = '%s'"
                               " AND type = 'batch.succeeded' AND operation_id = 'batches/123'"
                               " AND create_time = %lld AND idempotency_key IS NULL",
                            m[0].id, (long long)NOW),
                     1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages WHERE operation_id IS NULL"), 3);
}

static void test_insert_no_subscribers(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh;
    struct payload p;
    struct store_message m;

    create_webhook(f, &wh, "p1", 1, BIT(EVENT_BATCH_FAILED), WEBHOOK_STATE_ENABLED);
    make_payload(&p, 1);
    /* The event is kept even when nobody wants it. */
    make_message(&m, &p, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    insert_one(f, &m, 0);
    make_message(&m, &p, "p3", 2, EVENT_BATCH_FAILED, NOW);
    insert_one(f, &m, 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages"), 2);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries"), 0);

    /* An empty payload is an empty blob. */
    make_message(&m, &p, "p1", 3, EVENT_BATCH_FAILED, NOW);
    m.payload = NULL;
    m.payload_len = 0;
    insert_one(f, &m, 1);
    assert_int_equal(db_int(f, "SELECT length(payload) FROM messages WHERE id = '%s'", m.id), 0);

    /* An empty batch commits nothing and succeeds. */
    assert_int_equal(store_messages_insert(f->st, NULL, 0, 0), STORE_OK);
}

static void test_insert_ping(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh1, wh2, wh9;
    struct payload p;
    struct store_message m[4];

    create_webhook(f, &wh1, "p1", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    create_webhook(f, &wh2, "p1", 2, 0, WEBHOOK_STATE_DISABLED);
    create_webhook(f, &wh9, "p2", 9, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p, 1);

    /* A ping goes to its webhook whatever its state and subscriptions. */
    make_message(&m[0], &p, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    m[0].type_mask = 0;
    m[0].webhook_id = wh2.id;
    /* Another project's webhook is not found, and nothing of it is kept. */
    make_message(&m[1], &p, "p1", 2, EVENT_BATCH_SUCCEEDED, NOW);
    m[1].type_mask = 0;
    m[1].webhook_id = wh9.id;
    m[1].idempotency_key = "ping-key";
    /* Nor is one that does not exist. */
    make_message(&m[2], &p, "p1", 3, EVENT_BATCH_SUCCEEDED, NOW);
    m[2].type_mask = 0;
    m[2].webhook_id = "wh_00000000000000000000000404";
    /* The rest of the batch is kept. */
    make_message(&m[3], &p, "p1", 4, EVENT_BATCH_SUCCEEDED, NOW);
    m[3].webhook_id = wh1.id;

    assert_int_equal(store_messages_insert(f->st, m, 4, 0), STORE_OK);
    assert_int_equal(m[0].rc, STORE_OK);
    assert_int_equal(m[0].ndeliveries, 1);
    assert_int_equal(m[1].rc, STORE_NOT_FOUND);
    assert_int_equal(m[1].ndeliveries, 0);
    assert_int_equal(m[2].rc, STORE_NOT_FOUND);
    assert_int_equal(m[3].rc, STORE_OK);
    assert_int_equal(m[3].ndeliveries, 1);

    assert_int_equal(db_int(f, "SELECT count(*) FROM messages"), 2);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages WHERE id IN ('%s', '%s')",
                            m[1].id, m[2].id),
                     0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE message_id = '%s'"
                               " AND webhook_id = '%s' AND target_uri = '%s'",
                            m[0].id, wh2.id, wh2.uri),
                     1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries"), 2);
    /* The not-found ping's idempotency key was not taken. */
    m[1].webhook_id = wh1.id;
    snprintf(m[1].id, sizeof m[1].id, "msg_%026u", 5);
    insert_one(f, &m[1], 1);
}

static void test_idempotency(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh;
    struct payload p;
    struct store_message a, b, batch[3];
    char first_id[IDS_MAX];

    create_webhook(f, &wh, "p1", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p, 1);

    make_message(&a, &p, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    a.idempotency_key = "key-1";
    assert_int_equal(store_messages_insert(f->st, &a, 1, NOW - DAY), STORE_OK);
    assert_int_equal(a.rc, STORE_OK);
    assert_false(a.duplicate);
    assert_int_equal(a.ndeliveries, 1);
    snprintf(first_id, sizeof first_id, "%s", a.id);

    /* The same key within the window: the earlier id, nothing created. */
    make_message(&b, &p, "p1", 2, EVENT_BATCH_SUCCEEDED, NOW + SEC);
    b.idempotency_key = "key-1";
    assert_int_equal(store_messages_insert(f->st, &b, 1, NOW + SEC - DAY), STORE_OK);
    assert_int_equal(b.rc, STORE_OK);
    assert_true(b.duplicate);
    assert_string_equal(b.id, first_id);
    assert_int_equal(b.ndeliveries, 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages"), 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries"), 1);

    /* The window's start is inclusive. */
    make_message(&b, &p, "p1", 2, EVENT_BATCH_SUCCEEDED, NOW + SEC);
    b.idempotency_key = "key-1";
    assert_int_equal(store_messages_insert(f->st, &b, 1, NOW), STORE_OK);
    assert_true(b.duplicate);

    /* Keys are per project. */
    make_message(&b, &p, "p2", 3, EVENT_BATCH_SUCCEEDED, NOW + SEC);
    b.idempotency_key = "key-1";
    insert_one(f, &b, 0);

    /* Twice in one batch: the second is the first's duplicate; a third
     * message with another key is unaffected. */
    make_message(&batch[0], &p, "p1", 10, EVENT_BATCH_SUCCEEDED, NOW + 2 * SEC);
    batch[0].idempotency_key = "key-2";
    make_message(&batch[1], &p, "p1", 11, EVENT_BATCH_SUCCEEDED, NOW + 2 * SEC);
    batch[1].idempotency_key = "key-2";
    make_message(&batch[2], &p, "p1", 12, EVENT_BATCH_SUCCEEDED, NOW + 2 * SEC);
    batch[2].idempotency_key = "key-3";
    assert_int_equal(store_messages_insert(f->st, batch, 3, NOW - DAY), STORE_OK);
    assert_false(batch[0].duplicate);
    assert_int_equal(batch[0].ndeliveries, 1);
    assert_true(batch[1].duplicate);
    assert_string_equal(batch[1].id, batch[0].id);
    assert_int_equal(batch[1].ndeliveries, 0);
    assert_int_equal(batch[1].rc, STORE_OK);
    assert_false(batch[2].duplicate);
    assert_int_equal(batch[2].ndeliveries, 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages WHERE idempotency_key = 'key-2'"),
                     1);

    /* Outside the window the key is used anew: a new message, and the old
     * one keeps its row but not the key. */
    make_message(&b, &p, "p1", 20, EVENT_BATCH_SUCCEEDED, NOW + 2 * DAY);
    b.idempotency_key = "key-1";
    assert_int_equal(store_messages_insert(f->st, &b, 1, NOW + DAY), STORE_OK);
    assert_int_equal(b.rc, STORE_OK);
    assert_false(b.duplicate);
    assert_int_equal(b.ndeliveries, 1);
    assert_string_not_equal(b.id, first_id);
    assert_int_equal(db_int(f, "SELECT idempotency_key IS NULL FROM messages WHERE id = '%s'",
                            first_id),
                     1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages WHERE id = '%s'"
                               " AND idempotency_key = 'key-1'", b.id),
                     1);
    /* ... and later uses of the key find the new message. */
    make_message(&a, &p, "p1", 21, EVENT_BATCH_SUCCEEDED, NOW + 2 * DAY + SEC);
    a.idempotency_key = "key-1";
    assert_int_equal(store_messages_insert(f->st, &a, 1, NOW + DAY), STORE_OK);
    assert_true(a.duplicate);
    assert_string_equal(a.id, b.id);
}

/* The fault hook: fails every run of the statement in fault_stmt. */
static enum store_sql fault_stmt = STORE_SQL_COUNT;
static enum store_fault_point fault_point;

static bool fail_stmt(enum store_fault_point point, enum store_sql id)
{
    return point == fault_point && id == fault_stmt;
}

/* A key reused after its window frees it from the old message
 * (MESSAGE_IDEM_RELEASE) in the transaction that inserts the new one: when
 * that write or the commit fails, the old message keeps its key and no new
 * message exists. (kabard's window is a day, too long for the
 * fault-injection test of the API, tests/integration/fault.test.mjs.) */
static void test_idempotency_release_fault(void **state)
{
    static const enum store_fault_point points[] = {STORE_FAULT_RUN, STORE_FAULT_COMMIT};
    struct testdb_fixture *f = *state;
    struct webhook wh;
    struct payload p;
    struct store_message a, b;

    create_webhook(f, &wh, "p1", 1, EVENTS_ALL_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p, 1);
    make_message(&a, &p, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    a.idempotency_key = "key-1";
    assert_int_equal(store_messages_insert(f->st, &a, 1, NOW - DAY), STORE_OK);

    fault_stmt = STORE_SQL_MESSAGE_IDEM_RELEASE;
    store_fault_set(fail_stmt);
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        fault_point = points[i];
        make_message(&b, &p, "p1", 2, EVENT_BATCH_SUCCEEDED, NOW + 2 * DAY);
        b.idempotency_key = "key-1";
        assert_int_equal(store_messages_insert(f->st, &b, 1, NOW + DAY), STORE_ERROR);
        assert_int_equal(db_int(f, "SELECT count(*) FROM messages"), 1);
        assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries"), 1);
        assert_int_equal(db_int(f, "SELECT count(*) FROM messages WHERE id = '%s'"
                                   " AND idempotency_key = 'key-1'", a.id),
                         1);
    }
    store_fault_set(NULL);

    /* Then the same insert works. */
    make_message(&b, &p, "p1", 2, EVENT_BATCH_SUCCEEDED, NOW + 2 * DAY);
    b.idempotency_key = "key-1";
    assert_int_equal(store_messages_insert(f->st, &b, 1, NOW + DAY), STORE_OK);
    assert_false(b.duplicate);
    assert_int_equal(db_int(f, "SELECT idempotency_key IS NULL FROM messages WHERE id = '%s'",
                            a.id),
                     1);
}

static void test_insert_id_conflict(void **state)
{
    struct testdb_fixture *f = *state;
    struct payload p;
    struct store_message m[2];
    const char *uris[1] = { "https://dyn.example/x" };

    make_payload(&p, 1);
    make_message(&m[0], &p, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    m[0].uris = uris;
    m[0].nuris = 1;
    insert_one(f, &m[0], 1);
    /* The same message id again fails alone: the other message is kept. */
    make_message(&m[1], &p, "p1", 2, EVENT_BATCH_SUCCEEDED, NOW);
    m[1].uris = uris;
    m[1].nuris = 1;
    assert_int_equal(store_messages_insert(f->st, m, 2, 0), STORE_OK);
    assert_int_equal(m[0].rc, STORE_CONFLICT);
    assert_int_equal(m[0].ndeliveries, 0);
    assert_int_equal(m[1].rc, STORE_OK);
    assert_int_equal(m[1].ndeliveries, 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries"), 2);
}

/* A writer holding the lock past the busy timeout fails the whole batch,
 * and every message says so. Takes the busy timeout (5 s). */
static void test_insert_unavailable(void **state)
{
    struct testdb_fixture *f = *state;
    struct payload p;
    struct store_message m[3];
    sqlite3 *db = NULL;

    if (testdb_is_pg())
        skip();                         /* SQLite's busy timeout */
    make_payload(&p, 1);
    for (unsigned i = 0; i < 3; i++)
        make_message(&m[i], &p, "p1", i + 1, EVENT_BATCH_SUCCEEDED, NOW);
    assert_int_equal(sqlite3_open_v2(f->db.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_messages_insert(f->st, m, 3, 0), STORE_UNAVAILABLE);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(m[i].rc, STORE_UNAVAILABLE);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages"), 0);
    assert_int_equal(store_messages_insert(f->st, m, 3, 0), STORE_OK);
    assert_int_equal(db_int(f, "SELECT count(*) FROM messages"), 3);
}

/* ---- deliveries_claim --------------------------------------------------- */

/* The fast path: a reserve callback that gives slots to one uri only,
 * counting what it gave and what came back. */
struct fast_slots { const char *uri; int given; };

static bool fast_reserve(void *arg, const char *uri)
{
    struct fast_slots *s = arg;

    if (strcmp(uri, s->uri) != 0)
        return false;
    s->given++;
    return true;
}

static void fast_unreserve(void *arg, const char *uri)
{
    struct fast_slots *s = arg;

    (void)uri;
    s->given--;
}

static void test_insert_fast(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh1, wh2;
    struct payload p;
    struct store_message m;
    struct store_job jobs[4];
    struct fast_slots slots = {0};
    struct store_fast fast = {
        .owner = "node/1/fast", .lease_until_us = NOW + 75 * SEC, .reserve = fast_reserve,
        .unreserve = fast_unreserve, .arg = &slots, .jobs = jobs, .cap = 4,
    };
    char dlv[IDS_MAX];

    create_webhook(f, &wh1, "p1", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    create_webhook(f, &wh2, "p1", 2, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    slots.uri = wh1.uri;
    make_payload(&p, 9);
    make_message(&m, &p, "p1", 9, EVENT_VIDEO_GENERATED, NOW);
    assert_int_equal(store_messages_insert_fast(f->st, &m, 1, 0, &fast), STORE_OK);
    assert_int_equal(m.rc, STORE_OK);
    assert_int_equal(m.ndeliveries, 2);

    /* wh1's delivery: leased in its insert, handed back as a job. */
    assert_int_equal(fast.n, 1);
    assert_int_equal(slots.given, 1);
    assert_string_equal(jobs[0].webhook_id, wh1.id);
    assert_string_equal(jobs[0].target_uri, wh1.uri);
    assert_string_equal(jobs[0].message_id, m.id);
    assert_string_equal(jobs[0].project, "p1");
    assert_int_equal(jobs[0].attempts, 0);
    assert_int_equal(jobs[0].message_time_us, NOW);
    assert_int_equal(jobs[0].payload_len, p.len);
    assert_memory_equal(jobs[0].payload, p.bytes, p.len);
    snprintf(dlv, sizeof dlv, "%s", jobs[0].id);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE id = '%s'"
                               " AND lease_owner = 'node/1/fast' AND lease_expire_time = %lld"
                               " AND state = 0 AND webhook_id = '%s'",
                            dlv, (long long)(NOW + 75 * SEC), wh1.id),
                     1);
    /* Its target is due only when the lease would run out; wh2's at once. */
    assert_int_equal(db_int(f, "SELECT next_due FROM targets WHERE webhook_id = '%s'", wh1.id),
                     NOW + 75 * SEC);
    assert_int_equal(db_int(f, "SELECT next_due FROM targets WHERE webhook_id = '%s'", wh2.id),
                     NOW);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE webhook_id = '%s'"
                               " AND lease_owner IS NULL AND lease_expire_time = 0", wh2.id),
                     1);
    /* A claim takes wh2's only (leased for 30 s); once both leases have
     * run out - as after a crash between commit and send - both. */
    assert_int_equal(claim_count(f, NOW + SEC, 4, 4), 1);
    assert_int_equal(claim_count(f, NOW + 20 * SEC, 4, 4), 0);
    assert_int_equal(claim_count(f, NOW + 76 * SEC, 4, 4), 2);
    free_jobs(jobs, fast.n);
}

static void test_claim_job(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh;
    struct payload p1, p2;
    struct store_message m;
    struct store_job jobs[4];
    const char *uris[1] = { "https://dyn.example/a" };
    size_t n;

    create_webhook(f, &wh, "p7", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p1, 1);
    make_payload(&p2, 2);
    make_message(&m, &p1, "p7", 1, EVENT_VIDEO_GENERATED, NOW);
    insert_one(f, &m, 1);
    make_message(&m, &p2, "p7", 2, EVENT_VIDEO_GENERATED, NOW + 10);
    m.uris = uris;
    m.nuris = 1;
    insert_one(f, &m, 1);

    /* Before anything is due: nothing. */
    assert_int_equal(store_deliveries_claim(f->st, "owner-a", NOW - 1, NOW + 30 * SEC, 4, 4,
                                            NULL, NULL, 0, jobs, &n),
                     STORE_OK);
    assert_int_equal(n, 0);

    /* Oldest due first, with everything needed to send. */
    assert_int_equal(store_deliveries_claim(f->st, "owner-a", NOW + 10, NOW + 30 * SEC, 4, 4,
                                            NULL, NULL, 0, jobs, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_true(ids_valid("dlv_", jobs[0].id));
    assert_string_equal(jobs[0].message_id, "msg_00000000000000000000000001");
    assert_string_equal(jobs[0].project, "p7");
    assert_string_equal(jobs[0].webhook_id, wh.id);
    assert_string_equal(jobs[0].target_uri, wh.uri);
    assert_int_equal(jobs[0].attempts, 0);
    assert_int_equal(jobs[0].message_time_us, NOW);
    assert_int_equal(jobs[0].payload_len, p1.len);
    assert_memory_equal(jobs[0].payload, p1.bytes, p1.len);

    assert_string_equal(jobs[1].message_id, "msg_00000000000000000000000002");
    assert_string_equal(jobs[1].webhook_id, "");
    assert_string_equal(jobs[1].target_uri, uris[0]);
    assert_int_equal(jobs[1].message_time_us, NOW + 10);
    assert_int_equal(jobs[1].payload_len, p2.len);
    assert_memory_equal(jobs[1].payload, p2.bytes, p2.len);

    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE lease_owner = 'owner-a'"
                               " AND lease_expire_time = %lld", (long long)(NOW + 30 * SEC)),
                     2);
    free_jobs(jobs, n);

    /* Leased: not claimed again, by anyone, until the lease expires. */
    assert_int_equal(claim_count(f, NOW + 20, 4, 4), 0);
    assert_int_equal(claim_count(f, NOW + 30 * SEC - 1, 4, 4), 0);
    assert_int_equal(claim_count(f, NOW + 30 * SEC, 4, 4), 2);
    assert_int_equal(claim_count(f, NOW + 30 * SEC + 1, 4, 4), 0);

    /* limit and zero limits. */
    assert_int_equal(claim_count(f, NOW + 120 * SEC, 1, 4), 1);
    assert_int_equal(claim_count(f, NOW + 120 * SEC, 0, 4), 0);
    assert_int_equal(claim_count(f, NOW + 120 * SEC, 4, 0), 0);
    assert_int_equal(claim_count(f, NOW + 120 * SEC, 4, 4), 1);
}

/* A restarted process releases the leases of its earlier lives (owner
 * prefix), and only those. Also: the operation id rides along with a job. */
static void test_release_and_operation_id(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_job jobs[4];
    struct payload p;
    struct store_message m;
    size_t n;

    /* Distinct due times, so the claims' order does not depend on the
     * random part of the delivery ids. */
    insert_dynamic(f, 1, "https://a.example/", NOW);
    insert_dynamic(f, 2, "https://b.example/", NOW + 1);
    make_payload(&p, 3);
    make_message(&m, &p, "p1", 3, EVENT_BATCH_SUCCEEDED, NOW + 2);
    m.operation_id = "op_000000000000000000000000op";
    m.uris = (const char *const[]){"https://c.example/"};
    m.nuris = 1;
    insert_one(f, &m, 1);

    assert_int_equal(store_deliveries_claim(f->st, "host@a:1/100/x", NOW + 2, NOW + 60 * SEC, 2, 4,
                                            NULL, NULL, 0, jobs, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(jobs[0].operation_id, "");
    free_jobs(jobs, n);
    assert_int_equal(store_deliveries_claim(f->st, "host@b:2/200/y", NOW + 2, NOW + 60 * SEC, 2, 4,
                                            NULL, NULL, 0, jobs, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].operation_id, "op_000000000000000000000000op");
    free_jobs(jobs, n);

    /* Neither claimable now; releasing host@a's leases frees exactly two. */
    assert_int_equal(claim_count(f, NOW + SEC, 4, 4), 0);
    assert_int_equal(store_deliveries_release(f->st, "host@a:1/", &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_deliveries_release(f->st, "host@a:1/", &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(claim_count(f, NOW + SEC, 4, 4), 2);
}

static void test_claim_order_and_due(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_job jobs[8];
    size_t n;

    /* Inserted out of due order, to distinct targets. */
    insert_dynamic(f, 1, "https://a.example/", NOW + 300);
    insert_dynamic(f, 2, "https://b.example/", NOW + 100);
    insert_dynamic(f, 3, "https://c.example/", NOW + 200);
    insert_dynamic(f, 4, "https://d.example/", NOW + 400);

    assert_int_equal(store_deliveries_claim(f->st, "o", NOW + 300, NOW + SEC, 2, 1, NULL, NULL,
                                            0, jobs, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(jobs[0].message_id, "msg_00000000000000000000000002");
    assert_string_equal(jobs[1].message_id, "msg_00000000000000000000000003");
    free_jobs(jobs, n);
    assert_int_equal(store_deliveries_claim(f->st, "o", NOW + 300, NOW + SEC, 8, 1, NULL, NULL,
                                            0, jobs, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].message_id, "msg_00000000000000000000000001");
    free_jobs(jobs, n);
}

static void test_claim_webhook_state(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh1, wh2;
    struct payload p;
    struct store_message m;

    create_webhook(f, &wh1, "p1", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    create_webhook(f, &wh2, "p1", 2, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p, 1);
    make_message(&m, &p, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    insert_one(f, &m, 2);

    /* A disabled webhook's deliveries wait; they go again once it is
     * re-enabled. */
    set_webhook_state(f, &wh1, WEBHOOK_STATE_DISABLED, NOW);
    set_webhook_state(f, &wh2, WEBHOOK_STATE_DISABLED_DUE_TO_FAILED_DELIVERIES, NOW);
    assert_int_equal(claim_count(f, NOW, 8, 8), 0);
    set_webhook_state(f, &wh1, WEBHOOK_STATE_ENABLED, NOW);
    assert_int_equal(claim_count(f, NOW, 8, 8), 1);

    /* A deleted webhook's deliveries are gone with it. */
    set_webhook_state(f, &wh2, WEBHOOK_STATE_ENABLED, NOW);
    assert_int_equal(store_webhook_delete(f->st, "p1", wh2.id), STORE_OK);
    assert_int_equal(claim_count(f, NOW, 8, 8), 0);
    /* A delivery whose webhook row is missing (as if deleted under it) is
     * not claimed. */
    make_message(&m, &p, "p1", 2, EVENT_BATCH_SUCCEEDED, NOW);
    insert_one(f, &m, 1);
    db_exec(f, "DELETE FROM webhooks WHERE id = '%s'", wh1.id);
    assert_int_equal(claim_count(f, NOW + DAY, 8, 8), 0);
}

static void test_claim_uses_current_uri(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, got;
    struct payload p;
    struct store_message m;
    struct store_job jobs[2];
    size_t n;

    create_webhook(f, &wh, "p1", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p, 1);
    make_message(&m, &p, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    insert_one(f, &m, 1);
    /* The uri is edited before the delivery goes: it goes to the new one. */
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, NOW, &got), STORE_OK);
    snprintf(got.uri, sizeof got.uri, "https://moved.example/hook");
    assert_int_equal(store_webhook_update(f->st, &got), STORE_OK);
    assert_int_equal(store_deliveries_claim(f->st, "o", NOW, NOW + SEC, 2, 2, NULL, NULL, 0,
                                            jobs, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].target_uri, "https://moved.example/hook");
    free_jobs(jobs, n);
}

static void test_claim_per_target(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_job jobs[16];
    const char *busy[2] = { "https://a.example/", "https://b.example/" };
    size_t inflight[2];
    size_t n, na, nb;

    for (unsigned i = 0; i < 10; i++)
        insert_dynamic(f, i + 1, busy[0], NOW + i);
    for (unsigned i = 0; i < 3; i++)
        insert_dynamic(f, i + 100, busy[1], NOW + 100 + i);

    /* At most per_target per target, minus what is in flight there. */
    inflight[0] = 1;
    inflight[1] = 0;
    assert_int_equal(store_deliveries_claim(f->st, "o", NOW + DAY, NOW + DAY + SEC, 16, 3,
                                            busy, inflight, 2, jobs, &n),
                     STORE_OK);
    na = nb = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(jobs[i].target_uri, busy[0]) == 0)
            na++;
        else if (strcmp(jobs[i].target_uri, busy[1]) == 0)
            nb++;
    }
    assert_int_equal(na, 2);
    assert_int_equal(nb, 3);
    assert_int_equal(n, 5);
    /* Still oldest first overall. */
    assert_string_equal(jobs[0].message_id, "msg_00000000000000000000000001");
    assert_string_equal(jobs[1].message_id, "msg_00000000000000000000000002");
    assert_string_equal(jobs[2].message_id, "msg_00000000000000000000000100");
    free_jobs(jobs, n);

    /* A target over its cap (more in flight than allowed) gets nothing. */
    inflight[0] = 7;
    assert_int_equal(store_deliveries_claim(f->st, "o", NOW + DAY, NOW + DAY + SEC, 16, 3,
                                            busy, inflight, 1, jobs, &n),
                     STORE_OK);
    assert_int_equal(n, 0);

    /* A uri listed twice counts both entries: 1 + 1 of a cap of 3. */
    {
        const char *twice[2] = { busy[0], busy[0] };
        size_t counts[2] = { 1, 1 };

        assert_int_equal(store_deliveries_claim(f->st, "o", NOW + DAY, NOW + DAY + SEC, 16, 3,
                                                twice, counts, 2, jobs, &n),
                         STORE_OK);
        assert_int_equal(n, 1);
        free_jobs(jobs, n);
    }
}

/* A hung endpoint at its cap with many old due rows must not hide a newer
 * row of another target, however small the limit. */
static void test_claim_starvation(void **state)
{
    struct testdb_fixture *f = *state;
    struct payload p;
    struct store_message m[200];
    struct store_job jobs[8];
    const char *hung[1] = { "https://hung.example/" };
    const char *uris_ok[1] = { "https://ok.example/" };
    size_t inflight[1] = { 4 };
    size_t n;

    make_payload(&p, 1);
    for (unsigned i = 0; i < 200; i++) {
        make_message(&m[i], &p, "p1", i + 1, EVENT_BATCH_SUCCEEDED, NOW + i);
        m[i].uris = hung;
        m[i].nuris = 1;
    }
    assert_int_equal(store_messages_insert(f->st, m, 200, 0), STORE_OK);
    insert_dynamic(f, 1000, uris_ok[0], NOW + 500);

    assert_int_equal(store_deliveries_claim(f->st, "o", NOW + DAY, NOW + DAY + SEC, 5, 4, hung,
                                            inflight, 1, jobs, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].target_uri, uris_ok[0]);
    free_jobs(jobs, n);

    /* Below its cap the hung target gets only what its cap leaves. */
    inflight[0] = 3;
    assert_int_equal(store_deliveries_claim(f->st, "o", NOW + DAY, NOW + DAY + SEC, 5, 4, hung,
                                            inflight, 1, jobs, &n),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].target_uri, hung[0]);
    assert_string_equal(jobs[0].message_id, "msg_00000000000000000000000001");
    free_jobs(jobs, n);
}

/* ---- attempts_record ---------------------------------------------------- */

static void test_attempts_outcomes(void **state)
{
    struct testdb_fixture *f = *state;
    char dlv[5][IDS_MAX];
    struct store_attempt a[5];
    struct store_delivery d;
    struct store_attempt_info info[4];
    size_t n;
    const int64_t t = NOW + 10 * SEC;

    for (unsigned i = 0; i < 5; i++) {
        char uri[64];

        snprintf(uri, sizeof uri, "https://t%u.example/", i);
        insert_dynamic(f, i + 1, uri, NOW);
        delivery_of(f, i + 1, dlv[i], sizeof dlv[i]);
    }
    assert_int_equal(claim_count(f, t, 8, 8), 5);

    make_attempt(&a[0], 1, dlv[0], NULL, STORE_OUTCOME_SUCCEEDED, t);
    a[0].response_status = 204;
    memcpy(a[0].excerpt, "ok\0!", 4);
    a[0].excerpt_len = 4;
    make_attempt(&a[1], 2, dlv[1], NULL, STORE_OUTCOME_RETRY, t);
    a[1].response_status = 0;
    snprintf(a[1].error, sizeof a[1].error, "connection refused");
    make_attempt(&a[2], 3, dlv[2], NULL, STORE_OUTCOME_FAILED, t);
    a[2].response_status = 500;
    /* Text (UTF-8) goes with the batch's JSON; "ok\0!" above on its own. */
    memcpy(a[2].excerpt, "d\xc3\xa9j\xc3\xa0 vu", 9);
    a[2].excerpt_len = 9;
    make_attempt(&a[3], 4, dlv[3], NULL, STORE_OUTCOME_GONE, t);
    a[3].response_status = 410;
    make_attempt(&a[4], 5, dlv[4], NULL, STORE_OUTCOME_RELEASED, t);
    assert_int_equal(store_attempts_record(f->st, a, 5, t + SEC, DAY), STORE_OK);

    /* Every lease is cleared. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE lease_owner IS NULL"
                               " AND lease_expire_time = 0"),
                     5);
    /* No attempt row for the released one. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM attempts"), 4);

    assert_int_equal(store_delivery_get(f->st, "p1", dlv[0], &d, info, 4, &n), STORE_OK);
    free(d.payload);
    assert_int_equal(d.state, STORE_DELIVERY_SUCCEEDED);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(d.last_attempt_time_us, t);
    assert_int_equal(d.due_time_us, NOW);
    assert_int_equal(n, 1);
    assert_string_equal(info[0].id, a[0].id);
    assert_int_equal(info[0].time_us, t);
    assert_int_equal(info[0].latency_us, a[0].latency_us);
    assert_int_equal(info[0].response_status, 204);
    assert_string_equal(info[0].error, "");
    assert_int_equal(info[0].excerpt_len, 4);
    assert_memory_equal(info[0].excerpt, "ok\0!", 4);
    assert_int_equal(db_int(f, "SELECT error IS NULL FROM attempts WHERE id = '%s'", a[0].id),
                     1);

    assert_int_equal(store_delivery_get(f->st, "p1", dlv[1], &d, info, 4, &n), STORE_OK);
    free(d.payload);
    assert_int_equal(d.state, STORE_DELIVERY_PENDING);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(d.due_time_us, a[1].next_due_us);
    assert_int_equal(n, 1);
    assert_string_equal(info[0].error, "connection refused");
    assert_int_equal(info[0].response_status, 0);
    assert_int_equal(info[0].excerpt_len, 0);
    assert_int_equal(db_int(f, "SELECT response_excerpt IS NULL FROM attempts WHERE id = '%s'",
                            a[1].id),
                     1);

    assert_int_equal(store_delivery_get(f->st, "p1", dlv[2], &d, info, 4, &n), STORE_OK);
    free(d.payload);
    assert_int_equal(d.state, STORE_DELIVERY_FAILED);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(n, 1);
    assert_int_equal(info[0].excerpt_len, 9);
    assert_memory_equal(info[0].excerpt, "d\xc3\xa9j\xc3\xa0 vu", 9);
    assert_int_equal(info[0].response_status, 500);
    assert_int_equal(store_delivery_get(f->st, "p1", dlv[3], &d, info, 4, &n), STORE_OK);
    free(d.payload);
    assert_int_equal(d.state, STORE_DELIVERY_FAILED);
    assert_int_equal(info[0].response_status, 410);

    assert_int_equal(store_delivery_get(f->st, "p1", dlv[4], &d, info, 4, &n), STORE_OK);
    free(d.payload);
    assert_int_equal(d.state, STORE_DELIVERY_PENDING);
    assert_int_equal(d.attempts, 0);
    assert_int_equal(d.last_attempt_time_us, 0);
    assert_int_equal(d.due_time_us, NOW);
    assert_int_equal(n, 0);

    /* The released one is claimable at once; the retry at its due time. */
    assert_int_equal(claim_count(f, t + SEC, 8, 8), 1);
    make_attempt(&a[4], 6, dlv[4], NULL, STORE_OUTCOME_SUCCEEDED, t + SEC);
    record_one(f, &a[4], t + SEC, DAY);
    assert_int_equal(claim_count(f, a[1].next_due_us - 1, 8, 8), 0);
    {
        struct store_job jobs[2];

        assert_int_equal(store_deliveries_claim(f->st, "o", a[1].next_due_us,
                                                a[1].next_due_us + SEC, 2, 2, NULL, NULL, 0,
                                                jobs, &n),
                         STORE_OK);
        assert_int_equal(n, 1);
        assert_string_equal(jobs[0].id, dlv[1]);
        assert_int_equal(jobs[0].attempts, 1);
        free_jobs(jobs, n);
    }
}

static void test_attempts_deleted_delivery(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh;
    struct payload p;
    struct store_message m;
    struct store_attempt a[2];
    char dlv[IDS_MAX], other[IDS_MAX];

    create_webhook(f, &wh, "p1", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p, 1);
    make_message(&m, &p, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    insert_one(f, &m, 1);
    delivery_of(f, 1, dlv, sizeof dlv);
    insert_dynamic(f, 2, "https://dyn.example/", NOW);
    delivery_of(f, 2, other, sizeof other);
    assert_int_equal(claim_count(f, NOW, 8, 8), 2);

    /* The webhook is deleted while its delivery is in flight: its result
     * has nowhere to go, and does not fail the others of the batch. */
    assert_int_equal(store_webhook_delete(f->st, "p1", wh.id), STORE_OK);
    make_attempt(&a[0], 1, dlv, wh.id, STORE_OUTCOME_SUCCEEDED, NOW + 1);
    make_attempt(&a[1], 2, other, NULL, STORE_OUTCOME_SUCCEEDED, NOW + 1);
    assert_int_equal(store_attempts_record(f->st, a, 2, NOW + 2, DAY), STORE_OK);
    assert_int_equal(db_int(f, "SELECT count(*) FROM attempts"), 1);
    assert_int_equal(db_int(f, "SELECT state FROM deliveries WHERE id = '%s'", other), 1);
}

static void test_webhook_health(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, wh2, wh3;
    struct payload p;
    struct store_message m;
    struct store_attempt a;
    struct webhook got;
    char dlv[IDS_MAX];
    unsigned k = 0;
    const int64_t window = DAY;
    int64_t t = NOW;

    create_webhook(f, &wh, "p1", 1, BIT(EVENT_BATCH_SUCCEEDED), WEBHOOK_STATE_ENABLED);
    create_webhook(f, &wh2, "p1", 2, BIT(EVENT_BATCH_FAILED), WEBHOOK_STATE_ENABLED);
    create_webhook(f, &wh3, "p1", 3, BIT(EVENT_BATCH_EXPIRED), WEBHOOK_STATE_DISABLED);
    make_payload(&p, 1);
    make_message(&m, &p, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    insert_one(f, &m, 1);
    delivery_of(f, 1, dlv, sizeof dlv);

    /* A failure starts the failure window. */
    make_attempt(&a, ++k, dlv, wh.id, STORE_OUTCOME_RETRY, t);
    record_one(f, &a, t, window);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks WHERE id = '%s'", wh.id), t);
    assert_int_equal(webhook_state_of(f, &wh), WEBHOOK_STATE_ENABLED);

    /* Later failures within the window keep its start. */
    make_attempt(&a, ++k, dlv, wh.id, STORE_OUTCOME_RETRY, t + window - 1);
    record_one(f, &a, t + window - 1, window);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks WHERE id = '%s'", wh.id), t);
    assert_int_equal(webhook_state_of(f, &wh), WEBHOOK_STATE_ENABLED);

    /* A success ends it. */
    make_attempt(&a, ++k, dlv, wh.id, STORE_OUTCOME_SUCCEEDED, t + window);
    record_one(f, &a, t + window, window);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks WHERE id = '%s'", wh.id), 0);
    assert_int_equal(db_int(f, "SELECT last_success_time FROM webhooks WHERE id = '%s'", wh.id),
                     t + window);

    /* Failing for the whole window disables it, and that is an update. */
    assert_int_equal(store_delivery_retry(f->st, "p1", dlv, t), STORE_OK);
    t += 2 * window;
    make_attempt(&a, ++k, dlv, wh.id, STORE_OUTCOME_RETRY, t);
    record_one(f, &a, t, window);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks WHERE id = '%s'", wh.id), t);
    make_attempt(&a, ++k, dlv, wh.id, STORE_OUTCOME_FAILED, t + window);
    record_one(f, &a, t + window, window);
    assert_int_equal(store_webhook_get(f->st, "p1", wh.id, t, &got), STORE_OK);
    assert_int_equal(got.state, WEBHOOK_STATE_DISABLED_DUE_TO_FAILED_DELIVERIES);
    assert_int_equal(got.update_time_us, t + window);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks WHERE id = '%s'", wh.id), t);

    /* Re-enabling gives a fresh window: the next failure starts it again
     * rather than disabling at once. */
    set_webhook_state(f, &wh, WEBHOOK_STATE_ENABLED, t + window + 1);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks WHERE id = '%s'", wh.id), 0);
    assert_int_equal(store_delivery_retry(f->st, "p1", dlv, t + window + 2), STORE_OK);
    make_attempt(&a, ++k, dlv, wh.id, STORE_OUTCOME_RETRY, t + window + 3);
    record_one(f, &a, t + window + 3, window);
    assert_int_equal(webhook_state_of(f, &wh), WEBHOOK_STATE_ENABLED);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks WHERE id = '%s'", wh.id),
                     t + window + 3);
    /* Disabling by hand keeps the failure record. */
    set_webhook_state(f, &wh, WEBHOOK_STATE_DISABLED, t + window + 4);
    assert_int_equal(db_int(f, "SELECT failing_since FROM webhooks WHERE id = '%s'", wh.id),
                     t + window + 3);

    /* 410 Gone disables at once. */
    make_message(&m, &p, "p1", 2, EVENT_BATCH_FAILED, NOW);
    insert_one(f, &m, 1);
    delivery_of(f, 2, dlv, sizeof dlv);
    make_attempt(&a, ++k, dlv, wh2.id, STORE_OUTCOME_GONE, NOW + 5);
    record_one(f, &a, NOW + 5, window);
    assert_int_equal(store_webhook_get(f->st, "p1", wh2.id, NOW, &got), STORE_OK);
    assert_int_equal(got.state, WEBHOOK_STATE_DISABLED_DUE_TO_FAILED_DELIVERIES);
    assert_int_equal(got.update_time_us, NOW + 5);

    /* ... but a webhook disabled by hand stays as its owner left it. */
    make_message(&m, &p, "p1", 3, EVENT_BATCH_EXPIRED, NOW);
    m.type_mask = 0;
    m.webhook_id = wh3.id;
    insert_one(f, &m, 1);
    delivery_of(f, 3, dlv, sizeof dlv);
    make_attempt(&a, ++k, dlv, wh3.id, STORE_OUTCOME_GONE, NOW + 6);
    record_one(f, &a, NOW + 6, window);
    assert_int_equal(store_webhook_get(f->st, "p1", wh3.id, NOW, &got), STORE_OK);
    assert_int_equal(got.state, WEBHOOK_STATE_DISABLED);
    assert_int_equal(got.update_time_us, NOW);
}

/* ---- pending count, next due -------------------------------------------- */

static void test_pending_and_next_due(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh;
    struct payload p;
    struct store_message m;
    struct store_attempt a;
    char dlv1[IDS_MAX], dlv2[IDS_MAX];
    int64_t due;
    size_t n;

    assert_int_equal(store_deliveries_pending_count(f->st, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_NOT_FOUND);

    insert_dynamic(f, 1, "https://a.example/", NOW + 100);
    insert_dynamic(f, 2, "https://b.example/", NOW + 200);
    delivery_of(f, 1, dlv1, sizeof dlv1);
    delivery_of(f, 2, dlv2, sizeof dlv2);
    assert_int_equal(store_deliveries_pending_count(f->st, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_OK);
    assert_int_equal(due, NOW + 100);

    /* A leased row becomes claimable when its lease expires. */
    {
        struct store_job jobs[1];

        assert_int_equal(store_deliveries_claim(f->st, "o", NOW + 100, NOW + 150, 1, 1, NULL,
                                                NULL, 0, jobs, &n),
                         STORE_OK);
        assert_int_equal(n, 1);
        free_jobs(jobs, n);
    }
    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_OK);
    assert_int_equal(due, NOW + 150);
    assert_int_equal(store_deliveries_pending_count(f->st, &n), STORE_OK);
    assert_int_equal(n, 2);
    {
        struct store_job jobs[2];

        assert_int_equal(store_deliveries_claim(f->st, "o", NOW + 200, NOW + 400, 2, 1, NULL,
                                                NULL, 0, jobs, &n),
                         STORE_OK);
        /* dlv1 again, its lease having expired, and dlv2. */
        assert_int_equal(n, 2);
        free_jobs(jobs, n);
    }
    /* Both leased: the earlier expiry. */
    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_OK);
    assert_int_equal(due, NOW + 400);

    /* Done ones leave the queue. Recording an outcome does not rewrite the
     * target (a row write per delivery saved): its next due time stays at
     * the lease expiry, early rather than late, and the claim at that time,
     * finding nothing, puts it away. */
    make_attempt(&a, 1, dlv1, NULL, STORE_OUTCOME_SUCCEEDED, NOW + 300);
    record_one(f, &a, NOW + 300, DAY);
    make_attempt(&a, 2, dlv2, NULL, STORE_OUTCOME_FAILED, NOW + 300);
    record_one(f, &a, NOW + 300, DAY);
    assert_int_equal(store_deliveries_pending_count(f->st, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_OK);
    assert_int_equal(due, NOW + 400);
    assert_int_equal(claim_count(f, NOW + 400, 4, 4), 0);
    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_NOT_FOUND);

    /* A disabled webhook's deliveries are pending but not claimable. */
    create_webhook(f, &wh, "p1", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p, 3);
    make_message(&m, &p, "p1", 3, EVENT_BATCH_SUCCEEDED, NOW + 50);
    insert_one(f, &m, 1);
    set_webhook_state(f, &wh, WEBHOOK_STATE_DISABLED, NOW);
    insert_dynamic(f, 4, "https://a.example/", NOW + 500);
    assert_int_equal(store_deliveries_pending_count(f->st, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_OK);
    assert_int_equal(due, NOW + 500);
    set_webhook_state(f, &wh, WEBHOOK_STATE_ENABLED, NOW);
    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_OK);
    assert_int_equal(due, NOW + 50);
}

/* ---- PostgreSQL: a claim holding a target ---------------------------------- */

struct insert_thread {
    struct testdb_fixture *f;
    struct store_message *m;
    enum store_rc rc;
    atomic_bool done;
};

static void *insert_thread_main(void *arg)
{
    struct insert_thread *t = arg;

    t->rc = store_messages_insert(t->f->st, t->m, 1, 0);
    atomic_store(&t->done, true);
    return NULL;
}

/* An event for a target that a claim holds locked, with next_due already
 * at or before the event: the writer waits for the claim and lowers the
 * next due time the claim wrote (which could not see the new delivery),
 * rather than skipping the row on its snapshot and leaving the delivery
 * behind a next_due of "never". The claim is played by a connection of the
 * test's own, which locks the target as a claim does and then sets what a
 * claim that took everything it saw would set. */
static void test_pg_event_while_target_claimed(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh;
    struct payload p1, p2;
    struct store_message m1, m2;
    struct insert_thread t = {0};
    char sql[256];
    pthread_t tid;
    PGconn *claim;
    PGresult *r;
    int64_t due;

    if (!testdb_is_pg())
        skip();                         /* SQLite: one writer at a time */
    create_webhook(f, &wh, "p1", 1, EVENTS_ALL_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p1, 1);
    make_message(&m1, &p1, "p1", 1, EVENT_BATCH_SUCCEEDED, NOW);
    insert_one(f, &m1, 1);
    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_OK);
    assert_int_equal(due, NOW);

    claim = PQconnectdb(f->db.url);
    assert_int_equal(PQstatus(claim), CONNECTION_OK);
    snprintf(sql, sizeof sql, "BEGIN; SELECT 1 FROM targets WHERE id = '%s' FOR UPDATE", wh.id);
    r = PQexec(claim, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);

    make_payload(&p2, 2);
    make_message(&m2, &p2, "p1", 2, EVENT_BATCH_SUCCEEDED, NOW + 10);
    t.f = f;
    t.m = &m2;
    atomic_init(&t.done, false);
    assert_int_equal(pthread_create(&tid, NULL, insert_thread_main, &t), 0);
    /* Until the writer either waits for the claim's lock or is done. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE %d = ANY (pg_blocking_pids(pid))",
             PQbackendPID(claim));
    while (!atomic_load(&t.done) && testdb_int(&f->db, sql) == 0)
        sched_yield();

    snprintf(sql, sizeof sql,
             "UPDATE targets SET next_due = 9223372036854775807 WHERE id = '%s'; COMMIT", wh.id);
    r = PQexec(claim, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(claim);
    assert_int_equal(pthread_join(tid, NULL), 0);
    assert_int_equal(t.rc, STORE_OK);
    assert_int_equal(m2.rc, STORE_OK);
    assert_int_equal(m2.ndeliveries, 1);

    assert_int_equal(store_deliveries_next_due(f->st, &due), STORE_OK);
    assert_int_equal(due, NOW + 10);
    /* Both deliveries: the first, which the played claim did not lease, and
     * the new one. */
    assert_int_equal(claim_count(f, NOW + 10, 4, 4), 2);
}

/* ---- delivery log ------------------------------------------------------- */

static void test_list_and_get(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, wh2, whp2;
    struct payload p;
    struct store_message m;
    struct store_delivery page[8], d;
    struct store_attempt a;
    struct store_attempt_info info[4];
    char dlv[6][IDS_MAX];
    size_t n;
    bool more;

    create_webhook(f, &wh, "p1", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    create_webhook(f, &whp2, "p2", 9, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p, 1);
    for (unsigned i = 0; i < 6; i++) {
        make_message(&m, &p, "p1", i + 1, i % 2 ? EVENT_BATCH_FAILED : EVENT_BATCH_SUCCEEDED,
                     NOW + i);
        insert_one(f, &m, 1);
        delivery_of(f, i + 1, dlv[i], sizeof dlv[i]);
        /* Ids sort by creation to the millisecond: one apart each. */
        usleep(2000);
    }
    make_message(&m, &p, "p2", 100, EVENT_BATCH_SUCCEEDED, NOW);
    insert_one(f, &m, 1);
    create_webhook(f, &wh2, "p1", 2, 0, WEBHOOK_STATE_ENABLED);
    make_message(&m, &p, "p1", 101, EVENT_BATCH_SUCCEEDED, NOW);
    m.type_mask = 0;
    m.webhook_id = wh2.id;
    insert_one(f, &m, 1);

    /* Newest first, in pages. */
    assert_int_equal(store_deliveries_list(f->st, "p1", wh.id, -1, NULL, 4, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 4);
    assert_true(more);
    for (unsigned i = 0; i < 4; i++) {
        assert_string_equal(page[i].id, dlv[5 - i]);
        assert_string_equal(page[i].webhook_id, wh.id);
        assert_string_equal(page[i].target_uri, wh.uri);
        assert_int_equal(page[i].state, STORE_DELIVERY_PENDING);
    }
    assert_int_equal(store_deliveries_list(f->st, "p1", wh.id, -1, page[3].id, 4, page, &n,
                                           &more),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_false(more);
    assert_string_equal(page[0].id, dlv[1]);
    assert_string_equal(page[1].id, dlv[0]);
    assert_string_equal(page[1].message_id, "msg_00000000000000000000000001");
    assert_string_equal(page[1].type, "batch.succeeded");
    assert_int_equal(page[1].create_time_us, NOW);
    assert_int_equal(page[1].due_time_us, NOW);
    assert_int_equal(store_deliveries_list(f->st, "p1", wh.id, -1, "", 6, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 6);
    assert_false(more);

    /* The state filter. */
    make_attempt(&a, 1, dlv[2], wh.id, STORE_OUTCOME_SUCCEEDED, NOW + SEC);
    record_one(f, &a, NOW + SEC, DAY);
    assert_int_equal(store_deliveries_list(f->st, "p1", wh.id, STORE_DELIVERY_SUCCEEDED, NULL, 8,
                                           page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(page[0].id, dlv[2]);
    assert_int_equal(page[0].attempts, 1);
    assert_int_equal(page[0].last_attempt_time_us, NOW + SEC);
    assert_int_equal(store_deliveries_list(f->st, "p1", wh.id, STORE_DELIVERY_PENDING, NULL, 8,
                                           page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 5);
    assert_int_equal(store_deliveries_list(f->st, "p1", wh.id, STORE_DELIVERY_FAILED, NULL, 8,
                                           page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 0);

    /* Other webhooks and projects: their own only. */
    assert_int_equal(store_deliveries_list(f->st, "p1", wh2.id, -1, NULL, 8, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_deliveries_list(f->st, "p2", wh.id, -1, NULL, 8, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 0);
    assert_false(more);
    assert_int_equal(store_deliveries_list(f->st, "p2", whp2.id, -1, NULL, 8, page, &n, &more),
                     STORE_OK);
    assert_int_equal(n, 1);

    /* get: attempts oldest first, at most cap. */
    for (unsigned i = 0; i < 3; i++) {
        make_attempt(&a, 10 + i, dlv[4], wh.id, STORE_OUTCOME_RETRY, NOW + i * SEC);
        a.response_status = 500 + (int)i;
        record_one(f, &a, NOW + i * SEC, DAY);
    }
    assert_int_equal(store_delivery_get(f->st, "p1", dlv[4], &d, info, 4, &n), STORE_OK);
    free(d.payload);
    assert_string_equal(d.id, dlv[4]);
    assert_string_equal(d.message_id, "msg_00000000000000000000000005");
    assert_string_equal(d.type, "batch.succeeded");
    assert_int_equal(d.attempts, 3);
    assert_int_equal(n, 3);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(info[i].response_status, 500 + (int)i);
    assert_int_equal(store_delivery_get(f->st, "p1", dlv[4], &d, info, 2, &n), STORE_OK);
    free(d.payload);
    assert_int_equal(n, 2);
    assert_int_equal(info[1].response_status, 501);
    assert_int_equal(store_delivery_get(f->st, "p2", dlv[4], &d, info, 4, &n), STORE_NOT_FOUND);
    assert_int_equal(n, 0);
    assert_int_equal(store_delivery_get(f->st, "p1", "dlv_00000000000000000000000404", &d, info,
                                        4, &n),
                     STORE_NOT_FOUND);
}

static void test_retry(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_attempt a;
    struct store_delivery d;
    struct store_attempt_info info[2];
    char dlv[IDS_MAX];
    size_t n;

    insert_dynamic(f, 1, "https://a.example/", NOW);
    delivery_of(f, 1, dlv, sizeof dlv);

    assert_int_equal(store_delivery_retry(f->st, "p1", dlv, NOW), STORE_CONFLICT);
    assert_int_equal(store_delivery_retry(f->st, "p2", dlv, NOW), STORE_NOT_FOUND);
    assert_int_equal(store_delivery_retry(f->st, "p1", "dlv_00000000000000000000000404", NOW),
                     STORE_NOT_FOUND);

    assert_int_equal(claim_count(f, NOW, 1, 1), 1);
    make_attempt(&a, 1, dlv, NULL, STORE_OUTCOME_FAILED, NOW + SEC);
    record_one(f, &a, NOW + SEC, DAY);
    assert_int_equal(store_delivery_retry(f->st, "p2", dlv, NOW + DAY), STORE_NOT_FOUND);
    assert_int_equal(store_delivery_retry(f->st, "p1", dlv, NOW + DAY), STORE_OK);
    assert_int_equal(store_delivery_get(f->st, "p1", dlv, &d, info, 2, &n), STORE_OK);
    free(d.payload);
    assert_int_equal(d.state, STORE_DELIVERY_PENDING);
    assert_int_equal(d.due_time_us, NOW + DAY);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(claim_count(f, NOW + DAY - 1, 1, 1), 0);
    assert_int_equal(claim_count(f, NOW + DAY, 1, 1), 1);
    assert_int_equal(store_delivery_retry(f->st, "p1", dlv, NOW + DAY), STORE_CONFLICT);

    /* A succeeded delivery can be sent again too. */
    make_attempt(&a, 2, dlv, NULL, STORE_OUTCOME_SUCCEEDED, NOW + DAY);
    record_one(f, &a, NOW + DAY, DAY);
    assert_int_equal(store_delivery_retry(f->st, "p1", dlv, NOW + 2 * DAY), STORE_OK);
    assert_int_equal(db_int(f, "SELECT lease_expire_time FROM deliveries WHERE id = '%s'", dlv),
                     0);
    assert_int_equal(claim_count(f, NOW + 2 * DAY, 1, 1), 1);
}

static void test_recover(void **state)
{
    struct testdb_fixture *f = *state;
    struct webhook wh, other;
    struct payload p;
    struct store_message m;
    struct store_attempt a;
    char dlv[5][IDS_MAX];
    size_t n;

    create_webhook(f, &wh, "p1", 1, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    create_webhook(f, &other, "p1", 2, EVENTS_JOB_MASK, WEBHOOK_STATE_ENABLED);
    make_payload(&p, 1);
    for (unsigned i = 0; i < 5; i++) {
        make_message(&m, &p, "p1", i + 1, EVENT_BATCH_SUCCEEDED, NOW + i * SEC);
        m.webhook_id = wh.id;
        insert_one(f, &m, 1);
        delivery_of(f, i + 1, dlv[i], sizeof dlv[i]);
    }
    make_message(&m, &p, "p1", 10, EVENT_BATCH_SUCCEEDED, NOW + 4 * SEC);
    m.webhook_id = other.id;
    insert_one(f, &m, 1);
    /* Every delivery of wh fails but the last, which succeeds; the other
     * webhook's fails too. */
    assert_int_equal(claim_count(f, NOW + DAY, 16, 16), 6);
    for (unsigned i = 0; i < 5; i++) {
        make_attempt(&a, i + 1, dlv[i], wh.id,
                     i == 4 ? STORE_OUTCOME_SUCCEEDED : STORE_OUTCOME_FAILED, NOW + DAY);
        record_one(f, &a, NOW + DAY, 2 * DAY);
    }
    db_exec(f, "UPDATE deliveries SET state = 2, lease_expire_time = 0"
               " WHERE webhook_id = '%s'", other.id);

    assert_int_equal(store_webhook_recover(f->st, "p2", wh.id, NOW, NOW + DAY, &n),
                     STORE_NOT_FOUND);
    assert_int_equal(store_webhook_recover(f->st, "p1", "wh_00000000000000000000000404", NOW,
                                           NOW + DAY, &n),
                     STORE_NOT_FOUND);

    /* Failed ones created at or after since: deliveries 1..3 (0 is older). */
    assert_int_equal(store_webhook_recover(f->st, "p1", wh.id, NOW + SEC, NOW + 2 * DAY, &n),
                     STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE webhook_id = '%s'"
                               " AND state = 0 AND due_time = %lld",
                            wh.id, (long long)(NOW + 2 * DAY)),
                     3);
    assert_int_equal(db_int(f, "SELECT state FROM deliveries WHERE id = '%s'", dlv[0]), 2);
    assert_int_equal(db_int(f, "SELECT state FROM deliveries WHERE id = '%s'", dlv[4]), 1);
    assert_int_equal(db_int(f, "SELECT state FROM deliveries WHERE webhook_id = '%s'", other.id),
                     2);
    /* Nothing left to recover: zero, not an error. */
    assert_int_equal(store_webhook_recover(f->st, "p1", wh.id, NOW + SEC, NOW + 2 * DAY, &n),
                     STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(claim_count(f, NOW + 2 * DAY, 16, 16), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_fan_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_no_subscribers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_release_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_id_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_and_operation_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_order_and_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_webhook_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_uses_current_uri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_per_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_starvation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attempts_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attempts_deleted_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_and_next_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_event_while_target_claimed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_unavailable, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
