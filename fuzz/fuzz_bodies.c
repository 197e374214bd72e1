/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_bodies.c - libFuzzer target for request bodies through their
 * validation, as the handlers run it before they touch the store:
 * api_json_body, then a Webhook create (api_webhook_parse_create), a
 * Webhook update (api_webhook_update_fields + api_webhook_parse_update) or
 * a POST /v1/events (api_events_parse, webhook_config included).
 *
 * Input: one byte of flags (bits 0-1: create, update, events;
 * bit 2: --allow-private-targets; bit 3: a portal session of tenant "acme"
 * offered two event types), then for an update the update_mask and for an
 * event the Idempotency-Key, each ended by '\n', then the body.
 *
 * Whatever the input, exactly one of two things happens: a 4xx error with
 * a JSON body, or a value that holds the rules (valid uri and name, at
 * least one subscribed event, a portal session's own tenant and events, a
 * producer's event type with a data.id, dynamic uris that validate).
 * Seeds are in fuzz/corpus/fuzz_bodies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"
#include "api/api_events.h"
#include "api/api_json.h"
#include "api/api_webhooks.h"
#include "core/events.h"
#include "core/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(struct api_response *resp)
{
    json_t *e;

    if (resp->status < 400 || resp->status >= 500 || resp->body == NULL)
        abort();
    e = json_loads(resp->body, 0, NULL);
    if (!json_is_string(json_object_get(json_object_get(e, "error"), "message")))
        abort();
    json_decref(e);
}

static void check_webhook(const struct api_ctx *ctx, const struct api_request *req,
                          const struct webhook *wh)
{
    char err[WEBHOOK_ERR_MAX];

    if (webhook_validate_uri(wh->uri, ctx->allow_private, err, sizeof(err)) != 0 ||
        webhook_validate_name(wh->name, err, sizeof(err)) != 0 || wh->events == 0 ||
        (wh->events >> EVENT_COUNT) != 0 ||
        (wh->state != WEBHOOK_STATE_ENABLED && wh->state != WEBHOOK_STATE_DISABLED))
        abort();
    if (req->tenant[0] &&
        (strcmp(wh->tenant, req->tenant) != 0 || (wh->events & ~req->tenant_events) != 0))
        abort();
}

/* The next '\n'-ended line of text into a malloc'd string; *rest moves past it. */
static char *line(const char **rest, const char *end)
{
    const char *nl = memchr(*rest, '\n', (size_t)(end - *rest));
    size_t n = nl ? (size_t)(nl - *rest) : (size_t)(end - *rest);
    char *s = malloc(n + 1);

    if (s == NULL)
        abort();
    memcpy(s, *rest, n);
    s[n] = '\0';
    *rest = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_ctx ctx;
    struct api_request req;
    struct api_response resp;
    const char *rest, *end;
    char *head = NULL, *body_text;
    json_t *body;
    int kind;

    if (size == 0)
        return 0;
    memset(&ctx, 0, sizeof(ctx));
    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    kind = data[0] & 3;
    ctx.allow_private = (data[0] & 4) != 0;
    strcpy(req.project, "default");
    if (data[0] & 8) {
        strcpy(req.tenant, "acme");
        req.tenant_events = (UINT32_C(1) << 0) | (UINT32_C(1) << 2);
        req.session = true;
    }
    rest = (const char *)data + 1;
    end = (const char *)data + size;
    if (kind == 1 || kind == 2)
        head = line(&rest, end);
    body_text = malloc((size_t)(end - rest) + 1);
    if (body_text == NULL)
        abort();
    memcpy(body_text, rest, (size_t)(end - rest));
    body_text[end - rest] = '\0';
    req.method = "POST";
    req.path = "/v1/fuzz";
    req.body = body_text;
    req.body_len = (size_t)(end - rest);

    body = api_json_body(&req, &resp, kind != 1);
    if (body == NULL) {
        check_error(&resp);
    } else if (kind == 0 || kind == 3) {
        struct webhook *wh = calloc(1, sizeof(*wh));
        if (wh == NULL)
            abort();
        if (api_webhook_parse_create(&ctx, &req, body, wh, &resp) != 0)
            check_error(&resp);
        else
            check_webhook(&ctx, &req, wh);
        free(wh);
    } else if (kind == 1) {
        struct webhook *wh = calloc(1, sizeof(*wh));
        int fields;
        if (wh == NULL)
            abort();
        /* The webhook as stored: valid, of the session's tenant. */
        strcpy(wh->uri, "https://example.com/hook");
        wh->events = UINT32_C(1) << 0;
        strcpy(wh->tenant, req.tenant);
        fields = api_webhook_update_fields(body, head[0] ? head : NULL, &resp);
        if (fields < 0)
            check_error(&resp);
        else if (fields > 31)
            abort();
        else if (api_webhook_parse_update(&ctx, &req, body, fields, wh, &resp) != 0)
            check_error(&resp);
        else
            check_webhook(&ctx, &req, wh);
        free(wh);
    } else {
        struct api_event_in in;
        char err[WEBHOOK_ERR_MAX];
        if (api_events_parse(&ctx, body, head[0] ? head : NULL, &in, &resp) != 0) {
            check_error(&resp);
            if (in.config != NULL)
                abort();
        } else {
            json_t *id = json_object_get(in.data, "id");
            if (events_is_operator(in.type) || !json_is_string(id) ||
                json_string_length(id) == 0)
                abort();
            if (in.config != NULL) {
                if (in.config->nuris == 0 ||
                    (in.config->user_metadata && !json_is_object(in.config->user_metadata)))
                    abort();
                for (size_t i = 0; i < in.config->nuris; i++)
                    if (webhook_validate_uri(in.config->uris[i], ctx.allow_private, err,
                                             sizeof(err)) != 0)
                        abort();
            }
            webhook_config_free(in.config);
        }
    }
    json_decref(body);
    free(resp.body);
    free(body_text);
    free(head);
    return 0;
}
