/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_router.h - the route table, and api_handle(): what every request
 * goes through between its transport and its handler.
 *
 * API routes are written without their version prefix ("webhooks/ *:ping");
 * the router accepts each under /v1/ and /v1beta/. A pattern segment "*"
 * captures one path segment that has no ':'; "*:verb" captures the part of
 * a segment before ":verb" (Google's custom-method syntax).
 */
#ifndef KABAR_API_ROUTER_H
#define KABAR_API_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"

enum api_route_result {
    API_ROUTE_FOUND,
    API_ROUTE_NO_PATH,          /* 404 */
    API_ROUTE_NO_METHOD,        /* 405; *allow lists the methods */
};

struct api_route_match {
    api_handler handler;
    bool needs_auth;
    bool portal;                /* open to a portal session */
    const char *allow;          /* for API_ROUTE_NO_METHOD */
};

/*
 * Answer req, made by a transport (api_transport.h), into resp: the policy
 * every route shares, then the route's handler. In order: a body the
 * transport dropped (req->body_too_big) is 413; a path no route has is
 * 404, a method the path does not take 405 with resp->allow; a route that
 * needs a key is 404 on a --role worker (ctx->health_only), else
 * authenticated (auth.h: 401, or 503 when the store is away); a portal
 * session may use only the portal's routes (403). resp->status stays as the
 * caller set it when the handler deferred its answer (api_defer).
 */
void api_handle(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp);

/* Find the handler for method and path. On API_ROUTE_FOUND, fills
 * req->params with pointers into scratch (which must outlive the request and
 * hold strlen(path)+1 bytes). */
enum api_route_result api_router_match(const char *method, const char *path,
                                       struct api_request *req, char *scratch,
                                       struct api_route_match *out);

/* The route table, for the test that holds the OpenAPI description to it:
 * how many routes there are, and route i's method, pattern and whether it
 * lives under the version prefixes. */
size_t api_router_count(void);
void api_router_route(size_t i, const char **method, const char **pattern, bool *versioned);

#endif
