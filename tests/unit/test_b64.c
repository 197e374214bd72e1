/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_b64.c - base64 and base64url against RFC 4648 §10, plus the strict
 * decoding rules (padding, alphabet, canonical bits) and buffer limits.
 * Output buffers are heap blocks of the exact size allowed, so that any
 * write past them is caught by AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "common/b64.h"

struct vector {
    const char *plain;
    const char *std;
    const char *url;
};

/* RFC 4648 §10. */
static const struct vector rfc_vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_encode_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
        const struct vector *v = &rfc_vectors[i];
        size_t n = strlen(v->plain);
        char out[32];

        assert_int_equal(b64_encode((const uint8_t *)v->plain, n, out, sizeof(out)),
                         strlen(v->std));
        assert_string_equal(out, v->std);
        assert_int_equal(b64url_encode((const uint8_t *)v->plain, n, out, sizeof(out)),
                         strlen(v->url));
        assert_string_equal(out, v->url);
    }
}

static void test_decode_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
        const struct vector *v = &rfc_vectors[i];
        size_t n = strlen(v->plain);
        uint8_t out[32];

        assert_int_equal(b64_decode(v->std, strlen(v->std), out, sizeof(out)), n);
        assert_memory_equal(out, v->plain, n);
        assert_int_equal(b64url_decode(v->url, strlen(v->url), out, sizeof(out)), n);
        assert_memory_equal(out, v->plain, n);
    }
}

/* The two alphabets differ only in the characters for 62 and 63. */
static void test_url_alphabet(void **state)
{
    static const uint8_t all62[] = {0xfb, 0xef, 0xbe};
    static const uint8_t all63[] = {0xff, 0xff, 0xff};
    static const uint8_t two[] = {0xfb, 0xff};
    char out[16];
    uint8_t back[8];

    (void)state;
    assert_int_equal(b64_encode(all62, 3, out, sizeof(out)), 4);
    assert_string_equal(out, "++++");
    assert_int_equal(b64url_encode(all62, 3, out, sizeof(out)), 4);
    assert_string_equal(out, "----");
    assert_int_equal(b64_encode(all63, 3, out, sizeof(out)), 4);
    assert_string_equal(out, "////");
    assert_int_equal(b64url_encode(all63, 3, out, sizeof(out)), 4);
    assert_string_equal(out, "____");
    assert_int_equal(b64_encode(two, 2, out, sizeof(out)), 4);
    assert_string_equal(out, "+/8=");
    assert_int_equal(b64url_encode(two, 2, out, sizeof(out)), 3);
    assert_string_equal(out, "-_8");

    assert_int_equal(b64url_decode("-_8", 3, back, sizeof(back)), 2);
    assert_memory_equal(back, two, 2);
    assert_int_equal(b64_decode("+/8=", 4, back, sizeof(back)), 2);
    assert_memory_equal(back, two, 2);
    /* Each decoder refuses the other's special characters. */
    assert_int_equal(b64_decode("-_8=", 4, back, sizeof(back)), -1);
    assert_int_equal(b64url_decode("+/8", 3, back, sizeof(back)), -1);
}

static void test_round_trip_random(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 100; n++) {
        uint8_t in[100], back[100];
        char enc[B64_ENCODED_SIZE(100)];
        int len;

        assert_int_equal(RAND_bytes(in, sizeof(in)), 1);
        len = b64_encode(in, n, enc, sizeof(enc));
        assert_int_equal(len, B64_ENCODED_SIZE(n) - 1);
        assert_int_equal(b64_decode(enc, (size_t)len, back, sizeof(back)), n);
        assert_memory_equal(back, in, n);

        len = b64url_encode(in, n, enc, sizeof(enc));
        assert_true(len >= 0);
        assert_null(strchr(enc, '='));
        assert_int_equal(b64url_decode(enc, (size_t)len, back, sizeof(back)), n);
        assert_memory_equal(back, in, n);
    }
}

static void test_decode_rejects_malformed_std(void **state)
{
    static const char *const bad[] = {
        "Zg",           /* padding required */
        "Zg=",          /* not a multiple of four */
        "Z===",         /* three padding characters */
        "====",
        "Zg==Zg==",     /* padding in the middle */
        "Zm=v",
        "Zh==",         /* non-zero bits under the padding */
        "Zm9=",
        "Zm9v!A==",     /* not in the alphabet */
        "Zm9v\n",
        " Zm9v",        /* EVP_DecodeBlock would skip this space */
        "Zm9v ",
        "Zm9vYmFy=",    /* trailing junk after a complete encoding */
        "Zm9vYmFy====",
        "Zm9v\xc3\xa9" "A=",
    };
    uint8_t out[32];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (b64_decode(bad[i], strlen(bad[i]), out, sizeof(out)) != -1)
            fail_msg("b64_decode accepted \"%s\"", bad[i]);
    }
    /* An embedded NUL is garbage too, even inside the given length. */
    assert_int_equal(b64_decode("Zm\0v", 4, out, sizeof(out)), -1);
}

static void test_decode_rejects_malformed_url(void **state)
{
    static const char *const bad[] = {
        "Zg==",         /* no padding in base64url */
        "Zm8=",
        "Z",            /* one character cannot hold a byte */
        "Zm9vY",
        "Zh",           /* non-zero trailing bits */
        "Zm9",
        "Zm9v+A",       /* standard alphabet */
        "Zm9v/A",
        "Zm9v.A",
        "Zm 9v",
    };
    uint8_t out[32];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out)) != -1)
            fail_msg("b64url_decode accepted \"%s\"", bad[i]);
    }
    assert_int_equal(b64url_decode("Zm\0v", 4, out, sizeof(out)), -1);
}

/* Encoders fail rather than truncate, and never write past cap. */
static void test_encode_buffer_too_small(void **state)
{
    const uint8_t *in = (const uint8_t *)"foobar";
    char *out;

    (void)state;
    out = malloc(9);
    assert_non_null(out);
    assert_int_equal(b64_encode(in, 6, out, 8), -1);
    assert_int_equal(b64_encode(in, 6, out, 9), 8);
    assert_string_equal(out, "Zm9vYmFy");
    free(out);

    /* "fo" is "Zm8" in base64url: 4 bytes with the NUL, not the 5 that
     * standard base64 (and EVP_EncodeBlock) would write. */
    out = malloc(4);
    assert_non_null(out);
    assert_int_equal(b64url_encode(in, 2, out, 3), -1);
    assert_int_equal(b64url_encode(in, 2, out, 4), 3);
    assert_string_equal(out, "Zm8");
    free(out);

    out = malloc(1);
    assert_non_null(out);
    assert_int_equal(b64_encode(in, 0, out, 0), -1);
    assert_int_equal(b64_encode(in, 0, out, 1), 0);
    assert_string_equal(out, "");
    free(out);
}

/* Decoders need only the real output size, though OpenSSL writes whole
 * 3-byte groups. */
static void test_decode_buffer_too_small(void **state)
{
    uint8_t *out;

    (void)state;
    out = malloc(6);
    assert_non_null(out);
    assert_int_equal(b64_decode("Zm9vYmFy", 8, out, 5), -1);
    assert_int_equal(b64_decode("Zm9vYmFy", 8, out, 6), 6);
    assert_memory_equal(out, "foobar", 6);
    free(out);

    out = malloc(4);
    assert_non_null(out);
    assert_int_equal(b64_decode("Zm9vYg==", 8, out, 3), -1);
    assert_int_equal(b64_decode("Zm9vYg==", 8, out, 4), 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(b64url_decode("Zm9vYg", 6, out, 3), -1);
    assert_int_equal(b64url_decode("Zm9vYg", 6, out, 4), 4);
    assert_memory_equal(out, "foob", 4);
    free(out);

    out = malloc(1);
    assert_non_null(out);
    assert_int_equal(b64url_decode("Zg", 2, out, 0), -1);
    assert_int_equal(b64url_decode("Zg", 2, out, 1), 1);
    assert_int_equal(out[0], 'f');
    free(out);
}

/* The length argument, not a NUL, bounds the input. */
static void test_decode_uses_length(void **state)
{
    uint8_t out[8];

    (void)state;
    assert_int_equal(b64_decode("Zm9vJUNK", 4, out, sizeof(out)), 3);
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(b64url_decode("Zm9v!!", 4, out, sizeof(out)), 3);
    assert_memory_equal(out, "foo", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_rfc4648_vectors),
        cmocka_unit_test(test_decode_rfc4648_vectors),
        cmocka_unit_test(test_url_alphabet),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_decode_rejects_malformed_std),
        cmocka_unit_test(test_decode_rejects_malformed_url),
        cmocka_unit_test(test_encode_buffer_too_small),
        cmocka_unit_test(test_decode_buffer_too_small),
        cmocka_unit_test(test_decode_uses_length),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
