/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_session.c - the web UI's sessions (api_session.h):
 *
 *   POST /ui/signin        {"api_key": "..."} -> cookie + {project, csrf_token, expire_time}
 *   POST /ui/portal/open   {"token": "..."}   -> cookie + {project, tenant, ...}
 *   GET  /ui/session       who the cookie is (with the CSRF token, for a reload),
 *                          or {"signed_in": false}
 *   POST /ui/signout       end the session, clear the cookie
 *
 * Sign-in and portal-link attempts share a per-address limit
 * (API_SESSION_BURST at once, then one per API_SESSION_REFILL_S), so a key or
 * a link cannot be guessed at speed. Tokens never appear in a URL kabard
 * sees (portal links carry theirs in the fragment) nor in a log line.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_session.h"
#include "api/auth_key.h"
#include "common/b64.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "core/events.h"
#include "store/store.h"
#include "store/store_sessions.h"

#define API_SESSION_CSRF_MAX 48
#define API_SESSION_LIMIT_SLOTS 256
#define API_SESSION_BURST 10.0
#define API_SESSION_REFILL_S 6.0

/* ---- tokens -------------------------------------------------------------- */

static void api_session_hash(const char *token, uint8_t hash[32])
{
    unsigned int n = 32;

    EVP_Digest(token, strlen(token), hash, &n, EVP_sha256(), NULL);
}

int api_session_token_new(const char *prefix, char *out, size_t cap, uint8_t hash[32])
{
    uint8_t raw[32];
    size_t plen = strlen(prefix);
    int rc = -1;

    if (cap < plen + B64_ENCODED_SIZE(sizeof raw))
        return -1;
    if (RAND_bytes(raw, sizeof raw) != 1)
        goto out;
    memcpy(out, prefix, plen);
    if (b64url_encode(raw, sizeof raw, out + plen, cap - plen) < 0)
        goto out;
    api_session_hash(out, hash);
    rc = 0;
out:
    OPENSSL_cleanse(raw, sizeof raw);
    return rc;
}

/* The CSRF token of a session token: base64url(SHA-256("csrf:" token)). */
static void api_session_csrf(const char *token, char *out, size_t cap)
{
    uint8_t d[32];
    unsigned int n = sizeof d;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    out[0] = '\0';
    if (md == NULL)
        return;
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(md, "csrf:", 5) == 1 &&
        EVP_DigestUpdate(md, token, strlen(token)) == 1 &&
        EVP_DigestFinal_ex(md, d, &n) == 1 && b64url_encode(d, sizeof d, out, cap) < 0)
        out[0] = '\0';
    EVP_MD_CTX_free(md);
    OPENSSL_cleanse(d, sizeof d);
}

/* ---- the sign-in rate limit ----------------------------------------------- */

static struct {
    pthread_mutex_t lock;
    struct {
        char addr[64];
        double tokens;
        int64_t at_us;
    } slot[API_SESSION_LIMIT_SLOTS];
} api_session_limit = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Take one attempt from the client's bucket. Returns true when allowed. A
 * slot is per address hash; two addresses sharing one share a bucket, which
 * errs on the side of refusing. */
static bool api_session_attempt(const struct api_request *req)
{
    char addr[64];
    unsigned h = 5381;
    int64_t now = timeutil_mono_us();
    bool ok;

    api_client_addr(req, addr, sizeof addr);
    for (const char *p = addr; *p; p++)
        h = h * 33 + (unsigned char)*p;
    pthread_mutex_lock(&api_session_limit.lock);
    {
        __typeof__(api_session_limit.slot[0]) *s =
            &api_session_limit.slot[h % API_SESSION_LIMIT_SLOTS];
        if (strcmp(s->addr, addr) != 0 || s->at_us == 0) {
            snprintf(s->addr, sizeof s->addr, "%s", addr);
            s->tokens = API_SESSION_BURST;
        } else {
            s->tokens += (double)(now - s->at_us) / 1e6 / API_SESSION_REFILL_S;
            if (s->tokens > API_SESSION_BURST)
                s->tokens = API_SESSION_BURST;
        }
        s->at_us = now;
        ok = s->tokens >= 1.0;
        if (ok)
            s->tokens -= 1.0;
    }
    pthread_mutex_unlock(&api_session_limit.lock);
    return ok;
}

/* ---- answers ------------------------------------------------------------- */

static bool api_session_secure(const struct api_ctx *ctx)
{
    return ctx->public_url && strncmp(ctx->public_url, "https://", 8) == 0;
}

/* Set the session cookie to token for max_age seconds (0: clear it). */
static void api_session_cookie(const struct api_ctx *ctx, struct api_response *resp,
                               const char *token, int64_t max_age)
{
    snprintf(resp->set_cookie, sizeof resp->set_cookie,
             API_SESSION_COOKIE "=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
             token, (long long)max_age, api_session_secure(ctx) ? "; Secure" : "");
}

/* The JSON a browser learns about its session. */
static json_t *api_session_json(const char *project, const char *tenant, uint32_t events,
                                const char *token, int64_t expire_us)
{
    char csrf[API_SESSION_CSRF_MAX];
    json_t *obj = json_object();
    json_t *ev = json_array();

    api_session_csrf(token, csrf, sizeof csrf);
    for (int t = 0; t < EVENT_COUNT; t++)
        if (events & (UINT32_C(1) << t))
            json_array_append_new(ev, json_string(events_name((enum event_type)t)));
    json_object_set_new(obj, "project", json_string(project));
    if (tenant[0])
        json_object_set_new(obj, "tenant", json_string(tenant));
    json_object_set_new(obj, "event_types", ev);
    json_object_set_new(obj, "csrf_token", json_string(csrf));
    json_object_set_new(obj, "expire_time", api_json_time(expire_us));
    OPENSSL_cleanse(csrf, sizeof csrf);
    return obj;
}

/* The one string field name of req's JSON body, or NULL after answering. */
static const char *api_session_body_field(const struct api_request *req, json_t **body,
                                          const struct api_field *f, struct api_response *resp)
{
    const struct api_field fields[] = {*f, {NULL, NULL}};
    json_t *v;

    *body = api_json_body(req, resp, true);
    if (*body == NULL || !api_json_check(*body, fields, NULL, resp))
        return NULL;
    v = api_json_field(*body, f);
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > AUTH_KEY_MAX) {
        api_error(resp, API_INVALID_ARGUMENT, "%s is required", f->snake);
        return NULL;
    }
    return json_string_value(v);
}

void api_session_signin(const struct api_ctx *ctx, struct api_request *req,
                        struct api_response *resp)
{
    static const struct api_field F_KEY = {"api_key", "apiKey"};
    struct store_session s = {.kind = STORE_SESSION_ACTIVE, .events = EVENTS_ALL_MASK};
    char token[API_SESSION_TOKEN_MAX];
    json_t *body = NULL;
    const char *key;
    uint8_t khash[32];
    int64_t now = timeutil_now_us();
    enum store_rc rc;

    token[0] = '\0';
    if (!api_session_attempt(req)) {
        api_error(resp, API_RESOURCE_EXHAUSTED,
                  "too many sign-in attempts from this address; wait a minute");
        return;
    }
    key = api_session_body_field(req, &body, &F_KEY, resp);
    if (key == NULL)
        goto done;
    auth_key_hash(key, strlen(key), khash);
    rc = store_apikey_lookup(ctx->store, khash, s.project, sizeof s.project);
    OPENSSL_cleanse(khash, sizeof khash);
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_UNAUTHENTICATED, "API key not valid");
        goto done;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    if (api_session_token_new("kbs_", token, sizeof token, s.hash) != 0) {
        api_error(resp, API_INTERNAL, "cannot make a session");
        goto done;
    }
    s.create_time_us = now;
    s.expire_time_us = now + (int64_t)API_SESSION_TTL_S * TIMEUTIL_US_PER_S;
    rc = store_session_insert(ctx->store, &s, now);
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    api_session_cookie(ctx, resp, token, API_SESSION_TTL_S);
    api_reply(resp, api_session_json(s.project, "", s.events, token, s.expire_time_us));
    log_info("signed in", "project=%s", s.project);
done:
    OPENSSL_cleanse(token, sizeof token);
    OPENSSL_cleanse(&s, sizeof s);
    if (body) {
        json_t *v = json_object_get(body, "api_key");
        if (v == NULL)
            v = json_object_get(body, "apiKey");
        /* jansson's copy of the key, about to be freed: wiped in place,
         * the const of json_string_value cast away on purpose. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-qual"
        if (json_is_string(v))
            OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
#pragma GCC diagnostic pop
    }
    json_decref(body);
}

void api_session_open_portal(const struct api_ctx *ctx, struct api_request *req,
                             struct api_response *resp)
{
    static const struct api_field F_TOKEN = {"token", NULL};
    char token[API_SESSION_TOKEN_MAX];
    uint8_t link_hash[32], session_hash[32];
    struct store_session s;
    json_t *body = NULL;
    const char *link;
    int64_t now = timeutil_now_us();
    enum store_rc rc;

    token[0] = '\0';
    if (!api_session_attempt(req)) {
        api_error(resp, API_RESOURCE_EXHAUSTED,
                  "too many attempts from this address; wait a minute");
        return;
    }
    link = api_session_body_field(req, &body, &F_TOKEN, resp);
    if (link == NULL)
        goto done;
    api_session_hash(link, link_hash);
    if (api_session_token_new("kbs_", token, sizeof token, s.hash) != 0) {
        api_error(resp, API_INTERNAL, "cannot make a session");
        goto done;
    }
    memcpy(session_hash, s.hash, sizeof session_hash);
    rc = store_session_exchange(ctx->store, link_hash, session_hash, now);
    if (rc == STORE_OK)
        rc = store_session_lookup(ctx->store, session_hash, now, &s);
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_UNAUTHENTICATED,
                  "this portal link has expired or was already used; ask for a new one");
        goto done;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    api_session_cookie(ctx, resp, token, (s.expire_time_us - now) / TIMEUTIL_US_PER_S + 1);
    api_reply(resp, api_session_json(s.project, s.tenant, s.events, token, s.expire_time_us));
    log_info("portal opened", "project=%s tenant=%s", s.project, s.tenant);
done:
    OPENSSL_cleanse(token, sizeof token);
    OPENSSL_cleanse(link_hash, sizeof link_hash);
    OPENSSL_cleanse(session_hash, sizeof session_hash);
    json_decref(body);
}

int api_session_authenticate(const struct api_ctx *ctx, struct api_request *req,
                             struct api_response *resp)
{
    const char *token = api_cookie(req, API_SESSION_COOKIE);
    const char *sent;
    char csrf[API_SESSION_CSRF_MAX];
    struct store_session s;
    uint8_t hash[32];
    enum store_rc rc;
    bool safe = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

    if (token == NULL || token[0] == '\0')
        return 0;
    api_session_hash(token, hash);
    rc = store_session_lookup(ctx->store, hash, timeutil_now_us(), &s);
    OPENSSL_cleanse(hash, sizeof hash);
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_UNAUTHENTICATED, "your session has ended; sign in again");
        return -1;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        return -1;
    }
    if (!safe) {
        sent = api_header(req, API_SESSION_CSRF_HEADER);
        api_session_csrf(token, csrf, sizeof csrf);
        if (sent == NULL || strlen(sent) != strlen(csrf) || csrf[0] == '\0' ||
            CRYPTO_memcmp(sent, csrf, strlen(csrf)) != 0) {
            OPENSSL_cleanse(csrf, sizeof csrf);
            api_error(resp, API_PERMISSION_DENIED,
                      "a request that changes something needs the session's "
                      API_SESSION_CSRF_HEADER " header");
            return -1;
        }
        OPENSSL_cleanse(csrf, sizeof csrf);
    }
    snprintf(req->project, sizeof req->project, "%s", s.project);
    snprintf(req->tenant, sizeof req->tenant, "%s", s.tenant);
    req->tenant_events = s.events;
    req->session = true;
    return 1;
}

void api_session_get(const struct api_ctx *ctx, struct api_request *req,
                     struct api_response *resp)
{
    const char *token = api_cookie(req, API_SESSION_COOKIE);
    struct store_session s;
    uint8_t hash[32];
    enum store_rc rc;
    json_t *out;

    /* A page asks this before it knows whether it is signed in: no
     * session is an answer ({"signed_in": false}), not an error. */
    if (token == NULL || token[0] == '\0') {
        api_reply(resp, json_pack("{s:b}", "signed_in", 0));
        return;
    }
    api_session_hash(token, hash);
    rc = store_session_lookup(ctx->store, hash, timeutil_now_us(), &s);
    OPENSSL_cleanse(hash, sizeof hash);
    if (rc == STORE_NOT_FOUND) {
        api_reply(resp, json_pack("{s:b}", "signed_in", 0));
        return;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        return;
    }
    out = api_session_json(s.project, s.tenant, s.events, token, s.expire_time_us);
    json_object_set_new(out, "signed_in", json_true());
    api_reply(resp, out);
}

void api_session_signout(const struct api_ctx *ctx, struct api_request *req,
                         struct api_response *resp)
{
    const char *token = api_cookie(req, API_SESSION_COOKIE);
    uint8_t hash[32];
    enum store_rc rc;

    if (!req->session || token == NULL) {
        api_error(resp, API_FAILED_PRECONDITION, "signing out ends a web session; "
                  "an API key has none");
        return;
    }
    api_session_hash(token, hash);
    rc = store_session_remove(ctx->store, hash);
    OPENSSL_cleanse(hash, sizeof hash);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        api_error_store(resp, rc);
        return;
    }
    api_session_cookie(ctx, resp, "", 0);
    api_reply(resp, json_object());
}
