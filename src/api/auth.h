/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.h - who sent a request: its API key (auth_key.h), or a web UI
 * session (api_session.h). api_handle() (api_router.c) calls it for every
 * route that needs a key.
 */
#ifndef KABAR_AUTH_H
#define KABAR_AUTH_H

#include <stdbool.h>

#include "api/api.h"

/* Authenticate req from its x-goog-api-key header or ?key= parameter, or
 * else from a web UI session cookie (api_session.h), and set req->project.
 * Returns true, or false after filling resp with the error (401, or 503
 * when the store is away). */
bool auth_request(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp);

/*
 * Authenticate req for a server-wide action (one that acts on every
 * project, such as rotating the signing key). An operator may do it: the
 * holder of KABAR_ADMIN_KEY when one is configured; otherwise a key (or a
 * web UI session) of the project "default", whose first-start key thus
 * stays the operator's key on a one-user setup. Any other key or session:
 * false with 403 PERMISSION_DENIED in resp (401 without a key, as
 * auth_request). Routes using it are routed without needs_auth.
 */
bool auth_admin(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp);

#endif
