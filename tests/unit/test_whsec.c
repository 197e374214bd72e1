/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_whsec.c - signing secrets: "whsec_" + standard base64 of 32 random
 * bytes, different every time, and the truncated display form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/b64.h"
#include "core/whsec.h"

static void test_format(void **state)
{
    char s[WHSEC_MAX];
    uint8_t key[64];
    size_t plen = strlen(WHSEC_PREFIX);

    (void)state;
    assert_int_equal(whsec_generate(s, sizeof(s)), 0);
    assert_memory_equal(s, "whsec_", 6);
    /* 32 bytes are 44 base64 characters, the last one padding. */
    assert_int_equal(strlen(s), plen + 44);
    assert_int_equal(s[strlen(s) - 1], '=');
    assert_int_equal(b64_decode(s + plen, strlen(s) - plen, key, sizeof(key)), WHSEC_KEY_LEN);
}

static void test_unique(void **state)
{
    enum { N = 1000 };
    char (*s)[WHSEC_MAX] = calloc(N, WHSEC_MAX);

    (void)state;
    assert_non_null(s);
    for (int i = 0; i < N; i++) {
        assert_int_equal(whsec_generate(s[i], WHSEC_MAX), 0);
        for (int j = 0; j < i; j++) {
            if (strcmp(s[i], s[j]) == 0)
                fail_msg("secret %d repeats secret %d", i, j);
        }
    }
    free(s);
}

/* Not all zeros or a constant: both halves of the key vary. */
static void test_random_bytes(void **state)
{
    char a[WHSEC_MAX], b[WHSEC_MAX];
    uint8_t ka[WHSEC_KEY_LEN], kb[WHSEC_KEY_LEN];

    (void)state;
    assert_int_equal(whsec_generate(a, sizeof(a)), 0);
    assert_int_equal(whsec_generate(b, sizeof(b)), 0);
    assert_int_equal(b64_decode(a + 6, strlen(a) - 6, ka, sizeof(ka)), WHSEC_KEY_LEN);
    assert_int_equal(b64_decode(b + 6, strlen(b) - 6, kb, sizeof(kb)), WHSEC_KEY_LEN);
    assert_memory_not_equal(ka, kb, 16);
    assert_memory_not_equal(ka + 16, kb + 16, 16);
}

static void test_generate_buffer_too_small(void **state)
{
    char *s = malloc(51);

    (void)state;
    assert_non_null(s);
    assert_int_equal(whsec_generate(s, 50), -1);
    assert_int_equal(whsec_generate(s, 51), 0);
    assert_int_equal(strlen(s), 50);
    free(s);
}

static void test_truncate(void **state)
{
    char out[WHSEC_TRUNCATED_MAX];
    char s[WHSEC_MAX];

    (void)state;
    assert_int_equal(whsec_truncate("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", out, sizeof(out)),
                     0);
    assert_string_equal(out, "whsec_...LaSw");

    assert_int_equal(whsec_generate(s, sizeof(s)), 0);
    assert_int_equal(whsec_truncate(s, out, sizeof(out)), 0);
    assert_int_equal(strlen(out), strlen("whsec_...") + 4);
    assert_memory_equal(out, "whsec_...", 9);
    assert_string_equal(out + 9, s + strlen(s) - 4);
    /* Nothing of the secret but its last four characters is shown. */
    assert_null(strstr(out, s + 6));
}

static void test_truncate_buffer_too_small(void **state)
{
    char *out = malloc(14);

    (void)state;
    assert_non_null(out);
    assert_int_equal(whsec_truncate("whsec_abcdefgh", out, 13), -1);
    assert_int_equal(whsec_truncate("whsec_abcdefgh", out, 14), 0);
    assert_string_equal(out, "whsec_...efgh");
    free(out);
}

/* A too-short secret would be shown whole, so it is refused. */
static void test_truncate_short_secret(void **state)
{
    char out[WHSEC_TRUNCATED_MAX];

    (void)state;
    assert_int_equal(whsec_truncate("whsec_abc", out, sizeof(out)), -1);
    assert_int_equal(whsec_truncate("", out, sizeof(out)), -1);
    assert_int_equal(whsec_truncate("whsec_abcd", out, sizeof(out)), 0);
    assert_string_equal(out, "whsec_...abcd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_unique),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_generate_buffer_too_small),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_truncate_buffer_too_small),
        cmocka_unit_test(test_truncate_short_secret),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
