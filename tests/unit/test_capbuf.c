/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_capbuf.c - the capped buffer (common/capbuf.h): the cap is exact
 * (content of cap bytes fits, one more does not, whatever the sizes of the
 * appends), growth keeps the content and its NUL, an overflow empties the
 * buffer and it may be used again, reset keeps the memory, take hands it
 * over. The buffer's memory is a heap block of the size it asked for, so
 * AddressSanitizer catches any write past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/capbuf.h"

static void test_empty(void **state)
{
    struct capbuf b;

    (void)state;
    capbuf_init(&b, 10);
    assert_string_equal(capbuf_str(&b), "");
    assert_int_equal(capbuf_len(&b), 0);
    assert_int_equal(capbuf_add(&b, "", 0), CAPBUF_OK);
    assert_string_equal(capbuf_str(&b), "");
    capbuf_free(&b);
    capbuf_free(&b);                    /* twice is fine */
}

/* Exactly cap bytes fit, in one append or byte by byte; one more fails. */
static void test_cap_exact(void **state)
{
    static const size_t caps[] = {1, 7, 4095, 4096, 4097, 10000};
    char *src = malloc(10001);

    (void)state;
    assert_non_null(src);
    for (size_t i = 0; i < 10001; i++)
        src[i] = (char)('a' + i % 26);
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        size_t cap = caps[c];
        struct capbuf b;

        capbuf_init(&b, cap);
        assert_int_equal(capbuf_add(&b, src, cap), CAPBUF_OK);
        assert_int_equal(capbuf_len(&b), cap);
        assert_memory_equal(capbuf_str(&b), src, cap);
        assert_int_equal(capbuf_str(&b)[cap], '\0');
        assert_true(b.alloc <= cap + 1);
        assert_int_equal(capbuf_add(&b, "x", 1), CAPBUF_TOO_BIG);
        capbuf_free(&b);

        capbuf_init(&b, cap);
        for (size_t i = 0; i < cap; i++)
            assert_int_equal(capbuf_add(&b, src + i, 1), CAPBUF_OK);
        assert_memory_equal(capbuf_str(&b), src, cap);
        assert_int_equal(capbuf_add(&b, "x", 1), CAPBUF_TOO_BIG);
        capbuf_free(&b);

        capbuf_init(&b, cap);
        assert_int_equal(capbuf_add(&b, src, cap + 1), CAPBUF_TOO_BIG);
        capbuf_free(&b);
    }
    free(src);
}

/* Growth: doubling from 4 KiB keeps everything appended so far, never
 * allocating past what the cap needs. */
static void test_growth(void **state)
{
    struct capbuf b;
    char chunk[1000];
    size_t total = 0;

    (void)state;
    capbuf_init(&b, 100000);
    for (int i = 0; i < 100; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        assert_int_equal(capbuf_add(&b, chunk, sizeof(chunk)), CAPBUF_OK);
        total += sizeof(chunk);
        assert_int_equal(capbuf_len(&b), total);
        assert_true(b.alloc > total && b.alloc <= 100001);
    }
    for (int i = 0; i < 100; i++)
        for (size_t j = 0; j < sizeof(chunk); j++)
            assert_int_equal(capbuf_str(&b)[(size_t)i * sizeof(chunk) + j], 'a' + i % 26);
    assert_int_equal(b.alloc, 100001);  /* 4096 * 2^n would pass the cap */
    assert_int_equal(capbuf_add(&b, "x", 1), CAPBUF_TOO_BIG);
    capbuf_free(&b);
}

/* An overflow empties the buffer and frees its memory; it may be used
 * again. A size that would wrap len + n is refused, not wrapped. */
static void test_overflow(void **state)
{
    struct capbuf b;

    (void)state;
    capbuf_init(&b, 16);
    assert_int_equal(capbuf_adds(&b, "0123456789"), CAPBUF_OK);
    assert_int_equal(capbuf_adds(&b, "0123456"), CAPBUF_TOO_BIG);
    assert_int_equal(capbuf_len(&b), 0);
    assert_null(b.data);
    assert_string_equal(capbuf_str(&b), "");
    assert_int_equal(capbuf_adds(&b, "again"), CAPBUF_OK);
    assert_string_equal(capbuf_str(&b), "again");
    assert_int_equal(capbuf_add(&b, "", SIZE_MAX), CAPBUF_TOO_BIG);
    assert_int_equal(capbuf_len(&b), 0);
    capbuf_free(&b);
}

/* Reset keeps the memory; take hands the content over and empties. */
static void test_reset_take(void **state)
{
    struct capbuf b;
    const char *before;
    char *out;
    size_t len = 99;

    (void)state;
    capbuf_init(&b, 64);
    assert_int_equal(capbuf_adds(&b, "hello"), CAPBUF_OK);
    before = capbuf_str(&b);
    capbuf_reset(&b);
    assert_int_equal(capbuf_len(&b), 0);
    assert_string_equal(capbuf_str(&b), "");
    assert_int_equal(capbuf_adds(&b, "world"), CAPBUF_OK);
    assert_ptr_equal(capbuf_str(&b), before);
    out = capbuf_take(&b, &len);
    assert_string_equal(out, "world");
    assert_int_equal(len, 5);
    assert_int_equal(capbuf_len(&b), 0);
    assert_null(b.data);
    free(out);
    out = capbuf_take(&b, &len);        /* empty: "" */
    assert_non_null(out);
    assert_string_equal(out, "");
    assert_int_equal(len, 0);
    free(out);
    capbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_cap_exact),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_reset_take),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
