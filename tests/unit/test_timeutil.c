/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_timeutil.c - clocks, RFC 3339 formatting and strict parsing:
 * known instants, round trips, numeric offsets, and strings that are not
 * RFC 3339 date-times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/timeutil.h"

#define T_2026 INT64_C(1769083200123456)        /* 2026-01-22T12:00:00.123456Z */

static void test_now_matches_time(void **state)
{
    time_t before = time(NULL);
    int64_t now = timeutil_now_us();
    time_t after = time(NULL);

    (void)state;
    assert_in_range(now / TIMEUTIL_US_PER_S, (uint64_t)before, (uint64_t)after);
}

static void test_mono_does_not_go_back(void **state)
{
    int64_t a = timeutil_mono_us(), b;
    struct timespec ts = {0, 2000000};

    (void)state;
    nanosleep(&ts, NULL);
    b = timeutil_mono_us();
    assert_true(b - a >= 2000);
}

static void test_format_known(void **state)
{
    char out[TIMEUTIL_RFC3339_MAX];

    (void)state;
    assert_int_equal(timeutil_format(0, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
    assert_int_equal(timeutil_format(0, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    assert_int_equal(timeutil_format(T_2026, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "2026-01-22T12:00:00.123456Z");
    assert_int_equal(timeutil_format(T_2026, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "2026-01-22T12:00:00Z");
    assert_int_equal(timeutil_format(INT64_C(1709251199000000), 0, out, sizeof(out)), 0);
    assert_string_equal(out, "2024-02-29T23:59:59Z");
    /* Before the epoch the fraction still counts up from the second. */
    assert_int_equal(timeutil_format(-1, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
    assert_int_equal(timeutil_format(INT64_C(253402300799999999), 1, out, sizeof(out)), 0);
    assert_string_equal(out, "9999-12-31T23:59:59.999999Z");
}

static void test_format_out_of_range(void **state)
{
    char out[TIMEUTIL_RFC3339_MAX];

    (void)state;
    assert_int_equal(timeutil_format(INT64_C(253402300800000000), 1, out, sizeof(out)), -1);
    assert_int_equal(timeutil_format(INT64_MAX, 0, out, sizeof(out)), -1);
    assert_int_equal(timeutil_format(INT64_MIN, 0, out, sizeof(out)), -1);
}

static void test_format_buffer_too_small(void **state)
{
    char *out = malloc(28);

    (void)state;
    assert_non_null(out);
    /* "2026-01-22T12:00:00.123456Z" is 27 characters. */
    assert_int_equal(timeutil_format(T_2026, 1, out, 27), -1);
    assert_int_equal(timeutil_format(T_2026, 1, out, 28), 0);
    assert_string_equal(out, "2026-01-22T12:00:00.123456Z");
    assert_int_equal(timeutil_format(T_2026, 0, out, 20), -1);
    assert_int_equal(timeutil_format(T_2026, 0, out, 21), 0);
    free(out);
}

static void test_parse_known(void **state)
{
    int64_t us;

    (void)state;
    assert_int_equal(timeutil_parse("2026-01-22T12:00:00.123456Z", &us), 0);
    assert_int_equal(us, T_2026);
    assert_int_equal(timeutil_parse("2026-01-22T12:00:00Z", &us), 0);
    assert_int_equal(us, T_2026 - 123456);
    assert_int_equal(timeutil_parse("1970-01-01T00:00:00Z", &us), 0);
    assert_int_equal(us, 0);
    assert_int_equal(timeutil_parse("2026-01-22t12:00:00.123456z", &us), 0);
    assert_int_equal(us, T_2026);
    assert_int_equal(timeutil_parse("1969-12-31T23:59:59.999999Z", &us), 0);
    assert_int_equal(us, -1);
    assert_int_equal(timeutil_parse("2024-02-29T23:59:59Z", &us), 0);
    assert_int_equal(us, INT64_C(1709251199000000));
}

static void test_parse_fraction(void **state)
{
    int64_t us;

    (void)state;
    assert_int_equal(timeutil_parse("1970-01-01T00:00:00.1Z", &us), 0);
    assert_int_equal(us, 100000);
    assert_int_equal(timeutil_parse("1970-01-01T00:00:00.000001Z", &us), 0);
    assert_int_equal(us, 1);
    /* Nanoseconds are accepted and dropped, not rounded. */
    assert_int_equal(timeutil_parse("1970-01-01T00:00:00.123456999Z", &us), 0);
    assert_int_equal(us, 123456);
    assert_int_equal(timeutil_parse("1970-01-01T00:00:00.1234567890Z", &us), -1);
}

static void test_parse_offsets(void **state)
{
    int64_t us;

    (void)state;
    assert_int_equal(timeutil_parse("2026-01-22T13:00:00.123456+01:00", &us), 0);
    assert_int_equal(us, T_2026);
    assert_int_equal(timeutil_parse("2026-01-22T06:30:00.123456-05:30", &us), 0);
    assert_int_equal(us, T_2026);
    assert_int_equal(timeutil_parse("2026-01-22T12:00:00.123456+00:00", &us), 0);
    assert_int_equal(us, T_2026);
    assert_int_equal(timeutil_parse("2026-01-22T12:00:00.123456-00:00", &us), 0);
    assert_int_equal(us, T_2026);
    /* An offset can move the instant into another day. */
    assert_int_equal(timeutil_parse("2026-01-23T00:00:00.123456+12:00", &us), 0);
    assert_int_equal(us, T_2026);
    assert_int_equal(timeutil_parse("1970-01-01T00:00:00+23:59", &us), 0);
    assert_int_equal(us, -(INT64_C(23) * 3600 + 59 * 60) * TIMEUTIL_US_PER_S);
}

static void test_parse_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "2026-01-22",
        "2026-01-22T12:00:00",          /* no offset */
        "2026-01-22T12:00Z",            /* no seconds */
        "2026-01-22 12:00:00Z",         /* space instead of T */
        "2026-01-22T12:00:00ZZ",
        "2026-01-22T12:00:00Z ",
        " 2026-01-22T12:00:00Z",
        "2026-01-22T12:00:00.Z",        /* empty fraction */
        "2026-01-22T12:00:00,5Z",
        "2026-1-22T12:00:00Z",
        "26-01-22T12:00:00Z",
        "+2026-01-22T12:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2023-02-29T00:00:00Z",         /* not a leap year */
        "1900-02-29T00:00:00Z",
        "2026-01-22T24:00:00Z",
        "2026-01-22T12:60:00Z",
        "2026-01-22T12:00:61Z",
        "2026-01-22T12:00:00+01",
        "2026-01-22T12:00:00+0100",
        "2026-01-22T12:00:00+24:00",
        "2026-01-22T12:00:00+01:60",
        "2026-01-22T12:00:00 +01:00",
        "2026-01-22T12:00:00UTC",
        "2026-01-22X12:00:00Z",
        "2026/01/22T12:00:00Z",
        "2026-01-22T12:00:0aZ",
        "not a time",
    };
    int64_t us = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (timeutil_parse(bad[i], &us) != -1)
            fail_msg("timeutil_parse accepted \"%s\"", bad[i]);
    }
    assert_int_equal(timeutil_parse(NULL, &us), -1);
}

static void test_round_trip(void **state)
{
    char out[TIMEUTIL_RFC3339_MAX];
    int64_t back;

    (void)state;
    srand(12345);
    for (int i = 0; i < 2000; i++) {
        /* Spread over years 0000..9999, both sides of the epoch. */
        int64_t us = (((int64_t)rand() << 31) ^ rand()) % INT64_C(253402300799999999);

        if (i % 2)
            us = -(us % INT64_C(62167219200000000));
        assert_int_equal(timeutil_format(us, 1, out, sizeof(out)), 0);
        assert_int_equal(timeutil_parse(out, &back), 0);
        if (back != us)
            fail_msg("%lld formatted as %s parsed back as %lld", (long long)us, out,
                     (long long)back);
        /* Whole seconds round toward the past. */
        assert_int_equal(timeutil_format(us, 0, out, sizeof(out)), 0);
        assert_int_equal(timeutil_parse(out, &back), 0);
        assert_true(back <= us && us - back < TIMEUTIL_US_PER_S);
        assert_int_equal(back % TIMEUTIL_US_PER_S, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_matches_time),
        cmocka_unit_test(test_mono_does_not_go_back),
        cmocka_unit_test(test_format_known),
        cmocka_unit_test(test_format_out_of_range),
        cmocka_unit_test(test_format_buffer_too_small),
        cmocka_unit_test(test_parse_known),
        cmocka_unit_test(test_parse_fraction),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
