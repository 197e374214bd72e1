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
    struct webhook_config *config;  /* msg.uris point into it */
    const char *uris[STORE_URIS_MAX];
    enum store_rc rc;
};

static void events_pending_free(struct events_pending *ep)
{
    free(ep->payload);
    webhook_config_free(ep->config);
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

int api_events_parse(const struct api_ctx *ctx, json_t *body, const char *idempotency_key,
                     struct api_event_in *in, struct api_response *resp)
{
    static const struct api_field fields[] = {{"type", NULL}, {"data", NULL},
                                              {"webhook_config", "webhookConfig"},
                                              {NULL, NULL}};
    static const struct api_field F_WEBHOOK_CONFIG = {"webhook_config", "webhookConfig"};
    json_t *type, *id;
    int t;

    memset(in, 0, sizeof(*in));
    if (!api_json_check(body, fields, NULL, resp))
        return -1;
    type = api_json_field(body, &F_TYPE);
    in->data = api_json_field(body, &F_DATA);
    if (!json_is_string(type)) {
        api_error(resp, API_INVALID_ARGUMENT, "type is required and must be a string");
        return -1;
    }
    t = events_lookup(json_string_value(type));
    if (t < 0) {
        api_error(resp, API_INVALID_ARGUMENT, "unknown event type \"%.100s\"",
                  json_string_value(type));
        return -1;
    }
    if (events_is_operator((enum event_type)t)) {
        api_error(resp, API_INVALID_ARGUMENT, "%s is an operator event: only kabar emits it",
                  json_string_value(type));
        return -1;
    }
    in->type = (enum event_type)t;
    if (!json_is_object(in->data)) {
        api_error(resp, API_INVALID_ARGUMENT, "data is required and must be an object");
        return -1;
    }
    id = json_object_get(in->data, "id");
    if (!json_is_string(id) || json_string_length(id) == 0) {
        api_error(resp, API_INVALID_ARGUMENT, "data.id is required and must be a non-empty "
                                              "string (the id of the job the event is about)");
        return -1;
    }
    if (idempotency_key && (idempotency_key[0] == '\0' ||
                            strlen(idempotency_key) >= STORE_IDEMPOTENCY_KEY_MAX)) {
        api_error(resp, API_INVALID_ARGUMENT, "Idempotency-Key must be 1 to %d characters",
                  STORE_IDEMPOTENCY_KEY_MAX - 1);
        return -1;
    }
    if (api_ops_webhook_config(ctx, api_json_field(body, &F_WEBHOOK_CONFIG), &in->config,
                               resp) != 0)
        return -1;
    if (in->config && in->config->nuris == 0) {
        api_error(resp, API_INVALID_ARGUMENT, "webhook_config.uris must name at least one uri");
        webhook_config_free(in->config);
        in->config = NULL;
        return -1;
    }
    return 0;
}

void api_events_publish(const struct api_ctx *ctx, struct api_request *req,
                        struct api_response *resp)
{
    struct events_pending *ep = NULL;
    struct store_message *msg;
    struct api_event_in in = {0};
    const char *idem = api_header(req, "Idempotency-Key");
    json_t *body = api_json_body(req, resp, true);
    size_t len = 0;

    if (body == NULL)
        return;
    if (api_events_parse(ctx, body, idem, &in, resp) != 0)
        goto done;
    ep = calloc(1, sizeof(*ep));
    if (ep == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        goto done;
    }
    ep->req = req;
    msg = &ep->msg;
    if (in.config) {
        ep->config = in.config;
        in.config = NULL;
        for (size_t i = 0; i < ep->config->nuris; i++)
            ep->uris[i] = ep->config->uris[i];
        msg->uris = ep->uris;
        msg->nuris = ep->config->nuris;
    }
    if (ids_new("msg_", msg->id, sizeof(msg->id)) != 0) {
        api_error(resp, API_INTERNAL, "cannot make an id");
        goto done;
    }
    strcpy(msg->project, req->project);
    strcpy(msg->type, events_name(in.type));
    msg->type_mask = UINT32_C(1) << in.type;
    msg->create_time_us = timeutil_now_us();
    msg->idempotency_key = idem;        /* a header: lives as long as req */
    ep->payload = envelope_build(msg->type, msg->create_time_us, in.data,
                                 ep->config ? ep->config->user_metadata : NULL, &len);
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
    webhook_config_free(in.config);
    json_decref(body);
}
