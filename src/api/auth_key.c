/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth_key.c - API key hashing and generation (auth_key.h). Shared by
 * request authentication (auth.c), the web UI's sign-in (api_session.c) and
 * kabard's start-up (server/apikeys.c).
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api/auth_key.h"
#include "common/b64.h"

void auth_key_hash(const char *key, size_t len, uint8_t out[32])
{
    unsigned int n = 32;

    EVP_Digest(key, len, out, &n, EVP_sha256(), NULL);
}

int auth_key_generate(char *out, size_t cap)
{
    uint8_t raw[32];
    size_t plen = strlen(AUTH_KEY_PREFIX);
    int rc = -1;

    if (cap < plen + B64_ENCODED_SIZE(sizeof(raw)))
        return -1;
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        goto out;
    memcpy(out, AUTH_KEY_PREFIX, plen);
    if (b64url_encode(raw, sizeof(raw), out + plen, cap - plen) < 0)
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}
