/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ids.c - resource ids: shape, alphabet, uniqueness, ordering by
 * creation time, and what ids_valid accepts and refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/ids.h"

static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Decode the 48-bit timestamp from the first ten digits of a body. */
static uint64_t body_ms(const char *body)
{
    uint64_t v = 0;

    for (int i = 0; i < 10; i++)
        v = v * 32 + (uint64_t)(strchr(alphabet, body[i]) - alphabet);
    return v;
}

static void test_new_has_prefix_length_alphabet(void **state)
{
    char id[IDS_MAX];

    (void)state;
    assert_int_equal(ids_new("wh_", id, sizeof(id)), 0);
    assert_int_equal(strlen(id), 3 + IDS_BODY_LEN);
    assert_memory_equal(id, "wh_", 3);
    for (size_t i = 3; i < strlen(id); i++) {
        if (strchr(alphabet, id[i]) == NULL)
            fail_msg("character '%c' of %s is not Crockford base32", id[i], id);
    }
    /* 128 bits in 130: the first digit carries only three. */
    assert_true(id[3] <= '7');
    assert_true(ids_valid("wh_", id));
}

static void test_new_encodes_current_time(void **state)
{
    char id[IDS_MAX];
    struct timespec before, after;
    uint64_t lo, hi, ms;

    (void)state;
    clock_gettime(CLOCK_REALTIME, &before);
    assert_int_equal(ids_new("msg_", id, sizeof(id)), 0);
    clock_gettime(CLOCK_REALTIME, &after);
    lo = (uint64_t)before.tv_sec * 1000 + (uint64_t)before.tv_nsec / 1000000;
    hi = (uint64_t)after.tv_sec * 1000 + (uint64_t)after.tv_nsec / 1000000;
    ms = body_ms(id + 4);
    assert_in_range(ms, lo, hi);
}

static void test_new_sorts_by_time(void **state)
{
    char prev[IDS_MAX], next[IDS_MAX];

    (void)state;
    assert_int_equal(ids_new("wh_", prev, sizeof(prev)), 0);
    for (int i = 0; i < 5; i++) {
        sleep_ms(2);
        assert_int_equal(ids_new("wh_", next, sizeof(next)), 0);
        if (strcmp(prev, next) >= 0)
            fail_msg("%s was made after %s but does not sort after it", next, prev);
        memcpy(prev, next, sizeof(prev));
    }
}

/* Many ids in the same millisecond still come out in creation order. */
static void test_new_monotonic_within_ms(void **state)
{
    char prev[IDS_MAX], next[IDS_MAX];

    (void)state;
    assert_int_equal(ids_new("wh_", prev, sizeof(prev)), 0);
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(ids_new("wh_", next, sizeof(next)), 0);
        if (strcmp(prev, next) >= 0)
            fail_msg("%s was made after %s but does not sort after it", next, prev);
        memcpy(prev, next, sizeof(prev));
    }
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_new_unique(void **state)
{
    enum { N = 10000 };
    char (*ids)[IDS_MAX] = calloc(N, IDS_MAX);

    (void)state;
    assert_non_null(ids);
    for (int i = 0; i < N; i++)
        assert_int_equal(ids_new("key_", ids[i], IDS_MAX), 0);
    qsort(ids, N, IDS_MAX, cmp_ids);
    for (int i = 1; i < N; i++) {
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("duplicate id %s", ids[i]);
    }
    free(ids);
}

static void test_new_buffer_too_small(void **state)
{
    char *id;

    (void)state;
    id = malloc(3 + IDS_BODY_LEN + 1);
    assert_non_null(id);
    assert_int_equal(ids_new("wh_", id, 3 + IDS_BODY_LEN), -1);
    assert_int_equal(ids_new("wh_", id, 3 + IDS_BODY_LEN + 1), 0);
    assert_true(ids_valid("wh_", id));
    free(id);
}

static void test_valid_accepts(void **state)
{
    (void)state;
    assert_true(ids_valid("wh_", "wh_01jj0000000000000000000000"));
    assert_true(ids_valid("wh_", "wh_7zzzzzzzzzzzzzzzzzzzzzzzzz"));
    assert_true(ids_valid("msg_", "msg_0123456789abcdefghjkmnpqrs"));
    assert_true(ids_valid("", "0123456789abcdefghjkmnpqrs"));
}

static void test_valid_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "wh_",
        "wh_01jj000000000000000000000",     /* 25 characters */
        "wh_01jj00000000000000000000000",   /* 27 characters */
        "msg_01jj0000000000000000000000",   /* another kind */
        "WH_01jj0000000000000000000000",
        "wh01jj0000000000000000000000",
        "wh_01JJ0000000000000000000000",    /* upper case */
        "wh_01jj000000000000000000000i",    /* i, l, o, u are not Crockford */
        "wh_01jj000000000000000000000l",
        "wh_01jj000000000000000000000o",
        "wh_01jj000000000000000000000u",
        "wh_01jj00000000000000000000-0",
        "wh_01jj00000000000000000000 0",
        " wh_01jj0000000000000000000000",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ids_valid("wh_", bad[i]))
            fail_msg("ids_valid accepted \"%s\"", bad[i]);
    }
    assert_false(ids_valid("wh_", NULL));
    assert_false(ids_valid(NULL, "wh_01jj0000000000000000000000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_has_prefix_length_alphabet),
        cmocka_unit_test(test_new_encodes_current_time),
        cmocka_unit_test(test_new_sorts_by_time),
        cmocka_unit_test(test_new_unique),
        cmocka_unit_test(test_new_monotonic_within_ms),
        cmocka_unit_test(test_new_buffer_too_small),
        cmocka_unit_test(test_valid_accepts),
        cmocka_unit_test(test_valid_rejects),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
