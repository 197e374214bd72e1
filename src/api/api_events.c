/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_events.c - POST /v1/events: a producer publishes an event of the
 * catalog; kabard commits it with one delivery per subscribed, enabled
 * webhook of the project before answering.
 *
 *   {"type": "batch.succeeded", "data": {"id": "batch_123", ...}}
 *
 * An Idempotency-Key header makes a repeat within 24 hours answer with the
 * first event's id and create nothing. With "webhook_config": {"uris": [...],
 * "user_metadata": {...}} the event goes to those URIs instead (dynamic
 * webhooks, signed with RS256 JWTs), user_metadata riding in the envelope.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_events.h"
#include "api/api_ops.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "core/events.h"
#include "deliver/dispatch.h"
#include "deliver/envelope.h"
#include "deliver/publish.h"
#include "store/store.h"

static const struct api_field F_TYPE = {"type", NULL};
static const struct api_field F_DATA = {"data", NULL};

/* The answer to a commit of msg whose result is rc: 0, counted, or -1
 * with the error in resp. */
static int events_result(struct store_message *msg, enum store_rc rc, struct api_response *resp)
{
    if (rc == STORE_OK)
        rc = msg->rc;
    if (rc != STORE_OK) {
        if (rc == STORE_NOT_FOUND)
            api_error(resp, API_NOT_FOUND, "webhook %s not found",
                      msg->webhook_id ? msg->webhook_id : "");
        else
            api_error_store(resp, rc);
        return -1;
    }
    if (msg->duplicate) {
        atomic_fetch_add_explicit(&metrics.events_duplicate, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&metrics.events_accepted, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&metrics.deliveries_created, msg->ndeliveries,
                                  memory_order_relaxed);
    }
    return 0;
}

int api_events_commit(const struct api_ctx *ctx, struct store_message *msg, json_t *data,
                      json_t *user_metadata, struct api_response *resp)
{
    size_t len = 0;
    char *payload = envelope_build(msg->type, msg->create_time_us, data, user_metadata, &len);
    enum store_rc rc;

    if (payload == NULL) {
        api_error(resp, API_INTERNAL, "cannot build the event");
        return -1;
    }
    msg->payload = (const uint8_t *)payload;
    msg->payload_len = len;
    rc = publish_submit(ctx->publish, msg);
    free(payload);
    msg->payload = NULL;
    return events_result(msg, rc, resp);
}

/* A POST /v1/events waiting for its group commit: everything msg points
 * to lives here until the answer, and no HTTP thread waits with it. */
struct events_pending {
    struct store_message msg;
    struct api_request *req;
    char *payload;
    json_t *config;                 /* msg.uris point into it */
    const char *uris[STORE_URIS_MAX];
    enum store_rc rc;
};

static void events_pending_free(struct events_pending *ep)
{
    free(ep->payload);
    json_decref(ep->config);
    free(ep);
}

/* On the event writer: the commit has ended. */
static void events_committed(struct store_message *msg, enum store_rc rc, void *arg)
{
    struct events_pending *ep = arg;

    (void)msg;
    ep->rc = rc;
    api_resume(ep->req);
}

/* On an HTTP thread, after api_resume: the answer. */
static void events_finish(const struct api_ctx *ctx, struct api_request *req,
                          struct api_response *resp, void *arg)
{
    struct events_pending *ep = arg;

    (void)ctx;
    (void)req;
    if (events_result(&ep->msg, ep->rc, resp) == 0)
        api_reply(resp, json_pack("{s:s,s:s,s:I,s:b}", "id", ep->msg.id, "type", ep->msg.type,
                                  "deliveries", (json_int_t)ep->msg.ndeliveries,
                                  "duplicate", ep->msg.duplicate));
    events_pending_free(ep);
}

void api_events_publish(const struct api_ctx *ctx, struct api_request *req,
                        struct api_response *resp)
{
    static const struct api_field fields[] = {{"type", NULL}, {"data", NULL},
                                              {"webhook_config", "webhookConfig"},
                                              {NULL, NULL}};
    static const struct api_field F_WEBHOOK_CONFIG = {"webhook_config", "webhookConfig"};
    struct events_pending *ep = NULL;
    struct store_message *msg;
    char *config_text = NULL;
    json_t *user_metadata = NULL;
    const char *idem = api_header(req, "Idempotency-Key");
    json_t *body = api_json_body(req, resp, true);
    json_t *type, *data, *id;
    size_t len = 0;
    int t;

    if (body == NULL)
        return;
    if (!api_json_check(body, fields, NULL, resp))
        goto done;
    type = api_json_field(body, &F_TYPE);
    data = api_json_field(body, &F_DATA);
    if (!json_is_string(type)) {
        api_error(resp, API_INVALID_ARGUMENT, "type is required and must be a string");
        goto done;
    }
    t = events_lookup(json_string_value(type));
    if (t < 0) {
        api_error(resp, API_INVALID_ARGUMENT, "unknown event type \"%.100s\"",
                  json_string_value(type));
        goto done;
    }
    if (events_is_operator((enum event_type)t)) {
        api_error(resp, API_INVALID_ARGUMENT, "%s is an operator event: only kabar emits it",
                  json_string_value(type));
        goto done;
    }
    if (!json_is_object(data)) {
        api_error(resp, API_INVALID_ARGUMENT, "data is required and must be an object");
        goto done;
    }
    id = json_object_get(data, "id");
    if (!json_is_string(id) || json_string_length(id) == 0) {
        api_error(resp, API_INVALID_ARGUMENT, "data.id is required and must be a non-empty "
                                              "string (the id of the job the event is about)");
        goto done;
    }
    if (idem && (idem[0] == '\0' || strlen(idem) >= STORE_IDEMPOTENCY_KEY_MAX)) {
        api_error(resp, API_INVALID_ARGUMENT, "Idempotency-Key must be 1 to %d characters",
                  STORE_IDEMPOTENCY_KEY_MAX - 1);
        goto done;
    }

    ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        goto done;
    }
    ep->req = req;
    msg = &ep->msg;
    if (api_ops_webhook_config(ctx, api_json_field(body, &F_WEBHOOK_CONFIG), &config_text,
                               resp) != 0)
        goto done;
    if (config_text) {
        json_t *list;
        size_t i;
        json_t *u;

        ep->config = json_loads(config_text, 0, NULL);
        list = json_object_get(ep->config, "uris");
        if (!json_is_array(list) || json_array_size(list) == 0) {
            api_error(resp, API_INVALID_ARGUMENT, "webhook_config.uris must name at least one uri");
            goto done;
        }
        json_array_foreach(list, i, u) {
            if (i < STORE_URIS_MAX)
                ep->uris[i] = json_string_value(u);
        }
        msg->uris = ep->uris;
        msg->nuris = json_array_size(list) < STORE_URIS_MAX ? json_array_size(list) : STORE_URIS_MAX;
        user_metadata = json_object_get(ep->config, "user_metadata");
    }
    if (ids_new("msg_", msg->id, sizeof(msg->id)) != 0) {
        api_error(resp, API_INTERNAL, "cannot make an id");
        goto done;
    }
    strcpy(msg->project, req->project);
    strcpy(msg->type, events_name((enum event_type)t));
    msg->type_mask = UINT32_C(1) << t;
    msg->create_time_us = timeutil_now_us();
    msg->idempotency_key = idem;        /* a header: lives as long as req */
    ep->payload = envelope_build(msg->type, msg->create_time_us, data, user_metadata, &len);
    if (ep->payload == NULL) {
        api_error(resp, API_INTERNAL, "cannot build the event");
        goto done;
    }
    msg->payload = (const uint8_t *)ep->payload;
    msg->payload_len = len;
    /* From here ep is the writer's, then events_finish's. */
    api_defer(req, events_finish, ep);
    if (publish_submit_async(ctx->publish, msg, events_committed, ep) != STORE_OK) {
        ep->rc = STORE_UNAVAILABLE;
        api_resume(req);
    }
    ep = NULL;
done:
    if (ep)
        events_pending_free(ep);
    free(config_text);
    json_decref(body);
}
