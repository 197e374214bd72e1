/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_libkabar_jwt.c - libkabar's dynamic-webhook (RS256 JWT) verification,
 * against tokens signed by the latchset jose C library (the library kabard
 * signs with) and tokens forged by hand: every claim check, the algorithm
 * allowlist ("none", HS256 keyed with the public key, RS384, PS256), kid
 * lookup, the body and webhook-id bindings, JWKS parsing, and a JWKS served
 * over HTTP (a libmicrohttpd server in this process) with its cache:
 * Cache-Control, refetch on an unknown kid at most once a minute, key
 * rotation, an unreachable server.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <jose/jose.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>

#include "kabar/kabar.h"

#define NOW 1769083200
#define ISS "https://kabar.example.com"
#define AUD "https://receiver.example.com/hooks"
#define WID "msg_01jjz0000000000000000000aa"
#define BODY "{\"type\":\"batch.succeeded\",\"version\":\"v1\",\"data\":{\"id\":\"batch_1\"}}"

#define assert_err(got, want)                                                              \
    do {                                                                                   \
        kabar_err got_ = (got), want_ = (want);                                            \
        if (got_ != want_)                                                                 \
            fail_msg("got %s, want %s", kabar_err_name(got_), kabar_err_name(want_));      \
    } while (0)

/* Keys made once: two RSA keys (the second to play a rotation or an
 * impostor under the first's kid) and their public JWKs. */
static json_t *priv1, *priv2, *pub1, *pub2;
static char kid1[64], kid2[64];

static json_t *gen_key(char *kid, size_t cap, json_t **pub)
{
    json_t *jwk = json_pack("{s:s, s:i}", "kty", "RSA", "bits", 2048);
    json_t *thp;

    assert_true(jose_jwk_gen(NULL, jwk));
    *pub = json_deep_copy(jwk);
    assert_true(jose_jwk_pub(NULL, *pub));
    thp = jose_jwk_thp(NULL, *pub, "S256");
    assert_non_null(thp);
    snprintf(kid, cap, "%s", json_string_value(thp));
    json_decref(thp);
    json_object_set_new(*pub, "kid", json_string(kid));
    json_object_set_new(*pub, "use", json_string("sig"));
    json_object_set_new(*pub, "alg", json_string("RS256"));
    return jwk;
}

static int setup_keys(void **state)
{
    (void)state;
    priv1 = gen_key(kid1, sizeof(kid1), &pub1);
    priv2 = gen_key(kid2, sizeof(kid2), &pub2);
    return 0;
}

static int teardown_keys(void **state)
{
    (void)state;
    json_decref(priv1);
    json_decref(priv2);
    json_decref(pub1);
    json_decref(pub2);
    return 0;
}

/* A JWKS document with the given public keys; the caller frees it. */
static char *jwks_text(json_t *a, json_t *b)
{
    json_t *keys = json_array(), *root;
    char *s;

    if (a != NULL)
        json_array_append(keys, a);
    if (b != NULL)
        json_array_append(keys, b);
    root = json_pack("{s:o}", "keys", keys);
    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static char *b64url_str(const void *buf, size_t len)
{
    json_t *j = jose_b64_enc(buf, len);
    char *s = strdup(json_string_value(j));

    json_decref(j);
    return s;
}

static char *body_sha256(const char *body)
{
    unsigned char d[32];
    unsigned int n = 0;

    EVP_Digest(body, strlen(body), d, &n, EVP_sha256(), NULL);
    return b64url_str(d, n);
}

/* The claims kabard sends (product.md §5), for iat = ts. */
static json_t *claims_for(int64_t ts, const char *body)
{
    char *sha = body_sha256(body);
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{}}",
                          "iss", ISS, "aud", AUD, "sub", "batches/1", "iat", (json_int_t)ts,
                          "exp", (json_int_t)(ts + 300), "jti", "jti-1", "webhook_id", WID,
                          "body_sha256", sha, "type", "batch.succeeded", "version", "v1",
                          "timestamp", "2026-01-22T12:00:00Z", "data", "id", "batch_1",
                          "user_metadata");
    free(sha);
    return c;
}

/* Sign claims with jwk (latchset jose) as alg, header kid; the compact
 * token, the caller's to free. Steals claims. */
static char *sign_token(json_t *claims, const json_t *jwk, const char *alg, const char *kid)
{
    char *payload = json_dumps(claims, JSON_COMPACT);
    char *p64 = b64url_str(payload, strlen(payload));
    json_t *jws = json_pack("{s:s}", "payload", p64);
    json_t *sig = json_pack("{s:{s:s, s:s, s:s}}", "protected", "alg", alg, "typ", "JWT", "kid",
                            kid);
    char *out;

    assert_true(jose_jws_sig(NULL, jws, sig, jwk));
    assert_int_not_equal(asprintf(&out, "%s.%s.%s",
                                  json_string_value(json_object_get(jws, "protected")), p64,
                                  json_string_value(json_object_get(jws, "signature"))),
                         -1);
    json_decref(jws);
    json_decref(sig);
    json_decref(claims);
    free(payload);
    free(p64);
    return out;
}

/* A token with any header, signed with HMAC-SHA256 under key (or unsigned
 * when key is NULL): what an attacker can make without the private key. */
static char *forge_token(const char *header, json_t *claims, const void *key, size_t keylen)
{
    char *payload = json_dumps(claims, JSON_COMPACT);
    char *h64 = b64url_str(header, strlen(header));
    char *p64 = b64url_str(payload, strlen(payload));
    char *input, *out, *s64 = strdup("");
    unsigned char mac[32];
    unsigned int maclen = 0;

    assert_int_not_equal(asprintf(&input, "%s.%s", h64, p64), -1);
    if (key != NULL) {
        HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)input, strlen(input), mac,
             &maclen);
        free(s64);
        s64 = b64url_str(mac, maclen);
    }
    assert_int_not_equal(asprintf(&out, "%s.%s", input, s64), -1);
    free(input);
    free(payload);
    free(h64);
    free(p64);
    free(s64);
    json_decref(claims);
    return out;
}

static int64_t fixed_clock(void *arg)
{
    return *(const int64_t *)arg;
}

static int64_t clock_now = NOW;

/* A verifier over a fixed JWKS of pub1, with iss and aud set. */
static kabar_verifier *fixed_verifier(void)
{
    char *text = jwks_text(pub1, NULL);
    kabar_jwks *jwks = NULL;
    kabar_verifier *v = NULL;

    assert_err(kabar_jwks_new_json(text, strlen(text), &jwks), KABAR_OK);
    free(text);
    assert_err(kabar_verifier_new_jwks(jwks, &v), KABAR_OK);
    assert_err(kabar_verifier_set_issuer(v, ISS), KABAR_OK);
    assert_err(kabar_verifier_set_audience(v, AUD), KABAR_OK);
    clock_now = NOW;
    kabar_verifier_set_clock(v, fixed_clock, &clock_now);
    return v;
}

/* Verify token against BODY, headers WID and NOW, with the fixed
 * verifier. Frees token. */
static kabar_err check(char *token, const char *body)
{
    kabar_verifier *v = fixed_verifier();
    kabar_err rc = kabar_verify(v, WID, "1769083200", token, body, strlen(body), NULL);

    kabar_verifier_free(v);
    free(token);
    return rc;
}

static void test_valid(void **state)
{
    kabar_verifier *v = fixed_verifier();
    char *token = sign_token(claims_for(NOW, BODY), priv1, "RS256", kid1);
    kabar_event *e = NULL;
    json_t *ev;

    (void)state;
    assert_err(kabar_verify(v, WID, "1769083200", token, BODY, strlen(BODY), &e), KABAR_OK);
    assert_int_equal(kabar_event_is_jwt(e), 1);
    assert_string_equal(kabar_event_type(e), "batch.succeeded");
    assert_string_equal(kabar_event_id(e), WID);
    assert_int_equal(kabar_event_timestamp(e), NOW);
    ev = json_loads(kabar_event_json(e), 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "sub")), "batches/1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "id")),
                        "batch_1");
    json_decref(ev);
    kabar_event_free(e);

    /* Without iss and aud configured, any issuer and audience pass. */
    assert_err(kabar_verifier_set_issuer(v, NULL), KABAR_OK);
    assert_err(kabar_verifier_set_audience(v, NULL), KABAR_OK);
    assert_err(kabar_verify(v, WID, "1769083200", token, BODY, strlen(BODY), NULL), KABAR_OK);
    /* Near the end of the tolerance, still fine. */
    clock_now = NOW + 299;
    assert_err(kabar_verify(v, WID, "1769083200", token, BODY, strlen(BODY), NULL), KABAR_OK);
    kabar_verifier_free(v);
    free(token);
}

static void test_claims(void **state)
{
    json_t *c;

    (void)state;
    /* Wrong audience, or an array holding it. */
    c = claims_for(NOW, BODY);
    json_object_set_new(c, "aud", json_string("https://other.example.com/hooks"));
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EAUD);
    c = claims_for(NOW, BODY);
    json_object_set_new(c, "aud", json_pack("[s,s]", "https://x.example", AUD));
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_OK);
    c = claims_for(NOW, BODY);
    json_object_del(c, "aud");
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EAUD);
    /* Wrong or missing issuer. */
    c = claims_for(NOW, BODY);
    json_object_set_new(c, "iss", json_string("https://evil.example.com"));
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EISS);
    c = claims_for(NOW, BODY);
    json_object_del(c, "iss");
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EISS);
    /* Expired (exp passed while the timestamp is within tolerance). */
    c = claims_for(NOW, BODY);
    json_object_set_new(c, "exp", json_integer(NOW - 1));
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EEXPIRED);
    c = claims_for(NOW, BODY);
    json_object_set_new(c, "exp", json_integer(NOW));
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EEXPIRED);
    c = claims_for(NOW, BODY);
    json_object_del(c, "exp");
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_ETOKEN);
    c = claims_for(NOW, BODY);
    json_object_set_new(c, "exp", json_string("tomorrow"));
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_ETOKEN);
    /* iat must be webhook-timestamp. */
    assert_err(check(sign_token(claims_for(NOW - 10, BODY), priv1, "RS256", kid1), BODY),
               KABAR_EIAT);
    c = claims_for(NOW, BODY);
    json_object_del(c, "iat");
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EIAT);
    /* webhook_id must be webhook-id. */
    c = claims_for(NOW, BODY);
    json_object_set_new(c, "webhook_id", json_string("msg_other"));
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EWEBHOOKID);
    c = claims_for(NOW, BODY);
    json_object_del(c, "webhook_id");
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EWEBHOOKID);
    /* The body swapped under a valid token, or no body_sha256. */
    assert_err(check(sign_token(claims_for(NOW, BODY), priv1, "RS256", kid1),
                     "{\"type\":\"batch.failed\"}"),
               KABAR_EBODY);
    assert_err(check(sign_token(claims_for(NOW, BODY), priv1, "RS256", kid1), ""), KABAR_EBODY);
    c = claims_for(NOW, BODY);
    json_object_del(c, "body_sha256");
    assert_err(check(sign_token(c, priv1, "RS256", kid1), BODY), KABAR_EBODY);
}

static void test_headers_and_time(void **state)
{
    kabar_verifier *v = fixed_verifier();
    char *token = sign_token(claims_for(NOW, BODY), priv1, "RS256", kid1);

    (void)state;
    assert_err(kabar_verify(v, NULL, "1769083200", token, BODY, strlen(BODY), NULL),
               KABAR_ENOID);
    assert_err(kabar_verify(v, WID, NULL, token, BODY, strlen(BODY), NULL), KABAR_ENOTIMESTAMP);
    assert_err(kabar_verify(v, WID, "1769083200", NULL, BODY, strlen(BODY), NULL),
               KABAR_ENOSIGNATURE);
    assert_err(kabar_verify(v, WID, "17690832OO", token, BODY, strlen(BODY), NULL),
               KABAR_ETIMESTAMP);
    assert_err(kabar_verify(v, "msg_other", "1769083200", token, BODY, strlen(BODY), NULL),
               KABAR_EWEBHOOKID);
    clock_now = NOW + 301;
    assert_err(kabar_verify(v, WID, "1769083200", token, BODY, strlen(BODY), NULL),
               KABAR_ETOOOLD);
    clock_now = NOW - 301;
    assert_err(kabar_verify(v, WID, "1769083200", token, BODY, strlen(BODY), NULL),
               KABAR_ETOONEW);
    kabar_verifier_free(v);
    free(token);
}

static void test_algorithms(void **state)
{
    char *pem = NULL, *pubjson;

    (void)state;
    /* "alg":"none", with and without a signature. */
    assert_err(check(forge_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims_for(NOW, BODY),
                                 NULL, 0),
                     BODY),
               KABAR_EALG);
    assert_err(check(forge_token("{\"alg\":\"none\",\"kid\":\"x\"}", claims_for(NOW, BODY),
                                 "k", 1),
                     BODY),
               KABAR_EALG);
    /* HS256 keyed with the public key, as JSON and as the JWK's fields. */
    pubjson = json_dumps(pub1, JSON_COMPACT | JSON_SORT_KEYS);
    {
        char header[256];

        snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 kid1);
        assert_err(check(forge_token(header, claims_for(NOW, BODY), pubjson, strlen(pubjson)),
                         BODY),
                   KABAR_EALG);
        /* ...and as the PEM a naive library would hand HMAC. */
        assert_int_not_equal(asprintf(&pem, "-----BEGIN PUBLIC KEY-----\n%s\n", pubjson), -1);
        assert_err(check(forge_token(header, claims_for(NOW, BODY), pem, strlen(pem)), BODY),
                   KABAR_EALG);
        /* Case games with the algorithm name. */
        snprintf(header, sizeof(header), "{\"alg\":\"rs256\",\"kid\":\"%s\"}", kid1);
        assert_err(check(forge_token(header, claims_for(NOW, BODY), "k", 1), BODY), KABAR_EALG);
        snprintf(header, sizeof(header), "{\"kid\":\"%s\"}", kid1);
        assert_err(check(forge_token(header, claims_for(NOW, BODY), "k", 1), BODY), KABAR_EALG);
        snprintf(header, sizeof(header), "{\"alg\":[\"RS256\"],\"kid\":\"%s\"}", kid1);
        assert_err(check(forge_token(header, claims_for(NOW, BODY), "k", 1), BODY), KABAR_EALG);
    }
    free(pem);
    free(pubjson);
    /* Real signatures with the right key, other RSA algorithms. */
    assert_err(check(sign_token(claims_for(NOW, BODY), priv1, "RS384", kid1), BODY), KABAR_EALG);
    assert_err(check(sign_token(claims_for(NOW, BODY), priv1, "PS256", kid1), BODY), KABAR_EALG);
}

static void test_keys_and_signatures(void **state)
{
    char *t, *dot;
    json_t *c;

    (void)state;
    /* An unknown kid; a missing one. */
    assert_err(check(sign_token(claims_for(NOW, BODY), priv2, "RS256", kid2), BODY), KABAR_EKID);
    assert_err(check(sign_token(claims_for(NOW, BODY), priv1, "RS256", ""), BODY), KABAR_EKID);
    /* Another key under the known kid. */
    assert_err(check(sign_token(claims_for(NOW, BODY), priv2, "RS256", kid1), BODY),
               KABAR_ENOMATCH);
    /* A payload changed after signing. */
    t = sign_token(claims_for(NOW, BODY), priv1, "RS256", kid1);
    c = claims_for(NOW, BODY);
    json_object_set_new(c, "aud", json_string("changed"));
    {
        char *p = json_dumps(c, JSON_COMPACT), *p64 = b64url_str(p, strlen(p)), *forged;
        char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');

        *d1 = '\0';
        assert_int_not_equal(asprintf(&forged, "%s.%s%s", t, p64, d2), -1);
        assert_err(check(forged, BODY), KABAR_ENOMATCH);
        free(p);
        free(p64);
    }
    json_decref(c);
    free(t);
    /* A signature cut short, or flipped. */
    t = sign_token(claims_for(NOW, BODY), priv1, "RS256", kid1);
    t[strlen(t) - 4] = '\0';
    assert_err(check(t, BODY), KABAR_ENOMATCH);
    t = sign_token(claims_for(NOW, BODY), priv1, "RS256", kid1);
    dot = strrchr(t, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    assert_err(check(t, BODY), KABAR_ENOMATCH);
}

static void test_malformed_tokens(void **state)
{
    static const char *const bad[] = {
        "", "x", "a.b", "a.b.c.d", "..", "eyJhbGciOiJSUzI1NiJ9..",    /* RS256 without kid */
        "!!!.e30.AAAA",
        "e30.e30.AAAA",                             /* {} header: no alg */
        "bnVsbA.e30.AAAA",                          /* null header */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    };
    kabar_verifier *v = fixed_verifier();

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kabar_err rc = kabar_verify(v, WID, "1769083200", bad[i], BODY, strlen(BODY), NULL);

        kabar_err want = bad[i][0] == '\0' ? KABAR_ENOSIGNATURE
                         : strncmp(bad[i], "e30.", 4) == 0 ? KABAR_EALG
                         : strncmp(bad[i], "eyJ", 3) == 0 ? KABAR_EKID : KABAR_ETOKEN;

        if (rc != want)
            fail_msg("token \"%s\": got %s, want %s", bad[i], kabar_err_name(rc),
                     kabar_err_name(want));
    }
    kabar_verifier_free(v);
}

static void test_jwks_parse(void **state)
{
    static const char *const bad[] = {
        "", "{", "[]", "{}", "{\"keys\":{}}", "{\"keys\":[]}", "{\"keys\":[1,\"x\",null]}",
        "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
    };
    kabar_jwks *j = NULL;
    json_t *k;
    char *text;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kabar_err rc = kabar_jwks_new_json(bad[i], strlen(bad[i]), &j);

        if (rc != KABAR_EJWKS)
            fail_msg("JWKS %s: got %s", bad[i], kabar_err_name(rc));
    }
    /* A key for encryption, or for another algorithm, or without kid. */
    k = json_deep_copy(pub1);
    json_object_set_new(k, "use", json_string("enc"));
    text = jwks_text(k, NULL);
    assert_err(kabar_jwks_new_json(text, strlen(text), &j), KABAR_EJWKS);
    free(text);
    json_object_set_new(k, "use", json_string("sig"));
    json_object_set_new(k, "alg", json_string("RS512"));
    text = jwks_text(k, NULL);
    assert_err(kabar_jwks_new_json(text, strlen(text), &j), KABAR_EJWKS);
    free(text);
    json_object_del(k, "alg");
    json_object_del(k, "kid");
    text = jwks_text(k, NULL);
    assert_err(kabar_jwks_new_json(text, strlen(text), &j), KABAR_EJWKS);
    free(text);
    /* ...next to a good key: the good key is used. */
    text = jwks_text(k, pub1);
    assert_err(kabar_jwks_new_json(text, strlen(text), &j), KABAR_OK);
    kabar_jwks_free(j);
    free(text);
    json_decref(k);
    /* From a file. */
    {
        char path[] = "/tmp/kabar-jwks-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");

        text = jwks_text(pub1, pub2);
        fputs(text, f);
        fclose(f);
        assert_err(kabar_jwks_new_file(path, &j), KABAR_OK);
        kabar_jwks_free(j);
        unlink(path);
        assert_err(kabar_jwks_new_file(path, &j), KABAR_ENOTFOUND);
        free(text);
    }
}

/* ------------------------------------------------------------- over HTTP */

struct jwks_server {
    struct MHD_Daemon *d;
    pthread_mutex_t lock;
    char *body;             /* what GET answers */
    const char *cache_control;
    int status;
    int fetches;
    char url[64];
};

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *up,
                             size_t *uplen, void **con)
{
    struct jwks_server *s = cls;
    struct MHD_Response *r;
    enum MHD_Result ret;

    (void)url;
    (void)method;
    (void)version;
    (void)up;
    (void)uplen;
    (void)con;
    pthread_mutex_lock(&s->lock);
    s->fetches++;
    r = MHD_create_response_from_buffer(strlen(s->body), s->body, MHD_RESPMEM_MUST_COPY);
    if (s->cache_control != NULL)
        MHD_add_response_header(r, "Cache-Control", s->cache_control);
    ret = MHD_queue_response(c, (unsigned)s->status, r);
    pthread_mutex_unlock(&s->lock);
    MHD_destroy_response(r);
    return ret;
}

static void server_set(struct jwks_server *s, char *body, const char *cc, int status)
{
    pthread_mutex_lock(&s->lock);
    free(s->body);
    s->body = body;
    s->cache_control = cc;
    s->status = status;
    pthread_mutex_unlock(&s->lock);
}

static int server_fetches(struct jwks_server *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->fetches;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void server_start(struct jwks_server *s)
{
    const union MHD_DaemonInfo *info;

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->body = jwks_text(pub1, NULL);
    s->status = 200;
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, s,
                            MHD_OPTION_END);
    assert_non_null(s->d);
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/.well-known/jwks.json",
             (unsigned)info->port);
}

static void server_stop(struct jwks_server *s)
{
    MHD_stop_daemon(s->d);
    free(s->body);
    pthread_mutex_destroy(&s->lock);
}

/* Verify a fresh token signed by key/kid at clock time t. */
static kabar_err verify_at(kabar_verifier *v, int64_t t, const json_t *key, const char *kid)
{
    char ts[32], *token;
    kabar_err rc;

    clock_now = t;
    snprintf(ts, sizeof(ts), "%lld", (long long)t);
    token = sign_token(claims_for(t, BODY), key, "RS256", kid);
    rc = kabar_verify(v, WID, ts, token, BODY, strlen(BODY), NULL);
    free(token);
    return rc;
}

static kabar_verifier *url_verifier(const char *url)
{
    kabar_jwks *j = NULL;
    kabar_verifier *v = NULL;

    assert_err(kabar_jwks_new_url(url, &j), KABAR_OK);
    assert_err(kabar_verifier_new_jwks(j, &v), KABAR_OK);
    kabar_verifier_set_clock(v, fixed_clock, &clock_now);
    return v;
}

static void test_jwks_url_cache(void **state)
{
    struct jwks_server s;
    kabar_verifier *v;
    const int64_t t0 = NOW;

    (void)state;
    server_start(&s);
    server_set(&s, jwks_text(pub1, NULL), "public, max-age=100", 200);
    v = url_verifier(s.url);
    assert_int_equal(server_fetches(&s), 0);        /* nothing fetched up front */
    assert_err(verify_at(v, t0, priv1, kid1), KABAR_OK);
    assert_int_equal(server_fetches(&s), 1);
    assert_err(verify_at(v, t0 + 50, priv1, kid1), KABAR_OK);
    assert_int_equal(server_fetches(&s), 1);        /* cached */
    /* An unknown kid within the minute: no refetch. */
    assert_err(verify_at(v, t0 + 50, priv2, kid2), KABAR_EKID);
    assert_int_equal(server_fetches(&s), 1);
    /* After a minute: one refetch, still unknown; then quiet again. */
    assert_err(verify_at(v, t0 + 61, priv2, kid2), KABAR_EKID);
    assert_int_equal(server_fetches(&s), 2);
    for (int i = 0; i < 20; i++)
        assert_err(verify_at(v, t0 + 62, priv2, kid2), KABAR_EKID);
    assert_int_equal(server_fetches(&s), 2);
    /* A key published (rotation): found on the next allowed refetch. */
    server_set(&s, jwks_text(pub2, pub1), NULL, 200);
    assert_err(verify_at(v, t0 + 122, priv2, kid2), KABAR_OK);
    assert_int_equal(server_fetches(&s), 3);
    /* No Cache-Control: kept 300 s. */
    assert_err(verify_at(v, t0 + 400, priv1, kid1), KABAR_OK);
    assert_int_equal(server_fetches(&s), 3);
    assert_err(verify_at(v, t0 + 423, priv1, kid1), KABAR_OK);
    assert_int_equal(server_fetches(&s), 4);
    /* The server fails: the keys we have stay in use, retried a minute on. */
    server_set(&s, strdup("oops"), NULL, 500);
    assert_err(verify_at(v, t0 + 800, priv1, kid1), KABAR_OK);
    assert_int_equal(server_fetches(&s), 5);
    assert_err(verify_at(v, t0 + 830, priv1, kid1), KABAR_OK);
    assert_int_equal(server_fetches(&s), 5);
    /* A retired key is dropped once the cache is refreshed. */
    server_set(&s, jwks_text(pub2, NULL), "max-age=0", 200);
    assert_err(verify_at(v, t0 + 861, priv1, kid1), KABAR_EKID);
    assert_int_equal(server_fetches(&s), 6);
    kabar_verifier_free(v);

    /* kabar_jwks_refresh() reports a failure in words. */
    {
        kabar_jwks *j = NULL;
        char err[256] = "";

        assert_err(kabar_jwks_new_url(s.url, &j), KABAR_OK);
        server_set(&s, strdup("not json"), NULL, 200);
        assert_err(kabar_jwks_refresh(j, err, sizeof(err)), KABAR_EJWKS);
        assert_non_null(strstr(err, "JWKS"));
        server_set(&s, strdup("x"), NULL, 404);
        assert_err(kabar_jwks_refresh(j, err, sizeof(err)), KABAR_EFETCH);
        assert_string_equal(err, "HTTP status 404");
        server_set(&s, jwks_text(pub1, NULL), NULL, 200);
        assert_err(kabar_jwks_refresh(j, err, sizeof(err)), KABAR_OK);
        kabar_jwks_free(j);
    }
    server_stop(&s);
}

static void test_jwks_unreachable(void **state)
{
    kabar_verifier *v;
    kabar_jwks *j = NULL;

    (void)state;
    /* Port 1 on loopback: refused at once. */
    v = url_verifier("http://127.0.0.1:1/.well-known/jwks.json");
    assert_err(verify_at(v, NOW, priv1, kid1), KABAR_EFETCH);
    kabar_verifier_free(v);
    assert_err(kabar_jwks_new_url("ftp://example.com/jwks", &j), KABAR_EINVAL);
    assert_err(kabar_jwks_new_url("file:///etc/passwd", &j), KABAR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_headers_and_time),
        cmocka_unit_test(test_algorithms),
        cmocka_unit_test(test_keys_and_signatures),
        cmocka_unit_test(test_malformed_tokens),
        cmocka_unit_test(test_jwks_parse),
        cmocka_unit_test(test_jwks_url_cache),
        cmocka_unit_test(test_jwks_unreachable),
    };

    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
