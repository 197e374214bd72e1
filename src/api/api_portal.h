/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_portal.h - the customer portal: one-time links that open a web
 * session scoped to one tenant of a project, and the checks that keep such
 * a session inside its tenant in every handler it may reach.
 *
 * The router lets a portal session reach only the routes of webhooks and
 * their deliveries (api_router.c); these functions narrow those routes to
 * the tenant's own webhooks. Anything outside answers 404, exactly as
 * another project's id does, so ids of other tenants are not confirmed.
 */
#ifndef KABAR_API_PORTAL_H
#define KABAR_API_PORTAL_H

#include <stdbool.h>

#include "api/api.h"

/* True when req may see wh: every webhook of its project for an API key or
 * an operator's session, only its tenant's for a portal session. */
bool api_portal_sees(const struct api_request *req, const struct webhook *wh);

/* For a portal session: answer 404 unless webhook id is one of its
 * tenant's. Returns 0 (also at once for everyone else), or -1 after
 * filling resp. */
int api_portal_check_webhook(const struct api_ctx *ctx, const struct api_request *req,
                             const char *id, struct api_response *resp);

/* The same for a delivery: it must go to one of the tenant's webhooks. */
int api_portal_check_delivery(const struct api_ctx *ctx, const struct api_request *req,
                              const char *id, struct api_response *resp);

/* For a portal session: answer 403 unless every event type of mask is one
 * the session may subscribe to. Returns 0 or -1. */
int api_portal_check_events(const struct api_request *req, uint32_t mask,
                            struct api_response *resp);

#endif
