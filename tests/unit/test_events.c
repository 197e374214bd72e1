/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_events.c - the event catalog: every entry maps name to type and
 * back, the bits are distinct and fit the mask, and names outside the
 * catalog are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/events.h"

static const struct {
    enum event_type type;
    const char *name;
} catalog[] = {
#define X(name, bit, str) {EVENT_##name, str},
    EVENTS_MAP(X)
#undef X
};

static void test_every_entry_round_trips(void **state)
{
    (void)state;
    assert_int_equal(sizeof(catalog) / sizeof(catalog[0]), EVENT_COUNT);
    for (size_t i = 0; i < EVENT_COUNT; i++) {
        assert_non_null(events_name(catalog[i].type));
        assert_string_equal(events_name(catalog[i].type), catalog[i].name);
        assert_int_equal(events_lookup(catalog[i].name), catalog[i].type);
    }
}

/* Spot checks against the wire names, independent of the X-macro. */
static void test_known_names(void **state)
{
    (void)state;
    assert_int_equal(events_lookup("batch.succeeded"), EVENT_BATCH_SUCCEEDED);
    assert_int_equal(events_lookup("batch.succeeded"), 0);
    assert_int_equal(events_lookup("interaction.requires_action"), 4);
    assert_int_equal(events_lookup("video.generated"), 8);
    assert_string_equal(events_name(EVENT_BATCH_FAILED), "batch.failed");
    assert_string_equal(events_name(EVENT_INTERACTION_CANCELLED), "interaction.cancelled");
}

static void test_bits_distinct_and_in_mask(void **state)
{
    uint32_t seen = 0;

    (void)state;
    for (size_t i = 0; i < EVENT_COUNT; i++) {
        uint32_t bit = UINT32_C(1) << catalog[i].type;

        assert_int_equal(seen & bit, 0);
        seen |= bit;
    }
    assert_int_equal(seen, EVENTS_ALL_MASK);
}

static void test_unknown_names(void **state)
{
    static const char *const bad[] = {
        "", "batch", "batch.", "batch.succeeded ", " batch.succeeded",
        "BATCH.SUCCEEDED", "Batch.Succeeded", "batch.succeeded.x", "batch_succeeded",
        "video.generated\n", "*", "batch.*",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (events_lookup(bad[i]) != -1)
            fail_msg("events_lookup accepted \"%s\"", bad[i]);
    }
    assert_int_equal(events_lookup(NULL), -1);
}

static void test_name_out_of_range(void **state)
{
    (void)state;
    assert_null(events_name(EVENT_COUNT));
    assert_null(events_name((enum event_type)-1));
    assert_null(events_name((enum event_type)31));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_entry_round_trips),
        cmocka_unit_test(test_known_names),
        cmocka_unit_test(test_bits_distinct_and_in_mask),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_name_out_of_range),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
