/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_events.h - committing an event from an API handler, shared by
 * POST /v1/events and :ping.
 */
#ifndef KABAR_API_EVENTS_H
#define KABAR_API_EVENTS_H

#include <jansson.h>

#include "api/api.h"
#include "store/store.h"

/* Build msg's envelope around data (and user_metadata, when not NULL),
 * commit it through the group-commit writer and count it. msg's id,
 * project, type, mask, time and targets are the caller's. Returns 0, or -1
 * after filling resp. */
int api_events_commit(const struct api_ctx *ctx, struct store_message *msg, json_t *data,
                      json_t *user_metadata, struct api_response *resp);

#endif
