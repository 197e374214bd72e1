/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_stdwh.c - Standard Webhooks v1 signing against the two vectors of
 * the official libraries (product.md §8), secrets with and without their
 * "whsec_" prefix, keys of refused sizes or malformed, and output buffers.
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

#include "common/b64.h"
#include "sign/stdwh.h"

struct vector {
    const char *secret;
    const char *msg_id;
    int64_t timestamp;
    const char *payload;
    const char *signature;
};

/* product.md §8. */
static const struct vector vectors[] = {
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
     "{\"test\": 2432232314}", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
    {"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553,
     "{\"email\":\"test@example.com\",\"username\":\"test_user\"}",
     "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="},
};

/* Decode secret and sign v's message with it into a heap buffer of exactly
 * STDWH_SIG_LEN bytes; the caller frees the result. */
static char *sign_vector(const char *secret, const struct vector *v)
{
    uint8_t key[STDWH_KEY_MAX];
    char *out = malloc(STDWH_SIG_LEN);
    int n;

    assert_non_null(out);
    n = stdwh_key_decode(secret, key, sizeof(key));
    assert_int_equal(n, 24);
    assert_int_equal(stdwh_sign(key, (size_t)n, v->msg_id, v->timestamp,
                                (const uint8_t *)v->payload, strlen(v->payload), out,
                                STDWH_SIG_LEN),
                     0);
    return out;
}

static void test_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char *sig = sign_vector(vectors[i].secret, &vectors[i]);

        assert_string_equal(sig, vectors[i].signature);
        assert_int_equal(strlen(sig), STDWH_SIG_LEN - 1);
        free(sig);
    }
}

static void test_vectors_without_prefix(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char *sig = sign_vector(vectors[i].secret + strlen("whsec_"), &vectors[i]);

        assert_string_equal(sig, vectors[i].signature);
        free(sig);
    }
}

/* Each part of the signed content changes the signature. */
static void test_every_part_signed(void **state)
{
    const struct vector *v = &vectors[0];
    uint8_t key[STDWH_KEY_MAX];
    char sig[STDWH_SIG_LEN];
    int n;

    (void)state;
    n = stdwh_key_decode(v->secret, key, sizeof(key));
    assert_int_equal(n, 24);
    assert_int_equal(stdwh_sign(key, (size_t)n, "msg_p5jXN8AQM9LWM0D4loKWxJeK", v->timestamp,
                                (const uint8_t *)v->payload, strlen(v->payload), sig,
                                sizeof(sig)),
                     0);
    assert_string_not_equal(sig, v->signature);
    assert_int_equal(stdwh_sign(key, (size_t)n, v->msg_id, v->timestamp + 1,
                                (const uint8_t *)v->payload, strlen(v->payload), sig,
                                sizeof(sig)),
                     0);
    assert_string_not_equal(sig, v->signature);
    assert_int_equal(stdwh_sign(key, (size_t)n, v->msg_id, v->timestamp,
                                (const uint8_t *)v->payload, strlen(v->payload) - 1, sig,
                                sizeof(sig)),
                     0);
    assert_string_not_equal(sig, v->signature);
    key[0] ^= 1;
    assert_int_equal(stdwh_sign(key, (size_t)n, v->msg_id, v->timestamp,
                                (const uint8_t *)v->payload, strlen(v->payload), sig,
                                sizeof(sig)),
                     0);
    assert_string_not_equal(sig, v->signature);
}

/* Standard Webhooks keys are 24 to 64 bytes; the ends are accepted, one
 * byte beyond either is not. */
static void test_key_sizes(void **state)
{
    static const struct {
        size_t len;
        int ok;
    } sizes[] = {{1, 0}, {16, 0}, {23, 0}, {24, 1}, {32, 1}, {64, 1}, {65, 0}, {96, 0}};
    /* The key buffer is larger than any key allowed, so that the size
     * limit, not the buffer, is what refuses a long key. */
    uint8_t raw[96], key[128];
    char text[B64_ENCODED_SIZE(96) + 6];

    (void)state;
    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        memcpy(text, "whsec_", 6);
        assert_true(b64_encode(raw, sizes[i].len, text + 6, sizeof(text) - 6) > 0);
        memset(key, 0, sizeof(key));
        if (sizes[i].ok) {
            assert_int_equal(stdwh_key_decode(text, key, sizeof(key)), (int)sizes[i].len);
            assert_memory_equal(key, raw, sizes[i].len);
            assert_int_equal(stdwh_key_decode(text + 6, key, sizeof(key)), (int)sizes[i].len);
        } else {
            if (stdwh_key_decode(text, key, sizeof(key)) != -1)
                fail_msg("a %zu-byte key was accepted", sizes[i].len);
            assert_int_equal(stdwh_key_decode(text + 6, key, sizeof(key)), -1);
        }
    }
}

static void test_key_garbage(void **state)
{
    static const char *const bad[] = {
        "",
        "whsec_",
        "whsec",
        "whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",        /* one character short */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=",      /* stray padding */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS w",      /* a space inside */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ",      /* trailing space */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa_w",       /* base64url alphabet */
        "whsec_whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* the prefix twice */
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",       /* the prefix is lower case */
    };
    uint8_t key[STDWH_KEY_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (stdwh_key_decode(bad[i], key, sizeof(key)) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
}

/* A key buffer smaller than the key is refused, not overrun. */
static void test_key_buffer_too_small(void **state)
{
    uint8_t *key = malloc(23);

    (void)state;
    assert_non_null(key);
    assert_int_equal(stdwh_key_decode(vectors[0].secret, key, 23), -1);
    free(key);
}

static void test_output_buffer(void **state)
{
    const struct vector *v = &vectors[1];
    uint8_t key[STDWH_KEY_MAX];
    char *out;
    int n;

    (void)state;
    n = stdwh_key_decode(v->secret, key, sizeof(key));
    assert_int_equal(n, 24);
    for (size_t cap = 0; cap < STDWH_SIG_LEN; cap++) {
        out = malloc(cap > 0 ? cap : 1);
        assert_non_null(out);
        if (stdwh_sign(key, (size_t)n, v->msg_id, v->timestamp, (const uint8_t *)v->payload,
                       strlen(v->payload), out, cap) != -1)
            fail_msg("a %zu-byte output buffer was accepted", cap);
        free(out);
    }
    /* A larger one is fine. */
    out = malloc(STDWH_SIG_LEN + 16);
    assert_non_null(out);
    assert_int_equal(stdwh_sign(key, (size_t)n, v->msg_id, v->timestamp,
                                (const uint8_t *)v->payload, strlen(v->payload), out,
                                STDWH_SIG_LEN + 16),
                     0);
    assert_string_equal(out, v->signature);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_vectors_without_prefix),
        cmocka_unit_test(test_every_part_signed),
        cmocka_unit_test(test_key_sizes),
        cmocka_unit_test(test_key_garbage),
        cmocka_unit_test(test_key_buffer_too_small),
        cmocka_unit_test(test_output_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
