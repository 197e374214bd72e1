/*
 * auth.c - API key hashing, generation and request authentication.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api/api_error.h"
#include "api/auth.h"
#include "common/b64.h"
#include "store/store.h"

void auth_hash_key(const char *key, size_t len, uint8_t out[32])
{
    unsigned int n = 32;

    EVP_Digest(key, len, out, &n, EVP_sha256(), NULL);
}

int auth_generate_key(char *out, size_t cap)
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

bool auth_request(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp)
{
    const char *key = api_header(req, "x-goog-api-key");
    uint8_t hash[32];
    enum store_rc rc;

    if (key == NULL || key[0] == '\0')
        key = api_query(req, "key");
    if (key == NULL || key[0] == '\0') {
        api_error(resp, API_UNAUTHENTICATED,
                  "missing API key: send it in the x-goog-api-key header or the key parameter");
        return false;
    }
    auth_hash_key(key, strlen(key), hash);
    rc = store_apikey_lookup(ctx->store, hash, req->project, sizeof(req->project));
    OPENSSL_cleanse(hash, sizeof(hash));
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_UNAUTHENTICATED, "API key not valid");
        return false;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        return false;
    }
    return true;
}
