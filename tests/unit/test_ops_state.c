/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ops_state.c - the transition table of long-running operations: for
 * every kind, every (from, to) pair is either allowed with its catalog
 * event or refused; plus the names of kinds and states.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/events.h"
#include "ops/ops_state.h"

#define NONE OPS_EVENT_NONE
#define REFUSED (-2)

/* The expected outcome of from -> to, for each kind: the event, NONE (allowed,
 * no event) or REFUSED. Rows: from; columns: to; both in enum order
 * (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, EXPIRED, REQUIRES_ACTION). */
static const int expect_interaction[STORE_OP_STATE_COUNT][STORE_OP_STATE_COUNT] = {
    [STORE_OP_PENDING] = {REFUSED, NONE, EVENT_INTERACTION_COMPLETED, EVENT_INTERACTION_FAILED,
                          EVENT_INTERACTION_CANCELLED, REFUSED,
                          EVENT_INTERACTION_REQUIRES_ACTION},
    [STORE_OP_RUNNING] = {REFUSED, NONE, EVENT_INTERACTION_COMPLETED, EVENT_INTERACTION_FAILED,
                          EVENT_INTERACTION_CANCELLED, REFUSED,
                          EVENT_INTERACTION_REQUIRES_ACTION},
};

static const int expect_batch[STORE_OP_STATE_COUNT][STORE_OP_STATE_COUNT] = {
    [STORE_OP_PENDING] = {REFUSED, NONE, EVENT_BATCH_SUCCEEDED, EVENT_BATCH_FAILED,
                          EVENT_BATCH_CANCELLED, EVENT_BATCH_EXPIRED, REFUSED},
    [STORE_OP_RUNNING] = {REFUSED, NONE, EVENT_BATCH_SUCCEEDED, EVENT_BATCH_FAILED,
                          EVENT_BATCH_CANCELLED, EVENT_BATCH_EXPIRED, REFUSED},
};

static const int expect_video[STORE_OP_STATE_COUNT][STORE_OP_STATE_COUNT] = {
    [STORE_OP_PENDING] = {REFUSED, NONE, EVENT_VIDEO_GENERATED, NONE, NONE, REFUSED, REFUSED},
    [STORE_OP_RUNNING] = {REFUSED, NONE, EVENT_VIDEO_GENERATED, NONE, NONE, REFUSED, REFUSED},
};

/* Rows for final states are all refused: fill them in. */
static void check_kind(enum ops_kind kind, const int table[STORE_OP_STATE_COUNT][STORE_OP_STATE_COUNT])
{
    for (int from = 0; from < STORE_OP_STATE_COUNT; from++) {
        for (int to = 0; to < STORE_OP_STATE_COUNT; to++) {
            bool live = from == STORE_OP_PENDING || from == STORE_OP_RUNNING;
            int want = live ? table[from][to] : REFUSED;
            int event = 12345;
            bool ok = ops_state_allowed(kind, (enum store_op_state)from,
                                        (enum store_op_state)to, &event);

            if (ok != (want != REFUSED) || (ok && event != want))
                fail_msg("%s: %s -> %s: allowed=%d event=%d, want %s (%d)",
                         ops_kind_name(kind), ops_state_name((enum store_op_state)from),
                         ops_state_name((enum store_op_state)to), ok, ok ? event : -99,
                         want == REFUSED ? "refused" : "allowed", want);
        }
    }
}

static void test_interaction(void **state)
{
    (void)state;
    check_kind(OPS_KIND_INTERACTION, expect_interaction);
}

static void test_batch(void **state)
{
    (void)state;
    check_kind(OPS_KIND_BATCH, expect_batch);
}

static void test_video(void **state)
{
    (void)state;
    check_kind(OPS_KIND_VIDEO, expect_video);
}

static void test_out_of_range(void **state)
{
    int event;

    (void)state;
    assert_false(ops_state_allowed(OPS_KIND_COUNT, STORE_OP_PENDING, STORE_OP_SUCCEEDED, &event));
    assert_false(ops_state_allowed(OPS_KIND_BATCH, STORE_OP_STATE_COUNT, STORE_OP_SUCCEEDED,
                                   &event));
    assert_false(ops_state_allowed(OPS_KIND_BATCH, STORE_OP_PENDING, STORE_OP_STATE_COUNT,
                                   &event));
}

static void test_final(void **state)
{
    (void)state;
    assert_false(ops_state_final(STORE_OP_PENDING));
    assert_false(ops_state_final(STORE_OP_RUNNING));
    for (int s = STORE_OP_SUCCEEDED; s < STORE_OP_STATE_COUNT; s++)
        assert_true(ops_state_final((enum store_op_state)s));
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(ops_kind_name(OPS_KIND_BATCH), "batch");
    assert_int_equal(ops_kind_lookup("interaction"), OPS_KIND_INTERACTION);
    assert_int_equal(ops_kind_lookup("video"), OPS_KIND_VIDEO);
    assert_int_equal(ops_kind_lookup("Batch"), -1);
    assert_null(ops_kind_name(OPS_KIND_COUNT));
    assert_int_equal(ops_kind_of_id("batch_01h0000000000000000000000a"), OPS_KIND_BATCH);
    assert_int_equal(ops_kind_of_id("int_01h0000000000000000000000a"), OPS_KIND_INTERACTION);
    assert_int_equal(ops_kind_of_id("vid_01h0000000000000000000000a"), OPS_KIND_VIDEO);
    assert_int_equal(ops_kind_of_id("wh_01h0000000000000000000000a"), -1);
    assert_int_equal(ops_kind_of_id("batch_short"), -1);
    for (int s = 0; s < STORE_OP_STATE_COUNT; s++)
        assert_int_equal(ops_state_lookup(ops_state_name((enum store_op_state)s)), s);
    assert_int_equal(ops_state_lookup("done"), -1);
    assert_string_equal(ops_state_wire(OPS_KIND_INTERACTION, STORE_OP_PENDING), "in_progress");
    assert_string_equal(ops_state_wire(OPS_KIND_INTERACTION, STORE_OP_SUCCEEDED), "completed");
    assert_string_equal(ops_state_wire(OPS_KIND_INTERACTION, STORE_OP_REQUIRES_ACTION),
                        "requires_action");
    assert_string_equal(ops_state_wire(OPS_KIND_BATCH, STORE_OP_EXPIRED), "BATCH_STATE_EXPIRED");
    assert_string_equal(ops_state_wire(OPS_KIND_BATCH, STORE_OP_RUNNING), "BATCH_STATE_RUNNING");
    assert_string_equal(ops_state_wire(OPS_KIND_VIDEO, STORE_OP_CANCELLED), "cancelled");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interaction),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_video),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_final),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
