/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_pagetoken.c - opaque page tokens: round trips, the documented
 * encoding, and refusal of tokens for another kind, of damaged or
 * hand-made tokens, and of oversized ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/b64.h"
#include "common/ids.h"
#include "core/pagetoken.h"

#define BODY "01jj0abcdefghjkmnpqrstvwxy"
#define WH_ID "wh_" BODY

/* Make a token from raw text, bypassing pagetoken_encode's own rules. */
static void forge(const char *raw, size_t len, char *out, size_t cap)
{
    assert_true(b64url_encode((const uint8_t *)raw, len, out, cap) >= 0);
}

static void expect_decode_fails(const char *kind, const char *token)
{
    char out[IDS_MAX];

    if (pagetoken_decode(kind, token, out, sizeof(out)) != -1)
        fail_msg("pagetoken_decode(\"%s\") accepted \"%s\" as %s", kind, token, out);
}

static void test_round_trip(void **state)
{
    char token[PAGETOKEN_MAX], id[IDS_MAX], back[IDS_MAX];

    (void)state;
    assert_int_equal(strlen(WH_ID), 3 + IDS_BODY_LEN);
    assert_int_equal(pagetoken_encode("wh_", WH_ID, token, sizeof(token)), 0);
    assert_int_equal(pagetoken_decode("wh_", token, back, sizeof(back)), 0);
    assert_string_equal(back, WH_ID);

    for (int i = 0; i < 100; i++) {
        assert_int_equal(ids_new("msg_", id, sizeof(id)), 0);
        assert_int_equal(pagetoken_encode("msg_", id, token, sizeof(token)), 0);
        assert_int_equal(pagetoken_decode("msg_", token, back, sizeof(back)), 0);
        assert_string_equal(back, id);
    }
}

/* The header documents base64url("p1." + kind + "." + id), unpadded. */
static void test_encoding(void **state)
{
    char token[PAGETOKEN_MAX], expect[PAGETOKEN_MAX];
    static const char raw[] = "p1.wh_." WH_ID;

    (void)state;
    assert_int_equal(pagetoken_encode("wh_", WH_ID, token, sizeof(token)), 0);
    forge(raw, sizeof(raw) - 1, expect, sizeof(expect));
    assert_string_equal(token, expect);
    assert_null(strchr(token, '='));
}

static void test_wrong_kind(void **state)
{
    char token[PAGETOKEN_MAX];

    (void)state;
    assert_int_equal(pagetoken_encode("wh_", WH_ID, token, sizeof(token)), 0);
    expect_decode_fails("msg_", token);
    expect_decode_fails("key_", token);
    expect_decode_fails("w", token);
    expect_decode_fails("", token);
}

static void test_forged_tokens(void **state)
{
    static const char *const raws[] = {
        "p2.wh_." WH_ID,                /* unknown version */
        "p1.wh_" WH_ID,                 /* missing separator */
        "p1.wh_:" WH_ID,
        "p1.msg_." WH_ID,
        "p1.wh_.msg_" BODY,
        "p1.wh_.wh_01jj0abcdefghjkmnpqrstvwx",    /* id too short */
        "p1.wh_." WH_ID "x",                      /* id too long */
        "p1.wh_." WH_ID ".",
        "p1.wh_.wh_01jj0abcdefghjkmnpqrstvwxY",   /* outside the alphabet */
        "p1.wh_.wh_01jj0abcdefghjkmnpqrstvwxu",
        "p1.wh_.",
        "p1.",
        "",
        WH_ID,
    };
    char token[PAGETOKEN_MAX * 2];

    (void)state;
    for (size_t i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
        forge(raws[i], strlen(raws[i]), token, sizeof(token));
        expect_decode_fails("wh_", token);
    }
    /* Bytes hidden after a NUL must not ride along with a valid id. */
    {
        static const char raw[] = "p1.wh_." WH_ID "\0junk";

        forge(raw, sizeof(raw) - 1, token, sizeof(token));
        expect_decode_fails("wh_", token);
    }
}

static void test_garbage(void **state)
{
    static const char *const bad[] = {
        "", "!", "....", "cDEu d2hf", "cDEud2hf=", "cDEu+2hf", "cDEu/2hf",
        "\xff\xfe", "A",
    };
    char token[PAGETOKEN_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_decode_fails("wh_", bad[i]);

    /* A real token with one character changed, dropped or added. */
    assert_int_equal(pagetoken_encode("wh_", WH_ID, token, sizeof(token)), 0);
    token[5] = token[5] == 'A' ? 'B' : 'A';
    expect_decode_fails("wh_", token);
    assert_int_equal(pagetoken_encode("wh_", WH_ID, token, sizeof(token)), 0);
    token[strlen(token) - 1] = '\0';
    expect_decode_fails("wh_", token);
    assert_int_equal(pagetoken_encode("wh_", WH_ID, token, sizeof(token)), 0);
    strcat(token, "A");
    expect_decode_fails("wh_", token);
}

static void test_too_long(void **state)
{
    char big[PAGETOKEN_MAX * 4], token[PAGETOKEN_MAX * 4];
    char id[PAGETOKEN_MAX * 2];

    (void)state;
    /* A token longer than PAGETOKEN_MAX is refused before decoding. */
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_decode_fails("wh_", big);

    /* Even when what it encodes would otherwise be fine. */
    snprintf(id, sizeof(id), "p1.wh_.%s%0*d", WH_ID, 100, 0);
    forge(id, strlen(id), token, sizeof(token));
    expect_decode_fails("wh_", token);

    /* The encoder will not make a token the decoder would refuse. */
    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    assert_int_equal(pagetoken_encode("wh_", id, token, sizeof(token)), -1);
}

static void test_buffers_too_small(void **state)
{
    char token[PAGETOKEN_MAX];
    char *small;
    size_t need;

    (void)state;
    assert_int_equal(pagetoken_encode("wh_", WH_ID, token, sizeof(token)), 0);
    need = strlen(token) + 1;

    small = malloc(need);
    assert_non_null(small);
    assert_int_equal(pagetoken_encode("wh_", WH_ID, small, need - 1), -1);
    assert_int_equal(pagetoken_encode("wh_", WH_ID, small, need), 0);
    assert_string_equal(small, token);
    free(small);

    small = malloc(sizeof(WH_ID));
    assert_non_null(small);
    assert_int_equal(pagetoken_decode("wh_", token, small, sizeof(WH_ID) - 1), -1);
    assert_int_equal(pagetoken_decode("wh_", token, small, sizeof(WH_ID)), 0);
    assert_string_equal(small, WH_ID);
    free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_wrong_kind),
        cmocka_unit_test(test_forged_tokens),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_buffers_too_small),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
