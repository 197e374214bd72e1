/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_verifier.c - the verifier object and kabar_verify(): the checks
 * both kinds of webhook share (headers present, timestamp well-formed and
 * within the tolerance), then the signature check of its kind.
 *
 * The verifier is immutable once configured, which is what makes
 * kabar_verify() safe to call from many threads: it reads the verifier and
 * allocates only per call (the JWKS cache it reaches has its own lock).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "lib/kabar_int.h"

int64_t kabar__now(const kabar_verifier *v)
{
    if (v->clock != NULL)
        return v->clock(v->clock_arg);
    return (int64_t)time(NULL);
}

int kabar__parse_timestamp(const char *s, int64_t *out)
{
    int64_t n = 0;
    size_t i;

    /* 18 digits cannot overflow int64_t, and no real time needs more. */
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 18)
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    if (i == 0)
        return -1;
    *out = n;
    return 0;
}

static kabar_err verifier_alloc(enum kabar__kind kind, kabar_verifier **out)
{
    kabar_verifier *v = calloc(1, sizeof(*v));

    if (v == NULL)
        return KABAR_ENOMEM;
    v->kind = kind;
    v->tolerance = KABAR_DEFAULT_TOLERANCE;
    *out = v;
    return KABAR_OK;
}

kabar_err kabar_verifier_new_secret(const char *secret, kabar_verifier **out)
{
    kabar_verifier *v = NULL;
    int n;
    kabar_err rc;

    if (secret == NULL || out == NULL)
        return KABAR_EINVAL;
    if ((rc = verifier_alloc(KABAR__SECRET, &v)) != KABAR_OK)
        return rc;
    n = stdwh_key_decode(secret, v->key, sizeof(v->key));
    if (n < 0) {
        kabar_verifier_free(v);
        return KABAR_ESECRET;
    }
    v->keylen = (size_t)n;
    *out = v;
    return KABAR_OK;
}

kabar_err kabar_verifier_new_jwks(kabar_jwks *jwks, kabar_verifier **out)
{
    kabar_verifier *v = NULL;
    kabar_err rc;

    if (jwks == NULL || out == NULL)
        return KABAR_EINVAL;
    if ((rc = verifier_alloc(KABAR__JWKS, &v)) != KABAR_OK)
        return rc;
    v->jwks = jwks;
    *out = v;
    return KABAR_OK;
}

/* Replace *slot with a copy of s (NULL clears it). */
static kabar_err verifier_set_string(char **slot, const char *s)
{
    char *copy = NULL;

    if (s != NULL && (copy = strdup(s)) == NULL)
        return KABAR_ENOMEM;
    free(*slot);
    *slot = copy;
    return KABAR_OK;
}

kabar_err kabar_verifier_set_issuer(kabar_verifier *v, const char *issuer)
{
    if (v == NULL)
        return KABAR_EINVAL;
    return verifier_set_string(&v->issuer, issuer);
}

kabar_err kabar_verifier_set_audience(kabar_verifier *v, const char *audience)
{
    if (v == NULL)
        return KABAR_EINVAL;
    return verifier_set_string(&v->audience, audience);
}

kabar_err kabar_verifier_set_tolerance(kabar_verifier *v, int64_t seconds)
{
    if (v == NULL || seconds < 0 || seconds > KABAR__MAX_TOLERANCE)
        return KABAR_EINVAL;
    v->tolerance = seconds;
    return KABAR_OK;
}

void kabar_verifier_set_clock(kabar_verifier *v, kabar_clock_fn fn, void *arg)
{
    if (v == NULL)
        return;
    v->clock = fn;
    v->clock_arg = fn != NULL ? arg : NULL;
}

void kabar_verifier_free(kabar_verifier *v)
{
    if (v == NULL)
        return;
    OPENSSL_cleanse(v->key, sizeof(v->key));
    kabar_jwks_free(v->jwks);
    free(v->issuer);
    free(v->audience);
    free(v);
}

/* The event of a verified static webhook: the body itself. */
static kabar_err verify_make_body_event(const char *id, int64_t ts, const void *body,
                                        size_t len, kabar_event **event)
{
    kabar_event *e = kabar__event_new(id, ts, body, len, false);

    if (e == NULL)
        return KABAR_ENOMEM;
    *event = e;
    return KABAR_OK;
}

/* The event of a verified JWT: its claims, serialised again. */
static kabar_err verify_make_claims_event(const char *id, int64_t ts, json_t *claims,
                                          kabar_event **event)
{
    char *text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    kabar_event *e;

    if (text == NULL)
        return KABAR_ENOMEM;
    e = kabar__event_new(id, ts, text, strlen(text), true);
    free(text);
    if (e == NULL)
        return KABAR_ENOMEM;
    *event = e;
    return KABAR_OK;
}

kabar_err kabar_verify(const kabar_verifier *v, const char *webhook_id,
                       const char *webhook_timestamp, const char *webhook_signature,
                       const void *body, size_t len, kabar_event **event)
{
    json_t *claims = NULL;
    int64_t ts, now;
    kabar_err rc;

    if (v == NULL || (body == NULL && len > 0))
        return KABAR_EINVAL;
    if (body == NULL)
        body = "";
    if (webhook_id == NULL || webhook_id[0] == '\0')
        return KABAR_ENOID;
    if (webhook_timestamp == NULL || webhook_timestamp[0] == '\0')
        return KABAR_ENOTIMESTAMP;
    if (webhook_signature == NULL || webhook_signature[0] == '\0')
        return KABAR_ENOSIGNATURE;
    if (strlen(webhook_id) > KABAR__ID_MAX)
        return KABAR_EINVAL;
    if (kabar__parse_timestamp(webhook_timestamp, &ts) != 0)
        return KABAR_ETIMESTAMP;
    now = kabar__now(v);
    if (ts < now - v->tolerance)
        return KABAR_ETOOOLD;
    if (ts > now + v->tolerance)
        return KABAR_ETOONEW;

    if (v->kind == KABAR__SECRET) {
        rc = kabar__stdwh_check(v, webhook_id, ts, webhook_signature, body, len);
        if (rc == KABAR_OK && event != NULL)
            rc = verify_make_body_event(webhook_id, ts, body, len, event);
        return rc;
    }
    rc = kabar__jwt_check(v, webhook_id, ts, webhook_signature, body, len, now, &claims);
    if (rc == KABAR_OK && event != NULL)
        rc = verify_make_claims_event(webhook_id, ts, claims, event);
    json_decref(claims);
    return rc;
}

kabar_err kabar_verify_headers(const kabar_verifier *v, const struct kabar_header *headers,
                               size_t n, const void *body, size_t len, kabar_event **event)
{
    return kabar_verify(v, kabar_header_get(headers, n, "webhook-id"),
                        kabar_header_get(headers, n, "webhook-timestamp"),
                        kabar_header_get(headers, n, "webhook-signature"), body, len, event);
}
