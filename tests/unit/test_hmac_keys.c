/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hmac_keys.c - opening a static webhook's signing secrets
 * (sign/hmac_keys.h) on a real store (store_testdb.h): the live secrets,
 * newest first, decrypted and decoded to the keys the secrets name; a blob
 * sealed for another webhook (or under another master key) is skipped, not
 * used; no usable secret is -1; wipe leaves zeros; the signature header
 * is one Standard Webhooks signature per key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/secretbox.h"
#include "core/whsec.h"
#include "sign/hmac_keys.h"
#include "sign/stdwh.h"
#include "store/store.h"
#include "store_testdb.h"

#define NOW INT64_C(1700000000000000)
#define WH "wh_00000000000000000000000001"
#define WH_OTHER "wh_00000000000000000000000002"

static int setup(void **state)
{
    static const uint8_t key[SECRETBOX_KEY_LEN] = {7, 7, 7};

    return testdb_fixture_setup_box(state, "test_hmac_keys", key);
}

/* A new secret's text into secret, and its record sealed by box for
 * webhook id aad. */
static void make_secret(const struct secretbox *box, const char *aad, unsigned n,
                        int64_t create_time_us, char *secret, struct store_secret *rec)
{
    int len;

    memset(rec, 0, sizeof *rec);
    assert_int_equal(whsec_generate(secret, WHSEC_MAX), 0);
    snprintf(rec->id, sizeof rec->id, "sec_%026u", n);
    assert_int_equal(whsec_truncate(secret, rec->truncated, sizeof rec->truncated), 0);
    len = secretbox_seal(box, aad, (const uint8_t *)secret, strlen(secret), rec->blob,
                         sizeof rec->blob);
    assert_true(len > 0);
    rec->blob_len = (size_t)len;
    rec->create_time_us = create_time_us;
}

static void create_webhook(struct testdb_fixture *f, const char *id, const struct store_secret *rec)
{
    struct webhook wh;

    memset(&wh, 0, sizeof wh);
    snprintf(wh.id, sizeof wh.id, "%s", id);
    snprintf(wh.project, sizeof wh.project, "p");
    snprintf(wh.uri, sizeof wh.uri, "https://example.com/h");
    wh.events = 1;
    wh.state = WEBHOOK_STATE_ENABLED;
    wh.create_time_us = wh.update_time_us = NOW;
    assert_int_equal(store_webhook_create(f->st, &wh, rec), STORE_OK);
}

static void assert_key_is(const struct hmac_keys *k, size_t i, const char *secret)
{
    uint8_t want[STDWH_KEY_MAX];
    int len = stdwh_key_decode(secret, want, sizeof want);

    assert_true(len > 0);
    assert_int_equal(k->len[i], (size_t)len);
    assert_memory_equal(k->key[i], want, (size_t)len);
}

/* Two live secrets (after a rotation): both keys, newest first. */
static void test_open_live(void **state)
{
    struct testdb_fixture *f = *state;
    char s1[WHSEC_MAX], s2[WHSEC_MAX];
    struct store_secret r1, r2;
    struct hmac_keys k;

    make_secret(f->box, WH, 1, NOW, s1, &r1);
    create_webhook(f, WH, &r1);
    make_secret(f->box, WH, 2, NOW + 1, s2, &r2);
    assert_int_equal(store_secret_rotate(f->st, "p", WH, &r2, NOW + 1000000, 5, NOW + 1),
                     STORE_OK);

    assert_int_equal(hmac_keys_open(f->st, f->box, WH, NOW + 2, &k), 0);
    assert_string_equal(k.webhook_id, WH);
    assert_int_equal(k.n, 2);
    assert_key_is(&k, 0, s2);
    assert_key_is(&k, 1, s1);

    /* Once the first has expired, only the new one. */
    assert_int_equal(hmac_keys_open(f->st, f->box, WH, NOW + 1000000, &k), 0);
    assert_int_equal(k.n, 1);
    assert_key_is(&k, 0, s2);

    hmac_keys_wipe(&k, 1);
    for (size_t i = 0; i < sizeof k; i++)
        assert_int_equal(((const uint8_t *)&k)[i], 0);
}

/* A blob sealed for another webhook, or under another master key, does
 * not open: skipped, and with nothing else usable, -1. */
static void test_wrong_blob(void **state)
{
    static const uint8_t other_key[SECRETBOX_KEY_LEN] = {8, 8, 8};
    struct testdb_fixture *f = *state;
    struct secretbox *other = secretbox_new(other_key);
    char s1[WHSEC_MAX], s2[WHSEC_MAX];
    struct store_secret r1, r2;
    struct hmac_keys k;

    make_secret(f->box, WH_OTHER, 1, NOW, s1, &r1);        /* sealed for another id */
    create_webhook(f, WH, &r1);
    assert_int_equal(hmac_keys_open(f->st, f->box, WH, NOW, &k), -1);
    assert_int_equal(k.n, 0);

    make_secret(other, WH, 2, NOW + 1, s2, &r2);            /* another master key */
    assert_int_equal(store_secret_rotate(f->st, "p", WH, &r2, NOW + 1000000, 5, NOW + 1),
                     STORE_OK);
    assert_int_equal(hmac_keys_open(f->st, f->box, WH, NOW + 2, &k), -1);
    /* With the key it was sealed under, that one opens (and only it). */
    assert_int_equal(hmac_keys_open(f->st, other, WH, NOW + 2, &k), 0);
    assert_int_equal(k.n, 1);
    assert_key_is(&k, 0, s2);
    hmac_keys_wipe(&k, 1);
    secretbox_free(other);
}

/* The header value: one "v1," signature per key, newest first, each the
 * Standard Webhooks HMAC of that key; none without keys. */
static void test_sign(void **state)
{
    struct testdb_fixture *f = *state;
    static const char body[] = "{\"type\":\"batch.succeeded\"}";
    char s1[WHSEC_MAX], s2[WHSEC_MAX], want[2][STDWH_SIG_LEN], joined[2 * STDWH_SIG_LEN + 1];
    struct store_secret r1, r2;
    struct hmac_keys k;
    char *sig;

    make_secret(f->box, WH, 1, NOW, s1, &r1);
    create_webhook(f, WH, &r1);
    make_secret(f->box, WH, 2, NOW + 1, s2, &r2);
    assert_int_equal(store_secret_rotate(f->st, "p", WH, &r2, NOW + 1000000, 5, NOW + 1),
                     STORE_OK);
    assert_int_equal(hmac_keys_open(f->st, f->box, WH, NOW + 2, &k), 0);
    sig = hmac_keys_sign(&k, "msg_1", 1769083200, (const uint8_t *)body, strlen(body));
    assert_non_null(sig);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(stdwh_sign(k.key[i], k.len[i], "msg_1", 1769083200,
                                    (const uint8_t *)body, strlen(body), want[i],
                                    sizeof want[i]), 0);
    snprintf(joined, sizeof joined, "%s %s", want[0], want[1]);
    assert_string_equal(sig, joined);
    free(sig);
    hmac_keys_wipe(&k, 1);
    assert_null(hmac_keys_sign(&k, "msg_1", 1, (const uint8_t *)body, strlen(body)));
}

/* A webhook that does not exist has no keys. */
static void test_no_webhook(void **state)
{
    struct testdb_fixture *f = *state;
    struct hmac_keys k;

    assert_int_equal(hmac_keys_open(f->st, f->box, WH, NOW, &k), -1);
    assert_int_equal(k.n, 0);
    assert_string_equal(k.webhook_id, WH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_live, setup, testdb_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_blob, setup, testdb_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sign, setup, testdb_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_no_webhook, setup, testdb_fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
