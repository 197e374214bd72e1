/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_retry.c - the retry schedule: the default delays, which delay
 * follows which failure, the bounds of the jitter over the whole range of
 * random values, the window, schedule specs good and bad, and Retry-After
 * as seconds and as an HTTP-date.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliver/retry.h"

#define S INT64_C(1000000)
#define HOUR (3600 * S)

/* 2026-01-22T12:00:00Z, a plausible "now". */
#define NOW (INT64_C(1769083200) * S)

static const int64_t default_s[] = {0, 5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800};

static void test_default_schedule(void **state)
{
    struct retry_policy p;

    (void)state;
    memset(&p, 0xa5, sizeof(p));
    retry_policy_default(&p);
    assert_int_equal(p.n, 10);
    for (size_t i = 0; i < p.n; i++)
        assert_int_equal(p.delay_us[i], default_s[i] * S);
    assert_int_equal(p.window_us, 24 * HOUR);
}

/*
 * rnd = 2^31 is the middle of the jitter range, so the delay comes out
 * exactly: after one failure the next attempt waits delay_us[1] (5s), after
 * nine the last entry (8h), and after more the last entry again.
 */
static void test_which_delay_follows_which_failure(void **state)
{
    struct retry_policy p;
    const uint32_t mid = UINT32_C(1) << 31;

    (void)state;
    retry_policy_default(&p);
    for (int attempts = 1; attempts <= 9; attempts++)
        assert_int_equal(retry_next(&p, attempts, NOW, NOW, -1, mid) - NOW,
                         default_s[attempts] * S);
    for (int attempts = 10; attempts <= 40; attempts++)
        assert_int_equal(retry_next(&p, attempts, NOW, NOW, -1, mid) - NOW, 28800 * S);
    /* Zero failures: the first attempt, which waits delay_us[0]. */
    assert_int_equal(retry_next(&p, 0, NOW, NOW, -1, mid), NOW);
}

/* Over the whole range of rnd the delay stays within +-20%, and reaches
 * both ends (to within 0.1%). */
static void test_jitter_bounds(void **state)
{
    struct retry_policy p;

    (void)state;
    retry_policy_default(&p);
    for (int attempts = 1; attempts <= 10; attempts++) {
        int64_t base = p.delay_us[attempts < 10 ? attempts : 9];
        int64_t lo = base - base * RETRY_JITTER_PCT / 100;
        int64_t hi = base + base * RETRY_JITTER_PCT / 100;
        int64_t min = INT64_MAX, max = INT64_MIN;
        uint32_t rnd = 0;

        for (int i = 0; i < 4097; i++) {
            int64_t d = retry_next(&p, attempts, NOW, NOW, -1, rnd) - NOW;

            if (d < min)
                min = d;
            if (d > max)
                max = d;
            rnd += UINT32_C(1048576);       /* 2^32 / 4096: covers 0 .. 2^32 - 1 */
            if (i == 4095)
                rnd = UINT32_MAX;
        }
        assert_in_range(min, lo, hi);
        assert_in_range(max, lo, hi);
        assert_true(min <= lo + base / 1000);
        assert_true(max >= hi - base / 1000);
    }
}

/* Random rnd values: never out of range, and not all the same. */
static void test_jitter_random(void **state)
{
    struct retry_policy p;
    int64_t first = -1;
    int differs = 0;

    (void)state;
    retry_policy_default(&p);
    srand(1);
    for (int i = 0; i < 10000; i++) {
        uint32_t rnd = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
        int64_t d = retry_next(&p, 2, NOW, NOW, -1, rnd) - NOW;

        assert_in_range(d, 24 * S, 36 * S);
        if (first < 0)
            first = d;
        else if (d != first)
            differs = 1;
    }
    assert_true(differs);
}

/* A zero delay stays zero whatever the jitter. */
static void test_zero_delay_no_jitter(void **state)
{
    struct retry_policy p;

    (void)state;
    retry_policy_default(&p);
    assert_int_equal(retry_next(&p, 0, NOW, NOW, -1, 0), NOW);
    assert_int_equal(retry_next(&p, 0, NOW, NOW, -1, UINT32_MAX), NOW);
}

static void test_window(void **state)
{
    struct retry_policy p;
    const uint32_t mid = UINT32_C(1) << 31;
    int64_t event = NOW - 23 * HOUR;

    (void)state;
    retry_policy_default(&p);
    /* 23h in: a 30 s retry fits, an 8h one does not. */
    assert_int_equal(retry_next(&p, 2, event, NOW, -1, mid), NOW + 30 * S);
    assert_int_equal(retry_next(&p, 9, event, NOW, -1, mid), -1);
    /* Exactly at the end of the window is still inside it; a microsecond
     * later is not. */
    assert_int_equal(retry_next(&p, 2, NOW + 30 * S - 24 * HOUR, NOW, -1, mid), NOW + 30 * S);
    assert_int_equal(retry_next(&p, 2, NOW + 30 * S - 24 * HOUR - 1, NOW, -1, mid), -1);
    /* Already past the window: even an immediate attempt is refused. */
    assert_int_equal(retry_next(&p, 0, NOW - 25 * HOUR, NOW, -1, mid), -1);
    /* Retry-After is bounded by the window too. */
    assert_int_equal(retry_next(&p, 1, event, NOW, HOUR, mid), NOW + HOUR);
    assert_int_equal(retry_next(&p, 1, event - 1, NOW, HOUR, mid), -1);
    /* A huge window does not wrap around. */
    p.window_us = INT64_MAX;
    assert_int_equal(retry_next(&p, 9, NOW, NOW, -1, mid), NOW + 28800 * S);
}

static void test_retry_after_replaces_schedule(void **state)
{
    struct retry_policy p;

    (void)state;
    retry_policy_default(&p);
    /* Used exactly, without jitter, whatever rnd is. */
    assert_int_equal(retry_next(&p, 1, NOW, NOW, 120 * S, 0), NOW + 120 * S);
    assert_int_equal(retry_next(&p, 1, NOW, NOW, 120 * S, UINT32_MAX), NOW + 120 * S);
    assert_int_equal(retry_next(&p, 9, NOW, NOW, 7 * S, 12345), NOW + 7 * S);
    assert_int_equal(retry_next(&p, 3, NOW, NOW, 0, 12345), NOW);
    /* Capped. */
    assert_int_equal(retry_next(&p, 1, NOW, NOW, RETRY_AFTER_CAP_US, 0), NOW + RETRY_AFTER_CAP_US);
    assert_int_equal(retry_next(&p, 1, NOW, NOW, RETRY_AFTER_CAP_US + 1, 0),
                     NOW + RETRY_AFTER_CAP_US);
    assert_int_equal(retry_next(&p, 1, NOW, NOW, INT64_C(2147483648) * S, 0),
                     NOW + RETRY_AFTER_CAP_US);
    assert_int_equal(RETRY_AFTER_CAP_US, HOUR);
}

static void test_parse_good(void **state)
{
    struct retry_policy p;
    char err[128];
    char spec[256];

    (void)state;
    retry_policy_default(&p);
    assert_int_equal(retry_policy_parse("0,1,2", &p, err, sizeof(err)), 0);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.delay_us[0], 0);
    assert_int_equal(p.delay_us[1], 1 * S);
    assert_int_equal(p.delay_us[2], 2 * S);
    assert_int_equal(p.window_us, 24 * HOUR);       /* left as it was */

    assert_int_equal(retry_policy_parse("7", &p, err, sizeof(err)), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.delay_us[0], 7 * S);

    assert_int_equal(retry_policy_parse(" 0, 5 ,30", &p, err, sizeof(err)), 0);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.delay_us[2], 30 * S);

    assert_int_equal(retry_policy_parse("0,5,30,120,600,1800,3600,7200,14400,28800", &p, err,
                                        sizeof(err)),
                     0);
    assert_int_equal(p.n, 10);
    for (size_t i = 0; i < p.n; i++)
        assert_int_equal(p.delay_us[i], default_s[i] * S);

    /* Exactly RETRY_SCHEDULE_MAX entries. */
    spec[0] = '\0';
    for (int i = 0; i < RETRY_SCHEDULE_MAX; i++)
        strcat(spec, i == 0 ? "1" : ",1");
    assert_int_equal(retry_policy_parse(spec, &p, err, sizeof(err)), 0);
    assert_int_equal(p.n, RETRY_SCHEDULE_MAX);

    /* With one entry, it is the delay for every attempt. */
    assert_int_equal(retry_policy_parse("60", &p, err, sizeof(err)), 0);
    assert_int_equal(retry_next(&p, 5, NOW, NOW, -1, UINT32_C(1) << 31), NOW + 60 * S);
}

struct bad_spec {
    const char *spec;
    const char *message_part;
};

static void test_parse_bad(void **state)
{
    static const struct bad_spec bad[] = {
        {"", "empty"},
        {",", "entry 1 is empty"},
        {"0,,5", "entry 2 is empty"},
        {"0,5,", "entry 3 is empty"},
        {",5", "entry 1 is empty"},
        {"0, ,5", "entry 2 is empty"},
        {"-5", "negative"},
        {"0,-1", "entry 2"},
        {"5s", "not a whole number"},
        {"abc", "not a whole number"},
        {"1.5", "not a whole number"},
        {"+5", "not a whole number"},
        {"0x10", "not a whole number"},
        {"1 2", "not a whole number"},
        {"0;5", "not a whole number"},
        {"99999999999999999999999", "too large"},
        {"31536001", "too large"},
    };
    struct retry_policy p, before;
    char err[128];

    (void)state;
    retry_policy_default(&p);
    before = p;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (retry_policy_parse(bad[i].spec, &p, err, sizeof(err)) != -1)
            fail_msg("\"%s\" was accepted", bad[i].spec);
        if (strstr(err, bad[i].message_part) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].spec, err,
                     bad[i].message_part);
        /* A refused spec leaves the policy as it was. */
        assert_memory_equal(&p, &before, sizeof(p));
    }
    assert_int_equal(retry_policy_parse("31536000", &p, err, sizeof(err)), 0);
}

static void test_parse_too_many(void **state)
{
    struct retry_policy p;
    char err[128];
    char spec[256];

    (void)state;
    spec[0] = '\0';
    for (int i = 0; i <= RETRY_SCHEDULE_MAX; i++)
        strcat(spec, i == 0 ? "1" : ",1");
    retry_policy_default(&p);
    assert_int_equal(retry_policy_parse(spec, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than 32 entries"));
    assert_int_equal(p.n, 10);
}

/* A message that does not fit is cut, not overrun. */
static void test_parse_small_error_buffer(void **state)
{
    struct retry_policy p;
    char *err = malloc(8);

    (void)state;
    assert_non_null(err);
    retry_policy_default(&p);
    assert_int_equal(retry_policy_parse("0,junk", &p, err, 8), -1);
    assert_int_equal(strlen(err), 7);
    free(err);
}

static void test_retry_after_seconds(void **state)
{
    int64_t d = -7;

    (void)state;
    assert_int_equal(retry_after_parse("120", NOW, &d), 0);
    assert_int_equal(d, 120 * S);
    assert_int_equal(retry_after_parse("0", NOW, &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(retry_after_parse("007", NOW, &d), 0);
    assert_int_equal(d, 7 * S);
    /* Surrounding whitespace and a raw line's CRLF. */
    assert_int_equal(retry_after_parse(" 30\r\n", NOW, &d), 0);
    assert_int_equal(d, 30 * S);
    /* Too large to represent: 2^31 seconds (RFC 9110 §1.2.2), no overflow. */
    assert_int_equal(retry_after_parse("99999999999999999999999999999999", NOW, &d), 0);
    assert_int_equal(d, INT64_C(2147483648) * S);
    assert_int_equal(retry_after_parse("2147483649", NOW, &d), 0);
    assert_int_equal(d, INT64_C(2147483648) * S);
    assert_int_equal(retry_after_parse("2147483647", NOW, &d), 0);
    assert_int_equal(d, INT64_C(2147483647) * S);
}

static void test_retry_after_date(void **state)
{
    /* Sun, 06 Nov 1994 08:49:37 GMT is 784111777. */
    const int64_t t = INT64_C(784111777) * S;
    int64_t d = -7;

    (void)state;
    assert_int_equal(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", t - 90 * S, &d), 0);
    assert_int_equal(d, 90 * S);
    /* Sub-second "now" is counted. */
    assert_int_equal(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", t - 500000, &d), 0);
    assert_int_equal(d, 500000);
    /* Exactly now, and in the past: no delay. */
    assert_int_equal(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", t, &d), 0);
    assert_int_equal(d, 0);
    d = -7;
    assert_int_equal(retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", NOW, &d), 0);
    assert_int_equal(d, 0);
    /* Leap day, and the turn of the year. */
    assert_int_equal(retry_after_parse("Thu, 29 Feb 2024 00:00:00 GMT", 0, &d), 0);
    assert_int_equal(d, INT64_C(1709164800) * S);
    assert_int_equal(retry_after_parse("Thu, 01 Jan 1970 00:00:00 GMT", 0, &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(retry_after_parse("Fri, 31 Dec 1999 23:59:59 GMT", 0, &d), 0);
    assert_int_equal(d, INT64_C(946684799) * S);
    /* NOW plus one hour. */
    assert_int_equal(retry_after_parse("Thu, 22 Jan 2026 13:00:00 GMT", NOW, &d), 0);
    assert_int_equal(d, HOUR);
    /* Far in the future: bounded like a huge delta-seconds. */
    assert_int_equal(retry_after_parse("Fri, 31 Dec 9999 23:59:59 GMT", NOW, &d), 0);
    assert_int_equal(d, INT64_C(2147483648) * S);
}

static void test_retry_after_garbage(void **state)
{
    static const char *const bad[] = {
        "",
        "   ",
        "-1",
        "+5",
        "1.5",
        "12abc",
        "abc",
        "0x10",
        "1 2",
        "soon",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Sunday, 06-Nov-94 08:49:37 GMT",          /* RFC 850: not IMF-fixdate */
        "Sun Nov  6 08:49:37 1994",                /* asctime: not IMF-fixdate */
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMTX",
        "Sun, 06 Nov 1994 8:49:37 GMT ",
        "Sun,  6 Nov 1994 08:49:37 GMT",
        "Sun, 32 Jan 1994 08:49:37 GMT",
        "Sun, 00 Jan 1994 08:49:37 GMT",
        "Tue, 29 Feb 2023 00:00:00 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "2026-01-22T12:00:00Z",
    };
    int64_t d = -7;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (retry_after_parse(bad[i], NOW, &d) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
    assert_int_equal(retry_after_parse(NULL, NOW, &d), -1);
    assert_int_equal(d, -7);    /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_schedule),
        cmocka_unit_test(test_which_delay_follows_which_failure),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_jitter_random),
        cmocka_unit_test(test_zero_delay_no_jitter),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_retry_after_replaces_schedule),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_parse_too_many),
        cmocka_unit_test(test_parse_small_error_buffer),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_date),
        cmocka_unit_test(test_retry_after_garbage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
