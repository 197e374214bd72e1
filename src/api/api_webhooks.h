/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_webhooks.h - a Webhook request body through its validation, without
 * the store: what the create and update handlers check before they write,
 * and what the request-body fuzz target drives.
 */
#ifndef KABAR_API_WEBHOOKS_H
#define KABAR_API_WEBHOOKS_H

#include <jansson.h>

#include "api/api.h"
#include "core/webhook.h"

/* The fields an update touches (a mask of these). */
enum {
    API_WEBHOOK_NAME = 1,
    API_WEBHOOK_URI = 2,
    API_WEBHOOK_EVENTS = 4,
    API_WEBHOOK_STATE = 8,
    API_WEBHOOK_TENANT = 16,
};

/* A create body into wh (zeroed by the caller): uri and subscribed_events
 * required, name and tenant optional, state enabled unless given; a portal
 * session (req->tenant) keeps to its tenant and its event types. Returns
 * 0, or -1 after filling resp. */
int api_webhook_parse_create(const struct api_ctx *ctx, const struct api_request *req,
                             json_t *body, struct webhook *wh, struct api_response *resp);

/* The fields an update body touches: those named in mask (update_mask,
 * NULL or "" for none), or without a mask those present in body. Checks
 * that body names only known fields. Returns the mask, or -1 after filling
 * resp. */
int api_webhook_update_fields(json_t *body, const char *mask, struct api_response *resp);

/* Apply the fields of an update body onto wh (the webhook as stored).
 * Returns 0, or -1 after filling resp (wh may then be partly changed). */
int api_webhook_parse_update(const struct api_ctx *ctx, const struct api_request *req,
                             json_t *body, int fields, struct webhook *wh,
                             struct api_response *resp);

#endif
