/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_secretbox.c - AES-256-GCM sealing: round trips, the blob layout,
 * fresh nonces, and refusal of every kind of tampering, of the wrong key
 * or aad, and of short or malformed blobs. On each refusal the output must
 * hold no plaintext.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/secretbox.h"

#define NONCE_OFF 1
#define CT_OFF 13

static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct fixture {
    uint8_t key[SECRETBOX_KEY_LEN];
    struct secretbox *box;
    uint8_t blob[sizeof(secret) - 1 + SECRETBOX_OVERHEAD];
    int bloblen;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    for (size_t i = 0; i < SECRETBOX_KEY_LEN; i++)
        f->key[i] = (uint8_t)(i * 7 + 1);
    f->box = secretbox_new(f->key);
    if (f->box == NULL)
        return -1;
    f->bloblen = secretbox_seal(f->box, "wh_01jj0000000000000000000000",
                                (const uint8_t *)secret, sizeof(secret) - 1, f->blob,
                                sizeof(f->blob));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    secretbox_free(f->box);
    free(f);
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0)
            return false;
    }
    return true;
}

/* Open f's blob (or a modified copy) and expect failure with a wiped out. */
static void expect_open_fails(const struct secretbox *box, const char *aad,
                              const uint8_t *blob, size_t len)
{
    uint8_t out[64];

    memset(out, 0xaa, sizeof(out));
    assert_int_equal(secretbox_open(box, aad, blob, len, out, sizeof(out)), -1);
    assert_true(all_zero(out, sizeof(out)));
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    uint8_t out[sizeof(secret) - 1];

    assert_int_equal(f->bloblen, sizeof(secret) - 1 + SECRETBOX_OVERHEAD);
    assert_int_equal(secretbox_open(f->box, "wh_01jj0000000000000000000000", f->blob,
                                    (size_t)f->bloblen, out, sizeof(out)),
                     sizeof(secret) - 1);
    assert_memory_equal(out, secret, sizeof(secret) - 1);
}

static void test_layout(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(f->blob[0], 1);
    /* The plaintext must not appear in the blob. */
    assert_memory_not_equal(f->blob + CT_OFF, secret, sizeof(secret) - 1);
}

static void test_nonce_fresh_each_seal(void **state)
{
    struct fixture *f = *state;
    uint8_t again[sizeof(f->blob)];

    assert_int_equal(secretbox_seal(f->box, "wh_01jj0000000000000000000000",
                                    (const uint8_t *)secret, sizeof(secret) - 1, again,
                                    sizeof(again)),
                     f->bloblen);
    assert_memory_not_equal(again + NONCE_OFF, f->blob + NONCE_OFF, 12);
    assert_memory_not_equal(again + CT_OFF, f->blob + CT_OFF, sizeof(secret) - 1);
}

/* Flip each bit of the nonce, the ciphertext and the tag in turn. */
static void test_tamper_any_bit_fails(void **state)
{
    struct fixture *f = *state;
    uint8_t copy[sizeof(f->blob)];

    for (size_t byte = 1; byte < (size_t)f->bloblen; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, f->blob, sizeof(copy));
            copy[byte] ^= (uint8_t)(1u << bit);
            expect_open_fails(f->box, "wh_01jj0000000000000000000000", copy,
                              (size_t)f->bloblen);
        }
    }
}

static void test_wrong_version_fails(void **state)
{
    struct fixture *f = *state;
    uint8_t copy[sizeof(f->blob)];

    memcpy(copy, f->blob, sizeof(copy));
    copy[0] = 2;
    expect_open_fails(f->box, "wh_01jj0000000000000000000000", copy, (size_t)f->bloblen);
    copy[0] = 0;
    expect_open_fails(f->box, "wh_01jj0000000000000000000000", copy, (size_t)f->bloblen);
}

static void test_wrong_aad_fails(void **state)
{
    struct fixture *f = *state;

    expect_open_fails(f->box, "wh_01jj0000000000000000000001", f->blob, (size_t)f->bloblen);
    expect_open_fails(f->box, "", f->blob, (size_t)f->bloblen);
    expect_open_fails(f->box, NULL, f->blob, (size_t)f->bloblen);
}

static void test_wrong_key_fails(void **state)
{
    struct fixture *f = *state;
    uint8_t key[SECRETBOX_KEY_LEN];
    struct secretbox *other;

    memcpy(key, f->key, sizeof(key));
    key[31] ^= 1;
    other = secretbox_new(key);
    assert_non_null(other);
    expect_open_fails(other, "wh_01jj0000000000000000000000", f->blob, (size_t)f->bloblen);
    secretbox_free(other);
}

/* The box keeps its own copy: wiping the caller's key changes nothing. */
static void test_box_copies_key(void **state)
{
    struct fixture *f = *state;
    uint8_t out[sizeof(secret) - 1];

    memset(f->key, 0, sizeof(f->key));
    assert_int_equal(secretbox_open(f->box, "wh_01jj0000000000000000000000", f->blob,
                                    (size_t)f->bloblen, out, sizeof(out)),
                     sizeof(secret) - 1);
}

static void test_short_or_truncated_blob_fails(void **state)
{
    struct fixture *f = *state;

    for (size_t len = 0; len < (size_t)f->bloblen; len++)
        expect_open_fails(f->box, "wh_01jj0000000000000000000000", f->blob, len);
}

static void test_empty_plaintext_and_null_aad(void **state)
{
    struct fixture *f = *state;
    uint8_t blob[SECRETBOX_OVERHEAD], out[1];

    assert_int_equal(secretbox_seal(f->box, NULL, (const uint8_t *)"", 0, blob, sizeof(blob)),
                     SECRETBOX_OVERHEAD);
    assert_int_equal(secretbox_open(f->box, NULL, blob, sizeof(blob), out, 0), 0);
    /* NULL aad means the empty string, and nothing else. */
    assert_int_equal(secretbox_open(f->box, "", blob, sizeof(blob), out, 0), 0);
    expect_open_fails(f->box, "x", blob, sizeof(blob));
}

static void test_buffers_too_small(void **state)
{
    struct fixture *f = *state;
    uint8_t *blob = malloc(sizeof(f->blob)), *out = malloc(sizeof(secret) - 1);

    assert_non_null(blob);
    assert_non_null(out);
    memset(blob, 0xaa, sizeof(f->blob));
    assert_int_equal(secretbox_seal(f->box, NULL, (const uint8_t *)secret, sizeof(secret) - 1,
                                    blob, sizeof(f->blob) - 1),
                     -1);
    assert_true(all_zero(blob, sizeof(f->blob) - 1));
    assert_int_equal(secretbox_seal(f->box, NULL, (const uint8_t *)secret, sizeof(secret) - 1,
                                    blob, sizeof(f->blob)),
                     (int)sizeof(f->blob));

    assert_int_equal(secretbox_open(f->box, NULL, blob, sizeof(f->blob), out,
                                    sizeof(secret) - 2),
                     -1);
    assert_int_equal(secretbox_open(f->box, NULL, blob, sizeof(f->blob), out,
                                    sizeof(secret) - 1),
                     sizeof(secret) - 1);
    assert_memory_equal(out, secret, sizeof(secret) - 1);
    free(blob);
    free(out);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_round_trip),
        T(test_layout),
        T(test_nonce_fresh_each_seal),
        T(test_tamper_any_bit_fails),
        T(test_wrong_version_fails),
        T(test_wrong_aad_fails),
        T(test_wrong_key_fails),
        T(test_box_copies_key),
        T(test_short_or_truncated_blob_fails),
        T(test_empty_plaintext_and_null_aad),
        T(test_buffers_too_small),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
