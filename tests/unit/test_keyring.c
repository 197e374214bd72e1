/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_keyring.c - the RS256 signing keys of dynamic webhooks (sign/keyring.h)
 * on a real store: a fresh SQLite file per test, or a schema of its own on
 * PostgreSQL in make test's PostgreSQL pass (store_testdb.h).
 *
 * Every keyring is opened on a test clock (keyring_open_clock) that starts
 * at the wall clock and is moved by hand, so activation, retirement and the
 * 30 s reload can be stepped through without sleeping, and no step depends
 * on how long key generation or the database took. Tokens are taken apart
 * and checked with jose itself (jose_jws_ver), not with the code under test.
 */
#define _GNU_SOURCE                     /* memmem */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <jose/jose.h>
#include <openssl/sha.h>

#include "common/secretbox.h"
#include "common/timeutil.h"
#include "sign/keyring.h"
#include "store/store.h"
#include "store/store_keys.h"
#include "store_testdb.h"

#define S TIMEUTIL_US_PER_S

struct fixture {
    struct testdb db;
    struct store *st;
    struct secretbox *box;
    int64_t now_us;                 /* the test clock */
};

static int64_t test_clock(void *arg)
{
    return ((struct fixture *)arg)->now_us;
}

static int setup(void **state)
{
    static const uint8_t key[SECRETBOX_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct fixture *f = calloc(1, sizeof *f);

    if (!f || !(f->st = testdb_open(&f->db, "test_keyring"))) {
        free(f);
        return -1;
    }
    f->box = secretbox_new(key);
    f->now_us = timeutil_now_us();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    secretbox_free(f->box);
    testdb_close(&f->db, f->st);
    free(f);
    return 0;
}

static struct keyring *open_keyring(struct fixture *f)
{
    char err[256] = "";
    struct keyring *kr = keyring_open_clock(f->st, f->box, test_clock, f, err, sizeof err);

    if (kr == NULL)
        print_error("keyring_open: %s\n", err);
    assert_non_null(kr);
    return kr;
}

/* The parsed JWKS of kr. */
static json_t *jwks_of(struct keyring *kr)
{
    char *text = keyring_jwks(kr);
    json_t *jwks;

    assert_non_null(text);
    jwks = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(jwks);
    assert_true(json_is_array(json_object_get(jwks, "keys")));
    return jwks;
}

/* The public JWK with this kid in jwks (borrowed), or NULL. */
static json_t *jwks_find(json_t *jwks, const char *kid)
{
    json_t *k;
    size_t i;

    json_array_foreach(json_object_get(jwks, "keys"), i, k)
        if (strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0)
            return k;
    return NULL;
}

/* A compact JWS taken apart: the flattened JSON form jose verifies, the
 * decoded header and claims. */
struct token {
    json_t *jws;
    json_t *header;
    json_t *claims;
};

static json_t *b64_json(const char *s, size_t len)
{
    size_t n = jose_b64_dec_buf(s, len, NULL, 0);
    char *buf;
    json_t *j;

    assert_true(n != SIZE_MAX);
    buf = malloc(n + 1);
    assert_int_equal(jose_b64_dec_buf(s, len, buf, n), n);
    j = json_loadb(buf, n, 0, NULL);
    free(buf);
    assert_non_null(j);
    return j;
}

/* Split compact into t->jws only (a tampered token may not decode). */
static void token_split(const char *compact, struct token *t)
{
    const char *d1 = strchr(compact, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

    assert_non_null(d1);
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    t->jws = json_pack("{s:s%,s:s%,s:s}", "protected", compact, (size_t)(d1 - compact),
                       "payload", d1 + 1, (size_t)(d2 - d1 - 1), "signature", d2 + 1);
    assert_non_null(t->jws);
    t->header = NULL;
    t->claims = NULL;
}

static void token_parse(const char *compact, struct token *t)
{
    const char *d1 = strchr(compact, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;

    token_split(compact, t);
    t->header = b64_json(compact, (size_t)(d1 - compact));
    t->claims = b64_json(d1 + 1, (size_t)(d2 - d1 - 1));
}

static void token_free(struct token *t)
{
    json_decref(t->jws);
    json_decref(t->header);
    json_decref(t->claims);
}

static const char *str(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));

    if (v == NULL)
        print_error("missing string member %s\n", key);
    assert_non_null(v);
    return v;
}

static const char BODY[] =
    "{\"type\":\"batch.succeeded\",\"version\":\"v1\",\"timestamp\":\"2026-01-22T12:00:00Z\","
    "\"data\":{\"id\":\"batches/123\",\"n\":[1,2.5,null,true]},"
    "\"user_metadata\":{\"team\":\"a\"}}";

/* Sign BODY with kr and return the kid of the token's header. */
static void sign_kid(struct keyring *kr, char *kid, size_t cap)
{
    char *jws = NULL;
    struct token t;

    assert_int_equal(keyring_sign(kr, "https://kabar.example", "https://r.example/hook",
                                  "operations/1", 1769083200, "msg_1",
                                  (const uint8_t *)BODY, strlen(BODY), &jws), 0);
    token_parse(jws, &t);
    snprintf(kid, cap, "%s", str(t.header, "kid"));
    token_free(&t);
    free(jws);
}

/* ---- tests ---------------------------------------------------------------- */

/* RFC 7638 section 3.1: the example RSA key and its thumbprint. */
static void test_thumbprint_rfc7638(void **state)
{
    static const char jwk[] =
        "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4"
        "cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W"
        "-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSq"
        "zs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
        "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\","
        "\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
    char kid[KEYRING_KID_MAX];

    (void)state;
    assert_int_equal(keyring_thumbprint(jwk, kid, sizeof kid), 0);
    assert_string_equal(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_int_equal(keyring_thumbprint(jwk, kid, 43), -1);        /* no room for NUL */
    assert_int_equal(keyring_thumbprint("[1]", kid, sizeof kid), -1);
}

/* The first start makes one key; the JWKS shows it, public members only,
 * with its RFC 7638 thumbprint as kid. */
static void test_first_key_and_jwks(void **state)
{
    struct fixture *f = *state;
    struct keyring *kr = open_keyring(f);
    json_t *jwks = jwks_of(kr), *k;
    char kid[KEYRING_KID_MAX], *text;
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
    k = json_array_get(json_object_get(jwks, "keys"), 0);
    assert_string_equal(str(k, "kty"), "RSA");
    assert_string_equal(str(k, "alg"), "RS256");
    assert_string_equal(str(k, "use"), "sig");
    assert_string_equal(str(k, "e"), "AQAB");
    assert_int_equal(strlen(str(k, "n")), 342);                     /* 2048 bits */
    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++)
        assert_null(json_object_get(k, priv[i]));
    text = json_dumps(k, 0);
    assert_int_equal(keyring_thumbprint(text, kid, sizeof kid), 0);
    free(text);
    assert_string_equal(str(k, "kid"), kid);
    assert_true(keyring_activate_time(kr, kid) <= f->now_us);
    json_decref(jwks);
    keyring_close(kr);
}

static void test_sign_claims_and_verify(void **state)
{
    struct fixture *f = *state;
    struct keyring *kr = open_keyring(f);
    json_t *jwks = jwks_of(kr), *pub, *body, *v;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    json_t *want_sha;
    char *jws = NULL, *jws2 = NULL;
    struct token t, t2;
    const char *key;

    assert_int_equal(keyring_sign(kr, "https://kabar.example", "https://r.example/hook",
                                  "operations/1", 1769083200, "msg_1",
                                  (const uint8_t *)BODY, strlen(BODY), &jws), 0);
    assert_non_null(jws);
    token_parse(jws, &t);

    /* Header: exactly alg, typ, kid. */
    assert_int_equal(json_object_size(t.header), 3);
    assert_string_equal(str(t.header, "alg"), "RS256");
    assert_string_equal(str(t.header, "typ"), "JWT");
    pub = jwks_find(jwks, str(t.header, "kid"));
    assert_non_null(pub);

    /* Claims: the registered ones, then every envelope member unchanged. */
    assert_string_equal(str(t.claims, "iss"), "https://kabar.example");
    assert_string_equal(str(t.claims, "aud"), "https://r.example/hook");
    assert_string_equal(str(t.claims, "sub"), "operations/1");
    assert_int_equal(json_integer_value(json_object_get(t.claims, "iat")), 1769083200);
    assert_int_equal(json_integer_value(json_object_get(t.claims, "exp")),
                     1769083200 + KEYRING_TOKEN_TTL_S);
    assert_int_equal(json_integer_value(json_object_get(t.claims, "exp")), 1769083500);
    assert_string_equal(str(t.claims, "webhook_id"), "msg_1");
    assert_int_equal(strncmp(str(t.claims, "jti"), "jti_", 4), 0);
    SHA256((const uint8_t *)BODY, strlen(BODY), digest);
    want_sha = jose_b64_enc(digest, sizeof digest);
    assert_string_equal(str(t.claims, "body_sha256"), json_string_value(want_sha));
    assert_int_equal(strlen(str(t.claims, "body_sha256")), 43);     /* no padding */
    json_decref(want_sha);
    body = json_loads(BODY, 0, NULL);
    json_object_foreach(body, key, v)
        assert_true(json_equal(json_object_get(t.claims, key), v));
    assert_int_equal(json_object_size(t.claims), json_object_size(body) + 8);
    json_decref(body);

    /* The signature verifies with the published key, and only with it. */
    assert_true(jose_jws_ver(NULL, t.jws, NULL, pub, false));

    /* A second token has its own jti. */
    assert_int_equal(keyring_sign(kr, "i", "a", "s", 1, "w", (const uint8_t *)BODY,
                                  strlen(BODY), &jws2), 0);
    token_parse(jws2, &t2);
    assert_string_not_equal(str(t.claims, "jti"), str(t2.claims, "jti"));
    assert_true(jose_jws_ver(NULL, t2.jws, NULL, pub, false));
    token_free(&t2);
    free(jws2);

    token_free(&t);
    free(jws);
    json_decref(jwks);
    keyring_close(kr);
}

static void test_tampered_token_fails(void **state)
{
    struct fixture *f = *state;
    struct keyring *kr = open_keyring(f);
    json_t *jwks = jwks_of(kr), *pub;
    char *jws = NULL, *dot;
    struct token t;

    assert_int_equal(keyring_sign(kr, "i", "a", "s", 1769083200, "w", (const uint8_t *)BODY,
                                  strlen(BODY), &jws), 0);
    token_parse(jws, &t);
    pub = jwks_find(jwks, str(t.header, "kid"));
    assert_true(jose_jws_ver(NULL, t.jws, NULL, pub, false));
    token_free(&t);

    /* One character of the payload changed. */
    dot = strchr(jws, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    token_split(jws, &t);
    assert_false(jose_jws_ver(NULL, t.jws, NULL, pub, false));
    token_free(&t);
    dot[5] = dot[5] == 'A' ? 'B' : 'A';

    /* One character of the signature changed. */
    dot = strrchr(jws, '.');
    dot[10] = dot[10] == 'A' ? 'B' : 'A';
    token_split(jws, &t);
    assert_false(jose_jws_ver(NULL, t.jws, NULL, pub, false));
    token_free(&t);

    free(jws);
    json_decref(jwks);
    keyring_close(kr);
}

static void test_body_not_object(void **state)
{
    struct fixture *f = *state;
    struct keyring *kr = open_keyring(f);
    char *jws = (char *)"x";

    assert_int_equal(keyring_sign(kr, "i", "a", "s", 1, "w", (const uint8_t *)"[1]", 3, &jws), -1);
    assert_null(jws);
    assert_int_equal(keyring_sign(kr, "i", "a", "s", 1, "w", (const uint8_t *)"{\"a\"", 4, &jws),
                     -1);
    assert_null(jws);
    keyring_close(kr);
}

/* Keys live in the store, sealed: a reopened keyring signs with the same
 * key, and a keyring under another master key cannot open it. */
static void test_persist_across_reopen(void **state)
{
    static const uint8_t other[SECRETBOX_KEY_LEN] = {9, 9, 9};
    struct fixture *f = *state;
    struct keyring *kr = open_keyring(f);
    struct secretbox *box2;
    struct store_signing_key rows[4];
    char kid1[KEYRING_KID_MAX], kid2[KEYRING_KID_MAX], err[256];
    size_t n = 0;

    sign_kid(kr, kid1, sizeof kid1);
    keyring_close(kr);
    kr = open_keyring(f);
    sign_kid(kr, kid2, sizeof kid2);
    assert_string_equal(kid1, kid2);
    keyring_close(kr);

    assert_int_equal(store_keys_list(f->st, 0, rows, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].kid, kid1);
    assert_null(strstr(rows[0].public_jwk, "\"d\""));
    assert_null(memmem(rows[0].private_blob, rows[0].private_blob_len, "\"d\"", 3));

    box2 = secretbox_new(other);
    assert_null(keyring_open(f->st, box2, err, sizeof err));
    assert_non_null(strstr(err, "master key"));
    secretbox_free(box2);
}

/* Rotation: published at once, signing one JWKS max-age later, the old key
 * published until its last token and every cache have expired. A second
 * keyring on the same store (another process) sees the rotation at its next
 * reload. */
static void test_rotate(void **state)
{
    struct fixture *f = *state;
    struct keyring *kr = open_keyring(f), *other = open_keyring(f);
    struct store_signing_key *rows = calloc(4, sizeof *rows);
    char kid1[KEYRING_KID_MAX], kid2[KEYRING_KID_MAX], kid[KEYRING_KID_MAX], err[256];
    int64_t t0 = f->now_us, act;
    json_t *jwks;
    size_t n = 0;

    sign_kid(kr, kid1, sizeof kid1);
    assert_int_equal(keyring_rotate(kr, kid2, sizeof kid2, err, sizeof err), 0);
    assert_string_not_equal(kid1, kid2);
    act = keyring_activate_time(kr, kid2);
    assert_true(act == t0 + KEYRING_JWKS_MAX_AGE_S * S);

    /* Published at once; not signing yet. */
    jwks = jwks_of(kr);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
    assert_non_null(jwks_find(jwks, kid1));
    assert_non_null(jwks_find(jwks, kid2));
    json_decref(jwks);
    sign_kid(kr, kid, sizeof kid);
    assert_string_equal(kid, kid1);

    /* The other process has not reloaded yet, up to the last microsecond
     * before 30 s after its last load (its open, at t0 on the test clock);
     * from then on it has. */
    jwks = jwks_of(other);
    assert_null(jwks_find(jwks, kid2));
    json_decref(jwks);
    f->now_us = t0 + 30 * S - 1;
    jwks = jwks_of(other);
    assert_null(jwks_find(jwks, kid2));
    json_decref(jwks);
    f->now_us = t0 + 30 * S;
    jwks = jwks_of(other);
    assert_non_null(jwks_find(jwks, kid2));
    json_decref(jwks);

    /* Just before the activate time: still the old key. */
    f->now_us = act - 1;
    sign_kid(kr, kid, sizeof kid);
    assert_string_equal(kid, kid1);
    sign_kid(other, kid, sizeof kid);
    assert_string_equal(kid, kid1);

    /* From the activate time: the new key, in both; the old one is still
     * published. */
    f->now_us = act;
    sign_kid(kr, kid, sizeof kid);
    assert_string_equal(kid, kid2);
    sign_kid(other, kid, sizeof kid);
    assert_string_equal(kid, kid2);
    jwks = jwks_of(kr);
    assert_non_null(jwks_find(jwks, kid1));
    json_decref(jwks);

    /* Retired at act: published until act + TTL + max-age, then dropped
     * from the JWKS (the row stays). */
    f->now_us = act + (KEYRING_TOKEN_TTL_S + KEYRING_JWKS_MAX_AGE_S) * S - 1;
    jwks = jwks_of(kr);
    assert_non_null(jwks_find(jwks, kid1));
    json_decref(jwks);
    f->now_us = act + (KEYRING_TOKEN_TTL_S + KEYRING_JWKS_MAX_AGE_S) * S;
    jwks = jwks_of(kr);
    assert_null(jwks_find(jwks, kid1));
    assert_non_null(jwks_find(jwks, kid2));
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
    json_decref(jwks);
    assert_int_equal(store_keys_list(f->st, 0, rows, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].kid, kid2);
    assert_int_equal(rows[0].retire_time_us, 0);
    assert_string_equal(rows[1].kid, kid1);
    assert_int_equal(rows[1].retire_time_us, act);

    /* A reopened keyring agrees. */
    keyring_close(kr);
    kr = open_keyring(f);
    sign_kid(kr, kid, sizeof kid);
    assert_string_equal(kid, kid2);
    jwks = jwks_of(kr);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
    json_decref(jwks);

    free(rows);
    keyring_close(other);
    keyring_close(kr);
}

/* Two rotations inside one window: each retires the ones before it at its
 * own activate time, and the newest active key signs. */
static void test_rotate_twice(void **state)
{
    struct fixture *f = *state;
    struct keyring *kr = open_keyring(f);
    char kid1[KEYRING_KID_MAX], kid2[KEYRING_KID_MAX], kid3[KEYRING_KID_MAX];
    char kid[KEYRING_KID_MAX], err[256];
    json_t *jwks;

    sign_kid(kr, kid1, sizeof kid1);
    assert_int_equal(keyring_rotate(kr, kid2, sizeof kid2, err, sizeof err), 0);
    f->now_us += 10 * S;
    assert_int_equal(keyring_rotate(kr, kid3, sizeof kid3, err, sizeof err), 0);
    jwks = jwks_of(kr);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 3);
    json_decref(jwks);
    f->now_us = keyring_activate_time(kr, kid2);
    sign_kid(kr, kid, sizeof kid);
    assert_string_equal(kid, kid2);
    f->now_us = keyring_activate_time(kr, kid3);
    sign_kid(kr, kid, sizeof kid);
    assert_string_equal(kid, kid3);
    keyring_close(kr);
}

/*
 * Signers, JWKS readers and a rotation at once (ASan/UBSan/TSan watch). The
 * keyring runs on a clock of its own that the main thread moves: the
 * workers sign while it rotates; it then moves the clock to the new key's
 * activate time and raises `moved`, and every token a worker signs once it
 * has seen `moved` must carry the new kid. Each worker signs at least
 * WORKER_SIGNS tokens and at least one after `moved`. Workers only record;
 * the main thread asserts.
 */
#define WORKER_SIGNS 20

struct concurrent {
    struct keyring *kr;
    _Atomic int64_t now_us;
    atomic_bool moved;
    char kid_new[KEYRING_KID_MAX];      /* written before moved is raised */
};

struct worker {
    struct concurrent *c;
    int ok;                             /* signatures and JWKS reads that worked */
    int after;                          /* tokens signed after seeing moved */
    int after_new;                      /* ... that carried the new kid */
};

static int64_t concurrent_clock(void *arg)
{
    return atomic_load(&((struct concurrent *)arg)->now_us);
}

/* The kid of a compact JWS's header into kid, or -1 (no cmocka asserts:
 * this runs on the workers). */
static int header_kid(const char *jws, char *kid, size_t cap)
{
    const char *dot = strchr(jws, '.');
    size_t n = dot ? jose_b64_dec_buf(jws, (size_t)(dot - jws), NULL, 0) : SIZE_MAX;
    char *buf;
    json_t *h;
    const char *v;
    int ret = -1;

    if (n == SIZE_MAX || (buf = malloc(n)) == NULL)
        return -1;
    if (jose_b64_dec_buf(jws, (size_t)(dot - jws), buf, n) == n &&
        (h = json_loadb(buf, n, 0, NULL)) != NULL) {
        v = json_string_value(json_object_get(h, "kid"));
        if (v != NULL && (size_t)snprintf(kid, cap, "%s", v) < cap)
            ret = 0;
        json_decref(h);
    }
    free(buf);
    return ret;
}

static void *sign_worker(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < WORKER_SIGNS || w->after == 0; i++) {
        bool moved = atomic_load(&w->c->moved);
        char *jws = NULL, *jwks = keyring_jwks(w->c->kr), kid[KEYRING_KID_MAX];

        if (keyring_sign(w->c->kr, "i", "a", "s", 1, "w", (const uint8_t *)BODY, strlen(BODY),
                         &jws) == 0 && jwks != NULL && header_kid(jws, kid, sizeof kid) == 0) {
            w->ok++;
            if (moved) {
                w->after++;
                if (strcmp(kid, w->c->kid_new) == 0)
                    w->after_new++;
            }
        }
        free(jws);
        free(jwks);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    char err[256] = "", kid_old[KEYRING_KID_MAX], kid[KEYRING_KID_MAX];
    struct concurrent c;
    struct worker w[4];
    pthread_t th[4];
    int64_t act;

    memset(&c, 0, sizeof c);
    atomic_init(&c.now_us, f->now_us);
    atomic_init(&c.moved, false);
    c.kr = keyring_open_clock(f->st, f->box, concurrent_clock, &c, err, sizeof err);
    assert_non_null(c.kr);
    sign_kid(c.kr, kid_old, sizeof kid_old);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.c = &c};
        assert_int_equal(pthread_create(&th[i], NULL, sign_worker, &w[i]), 0);
    }
    assert_int_equal(keyring_rotate(c.kr, c.kid_new, sizeof c.kid_new, err, sizeof err), 0);
    assert_string_not_equal(c.kid_new, kid_old);
    act = keyring_activate_time(c.kr, c.kid_new);
    assert_true(act > atomic_load(&c.now_us));
    atomic_store(&c.now_us, act);
    atomic_store(&c.moved, true);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].ok >= WORKER_SIGNS);
        assert_true(w[i].after >= 1);
        assert_int_equal(w[i].after_new, w[i].after);
    }
    /* And after the threads: the new key signs, the old one is still
     * published. */
    sign_kid(c.kr, kid, sizeof kid);
    assert_string_equal(kid, c.kid_new);
    {
        json_t *jwks = jwks_of(c.kr);
        assert_non_null(jwks_find(jwks, kid_old));
        assert_non_null(jwks_find(jwks, c.kid_new));
        json_decref(jwks);
    }
    keyring_close(c.kr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thumbprint_rfc7638),
        cmocka_unit_test_setup_teardown(test_first_key_and_jwks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_claims_and_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_token_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_not_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persist_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
