/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api.h - what every HTTP handler sees: the server context, one request and
 * the response it fills in.
 *
 * Handlers never touch libmicrohttpd: a transport (http.c) turns a
 * connection into a struct api_request that carries the transport's table
 * of functions (api_transport.h), hands it to api_handle() (api_router.h),
 * and sends the struct api_response back. That keeps the routes a plain
 * table (api_router.c) and the transport replaceable: the unit tests serve
 * requests through one of their own.
 */
#ifndef KABAR_API_H
#define KABAR_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/webhook.h"

struct store;
struct secretbox;
struct publish;
struct dispatch;
struct ops_engine;
struct keyring;
struct api_ui_brand;
struct api_transport;

#define API_MAX_BODY (1024 * 1024)
#define API_MAX_PARAMS 2

/* The event type of a ping (POST /v1/webhooks/{id}:ping). */
#define API_PING_EVENT "webhook.ping"

/* Shared, read-only after start-up; safe to use from every thread. */
struct api_ctx {
    struct store *store;
    const struct secretbox *box;    /* seals signing secrets at rest */
    bool allow_private;             /* --allow-private-targets */
    struct publish *publish;        /* commits events (group commit) */
    struct dispatch *dispatch;      /* woken when deliveries are re-queued */
    struct keyring *keyring;        /* dynamic-webhook signing keys (JWKS) */
    struct ops_engine *ops;         /* long-running operations (ops/ops_engine.h) */
    /* --role worker: serve only the routes that need no key (/healthz,
     * /metrics, the JWKS), for probes and scrapers; the API lives on the
     * api processes, so every other route is 404 here. */
    bool health_only;
    const char *public_url;         /* where browsers reach kabard (portal links) */
    const struct api_ui_brand *brand;   /* the web UI's title, accent, logo (api_ui.h) */
    /* KABAR_ADMIN_KEY, or NULL: the one key for server-wide actions
     * (auth_admin in auth.h). */
    const char *admin_key;
};

struct api_request {
    const char *method;
    const char *path;               /* without the query string */
    const char *body;               /* NUL-terminated; NULL when empty */
    size_t body_len;
    bool body_too_big;              /* the transport dropped a body past API_MAX_BODY */
    char project[WEBHOOK_PROJECT_MAX + 1];  /* set by auth */
    /* Set by auth for a web UI session (api_session.h): a portal session's
     * tenant narrows the request to that tenant's webhooks ("" for an API
     * key or an operator's session), and tenant_events to the event types it
     * may subscribe to. */
    char tenant[WEBHOOK_TENANT_MAX + 1];
    uint32_t tenant_events;
    bool session;
    const char *params[API_MAX_PARAMS];     /* path captures, e.g. the id */
    size_t nparams;
    char *route_buf;                /* params point here; api_request_end frees it */
    const struct api_transport *transport;  /* made this request (api_transport.h) */
    void *conn;                     /* the transport's handle for it */
};

struct api_response {
    int status;
    char *body;                     /* malloc'd JSON; owned by the response */
    const char *allow;              /* Allow header for 405, static string */
    const char *cache_control;      /* static string or NULL */
    const char *content_type;       /* static string; NULL: application/json */
    size_t body_len;                /* 0: strlen(body); set for binary bodies */
    char set_cookie[256];           /* a Set-Cookie header when not "" */
    int retry_after;                /* a Retry-After header (seconds) when > 0 */
};

typedef void (*api_handler)(const struct api_ctx *ctx, struct api_request *req,
                            struct api_response *resp);

/*
 * Answering later, without holding an HTTP thread: a handler that waits for
 * something (POST /v1/events waits for its group commit) calls api_defer()
 * and returns without a response; the transport then parks the connection.
 * Whoever finishes the work calls api_resume(req), from any thread, once;
 * finish(ctx, req, resp, arg) then runs on an HTTP thread and fills the
 * response. api_resume may come before the handler has returned. req stays
 * valid until finish has run. finish runs once for every api_resume, even
 * when the connection has ended meanwhile (its response is then dropped),
 * so it is where arg is freed.
 */
typedef void (*api_finish_fn)(const struct api_ctx *ctx, struct api_request *req,
                              struct api_response *resp, void *arg);
void api_defer(struct api_request *req, api_finish_fn finish, void *arg);
void api_resume(struct api_request *req);

/* The transport calls this once a request is over (answered, or its
 * connection gone), after any finish function: it frees what api_handle
 * kept for the request, so a deferred handler's params stay valid until
 * its finish has run. */
void api_request_end(struct api_request *req);

/* A query parameter or request header of req, or NULL. Valid until the
 * request ends. These and the functions below call req's transport
 * (api_transport.c). */
const char *api_query(const struct api_request *req, const char *name);
const char *api_header(const struct api_request *req, const char *name);

/* Route handlers, one file per resource. */
void api_health_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_ready_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_openapi_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_webhooks_create(const struct api_ctx *, struct api_request *, struct api_response *);
void api_webhooks_list(const struct api_ctx *, struct api_request *, struct api_response *);
void api_webhooks_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_webhooks_update(const struct api_ctx *, struct api_request *, struct api_response *);
void api_webhooks_delete(const struct api_ctx *, struct api_request *, struct api_response *);
void api_webhooks_rotate(const struct api_ctx *, struct api_request *, struct api_response *);
void api_webhooks_ping(const struct api_ctx *, struct api_request *, struct api_response *);
void api_deliveries_recover(const struct api_ctx *, struct api_request *, struct api_response *);
void api_events_publish(const struct api_ctx *, struct api_request *, struct api_response *);
void api_deliveries_list(const struct api_ctx *, struct api_request *, struct api_response *);
void api_deliveries_search(const struct api_ctx *, struct api_request *, struct api_response *);
void api_deliveries_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_deliveries_retry(const struct api_ctx *, struct api_request *, struct api_response *);
void api_metrics_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_jwks_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_signing_keys_rotate(const struct api_ctx *, struct api_request *, struct api_response *);
void api_interactions_create(const struct api_ctx *, struct api_request *, struct api_response *);
void api_interactions_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_interactions_cancel(const struct api_ctx *, struct api_request *, struct api_response *);
void api_interactions_delete(const struct api_ctx *, struct api_request *, struct api_response *);
void api_batches_create(const struct api_ctx *, struct api_request *, struct api_response *);
void api_batches_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_batches_list(const struct api_ctx *, struct api_request *, struct api_response *);
void api_batches_cancel(const struct api_ctx *, struct api_request *, struct api_response *);
void api_batches_delete(const struct api_ctx *, struct api_request *, struct api_response *);
void api_videos_create(const struct api_ctx *, struct api_request *, struct api_response *);
void api_videos_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_videos_fetch(const struct api_ctx *, struct api_request *, struct api_response *);
void api_operations_list(const struct api_ctx *, struct api_request *, struct api_response *);
void api_operations_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_operations_claim(const struct api_ctx *, struct api_request *, struct api_response *);
void api_operations_heartbeat(const struct api_ctx *, struct api_request *, struct api_response *);
void api_operations_complete(const struct api_ctx *, struct api_request *, struct api_response *);
void api_operations_fail(const struct api_ctx *, struct api_request *, struct api_response *);
void api_operations_require_action(const struct api_ctx *, struct api_request *, struct api_response *);
void api_files_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_files_download(const struct api_ctx *, struct api_request *, struct api_response *);
void api_ui_index(const struct api_ctx *, struct api_request *, struct api_response *);
void api_ui_asset(const struct api_ctx *, struct api_request *, struct api_response *);
void api_ui_config(const struct api_ctx *, struct api_request *, struct api_response *);
void api_ui_logo(const struct api_ctx *, struct api_request *, struct api_response *);
void api_session_signin(const struct api_ctx *, struct api_request *, struct api_response *);
void api_session_open_portal(const struct api_ctx *, struct api_request *, struct api_response *);
void api_session_get(const struct api_ctx *, struct api_request *, struct api_response *);
void api_session_signout(const struct api_ctx *, struct api_request *, struct api_response *);
void api_portal_sessions_create(const struct api_ctx *, struct api_request *, struct api_response *);
void api_stats_get(const struct api_ctx *, struct api_request *, struct api_response *);

/* The client's address as text ("" when unknown), for rate limits. */
void api_client_addr(const struct api_request *req, char *out, size_t cap);
/* A cookie of the request, or NULL. */
const char *api_cookie(const struct api_request *req, const char *name);

#endif
