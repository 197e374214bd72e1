/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store_retention.c - pruning (store_retention.h) on the backend of the
 * run (SQLite, or PostgreSQL in make test's second pass): a batch removes
 * exactly the messages created before the cutoff whose deliveries are all
 * done, with their deliveries and attempts, and the final operations last
 * updated before it - nothing newer, nothing pending - in batches of the
 * given size, with counts that match the rows removed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ids.h"
#include "core/events.h"
#include "store/store.h"
#include "store/store_retention.h"
#include "store_testdb.h"

#define NOW INT64_C(1700000000000000)
#define SEC INT64_C(1000000)
#define DAY (INT64_C(24) * 3600 * SEC)
#define CUTOFF (NOW - 5 * DAY)

static int setup(void **state)
{
    return testdb_fixture_setup(state, "test_store_retention");
}

static int teardown(void **state)
{
    return testdb_fixture_teardown(state);
}

static int64_t db_int(const struct testdb_fixture *f, const char *sql)
{
    return testdb_int(&f->db, sql);
}

/* Message n, a dynamic event with one delivery, created at time; its
 * delivery then ends in outcome (RELEASED: left pending, never attempted). */
static void message(struct testdb_fixture *f, unsigned n, int64_t time, enum store_outcome outcome)
{
    static const char *const uris[1] = {"https://example.com/r"};
    struct store_message m;
    struct store_job job;
    struct store_attempt a;
    uint8_t payload[8] = {'{', '}', 0};
    char sql[256];
    size_t got = 0;

    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "msg_%026u", n);
    snprintf(m.project, sizeof m.project, "p1");
    snprintf(m.type, sizeof m.type, "%s", events_name(EVENT_BATCH_SUCCEEDED));
    m.type_mask = UINT32_C(1) << EVENT_BATCH_SUCCEEDED;
    m.payload = payload;
    m.payload_len = 2;
    m.create_time_us = time;
    m.uris = uris;
    m.nuris = 1;
    assert_int_equal(store_messages_insert(f->st, &m, 1, 0), STORE_OK);
    assert_int_equal(m.rc, STORE_OK);
    if (outcome == STORE_OUTCOME_RELEASED)
        return;
    /* Claim exactly this one: it is the only delivery due at its time that
     * is not done yet (earlier ones were recorded). */
    assert_int_equal(store_deliveries_claim(f->st, "o", time, time + SEC, 1, 1, NULL, NULL, 0,
                                            &job, &got),
                     STORE_OK);
    assert_int_equal(got, 1);
    assert_string_equal(job.message_id, m.id);
    free(job.payload);
    memset(&a, 0, sizeof a);
    snprintf(a.id, sizeof a.id, "att_%026u", n);
    snprintf(a.delivery_id, sizeof a.delivery_id, "%s", job.id);
    a.outcome = outcome;
    a.time_us = time;
    a.response_status = outcome == STORE_OUTCOME_SUCCEEDED ? 200 : 500;
    a.next_due_us = time + SEC;
    assert_int_equal(store_attempts_record(f->st, &a, 1, time, DAY), STORE_OK);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM attempts a JOIN deliveries d"
             " ON d.id = a.delivery_id WHERE d.message_id = '%s'", m.id);
    assert_int_equal(db_int(f, sql), 1);
}

static bool message_exists(struct testdb_fixture *f, unsigned n)
{
    char sql[128];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM messages WHERE id = 'msg_%026u'", n);
    return db_int(f, sql) == 1;
}

static void test_prune_exactly_the_old_and_done(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_prune *b = malloc(sizeof *b);
    size_t messages = 0, deliveries = 0, attempts = 0, batches = 0;

    assert_non_null(b);
    /* Pruned: done, created before the cutoff (by a day, by 1 us). */
    message(f, 1, NOW - 10 * DAY, STORE_OUTCOME_SUCCEEDED);
    message(f, 2, NOW - 9 * DAY, STORE_OUTCOME_FAILED);
    message(f, 3, CUTOFF - 1, STORE_OUTCOME_SUCCEEDED);
    /* Kept: created at the cutoff exactly; newer; still pending although
     * old (a disabled webhook's delivery waits; made last, so that the
     * claims above do not take it). */
    message(f, 5, CUTOFF, STORE_OUTCOME_SUCCEEDED);
    message(f, 6, NOW, STORE_OUTCOME_FAILED);
    message(f, 4, NOW - 8 * DAY, STORE_OUTCOME_RELEASED);
    assert_int_equal(db_int(f, "SELECT count(*) FROM attempts"), 5);

    /* Batches of 2: two batches remove the three, a third finds nothing. */
    for (;;) {
        assert_int_equal(store_prune(f->st, CUTOFF, 2, b), STORE_OK);
        assert_true(b->messages <= 2);
        messages += b->messages;
        deliveries += b->deliveries;
        attempts += b->attempts;
        if (b->messages == 0 && b->operations == 0)
            break;
        batches++;
    }
    assert_int_equal(batches, 2);
    assert_int_equal(messages, 3);
    assert_int_equal(deliveries, 3);
    assert_int_equal(attempts, 3);
    for (unsigned n = 1; n <= 3; n++)
        assert_false(message_exists(f, n));
    for (unsigned n = 4; n <= 6; n++)
        assert_true(message_exists(f, n));
    /* Nothing of the pruned is left behind; everything of the kept is. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE message_id IN"
                               " ('msg_00000000000000000000000001',"
                               " 'msg_00000000000000000000000002',"
                               " 'msg_00000000000000000000000003')"), 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM deliveries WHERE message_id IN"
                               " ('msg_00000000000000000000000004',"
                               " 'msg_00000000000000000000000005',"
                               " 'msg_00000000000000000000000006')"), 3);
    assert_int_equal(db_int(f, "SELECT count(*) FROM attempts"), 2);
    free(b);
}

static void test_prune_keeps_the_idempotency_key_of_kept_messages(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_prune *b = malloc(sizeof *b);
    static const char *const uris[1] = {"https://example.com/r"};
    struct store_message m;

    assert_non_null(b);
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "msg_%026u", 7);
    snprintf(m.project, sizeof m.project, "p1");
    snprintf(m.type, sizeof m.type, "%s", events_name(EVENT_BATCH_SUCCEEDED));
    m.payload = (const uint8_t *)"{}";
    m.payload_len = 2;
    m.create_time_us = CUTOFF + 1;
    m.idempotency_key = "k1";
    m.uris = uris;
    m.nuris = 1;
    assert_int_equal(store_messages_insert(f->st, &m, 1, 0), STORE_OK);
    assert_int_equal(store_prune(f->st, CUTOFF, 100, b), STORE_OK);
    assert_int_equal(b->messages, 0);
    /* Still a duplicate: the key went nowhere. */
    snprintf(m.id, sizeof m.id, "msg_%026u", 8);
    assert_int_equal(store_messages_insert(f->st, &m, 1, 0), STORE_OK);
    assert_true(m.duplicate);
    free(b);
}

static void test_prune_final_operations_only(void **state)
{
    struct testdb_fixture *f = *state;
    struct store_prune *b = malloc(sizeof *b);
    static const struct { const char *id; int state; int64_t update; bool pruned; } ops[] = {
        {"op_00000000000000000000000001", 2, NOW - 9 * DAY, true},     /* succeeded */
        {"op_00000000000000000000000002", 3, NOW - 9 * DAY, true},     /* failed */
        {"op_00000000000000000000000003", 4, CUTOFF - 1, true},        /* cancelled */
        {"op_00000000000000000000000004", 5, NOW - 9 * DAY, true},     /* expired */
        {"op_00000000000000000000000005", 0, NOW - 9 * DAY, false},    /* pending */
        {"op_00000000000000000000000006", 1, NOW - 9 * DAY, false},    /* running */
        {"op_00000000000000000000000007", 6, NOW - 9 * DAY, false},    /* requires action */
        {"op_00000000000000000000000008", 2, CUTOFF, false},           /* not older */
    };
    char sql[512];
    size_t total = 0;

    assert_non_null(b);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO operations (id, project, kind, model, state,"
                 " create_time, update_time) VALUES ('%s', 'p1', 'batch', 'm', %d, %lld, %lld)",
                 ops[i].id, ops[i].state, (long long)(ops[i].update - DAY),
                 (long long)ops[i].update);
        testdb_exec(&f->db, sql);
    }
    do {
        assert_int_equal(store_prune(f->st, CUTOFF, 3, b), STORE_OK);
        assert_true(b->operations <= 3);
        for (size_t i = 0; i < b->operations; i++)
            assert_true(strncmp(b->op_ids[i], "op_", 3) == 0);
        total += b->operations;
    } while (b->operations > 0);
    assert_int_equal(total, 4);
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM operations WHERE id = '%s'", ops[i].id);
        assert_int_equal(db_int(f, sql), ops[i].pruned ? 0 : 1);
    }
    free(b);
}

static void test_compact_answers(void **state)
{
    struct testdb_fixture *f = *state;
    size_t pages = 99;

    assert_int_equal(store_compact(f->st, 16, &pages), STORE_OK);
    assert_true(pages <= 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prune_exactly_the_old_and_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_the_idempotency_key_of_kept_messages,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_final_operations_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_answers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
