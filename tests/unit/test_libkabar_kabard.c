/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_libkabar_kabard.c - tokens from kabard's own signer verify in
 * libkabar: kabard's keyring (sign/keyring.h, the code that signs dynamic
 * webhooks) signs a delivery, and libkabar verifies it against the JWKS
 * the same keyring publishes at /.well-known/jwks.json - including after a
 * key rotation, while both keys are published. This pins the contract of
 * product.md §5 between the two sides at the unit level; the end-to-end
 * test (kabard -> kabar listen) is in tests/integration/receiver.test.mjs.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/secretbox.h"
#include "common/timeutil.h"
#include "kabar/kabar.h"
#include "sign/keyring.h"
#include "store/store.h"

#define ISS "http://127.0.0.1:8080"
#define AUD "https://receiver.example.com/hook"
#define BODY "{\"type\":\"interaction.completed\",\"version\":\"v1\"," \
             "\"timestamp\":\"2026-01-22T12:00:00Z\",\"data\":{\"id\":\"interactions/1\"}," \
             "\"user_metadata\":{\"k\":\"v\"}}"

struct fixture {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16];
    struct store *st;
    struct secretbox *box;
    struct keyring *kr;
    int64_t now_us;
};

static int64_t keyring_clock(void *arg)
{
    return ((struct fixture *)arg)->now_us;
}

static int64_t lib_clock(void *arg)
{
    return ((struct fixture *)arg)->now_us / TIMEUTIL_US_PER_S;
}

static int setup(void **state)
{
    static const uint8_t key[SECRETBOX_KEY_LEN] = {9, 8, 7};
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    char url[PATH_MAX + 32], err[256] = "";

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/test_libkabar_kabard.XXXXXX",
             tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/kabar.db", f->dir);
    snprintf(url, sizeof(url), "sqlite:%s", f->path);
    if (store_open(url, &f->st, err, sizeof(err)) != STORE_OK) {
        print_error("store_open: %s\n", err);
        return -1;
    }
    f->box = secretbox_new(key);
    /* The keyring runs on this clock from its open: its first key is
     * active from f->now_us. */
    f->now_us = timeutil_now_us();
    f->kr = keyring_open_clock(f->st, f->box, keyring_clock, f, err, sizeof(err));
    if (f->kr == NULL) {
        print_error("keyring_open: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    struct fixture *f = *state;
    char p[PATH_MAX + 32];

    keyring_close(f->kr);
    secretbox_free(f->box);
    store_close(f->st);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A verifier over the keyring's current JWKS, on the fixture's clock. */
static kabar_verifier *verifier_of(struct fixture *f)
{
    char *jwks_text = keyring_jwks(f->kr);
    kabar_jwks *jwks = NULL;
    kabar_verifier *v = NULL;

    assert_non_null(jwks_text);
    assert_int_equal(kabar_jwks_new_json(jwks_text, strlen(jwks_text), &jwks), KABAR_OK);
    free(jwks_text);
    assert_int_equal(kabar_verifier_new_jwks(jwks, &v), KABAR_OK);
    assert_int_equal(kabar_verifier_set_issuer(v, ISS), KABAR_OK);
    assert_int_equal(kabar_verifier_set_audience(v, AUD), KABAR_OK);
    kabar_verifier_set_clock(v, lib_clock, f);
    return v;
}

/* Sign BODY as kabard does for an attempt now; verify; the result. */
static kabar_err sign_and_verify(struct fixture *f, kabar_verifier *v, const char *body,
                                 kabar_event **ev)
{
    int64_t iat = f->now_us / TIMEUTIL_US_PER_S;
    char ts[32], *jws = NULL;
    kabar_err rc;

    snprintf(ts, sizeof(ts), "%lld", (long long)iat);
    assert_int_equal(keyring_sign(f->kr, ISS, AUD, "interactions/1", iat, "msg_k1",
                                  (const uint8_t *)BODY, strlen(BODY), &jws),
                     0);
    rc = kabar_verify(v, "msg_k1", ts, jws, body, strlen(body), ev);
    free(jws);
    return rc;
}

static void test_kabard_tokens_verify(void **state)
{
    struct fixture *f = *state;
    kabar_verifier *v = verifier_of(f);
    kabar_event *ev = NULL;

    assert_int_equal(sign_and_verify(f, v, BODY, &ev), KABAR_OK);
    assert_string_equal(kabar_event_type(ev), "interaction.completed");
    assert_non_null(strstr(kabar_event_json(ev), "\"user_metadata\":{\"k\":\"v\"}"));
    assert_non_null(strstr(kabar_event_json(ev), "\"sub\":\"interactions/1\""));
    kabar_event_free(ev);
    /* The body swapped under kabard's token. */
    assert_int_equal(sign_and_verify(f, v, "{\"type\":\"interaction.failed\"}", NULL),
                     KABAR_EBODY);
    /* Another receiver's audience. */
    assert_int_equal(kabar_verifier_set_audience(v, "https://other.example.com/hook"),
                     KABAR_OK);
    assert_int_equal(sign_and_verify(f, v, BODY, NULL), KABAR_EAUD);
    kabar_verifier_free(v);
}

/* After a rotation both keys are published; tokens of the new key verify
 * once it signs. */
static void test_rotation(void **state)
{
    struct fixture *f = *state;
    char kid[KEYRING_KID_MAX], err[256];
    kabar_verifier *v;

    assert_int_equal(keyring_rotate(f->kr, kid, sizeof(kid), err, sizeof(err)), 0);
    v = verifier_of(f);
    assert_int_equal(sign_and_verify(f, v, BODY, NULL), KABAR_OK);     /* old key */
    f->now_us += (KEYRING_JWKS_MAX_AGE_S + 1) * TIMEUTIL_US_PER_S;
    assert_int_equal(sign_and_verify(f, v, BODY, NULL), KABAR_OK);     /* new key */
    kabar_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kabard_tokens_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
