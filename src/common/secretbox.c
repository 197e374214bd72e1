/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secretbox.c - AES-256-GCM sealing of secrets at rest.
 *
 * Every seal draws a fresh random 96-bit nonce. With random nonces GCM stays
 * safe for about 2^32 seals under one key, far more secrets than a kabar
 * database will ever hold. The version byte is authenticated along with the
 * caller's associated data, so a blob cannot be relabelled as another
 * format later.
 */
#include "common/secretbox.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define SECRETBOX_VERSION 1
#define SECRETBOX_NONCE_LEN 12
#define SECRETBOX_TAG_LEN 16

struct secretbox {
    uint8_t *key;               /* SECRETBOX_KEY_LEN bytes, secure heap */
};

struct secretbox *secretbox_new(const uint8_t *key)
{
    struct secretbox *box;

    if (key == NULL)
        return NULL;
    box = OPENSSL_zalloc(sizeof(*box));
    if (box == NULL)
        return NULL;
    /* Falls back to ordinary memory when no secure heap was set up;
     * OPENSSL_secure_clear_free wipes it either way. */
    box->key = OPENSSL_secure_malloc(SECRETBOX_KEY_LEN);
    if (box->key == NULL) {
        OPENSSL_free(box);
        return NULL;
    }
    memcpy(box->key, key, SECRETBOX_KEY_LEN);
    return box;
}

void secretbox_free(struct secretbox *box)
{
    if (box == NULL)
        return;
    OPENSSL_secure_clear_free(box->key, SECRETBOX_KEY_LEN);
    OPENSSL_free(box);
}

/*
 * Feed the version byte and the caller's aad (NULL meaning empty) to ctx as
 * associated data. Returns 1 on success, as OpenSSL does.
 */
static int secretbox_aad(EVP_CIPHER_CTX *ctx, const char *aad)
{
    static const unsigned char version = SECRETBOX_VERSION;
    int outl;
    size_t alen = aad != NULL ? strlen(aad) : 0;

    if (alen > INT_MAX)
        return 0;
    if (EVP_CipherUpdate(ctx, NULL, &outl, &version, 1) != 1)
        return 0;
    if (alen > 0 && EVP_CipherUpdate(ctx, NULL, &outl, (const unsigned char *)aad,
                                     (int)alen) != 1)
        return 0;
    return 1;
}

int secretbox_seal(const struct secretbox *box, const char *aad,
                   const uint8_t *pt, size_t len, uint8_t *out, size_t cap)
{
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t *nonce, *ct, *tag;
    int outl, finl, rc = -1;

    if (box == NULL || out == NULL || (pt == NULL && len > 0))
        return -1;
    if (len > (size_t)INT_MAX - SECRETBOX_OVERHEAD || cap < len + SECRETBOX_OVERHEAD) {
        if (cap > 0)
            OPENSSL_cleanse(out, cap);
        return -1;
    }
    nonce = out + 1;
    ct = nonce + SECRETBOX_NONCE_LEN;
    tag = ct + len;

    out[0] = SECRETBOX_VERSION;
    if (RAND_bytes(nonce, SECRETBOX_NONCE_LEN) != 1)
        goto done;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        goto done;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, box->key, nonce) != 1)
        goto done;
    if (secretbox_aad(ctx, aad) != 1)
        goto done;
    outl = 0;
    if (len > 0 && EVP_EncryptUpdate(ctx, ct, &outl, pt, (int)len) != 1)
        goto done;
    if (EVP_EncryptFinal_ex(ctx, ct + outl, &finl) != 1 || (size_t)(outl + finl) != len)
        goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SECRETBOX_TAG_LEN, tag) != 1)
        goto done;
    rc = (int)(len + SECRETBOX_OVERHEAD);

done:
    EVP_CIPHER_CTX_free(ctx);
    if (rc < 0)
        OPENSSL_cleanse(out, cap);
    return rc;
}

int secretbox_open(const struct secretbox *box, const char *aad,
                   const uint8_t *blob, size_t len, uint8_t *out, size_t cap)
{
    EVP_CIPHER_CTX *ctx = NULL;
    const uint8_t *nonce, *ct, *tag;
    uint8_t tagbuf[SECRETBOX_TAG_LEN];
    size_t ctlen;
    int outl, finl, rc = -1;

    if (box == NULL || blob == NULL || (out == NULL && cap > 0))
        return -1;
    if (len < SECRETBOX_OVERHEAD || len > (size_t)INT_MAX || blob[0] != SECRETBOX_VERSION
        || cap < len - SECRETBOX_OVERHEAD) {
        if (cap > 0)
            OPENSSL_cleanse(out, cap);
        return -1;
    }
    ctlen = len - SECRETBOX_OVERHEAD;
    nonce = blob + 1;
    ct = nonce + SECRETBOX_NONCE_LEN;
    tag = ct + ctlen;
    /* The ctrl below takes a non-const pointer; give it our own copy. */
    memcpy(tagbuf, tag, sizeof(tagbuf));

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        goto done;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, box->key, nonce) != 1)
        goto done;
    if (secretbox_aad(ctx, aad) != 1)
        goto done;
    outl = 0;
    if (ctlen > 0 && EVP_DecryptUpdate(ctx, out, &outl, ct, (int)ctlen) != 1)
        goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SECRETBOX_TAG_LEN, tagbuf) != 1)
        goto done;
    /* Final checks the tag; until it succeeds, out holds unauthenticated
     * plaintext that must not survive a failure. */
    if (EVP_DecryptFinal_ex(ctx, out != NULL ? out + outl : NULL, &finl) != 1
        || (size_t)(outl + finl) != ctlen)
        goto done;
    rc = (int)ctlen;

done:
    EVP_CIPHER_CTX_free(ctx);
    if (rc < 0 && cap > 0)
        OPENSSL_cleanse(out, cap);
    return rc;
}
