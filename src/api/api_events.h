/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_events.h - committing an event from an API handler, shared by
 * POST /v1/events and :ping; and the validation of a POST /v1/events body.
 */
#ifndef KABAR_API_EVENTS_H
#define KABAR_API_EVENTS_H

#include <jansson.h>

#include "api/api.h"
#include "core/events.h"
#include "core/webhook_config.h"
#include "store/store.h"

/* A POST /v1/events body, validated. */
struct api_event_in {
    enum event_type type;               /* a producer's type, never an operator event */
    json_t *data;                       /* an object with a non-empty "id" (borrowed) */
    struct webhook_config *config;      /* NULL: the project's webhooks; else owned,
                                         * with at least one uri */
};

/* Validate body (a JSON object) and the Idempotency-Key header (NULL:
 * none) into in; the store is not touched. Returns 0, or -1 after filling
 * resp (in then holds nothing to free). */
int api_events_parse(const struct api_ctx *ctx, json_t *body, const char *idempotency_key,
                     struct api_event_in *in, struct api_response *resp);

/* Build msg's envelope around data (and user_metadata, when not NULL),
 * commit it through the group-commit writer and count it. msg's id,
 * project, type, mask, time and targets are the caller's. Returns 0, or -1
 * after filling resp. */
int api_events_commit(const struct api_ctx *ctx, struct store_message *msg, json_t *data,
                      json_t *user_metadata, struct api_response *resp);

#endif
