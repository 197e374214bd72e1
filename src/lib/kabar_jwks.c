/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_jwks.c - the public keys of dynamic webhooks: parsing a JWKS
 * (RFC 7517) into OpenSSL keys, and, for a JWKS given by URL, fetching it
 * with libcurl and caching it.
 *
 * Caching follows the answer's Cache-Control (max-age; no-store and
 * no-cache mean "do not keep", which we read as the 10 s floor so that a
 * busy receiver does not fetch per request), 300 s without one, never more
 * than a day. A kid that is not in the cache means kabard may have
 * published a new key: we refetch, but at most once a minute, so tokens
 * with made-up kids cannot turn a receiver into a load generator against
 * kabard. A failed fetch keeps the keys we have and is retried a minute
 * later.
 *
 * One mutex guards the cache, and is held while fetching: a fetch is rare,
 * and threads that wanted fresh keys would only fetch them again. A key is
 * handed out with its own reference (EVP_PKEY_up_ref), so a refetch can
 * replace the set while another thread still verifies with an old key.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "common/b64.h"
#include "common/capbuf.h"
#include "lib/kabar_int.h"

#define JWKS_KID_MAX 256
#define JWKS_RSA_BITS_MIN 2048
#define JWKS_RSA_BITS_MAX 8192
#define JWKS_DEFAULT_MAX_AGE 300
#define JWKS_MIN_MAX_AGE 10
#define JWKS_MAX_MAX_AGE 86400
#define JWKS_REFETCH_INTERVAL 60
#define JWKS_TIMEOUT_MS 10000L
#define JWKS_CONNECT_TIMEOUT_MS 5000L

struct jwks_key {
    char kid[JWKS_KID_MAX + 1];
    EVP_PKEY *pkey;
};

struct jwks_set {
    struct jwks_key keys[KABAR__JWKS_KEYS_MAX];
    size_t n;
};

struct kabar_jwks {
    pthread_mutex_t lock;
    char *url;                  /* NULL: a fixed JWKS */
    struct jwks_set *set;       /* NULL until the first successful fetch */
    int64_t expires;            /* the cache is fresh before this */
    int64_t last_attempt;       /* of a fetch, successful or not */
    bool attempted;
};

static void jwks_set_free(struct jwks_set *set)
{
    size_t i;

    if (set == NULL)
        return;
    for (i = 0; i < set->n; i++)
        EVP_PKEY_free(set->keys[i].pkey);
    free(set);
}

/* A base64url member of jwk as a BIGNUM, or NULL. */
static BIGNUM *jwks_bn(const json_t *jwk, const char *name)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    uint8_t buf[JWKS_RSA_BITS_MAX / 8 + 1];
    int n;

    if (s == NULL)
        return NULL;
    n = b64url_decode(s, strlen(s), buf, sizeof(buf));
    if (n <= 0)
        return NULL;
    return BN_bin2bn(buf, n, NULL);
}

/* An RSA public key from jwk's n and e, or NULL when it is not one we
 * accept (too small, too large, malformed). */
static EVP_PKEY *jwks_rsa_key(const json_t *jwk)
{
    BIGNUM *n = jwks_bn(jwk, "n"), *e = jwks_bn(jwk, "e");
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    int bits;

    if (n == NULL || e == NULL)
        goto out;
    bits = BN_num_bits(n);
    if (bits < JWKS_RSA_BITS_MIN || bits > JWKS_RSA_BITS_MAX || !BN_is_odd(e) ||
        BN_num_bits(e) < 2 || BN_num_bits(e) > 64)
        goto out;
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

/* Is jwk an RSA signing key meant for RS256 (or for any algorithm)? */
static bool jwks_usable(const json_t *jwk)
{
    const json_t *use = json_object_get(jwk, "use"), *alg = json_object_get(jwk, "alg");
    const char *kty = json_string_value(json_object_get(jwk, "kty"));

    if (kty == NULL || strcmp(kty, "RSA") != 0)
        return false;
    if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
        return false;
    if (alg != NULL && (!json_is_string(alg) || strcmp(json_string_value(alg), "RS256") != 0))
        return false;
    return true;
}

/* Parse a JWKS document into *out. KABAR_EJWKS when it is not one or has
 * no usable key. */
static kabar_err jwks_parse(const char *text, size_t len, struct jwks_set **out)
{
    json_t *root, *keys, *jwk;
    struct jwks_set *set;
    size_t i, j;
    kabar_err rc = KABAR_EJWKS;

    if (len > KABAR__JWKS_MAX)
        return KABAR_EJWKS;
    root = kabar__json_parse(text, len);
    keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        json_decref(root);
        return KABAR_EJWKS;
    }
    set = calloc(1, sizeof(*set));
    if (set == NULL) {
        json_decref(root);
        return KABAR_ENOMEM;
    }
    json_array_foreach(keys, i, jwk) {
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        bool seen = false;

        if (set->n == KABAR__JWKS_KEYS_MAX)
            break;
        if (!json_is_object(jwk) || kid == NULL || kid[0] == '\0' ||
            strlen(kid) > JWKS_KID_MAX || !jwks_usable(jwk))
            continue;
        /* Two keys under one kid: the first wins, as a lookup by kid
         * cannot tell them apart. */
        for (j = 0; j < set->n; j++)
            seen = seen || strcmp(set->keys[j].kid, kid) == 0;
        if (seen)
            continue;
        set->keys[set->n].pkey = jwks_rsa_key(jwk);
        if (set->keys[set->n].pkey == NULL)
            continue;
        memcpy(set->keys[set->n].kid, kid, strlen(kid) + 1);
        set->n++;
    }
    json_decref(root);
    if (set->n > 0) {
        *out = set;
        rc = KABAR_OK;
    } else {
        jwks_set_free(set);
    }
    return rc;
}

static kabar_err jwks_alloc(kabar_jwks **out)
{
    kabar_jwks *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return KABAR_ENOMEM;
    if (pthread_mutex_init(&j->lock, NULL) != 0) {
        free(j);
        return KABAR_ENOMEM;
    }
    *out = j;
    return KABAR_OK;
}

kabar_err kabar_jwks_new_url(const char *url, kabar_jwks **out)
{
    kabar_jwks *j;
    kabar_err rc;

    if (url == NULL || out == NULL ||
        (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
        return KABAR_EINVAL;
    if ((rc = jwks_alloc(&j)) != KABAR_OK)
        return rc;
    j->url = strdup(url);
    if (j->url == NULL) {
        kabar_jwks_free(j);
        return KABAR_ENOMEM;
    }
    *out = j;
    return KABAR_OK;
}

kabar_err kabar_jwks_new_json(const char *json, size_t len, kabar_jwks **out)
{
    struct jwks_set *set = NULL;
    kabar_jwks *j;
    kabar_err rc;

    if (json == NULL || out == NULL)
        return KABAR_EINVAL;
    if ((rc = jwks_parse(json, len, &set)) != KABAR_OK)
        return rc;
    if ((rc = jwks_alloc(&j)) != KABAR_OK) {
        jwks_set_free(set);
        return rc;
    }
    j->set = set;
    *out = j;
    return KABAR_OK;
}

kabar_err kabar_jwks_new_file(const char *path, kabar_jwks **out)
{
    char *buf;
    size_t n;
    FILE *f;
    kabar_err rc;

    if (path == NULL || out == NULL)
        return KABAR_EINVAL;
    f = fopen(path, "rb");
    if (f == NULL)
        return KABAR_ENOTFOUND;
    buf = malloc(KABAR__JWKS_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return KABAR_ENOMEM;
    }
    n = fread(buf, 1, KABAR__JWKS_MAX + 1, f);
    rc = ferror(f) || n > KABAR__JWKS_MAX ? KABAR_EJWKS : kabar_jwks_new_json(buf, n, out);
    fclose(f);
    free(buf);
    return rc;
}

void kabar_jwks_free(kabar_jwks *jwks)
{
    if (jwks == NULL)
        return;
    jwks_set_free(jwks->set);
    free(jwks->url);
    pthread_mutex_destroy(&jwks->lock);
    free(jwks);
}

/* ---------------------------------------------------------------- fetch */

struct jwks_fetch {
    struct capbuf body;             /* capped at KABAR__JWKS_MAX */
    bool too_big;
    int64_t max_age;
};

static size_t jwks_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct jwks_fetch *f = arg;
    size_t n = size * nmemb;
    enum capbuf_rc rc = capbuf_add(&f->body, data, n);

    if (rc == CAPBUF_TOO_BIG)
        f->too_big = true;
    return rc == CAPBUF_OK ? n : 0;     /* less than n makes libcurl stop with an error */
}

/* The max-age of one Cache-Control value, or -1 when it gives none. */
static int64_t jwks_max_age(const char *v, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t start, n;

        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        start = i;
        while (i < len && v[i] != ',')
            i++;
        n = i - start;
        while (n > 0 && (v[start + n - 1] == ' ' || v[start + n - 1] == '\t' ||
                         v[start + n - 1] == '\r' || v[start + n - 1] == '\n'))
            n--;
        if ((n == 8 && strncasecmp(v + start, "no-store", 8) == 0) ||
            (n == 8 && strncasecmp(v + start, "no-cache", 8) == 0))
            return 0;
        if (n > 8 && strncasecmp(v + start, "max-age=", 8) == 0) {
            int64_t age = 0;
            size_t k;

            for (k = start + 8; k < start + n; k++) {
                if (v[k] < '0' || v[k] > '9')
                    return -1;
                if (age < JWKS_MAX_MAX_AGE)
                    age = age * 10 + (v[k] - '0');
            }
            return age;
        }
    }
    return -1;
}

static size_t jwks_on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct jwks_fetch *f = arg;
    size_t n = size * nmemb;
    static const char name[] = "cache-control:";

    if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        int64_t age = jwks_max_age(data + sizeof(name) - 1, n - (sizeof(name) - 1));

        if (age >= 0)
            f->max_age = age;
    }
    return n;
}

/* Fetch and parse url. On success *out is the new set and *max_age how long
 * to keep it. On failure err says why. */
static kabar_err jwks_fetch(const char *url, struct jwks_set **out, int64_t *max_age, char *err,
                            size_t errlen)
{
    struct jwks_fetch f = {.max_age = -1};
    char curl_err[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode cc;
    CURL *h;
    kabar_err rc;

    capbuf_init(&f.body, KABAR__JWKS_MAX);
    h = curl_easy_init();
    if (h == NULL)
        return KABAR_ENOMEM;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, JWKS_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, JWKS_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "libkabar/" KABAR_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, jwks_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, jwks_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &f);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK) {
        if (err != NULL)
            snprintf(err, errlen, "%s", f.too_big ? "the JWKS is larger than 1 MiB"
                     : curl_err[0] != '\0' ? curl_err : curl_easy_strerror(cc));
        rc = KABAR_EFETCH;
    } else if (status != 200) {
        if (err != NULL)
            snprintf(err, errlen, "HTTP status %ld", status);
        rc = KABAR_EFETCH;
    } else {
        rc = jwks_parse(capbuf_str(&f.body), capbuf_len(&f.body), out);
        if (rc != KABAR_OK && err != NULL)
            snprintf(err, errlen, "the answer is not a JWKS with a usable RS256 key");
        *max_age = f.max_age < 0 ? JWKS_DEFAULT_MAX_AGE : f.max_age;
        if (*max_age < JWKS_MIN_MAX_AGE)
            *max_age = JWKS_MIN_MAX_AGE;
        if (*max_age > JWKS_MAX_MAX_AGE)
            *max_age = JWKS_MAX_MAX_AGE;
    }
    capbuf_free(&f.body);
    return rc;
}

/* Fetch into the cache; called with the lock held. */
static kabar_err jwks_refresh_locked(kabar_jwks *j, int64_t now, char *err, size_t errlen)
{
    struct jwks_set *set = NULL;
    int64_t max_age = 0;
    kabar_err rc;

    j->attempted = true;
    j->last_attempt = now;
    rc = jwks_fetch(j->url, &set, &max_age, err, errlen);
    if (rc != KABAR_OK) {
        /* Keep what we have for another interval rather than refetch per
         * request while kabard is unreachable. */
        j->expires = now + JWKS_REFETCH_INTERVAL;
        return rc;
    }
    jwks_set_free(j->set);
    j->set = set;
    j->expires = now + max_age;
    return KABAR_OK;
}

kabar_err kabar_jwks_refresh(kabar_jwks *jwks, char *err, size_t errlen)
{
    kabar_err rc;

    if (jwks == NULL)
        return KABAR_EINVAL;
    if (jwks->url == NULL)
        return KABAR_OK;
    pthread_mutex_lock(&jwks->lock);
    rc = jwks_refresh_locked(jwks, (int64_t)time(NULL), err, errlen);
    pthread_mutex_unlock(&jwks->lock);
    return rc;
}

/* kid's key in set, with a new reference, or NULL. */
static EVP_PKEY *jwks_lookup(const struct jwks_set *set, const char *kid)
{
    size_t i;

    if (set == NULL)
        return NULL;
    for (i = 0; i < set->n; i++) {
        if (strcmp(set->keys[i].kid, kid) == 0) {
            if (EVP_PKEY_up_ref(set->keys[i].pkey) != 1)
                return NULL;
            return set->keys[i].pkey;
        }
    }
    return NULL;
}

kabar_err kabar__jwks_key(kabar_jwks *jwks, const char *kid, int64_t now, EVP_PKEY **key)
{
    EVP_PKEY *k;
    kabar_err rc = KABAR_OK;
    bool have_set;

    pthread_mutex_lock(&jwks->lock);
    if (jwks->url != NULL && (!jwks->attempted || now >= jwks->expires))
        rc = jwks_refresh_locked(jwks, now, NULL, 0);
    k = jwks_lookup(jwks->set, kid);
    if (k == NULL && jwks->url != NULL && now - jwks->last_attempt >= JWKS_REFETCH_INTERVAL) {
        rc = jwks_refresh_locked(jwks, now, NULL, 0);
        k = jwks_lookup(jwks->set, kid);
    }
    have_set = jwks->set != NULL;
    pthread_mutex_unlock(&jwks->lock);
    if (k != NULL) {
        *key = k;
        return KABAR_OK;
    }
    /* An unknown kid is the answer, unless we never could learn the keys. */
    return rc != KABAR_OK && !have_set ? rc : KABAR_EKID;
}
