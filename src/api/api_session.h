/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_session.h - web UI sessions: sign-in with an API key, portal links,
 * the session cookie, CSRF tokens and the sign-in rate limit.
 *
 * A browser never holds an API key after signing in: the key is traded for
 * a random session token in an HttpOnly, SameSite=Strict cookie, and the
 * store keeps only the token's SHA-256 (store_sessions.h). Requests that
 * change something must also carry the session's CSRF token in the
 * x-kabar-csrf header; it is derived from the session token, so a page of
 * another origin, which can neither read the cookie nor kabard's answers,
 * cannot produce it.
 */
#ifndef KABAR_API_SESSION_H
#define KABAR_API_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

#define API_SESSION_COOKIE "kabar_session"
#define API_SESSION_CSRF_HEADER "x-kabar-csrf"
#define API_SESSION_TOKEN_MAX 64
/* An operator's session lasts this long; a portal session as long as its
 * link says. */
#define API_SESSION_TTL_S (8 * 3600)

/* Make a new token with prefix into out and its SHA-256 into hash.
 * Returns 0, or -1 when the random source failed. */
int api_session_token_new(const char *prefix, char *out, size_t cap, uint8_t hash[32]);

/* Authenticate req from its session cookie. Returns 1 and sets
 * req->project, tenant, tenant_events and session; 0 when the request has
 * no session cookie; -1 after filling resp (expired or unknown session:
 * 401; a state-changing request without the CSRF token: 403). */
int api_session_authenticate(const struct api_ctx *ctx, struct api_request *req,
                             struct api_response *resp);

#endif
