/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keyring.c - kabard's RS256 signing keys and their JWKS (see keyring.h).
 *
 * The keys live in the store (store_keys.h); this file keeps the ones that
 * matter now - not retired, or retired recently enough to be published - in
 * memory, each with what signing needs already prepared: the private key as
 * an OpenSSL EVP_PKEY (made once from the JWK by jose), the base64url of the
 * token header, and the public JWK as JSON text. A signature is then one
 * SHA-256 and one RSA operation: no key parsing, no JWK conversion.
 *
 * Why not jose_jws_sig(): it converts the JWK to a fresh EVP_PKEY on every
 * call, and a fresh RSA key recomputes its Montgomery and blinding state on
 * first use - measured at 2.6x the cost of one signature with a cached key
 * (~730 us against ~280 us). jose still makes the keys (jose_jwk_gen), the
 * kids (jose_jwk_thp), the EVP_PKEY (jose_openssl_jwk_to_EVP_PKEY) and the
 * base64url; what is left here is the compact serialization
 * header.payload.signature of RFC 7515 section 7.1, which the tests check
 * with jose_jws_ver().
 *
 * Other kabard processes on the same database may rotate, so the set is
 * reloaded from the store every KEYRING_RELOAD_S seconds, lazily, by the
 * first keyring_sign or keyring_jwks call that finds it stale. A reload
 * reads a handful of rows and opens (unseals, parses) only the keys it has
 * not seen before; it runs outside the lock that signers hold, and takes the
 * write lock only to swap the array.
 *
 * Locks: reload_lock serializes reloads and rotations (a lazy reload only
 * tries it, so a signer never waits behind the database); lock (a rwlock)
 * guards keys[] and the times in them. A signer holds it for reading only
 * to pick its key and take a reference; the RSA operation runs unlocked, so
 * a reload's write lock never waits behind signatures. A key is freed by
 * whoever drops its last reference (keys[] holds one). An EVP_PKEY may be
 * used by several threads at once.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jose/jose.h>
#include <jose/openssl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/secretbox.h"
#include "common/timeutil.h"
#include "sign/keyring.h"
#include "store/store_keys.h"

#define KEYRING_RELOAD_S 30
#define KEYRING_RSA_BITS 2048
#define KEYRING_ALG "RS256"
/* Length of the unpadded base64url of n bytes. */
#define KEYRING_B64_LEN(n) (((n) * 4 + 2) / 3)
/* Keys loaded at once. In the steady state there are one or two; a burst
 * of rotations inside one publication window keeps the newest ones. */
#define KEYRING_KEYS_MAX 16
/* How long a retired key stays in the JWKS: until the last token it signed
 * has expired and every cached copy of the JWKS has been refetched. */
#define KEYRING_PUBLISH_AFTER_US \
    ((int64_t)(KEYRING_TOKEN_TTL_S + KEYRING_JWKS_MAX_AGE_S) * TIMEUTIL_US_PER_S)

/* One loaded key. Immutable once made, except the two times, which change
 * under the write lock. */
struct keyring_key {
    atomic_int refs;                /* keys[] holds one; each signer one */
    char kid[KEYRING_KID_MAX];
    int64_t activate_us;
    int64_t retire_us;              /* 0: not retired */
    EVP_PKEY *pkey;                 /* NULL: the private half did not open */
    char *hdr_b64;                  /* base64url of the JWS header */
    size_t hdr_len;
    char *pub_json;                 /* the JWKS entry, compact JSON */
};

struct keyring {
    struct store *st;
    const struct secretbox *box;
    int64_t (*now_us)(void *arg);
    void *now_arg;
    pthread_mutex_t reload_lock;    /* one reload or rotation at a time */
    pthread_rwlock_t lock;          /* guards keys[], nkeys and their times */
    struct keyring_key *keys[KEYRING_KEYS_MAX];     /* newest activate first */
    size_t nkeys;
    _Atomic int64_t loaded_us;      /* clock time of the last reload attempt */
};

static int64_t keyring_wall_clock(void *arg)
{
    (void)arg;
    return timeutil_now_us();
}

/* Wipe the private members of an RSA JWK in place, before it is freed:
 * jansson does not clear what it frees. */
static void keyring_jwk_wipe(json_t *jwk)
{
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi"};

    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++) {
        json_t *v = json_object_get(jwk, priv[i]);

        /* jansson hands out its own copy as const only to stop accidents;
         * the string is the object's, about to be freed, and writing zeros
         * over it is the point. The one cast that drops const on purpose. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-qual"
        if (json_is_string(v))
            OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
#pragma GCC diagnostic pop
    }
}

/* The RFC 7638 SHA-256 thumbprint of jwk into kid. Returns 0 or -1. */
static int keyring_kid(const json_t *jwk, char *kid, size_t cap)
{
    json_t *thp = jose_jwk_thp(NULL, jwk, "S256");
    int rc = -1;

    if (thp && json_string_length(thp) < cap) {
        memcpy(kid, json_string_value(thp), json_string_length(thp) + 1);
        rc = 0;
    }
    json_decref(thp);
    return rc;
}

int keyring_thumbprint(const char *jwk_json, char *kid, size_t cap)
{
    json_t *jwk = json_loads(jwk_json, 0, NULL);
    int rc = json_is_object(jwk) ? keyring_kid(jwk, kid, cap) : -1;

    json_decref(jwk);
    return rc;
}

/* base64url (no padding) of in into a new NUL-terminated string, its length
 * in *outlen. NULL when out of memory. */
static char *keyring_b64(const void *in, size_t len, size_t *outlen)
{
    size_t n = jose_b64_enc_buf(in, len, NULL, 0);
    char *out;

    if (n == SIZE_MAX || (out = malloc(n + 1)) == NULL)
        return NULL;
    if (jose_b64_enc_buf(in, len, out, n) != n) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    *outlen = n;
    return out;
}

static uint8_t *keyring_rs256(const struct keyring_key *k, const char *input, size_t len,
                              size_t *siglen);

static void keyring_key_free(struct keyring_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k->hdr_b64);
    free(k->pub_json);
    free(k);
}

/* Drop one reference to k; the last one frees it. */
static void keyring_key_put(struct keyring_key *k)
{
    if (k && atomic_fetch_sub(&k->refs, 1) == 1)
        keyring_key_free(k);
}

/* The base64url JWS header of kid into k. Returns 0 or -1. */
static int keyring_key_header(struct keyring_key *k)
{
    json_t *hdr = json_pack("{s:s,s:s,s:s}", "alg", KEYRING_ALG, "typ", "JWT", "kid", k->kid);
    char *text = hdr ? json_dumps(hdr, JSON_COMPACT) : NULL;

    json_decref(hdr);
    if (text == NULL)
        return -1;
    k->hdr_b64 = keyring_b64(text, strlen(text), &k->hdr_len);
    free(text);
    return k->hdr_b64 ? 0 : -1;
}

/* Unseal and parse the private JWK of row into k->pkey, checking that it is
 * the key its kid names. Returns 0, or -1 leaving k->pkey NULL. */
static int keyring_key_open_private(const struct secretbox *box,
                                    const struct store_signing_key *row, struct keyring_key *k)
{
    size_t cap = row->private_blob_len;
    uint8_t *pt = malloc(cap + 1);
    json_t *jwk = NULL;
    char kid[KEYRING_KID_MAX];
    uint8_t *sig;
    size_t siglen;
    int n, rc = -1;

    if (pt == NULL)
        return -1;
    n = secretbox_open(box, row->kid, row->private_blob, row->private_blob_len, pt, cap);
    if (n < 0)
        goto out;
    jwk = json_loadb((const char *)pt, (size_t)n, 0, NULL);
    if (!json_is_object(jwk) || keyring_kid(jwk, kid, sizeof kid) != 0 ||
        strcmp(kid, row->kid) != 0)
        goto out;
    k->pkey = jose_openssl_jwk_to_EVP_PKEY(NULL, jwk);
    if (k->pkey == NULL || EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA ||
        json_object_get(jwk, "d") == NULL)
        goto fail_pkey;
    /* One signature now proves the key signs, and builds OpenSSL's per-key
     * state (provider copy, Montgomery contexts, blinding) once, before
     * signers share it. */
    sig = keyring_rs256(k, "", 0, &siglen);
    if (sig == NULL)
        goto fail_pkey;
    free(sig);
    rc = 0;
    goto out;
fail_pkey:
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
out:
    if (jwk)
        keyring_jwk_wipe(jwk);
    json_decref(jwk);
    OPENSSL_cleanse(pt, cap);
    free(pt);
    return rc;
}

/* Make the in-memory key of a store row. A key whose private half does not
 * open is still published (another process may sign with it) but never
 * chosen to sign here. Returns NULL when the row is unusable or out of
 * memory. */
static struct keyring_key *keyring_key_load(const struct keyring *kr,
                                            const struct store_signing_key *row)
{
    struct keyring_key *k = calloc(1, sizeof *k);
    json_t *pub = NULL;

    if (k == NULL || strlen(row->kid) >= sizeof k->kid)
        goto fail;
    atomic_init(&k->refs, 1);
    memcpy(k->kid, row->kid, strlen(row->kid) + 1);
    k->activate_us = row->activate_time_us;
    k->retire_us = row->retire_time_us;
    /* Re-serialized, so what is published is one compact JSON object. */
    pub = json_loads(row->public_jwk, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(pub) || json_object_get(pub, "d") != NULL)
        goto fail;
    k->pub_json = json_dumps(pub, JSON_COMPACT);
    if (k->pub_json == NULL || keyring_key_header(k) != 0)
        goto fail;
    json_decref(pub);
    if (keyring_key_open_private(kr->box, row, k) != 0)
        log_error("cannot open signing key; publishing it but not signing with it",
                  "kid=%s", k->kid);
    return k;
fail:
    log_error("unusable signing key row", "kid=%.64s", row->kid);
    json_decref(pub);
    keyring_key_free(k);
    return NULL;
}

static struct keyring_key *keyring_find(const struct keyring *kr, const char *kid)
{
    for (size_t i = 0; i < kr->nkeys; i++)
        if (strcmp(kr->keys[i]->kid, kid) == 0)
            return kr->keys[i];
    return NULL;
}

/*
 * Load the keys from the store and swap them in. The caller holds
 * reload_lock, which makes it the only writer of keys[]: it may read keys[]
 * without the rwlock, and takes it for writing only to swap. Keys it already
 * has are kept (only their times are refreshed); new ones are opened.
 * Returns 0, or -1 leaving the keys as they were.
 */
static int keyring_reload_locked(struct keyring *kr, int64_t now)
{
    struct store_signing_key *rows = calloc(KEYRING_KEYS_MAX, sizeof *rows);
    struct keyring_key *next[KEYRING_KEYS_MAX], *dropped[KEYRING_KEYS_MAX];
    struct keyring_key *k;
    size_t n = 0, nnext = 0, ndropped = 0;
    enum store_rc rc;

    atomic_store(&kr->loaded_us, now);      /* also on failure: back off */
    if (rows == NULL)
        return -1;
    rc = store_keys_list(kr->st, now - KEYRING_PUBLISH_AFTER_US, rows, KEYRING_KEYS_MAX, &n);
    if (rc != STORE_OK) {
        log_warn("cannot reload signing keys", "error=\"%s\"", store_strerror(rc));
        free(rows);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        k = keyring_find(kr, rows[i].kid);
        if (k == NULL && (k = keyring_key_load(kr, &rows[i])) == NULL)
            continue;
        next[nnext++] = k;
    }
    for (size_t i = 0; i < kr->nkeys; i++) {
        bool kept = false;

        for (size_t j = 0; j < nnext && !kept; j++)
            kept = next[j] == kr->keys[i];
        if (!kept)
            dropped[ndropped++] = kr->keys[i];
    }

    pthread_rwlock_wrlock(&kr->lock);
    for (size_t i = 0, j = 0; i < n && j < nnext; i++) {
        /* next[] follows rows[] with the unusable rows left out. */
        if (strcmp(rows[i].kid, next[j]->kid) != 0)
            continue;
        next[j]->activate_us = rows[i].activate_time_us;
        next[j]->retire_us = rows[i].retire_time_us;
        j++;
    }
    memcpy(kr->keys, next, nnext * sizeof next[0]);
    kr->nkeys = nnext;
    pthread_rwlock_unlock(&kr->lock);

    /* Out of keys[]: freed now, or by the last signer still using one. */
    for (size_t i = 0; i < ndropped; i++)
        keyring_key_put(dropped[i]);
    free(rows);
    return 0;
}

/* Reload when the keys are KEYRING_RELOAD_S old (or the clock went back),
 * unless another thread is already at it. */
static void keyring_maybe_reload(struct keyring *kr, int64_t now)
{
    int64_t loaded = atomic_load(&kr->loaded_us);

    if (now - loaded < KEYRING_RELOAD_S * TIMEUTIL_US_PER_S && now >= loaded)
        return;
    if (pthread_mutex_trylock(&kr->reload_lock) != 0)
        return;
    loaded = atomic_load(&kr->loaded_us);
    if (now - loaded >= KEYRING_RELOAD_S * TIMEUTIL_US_PER_S || now < loaded)
        keyring_reload_locked(kr, now);
    pthread_mutex_unlock(&kr->reload_lock);
}

/*
 * Make a new key into row: an RSA JWK from jose, its kid, the private JWK
 * sealed under kid, the public JWK. The private JWK is wiped before this
 * returns. Returns 0, or -1 with a message in err.
 */
static int keyring_key_make(const struct keyring *kr, int64_t now, int64_t activate_us,
                            struct store_signing_key *row, char *err, size_t errlen)
{
    json_t *jwk = json_pack("{s:s,s:i}", "kty", "RSA", "bits", KEYRING_RSA_BITS);
    json_t *pub = NULL;
    char *priv = NULL, *pub_text = NULL;
    size_t priv_len = 0;
    int sealed, rc = -1;

    memset(row, 0, sizeof *row);
    if (jwk == NULL || !jose_jwk_gen(NULL, jwk)) {
        snprintf(err, errlen, "cannot generate an RSA key");
        goto out;
    }
    if (keyring_kid(jwk, row->kid, sizeof row->kid) != 0) {
        snprintf(err, errlen, "cannot compute the key's thumbprint");
        goto out;
    }
    priv = json_dumps(jwk, JSON_COMPACT);
    priv_len = priv ? strlen(priv) : 0;
    if (priv == NULL || priv_len + SECRETBOX_OVERHEAD > sizeof row->private_blob) {
        snprintf(err, errlen, "cannot serialize the private key");
        goto out;
    }
    sealed = secretbox_seal(kr->box, row->kid, (const uint8_t *)priv, priv_len,
                            row->private_blob, sizeof row->private_blob);
    if (sealed < 0) {
        snprintf(err, errlen, "cannot seal the private key");
        goto out;
    }
    row->private_blob_len = (size_t)sealed;

    /* A shallow copy shares jwk's strings, so jose_jwk_pub dropping the
     * private members frees nothing that the wipe below would miss. */
    pub = json_copy(jwk);
    if (pub == NULL || !jose_jwk_pub(NULL, pub) ||
        json_object_set_new(pub, "kid", json_string(row->kid)) != 0 ||
        json_object_set_new(pub, "alg", json_string(KEYRING_ALG)) != 0 ||
        json_object_set_new(pub, "use", json_string("sig")) != 0 ||
        (pub_text = json_dumps(pub, JSON_COMPACT)) == NULL ||
        strlen(pub_text) >= sizeof row->public_jwk) {
        snprintf(err, errlen, "cannot make the public key");
        goto out;
    }
    memcpy(row->public_jwk, pub_text, strlen(pub_text) + 1);
    row->create_time_us = now;
    row->activate_time_us = activate_us;
    row->retire_time_us = 0;
    rc = 0;
out:
    free(pub_text);
    json_decref(pub);
    if (priv) {
        OPENSSL_cleanse(priv, priv_len);
        free(priv);
    }
    if (jwk)
        keyring_jwk_wipe(jwk);
    json_decref(jwk);
    return rc;
}

struct keyring *keyring_open(struct store *st, const struct secretbox *box,
                             char *err, size_t errlen)
{
    return keyring_open_clock(st, box, NULL, NULL, err, errlen);
}

struct keyring *keyring_open_clock(struct store *st, const struct secretbox *box,
                                   int64_t (*now_us)(void *arg), void *arg,
                                   char *err, size_t errlen)
{
    struct keyring *kr = calloc(1, sizeof *kr);
    struct store_signing_key *row = NULL;
    int64_t now;
    bool usable = false;

    if (kr == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    kr->st = st;
    kr->box = box;
    kr->now_us = now_us != NULL ? now_us : keyring_wall_clock;
    kr->now_arg = arg;
    if (pthread_mutex_init(&kr->reload_lock, NULL) != 0) {
        snprintf(err, errlen, "cannot make a mutex");
        goto fail_kr;
    }
    if (pthread_rwlock_init(&kr->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot make a lock");
        goto fail_mutex;
    }

    now = kr->now_us(kr->now_arg);
    if (keyring_reload_locked(kr, now) != 0) {
        snprintf(err, errlen, "cannot load the signing keys from the database");
        goto fail_keys;
    }
    if (kr->nkeys == 0) {
        /* First start: one key, signing at once. Another process starting
         * on the same database may win the insert; then its key is ours. */
        enum store_rc rc;

        row = malloc(sizeof *row);
        if (row == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail_keys;
        }
        if (keyring_key_make(kr, now, now, row, err, errlen) != 0)
            goto fail_keys;
        rc = store_keys_insert_first(st, row);
        if (rc != STORE_OK && rc != STORE_CONFLICT) {
            snprintf(err, errlen, "cannot store the first signing key: %s", store_strerror(rc));
            goto fail_keys;
        }
        if (rc == STORE_OK)
            log_info("signing key created", "kid=%s", row->kid);
        if (keyring_reload_locked(kr, now) != 0) {
            snprintf(err, errlen, "cannot load the signing keys from the database");
            goto fail_keys;
        }
        free(row);
        row = NULL;
    }
    for (size_t i = 0; i < kr->nkeys; i++)
        usable |= kr->keys[i]->pkey != NULL;
    if (!usable) {
        snprintf(err, errlen, "no signing key in the database can be opened "
                 "(was it made under another master key?)");
        goto fail_keys;
    }
    return kr;

fail_keys:
    free(row);
    for (size_t i = 0; i < kr->nkeys; i++)
        keyring_key_put(kr->keys[i]);
    pthread_rwlock_destroy(&kr->lock);
fail_mutex:
    pthread_mutex_destroy(&kr->reload_lock);
fail_kr:
    free(kr);
    return NULL;
}

void keyring_close(struct keyring *kr)
{
    if (kr == NULL)
        return;
    for (size_t i = 0; i < kr->nkeys; i++)
        keyring_key_put(kr->keys[i]);
    pthread_rwlock_destroy(&kr->lock);
    pthread_mutex_destroy(&kr->reload_lock);
    free(kr);
}

/* The key that signs at now: the newest that is active (activate_time
 * reached, not retired) and whose private half opened. Call with lock held. */
static struct keyring_key *keyring_signing_key(const struct keyring *kr, int64_t now)
{
    for (size_t i = 0; i < kr->nkeys; i++) {
        struct keyring_key *k = kr->keys[i];

        if (k->activate_us <= now && (k->retire_us == 0 || k->retire_us > now) && k->pkey)
            return k;
    }
    return NULL;
}

/* The claims of keyring_sign as compact JSON text, or NULL when body is not
 * a JSON object or out of memory. */
static char *keyring_claims(const char *iss, const char *aud, const char *sub, int64_t iat,
                            const char *webhook_id, const uint8_t *body, size_t len)
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    char jti[IDS_MAX];
    json_t *claims = json_loadb((const char *)body, len, 0, NULL);
    char *text = NULL;
    int rc = 0;

    if (!json_is_object(claims) || ids_new("jti_", jti, sizeof jti) != 0 ||
        SHA256(body, len, digest) == NULL)
        goto out;
    /* The envelope's members first (type, version, timestamp, data,
     * user_metadata); the registered claims are set after, so an envelope
     * member of the same name cannot replace one. */
    if (iss)
        rc |= json_object_set_new(claims, "iss", json_string(iss));
    if (aud)
        rc |= json_object_set_new(claims, "aud", json_string(aud));
    if (sub)
        rc |= json_object_set_new(claims, "sub", json_string(sub));
    rc |= json_object_set_new(claims, "iat", json_integer(iat));
    rc |= json_object_set_new(claims, "exp", json_integer(iat + KEYRING_TOKEN_TTL_S));
    rc |= json_object_set_new(claims, "jti", json_string(jti));
    if (webhook_id)
        rc |= json_object_set_new(claims, "webhook_id", json_string(webhook_id));
    rc |= json_object_set_new(claims, "body_sha256", jose_b64_enc(digest, sizeof digest));
    if (rc == 0)
        text = json_dumps(claims, JSON_COMPACT);
out:
    json_decref(claims);
    return text;
}

/* RS256 over input with k's key into a new buffer (*siglen bytes). */
static uint8_t *keyring_rs256(const struct keyring_key *k, const char *input, size_t len,
                              size_t *siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t cap = (size_t)EVP_PKEY_get_size(k->pkey);
    uint8_t *sig = malloc(cap);

    *siglen = cap;
    if (md == NULL || sig == NULL ||
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->pkey) != 1 ||
        EVP_DigestSign(md, sig, siglen, (const uint8_t *)input, len) != 1) {
        free(sig);
        sig = NULL;
    }
    EVP_MD_CTX_free(md);
    return sig;
}

int keyring_sign(struct keyring *kr, const char *iss, const char *aud, const char *sub,
                 int64_t iat, const char *webhook_id, const uint8_t *body, size_t len,
                 char **jws)
{
    int64_t now = kr->now_us(kr->now_arg);
    struct keyring_key *k = NULL;
    char *claims, *payload = NULL, *input = NULL, *sig_b64 = NULL;
    uint8_t *sig = NULL;
    size_t claims_len, payload_len = 0, input_len, sig_len = 0, sig_b64_len = 0;
    int rc = -1;

    *jws = NULL;
    keyring_maybe_reload(kr, now);
    claims = keyring_claims(iss, aud, sub, iat, webhook_id, body, len);
    if (claims == NULL)
        return -1;
    claims_len = strlen(claims);
    payload = keyring_b64(claims, claims_len, &payload_len);
    free(claims);
    if (payload == NULL)
        return -1;

    pthread_rwlock_rdlock(&kr->lock);
    k = keyring_signing_key(kr, now);
    if (k)
        atomic_fetch_add(&k->refs, 1);
    pthread_rwlock_unlock(&kr->lock);
    if (k == NULL) {
        log_error("no active signing key", NULL);
        goto out;
    }
    /* header.payload, then .signature appended in the same buffer. */
    input_len = k->hdr_len + 1 + payload_len;
    input = malloc(input_len + 1 + KEYRING_B64_LEN((size_t)EVP_PKEY_get_size(k->pkey)) + 1);
    if (input == NULL)
        goto out;
    memcpy(input, k->hdr_b64, k->hdr_len);
    input[k->hdr_len] = '.';
    memcpy(input + k->hdr_len + 1, payload, payload_len);
    sig = keyring_rs256(k, input, input_len, &sig_len);
    if (sig == NULL || (sig_b64 = keyring_b64(sig, sig_len, &sig_b64_len)) == NULL)
        goto out;
    input[input_len] = '.';
    memcpy(input + input_len + 1, sig_b64, sig_b64_len + 1);
    *jws = input;
    input = NULL;
    rc = 0;
out:
    keyring_key_put(k);
    free(sig_b64);
    free(sig);
    free(input);
    free(payload);
    return rc;
}

char *keyring_jwks(struct keyring *kr)
{
    static const char head[] = "{\"keys\":[", tail[] = "]}";
    int64_t now = kr->now_us(kr->now_arg);
    size_t total = sizeof head + sizeof tail, off = 0;
    char *out;

    keyring_maybe_reload(kr, now);
    pthread_rwlock_rdlock(&kr->lock);
    for (size_t i = 0; i < kr->nkeys; i++)
        total += strlen(kr->keys[i]->pub_json) + 1;
    out = malloc(total);
    if (out != NULL) {
        memcpy(out, head, sizeof head - 1);
        off = sizeof head - 1;
        for (size_t i = 0; i < kr->nkeys; i++) {
            const struct keyring_key *k = kr->keys[i];
            size_t n = strlen(k->pub_json);

            /* Retired long enough ago that no token it signed is valid and
             * no cache can still need it: loaded (the reload is lazy) but
             * no longer published. */
            if (k->retire_us != 0 && k->retire_us + KEYRING_PUBLISH_AFTER_US <= now)
                continue;
            if (off > sizeof head - 1)
                out[off++] = ',';
            memcpy(out + off, k->pub_json, n);
            off += n;
        }
        memcpy(out + off, tail, sizeof tail);
    }
    pthread_rwlock_unlock(&kr->lock);
    return out;
}

int64_t keyring_activate_time(struct keyring *kr, const char *kid)
{
    const struct keyring_key *k;
    int64_t t = 0;

    pthread_rwlock_rdlock(&kr->lock);
    k = keyring_find(kr, kid);
    if (k)
        t = k->activate_us;
    pthread_rwlock_unlock(&kr->lock);
    return t;
}

int keyring_rotate(struct keyring *kr, char *kid, size_t cap, char *err, size_t errlen)
{
    struct store_signing_key *row = malloc(sizeof *row);
    int64_t now = kr->now_us(kr->now_arg);
    enum store_rc rc;
    int ret = -1;

    if (row == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_lock(&kr->reload_lock);
    if (keyring_key_make(kr, now, now + (int64_t)KEYRING_JWKS_MAX_AGE_S * TIMEUTIL_US_PER_S,
                         row, err, errlen) != 0)
        goto out;
    if (strlen(row->kid) >= cap) {
        snprintf(err, errlen, "kid buffer too small");
        goto out;
    }
    rc = store_keys_rotate(kr->st, row);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "cannot store the new signing key: %s", store_strerror(rc));
        goto out;
    }
    log_info("signing key rotated", "kid=%s activate_in_s=%d", row->kid, KEYRING_JWKS_MAX_AGE_S);
    /* Publish it now. Should the reload fail, the next one will. */
    keyring_reload_locked(kr, now);
    memcpy(kid, row->kid, strlen(row->kid) + 1);
    ret = 0;
out:
    pthread_mutex_unlock(&kr->reload_lock);
    free(row);
    return ret;
}
