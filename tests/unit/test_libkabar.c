/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_libkabar.c - libkabar's public API for static webhooks, through the
 * public header only (the test links libkabar_static, as a receiver would):
 * the Standard Webhooks vectors and every negative case of product.md §8,
 * the header helpers, the event, the error strings and de-duplication.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kabar/kabar.h"
#include "sign/stdwh.h"     /* to sign test messages: kabard's own signer */

struct vector {
    const char *secret;
    const char *msg_id;
    const char *timestamp;
    int64_t now;
    const char *payload;
    const char *signature;
};

/* product.md §8. */
static const struct vector vectors[] = {
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
     1614265330, "{\"test\": 2432232314}", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
    {"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", "1649367553",
     1649367553, "{\"email\":\"test@example.com\",\"username\":\"test_user\"}",
     "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="},
};

/* Sign body as kabard would, into sig (STDWH_SIG_LEN bytes). */
static void sign_with(const char *secret, const char *id, int64_t ts, const char *body,
                      char *sig)
{
    uint8_t key[STDWH_KEY_MAX];
    int n = stdwh_key_decode(secret, key, sizeof(key));

    assert_true(n > 0);
    assert_int_equal(stdwh_sign(key, (size_t)n, id, ts, (const uint8_t *)body, strlen(body), sig,
                                STDWH_SIG_LEN),
                     0);
}

static int64_t fixed_clock(void *arg)
{
    return *(const int64_t *)arg;
}

/* A verifier for vector v whose clock reads *now. */
static kabar_verifier *verifier_for(const char *secret, int64_t *now)
{
    kabar_verifier *v = NULL;

    assert_int_equal(kabar_verifier_new_secret(secret, &v), KABAR_OK);
    kabar_verifier_set_clock(v, fixed_clock, now);
    return v;
}

/* kabar_verify() of vector 0 with one part replaced; the result. */
static kabar_err verify0(const char *id, const char *ts, const char *sig, const char *body,
                         int64_t now)
{
    const struct vector *x = &vectors[0];
    kabar_verifier *v = verifier_for(x->secret, &now);
    kabar_err rc = kabar_verify(v, id, ts, sig, body, body ? strlen(body) : 0, NULL);

    kabar_verifier_free(v);
    return rc;
}

#define assert_err(got, want)                                                              \
    do {                                                                                   \
        kabar_err got_ = (got), want_ = (want);                                            \
        if (got_ != want_)                                                                 \
            fail_msg("got %s, want %s", kabar_err_name(got_), kabar_err_name(want_));      \
    } while (0)

static void test_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vector *x = &vectors[i];
        int64_t now = x->now;
        kabar_verifier *v = verifier_for(x->secret, &now);
        kabar_event *e = NULL;

        assert_err(kabar_verify(v, x->msg_id, x->timestamp, x->signature, x->payload,
                                strlen(x->payload), &e),
                   KABAR_OK);
        assert_non_null(e);
        assert_string_equal(kabar_event_json(e), x->payload);
        assert_string_equal(kabar_event_id(e), x->msg_id);
        assert_int_equal(kabar_event_timestamp(e), x->now);
        assert_null(kabar_event_type(e));
        assert_int_equal(kabar_event_is_jwt(e), 0);
        kabar_event_free(e);
        kabar_verifier_free(v);

        /* The same secret without its prefix. */
        v = verifier_for(x->secret + strlen("whsec_"), &now);
        assert_err(kabar_verify(v, x->msg_id, x->timestamp, x->signature, x->payload,
                                strlen(x->payload), NULL),
                   KABAR_OK);
        kabar_verifier_free(v);
    }
}

static void test_missing_headers(void **state)
{
    const struct vector *x = &vectors[0];

    (void)state;
    assert_err(verify0(NULL, x->timestamp, x->signature, x->payload, x->now), KABAR_ENOID);
    assert_err(verify0("", x->timestamp, x->signature, x->payload, x->now), KABAR_ENOID);
    assert_err(verify0(x->msg_id, NULL, x->signature, x->payload, x->now), KABAR_ENOTIMESTAMP);
    assert_err(verify0(x->msg_id, x->timestamp, NULL, x->payload, x->now), KABAR_ENOSIGNATURE);
    assert_err(verify0(x->msg_id, x->timestamp, "", x->payload, x->now), KABAR_ENOSIGNATURE);
}

static void test_bad_timestamps(void **state)
{
    static const char *const bad[] = {"abc", "1614265330a", " 1614265330", "-1614265330",
                                      "+1614265330", "1614265330.5", "0x60372c72",
                                      "1234567890123456789", "1e9"};
    const struct vector *x = &vectors[0];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_err(verify0(x->msg_id, bad[i], x->signature, x->payload, x->now),
                   KABAR_ETIMESTAMP);
}

/* 300 s either way is accepted (the signature is then checked, and fails
 * as the timestamp is signed); 301 s is refused as too old or too new. */
static void test_tolerance(void **state)
{
    const struct vector *x = &vectors[0];
    int64_t now;
    kabar_verifier *v;

    (void)state;
    assert_err(verify0(x->msg_id, x->timestamp, x->signature, x->payload, x->now + 300),
               KABAR_OK);
    assert_err(verify0(x->msg_id, x->timestamp, x->signature, x->payload, x->now - 300),
               KABAR_OK);
    assert_err(verify0(x->msg_id, x->timestamp, x->signature, x->payload, x->now + 301),
               KABAR_ETOOOLD);
    assert_err(verify0(x->msg_id, x->timestamp, x->signature, x->payload, x->now - 301),
               KABAR_ETOONEW);

    now = x->now + 20;
    v = verifier_for(x->secret, &now);
    assert_err(kabar_verifier_set_tolerance(v, 10), KABAR_OK);
    assert_err(kabar_verify(v, x->msg_id, x->timestamp, x->signature, x->payload,
                            strlen(x->payload), NULL),
               KABAR_ETOOOLD);
    assert_err(kabar_verifier_set_tolerance(v, 30), KABAR_OK);
    assert_err(kabar_verify(v, x->msg_id, x->timestamp, x->signature, x->payload,
                            strlen(x->payload), NULL),
               KABAR_OK);
    assert_err(kabar_verifier_set_tolerance(v, -1), KABAR_EINVAL);
    assert_err(kabar_verifier_set_tolerance(v, 86401), KABAR_EINVAL);
    kabar_verifier_free(v);
}

static void test_bad_signatures(void **state)
{
    static const char *const bad[] = {
        "v1,",
        "v1",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",     /* truncated */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",    /* one bit off */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=x",
        "v1,garbage!!",
        "v1,AAAA",
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",        /* no version */
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",    /* unknown version */
        "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "  ",
        ",,,",
    };
    const struct vector *x = &vectors[0];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kabar_err rc = verify0(x->msg_id, x->timestamp, bad[i], x->payload, x->now);

        if (rc != KABAR_ENOMATCH)
            fail_msg("signature \"%s\": got %s", bad[i], kabar_err_name(rc));
    }
    /* Each part of the signed content matters. */
    assert_err(verify0("msg_p5jXN8AQM9LWM0D4loKWxJeK", x->timestamp, x->signature, x->payload,
                       x->now),
               KABAR_ENOMATCH);
    assert_err(verify0(x->msg_id, "1614265331", x->signature, x->payload, x->now),
               KABAR_ENOMATCH);
    assert_err(verify0(x->msg_id, x->timestamp, x->signature, "{\"test\": 2432232315}", x->now),
               KABAR_ENOMATCH);
    assert_err(verify0(x->msg_id, x->timestamp, x->signature, "", x->now), KABAR_ENOMATCH);
}

static void test_several_signatures(void **state)
{
    static const char *const good[] = {
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/rDjqlZt8ER6G1wnM= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/rDjqlZt8ER6G1wnM=",
        "v2,abc v1a,xyz v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1, garbage v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "  v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=  ",
        "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    };
    const struct vector *x = &vectors[0];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        kabar_err rc = verify0(x->msg_id, x->timestamp, good[i], x->payload, x->now);

        if (rc != KABAR_OK)
            fail_msg("signature \"%s\": got %s", good[i], kabar_err_name(rc));
    }
    assert_err(verify0(x->msg_id, x->timestamp,
                       "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/rDjqlZt8ER6G1wnM= v2,x", x->payload,
                       x->now),
               KABAR_ENOMATCH);
}

static void test_bad_secrets(void **state)
{
    static const char *const bad[] = {"", "whsec_", "whsec_!!!!", "whsec_c2hvcnQ=",
                                      "not base64 at all"};
    kabar_verifier *v = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_err(kabar_verifier_new_secret(bad[i], &v), KABAR_ESECRET);
        assert_null(v);
    }
    assert_err(kabar_verifier_new_secret(NULL, &v), KABAR_EINVAL);
}

/* A wrong secret does not verify. */
static void test_wrong_secret(void **state)
{
    const struct vector *x = &vectors[0];
    int64_t now = x->now;
    kabar_verifier *v = verifier_for(vectors[1].secret, &now);

    (void)state;
    assert_err(kabar_verify(v, x->msg_id, x->timestamp, x->signature, x->payload,
                            strlen(x->payload), NULL),
               KABAR_ENOMATCH);
    kabar_verifier_free(v);
}

static void test_verify_headers_and_event(void **state)
{
    const struct vector *x = &vectors[1];
    int64_t now = x->now;
    kabar_verifier *v = verifier_for(x->secret, &now);
    const struct kabar_header h[] = {
        {"Content-Type", "application/json"},
        {"Webhook-Id", x->msg_id},
        {"WEBHOOK-TIMESTAMP", x->timestamp},
        {"webhook-signature", x->signature},
    };
    const char *body = "{\"type\":\"batch.succeeded\",\"data\":{\"id\":\"b\"}}";
    kabar_event *e = NULL;
    char sig[STDWH_SIG_LEN];

    (void)state;
    assert_err(kabar_verify_headers(v, h, 4, x->payload, strlen(x->payload), &e), KABAR_OK);
    kabar_event_free(e);
    assert_err(kabar_verify_headers(v, h, 3, x->payload, strlen(x->payload), NULL),
               KABAR_ENOSIGNATURE);
    assert_string_equal(kabar_header_get(h, 4, "content-type"), "application/json");
    assert_null(kabar_header_get(h, 4, "content-typ"));
    kabar_verifier_free(v);

    /* The type of a JSON body is read. */
    v = verifier_for(x->secret, &now);
    sign_with(x->secret, "msg_1", x->now, body, sig);
    assert_err(kabar_verify(v, "msg_1", x->timestamp, sig, body, strlen(body), &e), KABAR_OK);
    assert_string_equal(kabar_event_type(e), "batch.succeeded");
    assert_string_equal(kabar_event_json(e), body);
    kabar_event_free(e);
    kabar_verifier_free(v);
}

static void test_header_find_raw(void **state)
{
    const char raw[] = "POST http://x:1/hook HTTP/1.1\r\n"
                       "Host: example.com\r\n"
                       "bad line without colon\r\n"
                       "Webhook-Id :  nope\r\n"
                       "webhook-ID:   msg_1  \r\n"
                       "Webhook-Signature:\tv1,abc v1,def\t\n"
                       "webhook-id: second\r\n"
                       "Empty:\r\n"
                       "\r\n"
                       "after-body: x\r\n";
    char out[16];

    (void)state;
    assert_err(kabar_header_find_raw(raw, strlen(raw), "webhook-id", out, sizeof(out)),
               KABAR_OK);
    assert_string_equal(out, "msg_1");
    assert_err(kabar_header_find_raw(raw, strlen(raw), "WEBHOOK-SIGNATURE", out, sizeof(out)),
               KABAR_OK);
    assert_string_equal(out, "v1,abc v1,def");
    assert_err(kabar_header_find_raw(raw, strlen(raw), "empty", out, sizeof(out)), KABAR_OK);
    assert_string_equal(out, "");
    assert_err(kabar_header_find_raw(raw, strlen(raw), "after-body", out, sizeof(out)),
               KABAR_ENOTFOUND);
    assert_err(kabar_header_find_raw(raw, strlen(raw), "host", out, 11), KABAR_ERANGE);
    assert_string_equal(out, "");
    assert_err(kabar_header_find_raw(raw, strlen(raw), "host", out, 12), KABAR_OK);
    assert_string_equal(out, "example.com");
    /* Never past len: the value is cut off by the length, not a NUL. */
    assert_err(kabar_header_find_raw("a: bcd", 4, "a", out, sizeof(out)), KABAR_OK);
    assert_string_equal(out, "b");
    assert_err(kabar_header_find_raw("", 0, "a", out, sizeof(out)), KABAR_ENOTFOUND);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(kabar_strerror(KABAR_OK), "success");
    assert_string_equal(kabar_strerror(KABAR_ETOOOLD), "webhook-timestamp is too old");
    assert_string_equal(kabar_err_name(KABAR_ENOMATCH), "KABAR_ENOMATCH");
    assert_string_equal(kabar_strerror((kabar_err)999), "unknown error");
    for (int i = 0; i < KABAR_ERR_MAX_; i++) {
        assert_non_null(kabar_strerror((kabar_err)i));
        assert_string_not_equal(kabar_strerror((kabar_err)i), "unknown error");
    }
}

/* The values of the error codes are ABI: a program built against one
 * version of kabar.h gets the same numbers from every later library. This
 * list is written once and never edited, only extended. */
static void test_abi_values(void **state)
{
    static const struct { kabar_err err; int value; const char *name; } pinned[] = {
        {KABAR_OK, 0, "KABAR_OK"},
        {KABAR_EINVAL, 1, "KABAR_EINVAL"},
        {KABAR_ENOMEM, 2, "KABAR_ENOMEM"},
        {KABAR_ERANGE, 3, "KABAR_ERANGE"},
        {KABAR_ENOTFOUND, 4, "KABAR_ENOTFOUND"},
        {KABAR_ESECRET, 5, "KABAR_ESECRET"},
        {KABAR_ENOID, 6, "KABAR_ENOID"},
        {KABAR_ENOTIMESTAMP, 7, "KABAR_ENOTIMESTAMP"},
        {KABAR_ENOSIGNATURE, 8, "KABAR_ENOSIGNATURE"},
        {KABAR_ETIMESTAMP, 9, "KABAR_ETIMESTAMP"},
        {KABAR_ETOOOLD, 10, "KABAR_ETOOOLD"},
        {KABAR_ETOONEW, 11, "KABAR_ETOONEW"},
        {KABAR_ENOMATCH, 12, "KABAR_ENOMATCH"},
        {KABAR_ETOKEN, 13, "KABAR_ETOKEN"},
        {KABAR_EALG, 14, "KABAR_EALG"},
        {KABAR_EKID, 15, "KABAR_EKID"},
        {KABAR_EJWKS, 16, "KABAR_EJWKS"},
        {KABAR_EFETCH, 17, "KABAR_EFETCH"},
        {KABAR_EISS, 18, "KABAR_EISS"},
        {KABAR_EAUD, 19, "KABAR_EAUD"},
        {KABAR_EEXPIRED, 20, "KABAR_EEXPIRED"},
        {KABAR_EIAT, 21, "KABAR_EIAT"},
        {KABAR_EBODY, 22, "KABAR_EBODY"},
        {KABAR_EWEBHOOKID, 23, "KABAR_EWEBHOOKID"},
        {KABAR_EDUPLICATE, 24, "KABAR_EDUPLICATE"},
    };
    char version[32];

    (void)state;
    for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
        assert_int_equal((int)pinned[i].err, pinned[i].value);
        assert_string_equal(kabar_err_name(pinned[i].err), pinned[i].name);
    }
    /* Every code of the map is pinned above. */
    assert_int_equal(KABAR_ERR_MAX_, sizeof(pinned) / sizeof(pinned[0]));

    /* The compile-time version is the library's. */
    snprintf(version, sizeof(version), "%d.%d.%d", KABAR_VERSION_MAJOR, KABAR_VERSION_MINOR,
             KABAR_VERSION_PATCH);
    assert_string_equal(version, KABAR_VERSION_STRING);
    assert_string_equal(kabar_version(), KABAR_VERSION_STRING);
    assert_int_equal(KABAR_VERSION_HEX, (KABAR_VERSION_MAJOR << 16) |
                                            (KABAR_VERSION_MINOR << 8) | KABAR_VERSION_PATCH);
#if KABAR_VERSION_HEX < KABAR_VERSION_NUM(0, 1, 0)
#error "KABAR_VERSION_HEX is not usable in #if"
#endif
}

static void test_dedup(void **state)
{
    kabar_dedup *d = NULL;
    char id[300];

    (void)state;
    assert_err(kabar_dedup_new(0, 10, &d), KABAR_EINVAL);
    assert_err(kabar_dedup_new(4, 0, &d), KABAR_EINVAL);
    assert_err(kabar_dedup_new(4, 100, &d), KABAR_OK);
    assert_err(kabar_dedup_claim(d, "msg_a", 1000), KABAR_OK);
    assert_err(kabar_dedup_claim(d, "msg_a", 1050), KABAR_EDUPLICATE);
    assert_err(kabar_dedup_claim(d, "msg_b", 1050), KABAR_OK);
    /* After the ttl it is new again. */
    assert_err(kabar_dedup_claim(d, "msg_a", 1100), KABAR_OK);
    assert_err(kabar_dedup_claim(d, "msg_a", 1101), KABAR_EDUPLICATE);
    /* Released: a retry is not a duplicate. */
    kabar_dedup_release(d, "msg_b");
    assert_err(kabar_dedup_claim(d, "msg_b", 1102), KABAR_OK);
    /* Capacity 4: the oldest is forgotten first. */
    assert_err(kabar_dedup_claim(d, "msg_c", 1103), KABAR_OK);
    assert_err(kabar_dedup_claim(d, "msg_d", 1104), KABAR_OK);
    assert_err(kabar_dedup_claim(d, "msg_e", 1105), KABAR_OK);
    assert_err(kabar_dedup_claim(d, "msg_e", 1105), KABAR_EDUPLICATE);
    assert_err(kabar_dedup_claim(d, "msg_c", 1105), KABAR_EDUPLICATE);
    /* Bad ids. */
    assert_err(kabar_dedup_claim(d, "", 1105), KABAR_EINVAL);
    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    assert_err(kabar_dedup_claim(d, id, 1105), KABAR_EINVAL);
    id[KABAR_DEDUP_ID_MAX] = '\0';
    assert_err(kabar_dedup_claim(d, id, 1105), KABAR_OK);
    assert_err(kabar_dedup_claim(d, id, 1105), KABAR_EDUPLICATE);
    kabar_dedup_free(d);
}

/* Many ids through a small table: never more than capacity remembered,
 * and every one of the last capacity ids still is. */
static void test_dedup_bounded(void **state)
{
    kabar_dedup *d = NULL;
    char id[32];
    int i;

    (void)state;
    assert_err(kabar_dedup_new(100, 3600, &d), KABAR_OK);
    for (i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "msg_%d", i);
        assert_err(kabar_dedup_claim(d, id, 1000 + i / 100), KABAR_OK);
    }
    for (i = 9900; i < 10000; i++) {
        snprintf(id, sizeof(id), "msg_%d", i);
        assert_err(kabar_dedup_claim(d, id, 1100), KABAR_EDUPLICATE);
    }
    snprintf(id, sizeof(id), "msg_%d", 9899);
    assert_err(kabar_dedup_claim(d, id, 1100), KABAR_OK);
    kabar_dedup_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_missing_headers),
        cmocka_unit_test(test_bad_timestamps),
        cmocka_unit_test(test_tolerance),
        cmocka_unit_test(test_bad_signatures),
        cmocka_unit_test(test_several_signatures),
        cmocka_unit_test(test_bad_secrets),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_verify_headers_and_event),
        cmocka_unit_test(test_header_find_raw),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_abi_values),
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_dedup_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
