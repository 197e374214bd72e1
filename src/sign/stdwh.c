/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stdwh.c - Standard Webhooks v1 signing (see stdwh.h), with OpenSSL's
 * EVP_MAC HMAC-SHA256, fed the three parts of the signed content in turn so
 * the body is never copied.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/b64.h"
#include "sign/stdwh.h"

int stdwh_key_decode(const char *secret, uint8_t *key, size_t cap)
{
    static const char prefix[] = "whsec_";
    int n;

    if (strncmp(secret, prefix, sizeof(prefix) - 1) == 0)
        secret += sizeof(prefix) - 1;
    n = b64_decode(secret, strlen(secret), key, cap);
    if (n < 24 || n > STDWH_KEY_MAX) {
        if (n > 0)
            OPENSSL_cleanse(key, (size_t)n);
        return -1;
    }
    return n;
}

/* The HMAC implementation, fetched once: a fetch walks OpenSSL's provider
 * tables, which costs more than signing a small body. EVP_MAC is shareable
 * between threads; each signature has its own context. */
static EVP_MAC *stdwh_hmac;
static pthread_once_t stdwh_hmac_once = PTHREAD_ONCE_INIT;

static void stdwh_hmac_fetch(void)
{
    stdwh_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int stdwh_sign(const uint8_t *key, size_t keylen, const char *msg_id, int64_t timestamp,
               const uint8_t *body, size_t len, char *out, size_t cap)
{
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    char ts[32];
    uint8_t digest[32];
    size_t dlen = 0;
    int rc = -1;

    if (cap < STDWH_SIG_LEN)
        return -1;
    snprintf(ts, sizeof(ts), ".%" PRId64 ".", timestamp);
    pthread_once(&stdwh_hmac_once, stdwh_hmac_fetch);
    if (stdwh_hmac == NULL)
        return -1;
    ctx = EVP_MAC_CTX_new(stdwh_hmac);
    if (ctx == NULL)
        goto done;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(ctx, key, keylen, params) != 1 ||
        EVP_MAC_update(ctx, (const uint8_t *)msg_id, strlen(msg_id)) != 1 ||
        EVP_MAC_update(ctx, (const uint8_t *)ts, strlen(ts)) != 1 ||
        EVP_MAC_update(ctx, body, len) != 1 ||
        EVP_MAC_final(ctx, digest, &dlen, sizeof(digest)) != 1 || dlen != sizeof(digest))
        goto done;
    memcpy(out, "v1,", 3);
    if (b64_encode(digest, sizeof(digest), out + 3, cap - 3) < 0)
        goto done;
    rc = 0;
done:
    OPENSSL_cleanse(digest, sizeof(digest));
    EVP_MAC_CTX_free(ctx);
    return rc;
}
