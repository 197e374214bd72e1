/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_router.c - the route table, its matcher, and api_handle(), the
 * policy every request meets before its handler (size, route, role, auth,
 * portal).
 *
 * One entry per (method, pattern). Adding a route is adding a line here and
 * a handler in the file of its resource. Nothing here knows the transport:
 * it reads the request through api_header()/api_query() like any handler.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_router.h"
#include "api/auth.h"

struct api_route {
    const char *method;
    const char *pattern;        /* after the version prefix, or absolute */
    api_handler handler;
    bool versioned;             /* lives under /v1/ and /v1beta/ */
    bool needs_auth;
    /* Open to a customer portal session (api_portal.c): the routes of a
     * tenant's own webhooks and their deliveries, and nothing else. */
    bool portal;
};

static const struct api_route api_routes[] = {
    {"GET", "/healthz", api_health_get, false, false, false},
    {"GET", "/readyz", api_ready_get, false, false, false},
    {"GET", "/openapi.json", api_openapi_get, false, false, false},
    {"GET", "webhooks", api_webhooks_list, true, true, true},
    {"POST", "webhooks", api_webhooks_create, true, true, true},
    {"GET", "webhooks/*", api_webhooks_get, true, true, true},
    {"PATCH", "webhooks/*", api_webhooks_update, true, true, true},
    {"DELETE", "webhooks/*", api_webhooks_delete, true, true, true},
    {"POST", "webhooks/*:rotateSigningSecret", api_webhooks_rotate, true, true, true},
    {"POST", "webhooks/*/rotate_secret", api_webhooks_rotate, true, true, true},
    {"POST", "webhooks/*:ping", api_webhooks_ping, true, true, true},
    {"POST", "webhooks/*:recover", api_deliveries_recover, true, true, true},
    {"GET", "webhooks/*/deliveries", api_deliveries_list, true, true, true},
    {"GET", "deliveries", api_deliveries_search, true, true, true},
    {"GET", "deliveries/*", api_deliveries_get, true, true, true},
    {"POST", "deliveries/*:retry", api_deliveries_retry, true, true, true},
    {"POST", "events", api_events_publish, true, true, false},
    {"POST", "portalSessions", api_portal_sessions_create, true, true, false},
    {"GET", "stats", api_stats_get, true, true, false},
    /* The web UI: its page, its assets (content-hashed names), its brand,
     * and its sessions (api_ui.c, api_session.c). */
    {"GET", "/", api_ui_index, false, false, false},
    {"GET", "/portal", api_ui_index, false, false, false},
    {"GET", "/assets/*/*", api_ui_asset, false, false, false},
    {"GET", "/ui/config", api_ui_config, false, false, false},
    {"GET", "/ui/logo", api_ui_logo, false, false, false},
    {"POST", "/ui/signin", api_session_signin, false, false, false},
    {"POST", "/ui/portal/open", api_session_open_portal, false, false, false},
    {"GET", "/ui/session", api_session_get, false, false, true},
    {"POST", "/ui/signout", api_session_signout, false, true, true},
    {"GET", "/metrics", api_metrics_get, false, false, false},
    {"GET", "/.well-known/jwks.json", api_jwks_get, false, false, false},
    /* Server-wide: the handler authenticates an operator (auth_admin). */
    {"POST", "signingKeys:rotate", api_signing_keys_rotate, true, false, false},
    {"POST", "interactions", api_interactions_create, true, true, false},
    {"GET", "interactions/*", api_interactions_get, true, true, false},
    {"DELETE", "interactions/*", api_interactions_delete, true, true, false},
    {"POST", "interactions/*/cancel", api_interactions_cancel, true, true, false},
    {"POST", "models/*:batchGenerateContent", api_batches_create, true, true, false},
    {"GET", "batches", api_batches_list, true, true, false},
    {"GET", "batches/*", api_batches_get, true, true, false},
    {"DELETE", "batches/*", api_batches_delete, true, true, false},
    {"POST", "batches/*:cancel", api_batches_cancel, true, true, false},
    {"POST", "models/*:predictLongRunning", api_videos_create, true, true, false},
    {"POST", "publishers/*/models/*:predictLongRunning", api_videos_create, true, true, false},
    {"GET", "models/*/operations/*", api_videos_get, true, true, false},
    {"POST", "models/*:fetchPredictOperation", api_videos_fetch, true, true, false},
    {"POST", "publishers/*/models/*:fetchPredictOperation", api_videos_fetch, true, true, false},
    {"GET", "operations", api_operations_list, true, true, false},
    {"POST", "operations:claim", api_operations_claim, true, true, false},
    {"GET", "operations/*", api_operations_get, true, true, false},
    {"POST", "operations/*:heartbeat", api_operations_heartbeat, true, true, false},
    {"POST", "operations/*:complete", api_operations_complete, true, true, false},
    {"POST", "operations/*:fail", api_operations_fail, true, true, false},
    {"POST", "operations/*:requireAction", api_operations_require_action, true, true, false},
    {"GET", "files/*", api_files_get, true, true, false},
    {"GET", "files/*:download", api_files_download, true, true, false},
};

size_t api_router_count(void)
{
    return sizeof(api_routes) / sizeof(api_routes[0]);
}

void api_router_route(size_t i, const char **method, const char **pattern, bool *versioned)
{
    *method = api_routes[i].method;
    *pattern = api_routes[i].pattern;
    *versioned = api_routes[i].versioned;
}

static const char *const api_versions[] = {"/v1/", "/v1beta/"};

/* Strip a version prefix. Returns the rest of the path, or NULL. */
static const char *api_router_unversion(const char *path)
{
    for (size_t i = 0; i < sizeof(api_versions) / sizeof(api_versions[0]); i++) {
        size_t n = strlen(api_versions[i]);
        if (strncmp(path, api_versions[i], n) == 0)
            return path + n;
    }
    return NULL;
}

/*
 * Match rest (a writable copy of the path after the prefix) against
 * pattern. Captured segments are NUL-terminated in place and stored in
 * req->params. Returns true on a match; rest may be modified either way.
 */
static bool api_router_match_one(const char *pattern, char *rest, struct api_request *req)
{
    const char *p = pattern;
    char *s = rest;

    req->nparams = 0;
    for (;;) {
        const char *pend = strchr(p, '/');
        char *send = strchr(s, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        size_t slen = send ? (size_t)(send - s) : strlen(s);

        if ((pend == NULL) != (send == NULL))
            return false;
        if (p[0] == '*') {
            const char *verb = p + 1;               /* "" or ":verb" */
            size_t vlen = plen - 1;
            if (slen <= vlen)
                return false;
            if (vlen > 0 && memcmp(s + slen - vlen, verb, vlen) != 0)
                return false;
            if (memchr(s, ':', slen - vlen) != NULL)
                return false;
            if (req->nparams == API_MAX_PARAMS)
                return false;
            s[slen - vlen] = '\0';
            req->params[req->nparams++] = s;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        if (pend == NULL)
            return true;
        p = pend + 1;
        s = send + 1;
    }
}

/* Allow header values, indexed by a mask of GET=1, POST=2, PATCH=4, DELETE=8:
 * a static string per set, so the response can point at it. */
static const char *const api_allow[16] = {
    "", "GET", "POST", "GET, POST", "PATCH", "GET, PATCH", "POST, PATCH", "GET, POST, PATCH",
    "DELETE", "GET, DELETE", "POST, DELETE", "GET, POST, DELETE", "PATCH, DELETE",
    "GET, PATCH, DELETE", "POST, PATCH, DELETE", "GET, POST, PATCH, DELETE",
};

static unsigned api_method_bit(const char *method)
{
    static const char *const names[] = {"GET", "POST", "PATCH", "DELETE"};

    for (unsigned i = 0; i < 4; i++)
        if (strcmp(method, names[i]) == 0)
            return 1u << i;
    return 0;
}

enum api_route_result api_router_match(const char *method, const char *path,
                                       struct api_request *req, char *scratch,
                                       struct api_route_match *out)
{
    const char *rest = api_router_unversion(path);
    unsigned allowed = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
        const struct api_route *r = &api_routes[i];
        const char *subject = r->versioned ? rest : path;

        if (subject == NULL)
            continue;
        strcpy(scratch, subject);
        if (!api_router_match_one(r->pattern, scratch, req))
            continue;
        allowed |= api_method_bit(r->method);
        if (strcmp(r->method, method) == 0) {
            /* The captures point into scratch, which nothing overwrites
             * from here on. */
            out->handler = r->handler;
            out->needs_auth = r->needs_auth;
            out->portal = r->portal;
            return API_ROUTE_FOUND;
        }
    }
    req->nparams = 0;
    if (allowed == 0)
        return API_ROUTE_NO_PATH;
    out->allow = api_allow[allowed & 15];
    return API_ROUTE_NO_METHOD;
}

void api_handle(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp)
{
    struct api_route_match m;
    char *scratch;

    if (req->body_too_big) {
        api_error(resp, API_PAYLOAD_TOO_LARGE, "request body exceeds %d bytes", API_MAX_BODY);
        return;
    }
    scratch = malloc(strlen(req->path) + 1);
    req->route_buf = scratch;           /* freed by api_request_end */
    if (scratch == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        return;
    }
    switch (api_router_match(req->method, req->path, req, scratch, &m)) {
    case API_ROUTE_NO_PATH:
        api_error(resp, API_NOT_FOUND, "no such route: %s %.200s", req->method, req->path);
        break;
    case API_ROUTE_NO_METHOD:
        api_error(resp, API_UNIMPLEMENTED, "method %s is not allowed here; allowed: %s",
                  req->method, m.allow);
        resp->allow = m.allow;
        break;
    case API_ROUTE_FOUND:
        if (m.needs_auth && ctx->health_only) {
            api_error(resp, API_NOT_FOUND, "this kabard runs --role worker; "
                      "the API is served by the api processes");
            break;
        }
        if (m.needs_auth && !auth_request(ctx, req, resp))
            break;
        if (req->tenant[0] && !m.portal) {
            api_error(resp, API_PERMISSION_DENIED,
                      "a portal session may manage only its own webhooks and their deliveries");
            break;
        }
        m.handler(ctx, req, resp);
        break;
    }
}

void api_request_end(struct api_request *req)
{
    free(req->route_buf);
    req->route_buf = NULL;
    req->params[0] = NULL;
    req->nparams = 0;
}
