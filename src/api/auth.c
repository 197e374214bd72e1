/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.c - request authentication: an API key (auth_key.h) from the
 * request's header or query, or else a web UI session (api_session.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api/api_error.h"
#include "api/api_session.h"
#include "api/auth.h"
#include "api/auth_key.h"
#include "common/timeutil.h"
#include "store/store.h"

/*
 * Keys that authenticated recently, by hash, for AUTH_CACHE_TTL_US: most
 * requests come from a few keys, and a lookup here saves a database round
 * trip per request. A key removed from the configuration stops working
 * within the TTL (keys only change when a kabard process starts).
 */
#define AUTH_CACHE_SLOTS 64
#define AUTH_CACHE_TTL_US (INT64_C(10) * 1000000)

struct auth_cache_entry {
    uint8_t hash[32];
    char project[WEBHOOK_PROJECT_MAX + 1];
    int64_t until_us;
};

static struct {
    pthread_mutex_t lock;
    struct auth_cache_entry slot[AUTH_CACHE_SLOTS];
} auth_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool auth_cache_get(const uint8_t *hash, char *project, size_t cap, int64_t now)
{
    struct auth_cache_entry *e = &auth_cache.slot[hash[0] % AUTH_CACHE_SLOTS];
    bool hit;

    pthread_mutex_lock(&auth_cache.lock);
    hit = e->until_us > now && CRYPTO_memcmp(e->hash, hash, 32) == 0 &&
          strlen(e->project) < cap;
    if (hit)
        strcpy(project, e->project);
    pthread_mutex_unlock(&auth_cache.lock);
    return hit;
}

static void auth_cache_put(const uint8_t *hash, const char *project, int64_t now)
{
    struct auth_cache_entry *e = &auth_cache.slot[hash[0] % AUTH_CACHE_SLOTS];

    pthread_mutex_lock(&auth_cache.lock);
    memcpy(e->hash, hash, 32);
    snprintf(e->project, sizeof(e->project), "%s", project);
    e->until_us = now + AUTH_CACHE_TTL_US;
    pthread_mutex_unlock(&auth_cache.lock);
}

bool auth_request(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp)
{
    const char *key = api_header(req, "x-goog-api-key");
    uint8_t hash[32];
    int64_t now;
    enum store_rc rc;

    if (key == NULL || key[0] == '\0')
        key = api_query(req, "key");
    if (key == NULL || key[0] == '\0') {
        /* The web UI's session cookie stands in for a key. */
        int s = api_session_authenticate(ctx, req, resp);
        if (s != 0)
            return s > 0;
        api_error(resp, API_UNAUTHENTICATED,
                  "missing API key: send it in the x-goog-api-key header or the key parameter");
        return false;
    }
    auth_key_hash(key, strlen(key), hash);
    now = timeutil_now_us();
    if (auth_cache_get(hash, req->project, sizeof(req->project), now)) {
        OPENSSL_cleanse(hash, sizeof(hash));
        return true;
    }
    rc = store_apikey_lookup(ctx->store, hash, req->project, sizeof(req->project));
    if (rc == STORE_OK)
        auth_cache_put(hash, req->project, now);
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

bool auth_admin(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp)
{
    const char *key = api_header(req, "x-goog-api-key");

    if (key == NULL || key[0] == '\0')
        key = api_query(req, "key");
    /* Compared in constant time (only a length that differs answers
     * sooner). */
    if (ctx->admin_key != NULL && key != NULL && strlen(key) == strlen(ctx->admin_key) &&
        CRYPTO_memcmp(key, ctx->admin_key, strlen(key)) == 0) {
        snprintf(req->project, sizeof req->project, "%s", "-");
        return true;
    }
    if (!auth_request(ctx, req, resp))
        return false;
    if (req->tenant[0] == '\0' && ctx->admin_key == NULL && strcmp(req->project, "default") == 0)
        return true;
    api_error(resp, API_PERMISSION_DENIED, "this acts on every project: it needs %s",
              ctx->admin_key != NULL ? "the admin key (KABAR_ADMIN_KEY)"
                                     : "a key of the project \"default\" (or set KABAR_ADMIN_KEY)");
    return false;
}
