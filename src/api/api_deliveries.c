/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_deliveries.c - the delivery log (beyond the Gemini API): what kabard
 * sent, when, and what came back; manual redelivery; and "recover
 * everything failed since T".
 *
 *   GET  /v1/webhooks/{id}/deliveries?state=&page_size=&page_token=
 *   GET  /v1/deliveries?webhook=&event_type=&state=&status_class=&since=&until=
 *                                       the project's deliveries, filtered
 *   GET  /v1/deliveries/{id}            the delivery with its attempts
 *   POST /v1/deliveries/{id}:retry      one more attempt, now
 *   POST /v1/webhooks/{id}:recover      {"since": RFC 3339}
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_portal.h"
#include "common/b64.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "core/events.h"
#include "core/pagetoken.h"
#include "deliver/dispatch.h"
#include "store/store.h"

#define API_DELIVERIES_PAGE_DEFAULT 50
#define API_DELIVERIES_PAGE_MAX 1000
#define API_ATTEMPTS_MAX 100

static json_t *api_delivery_json(const struct store_delivery *dl)
{
    json_t *obj = json_object();

    json_object_set_new(obj, "id", json_string(dl->id));
    json_object_set_new(obj, "message_id", json_string(dl->message_id));
    if (dl->webhook_id[0])
        json_object_set_new(obj, "webhook_id", json_string(dl->webhook_id));
    json_object_set_new(obj, "uri", json_string(dl->target_uri));
    json_object_set_new(obj, "event_type", json_string(dl->type));
    json_object_set_new(obj, "state", json_string(store_delivery_state_name(dl->state)));
    json_object_set_new(obj, "attempt_count", json_integer(dl->attempts));
    json_object_set_new(obj, "create_time", api_json_time(dl->create_time_us));
    if (dl->state == STORE_DELIVERY_PENDING)
        json_object_set_new(obj, "next_attempt_time", api_json_time(dl->due_time_us));
    if (dl->last_attempt_time_us)
        json_object_set_new(obj, "last_attempt_time", api_json_time(dl->last_attempt_time_us));
    if (dl->last_response_status)
        json_object_set_new(obj, "last_response_status", json_integer(dl->last_response_status));
    return obj;
}

/* Answer a page of the delivery log (page[0..n), more after it), or the
 * store's error rc. */
static void api_deliveries_reply(struct api_response *resp, enum store_rc rc,
                                 const struct store_delivery *page, size_t n, bool more)
{
    json_t *arr;

    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_delivery_json(&page[i]));
    api_reply_page(resp, "deliveries", arr, "next_page_token", "dlv_",
                   more && n > 0 ? page[n - 1].id : NULL);
}

static json_t *api_attempt_json(const struct store_attempt_info *a)
{
    json_t *obj = json_object();

    json_object_set_new(obj, "id", json_string(a->id));
    json_object_set_new(obj, "time", api_json_time(a->time_us));
    json_object_set_new(obj, "latency_ms", json_real((double)a->latency_us / 1000.0));
    if (a->response_status)
        json_object_set_new(obj, "response_status", json_integer(a->response_status));
    if (a->error[0])
        json_object_set_new(obj, "error", json_string(a->error));
    if (a->excerpt_len) {
        /* Text when it is UTF-8 (jansson refuses otherwise), else base64. */
        json_t *text = json_stringn((const char *)a->excerpt, a->excerpt_len);
        if (text) {
            json_object_set_new(obj, "response_excerpt", text);
        } else {
            char b64[B64_ENCODED_SIZE(STORE_EXCERPT_MAX)];
            if (b64_encode(a->excerpt, a->excerpt_len, b64, sizeof(b64)) >= 0)
                json_object_set_new(obj, "response_excerpt_base64", json_string(b64));
        }
    }
    return obj;
}

/* The headers an attempt was sent with, but for the signature, which is
 * made per attempt and not kept. */
static json_t *api_request_headers(const struct store_delivery *dl,
                                   const struct store_attempt_info *a)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:s}", "content-type", "application/json",
                     "user-agent", "kabar/" KABAR_VERSION, "webhook-id", dl->message_id,
                     "webhook-timestamp", (json_int_t)(a->time_us / TIMEUTIL_US_PER_S),
                     "webhook-signature", dl->webhook_id[0] ? "v1,… (not stored)"
                                                            : "RS256 JWT (not stored)");
}

/* The {id} capture if it is a valid id of kind prefix, else NULL after
 * answering 404 with what. */
static const char *api_path_id(const struct api_request *req, const char *prefix,
                               const char *what, struct api_response *resp)
{
    const char *id = req->nparams ? req->params[0] : "";

    if (!ids_valid(prefix, id)) {
        api_error(resp, API_NOT_FOUND, "%s %.64s not found", what, id);
        return NULL;
    }
    return id;
}

/* Answer 404 unless webhook id exists in the request's project. */
static int api_webhook_exists(const struct api_ctx *ctx, const struct api_request *req,
                              const char *id, struct api_response *resp)
{
    struct webhook *wh = malloc(sizeof(*wh));
    enum store_rc rc;

    if (wh == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        return -1;
    }
    rc = store_webhook_get(ctx->store, req->project, id, timeutil_now_us(), wh);
    free(wh);
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_NOT_FOUND, "webhook %s not found", id);
        return -1;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        return -1;
    }
    return 0;
}

/* The ?state= filter: absent or "" leaves *state at -1. Returns 0, or -1
 * after answering 400. */
static int api_delivery_state(const char *state_s, int *state, struct api_response *resp)
{
    *state = -1;
    if (state_s == NULL || state_s[0] == '\0')
        return 0;
    for (int s = 0; s < STORE_DELIVERY_STATE_COUNT; s++)
        if (strcasecmp(state_s, store_delivery_state_name((enum store_delivery_state)s)) == 0)
            *state = s;
    if (*state < 0) {
        api_error(resp, API_INVALID_ARGUMENT, "state must be pending, succeeded or failed");
        return -1;
    }
    return 0;
}

void api_deliveries_list(const struct api_ctx *ctx, struct api_request *req,
                         struct api_response *resp)
{
    const char *id = api_path_id(req, "wh_", "webhook", resp);
    const char *token = api_query_field(req, &API_F_PAGE_TOKEN);
    const char *state_s = api_query(req, "state");
    char before[IDS_MAX] = "";
    struct store_delivery *page = NULL;
    size_t n = 0;
    bool more = false;
    int state = -1;
    long limit;
    enum store_rc rc;

    if (id == NULL)
        return;
    limit = api_page_size(req, resp, API_DELIVERIES_PAGE_DEFAULT, API_DELIVERIES_PAGE_MAX);
    if (limit < 0)
        return;
    if (api_delivery_state(state_s, &state, resp) != 0)
        return;
    if (api_page_token(token, "dlv_", before, sizeof(before), resp) != 0)
        return;
    if (api_webhook_exists(ctx, req, id, resp) != 0 ||
        api_portal_check_webhook(ctx, req, id, resp) != 0)
        return;
    page = api_page_alloc(limit, sizeof *page, resp);
    if (page == NULL)
        return;
    rc = store_deliveries_list(ctx->store, req->project, id, state, before, (size_t)limit,
                               page, &n, &more);
    api_deliveries_reply(resp, rc, page, n, more);
    free(page);
}

/* The ?status_class= filter: 2xx..5xx, or "none" (no HTTP response).
 * Returns 0, or -1 after answering 400. */
static int api_status_class(const char *v, int *out, struct api_response *resp)
{
    *out = STORE_STATUS_CLASS_ANY;
    if (v == NULL || v[0] == '\0')
        return 0;
    if (strcasecmp(v, "none") == 0) {
        *out = STORE_STATUS_CLASS_NONE;
        return 0;
    }
    if (strlen(v) == 3 && v[0] >= '2' && v[0] <= '5' && strcasecmp(v + 1, "xx") == 0) {
        *out = v[0] - '0';
        return 0;
    }
    api_error(resp, API_INVALID_ARGUMENT, "status_class must be 2xx, 3xx, 4xx, 5xx or none");
    return -1;
}

/* An RFC 3339 time parameter; absent or "" leaves *us at 0. Returns 0, or
 * -1 after answering 400. */
static int api_time_param(const struct api_request *req, const char *name, int64_t *us,
                          struct api_response *resp)
{
    const char *v = api_query(req, name);

    *us = 0;
    if (v == NULL || v[0] == '\0')
        return 0;
    if (timeutil_parse(v, us) != 0 || *us <= 0) {
        api_error(resp, API_INVALID_ARGUMENT,
                  "%s must be an RFC 3339 time, e.g. 2026-01-22T12:00:00Z", name);
        return -1;
    }
    return 0;
}

void api_deliveries_search(const struct api_ctx *ctx, struct api_request *req,
                           struct api_response *resp)
{
    const char *webhook = api_query(req, "webhook");
    const char *type = api_query_field(req, &(const struct api_field){"event_type", "eventType"});
    const char *token = api_query_field(req, &API_F_PAGE_TOKEN);
    struct store_delivery_filter f = {.project = req->project,
                                      .tenant = req->tenant[0] ? req->tenant : NULL};
    char before[IDS_MAX] = "";
    struct store_delivery *page = NULL;
    size_t n = 0;
    bool more = false;
    long limit;
    enum store_rc rc;

    limit = api_page_size(req, resp, API_DELIVERIES_PAGE_DEFAULT, API_DELIVERIES_PAGE_MAX);
    if (limit < 0)
        return;
    if (webhook && webhook[0] && strcmp(webhook, STORE_WEBHOOK_DYNAMIC) != 0 &&
        !ids_valid("wh_", webhook)) {
        api_error(resp, API_INVALID_ARGUMENT,
                  "webhook must be a webhook id (wh_...) or \"dynamic\"");
        return;
    }
    f.webhook_id = webhook;
    if (type && type[0] && events_lookup(type) < 0 && strcmp(type, API_PING_EVENT) != 0) {
        api_error(resp, API_INVALID_ARGUMENT, "event_type %.64s is not a known event type",
                  type);
        return;
    }
    f.type = type;
    if (api_delivery_state(api_query(req, "state"), &f.state, resp) != 0 ||
        api_status_class(api_query_field(req, &(const struct api_field){"status_class",
                                                                         "statusClass"}),
                         &f.status_class, resp) != 0 ||
        api_time_param(req, "since", &f.since_us, resp) != 0 ||
        api_time_param(req, "until", &f.until_us, resp) != 0)
        return;
    if (f.until_us && f.since_us >= f.until_us) {
        api_error(resp, API_INVALID_ARGUMENT, "since must be before until");
        return;
    }
    if (api_page_token(token, "dlv_", before, sizeof(before), resp) != 0)
        return;
    page = api_page_alloc(limit, sizeof *page, resp);
    if (page == NULL)
        return;
    rc = store_deliveries_search(ctx->store, &f, before, (size_t)limit, page, &n, &more);
    api_deliveries_reply(resp, rc, page, n, more);
    free(page);
}

void api_deliveries_get(const struct api_ctx *ctx, struct api_request *req,
                        struct api_response *resp)
{
    const char *id = api_path_id(req, "dlv_", "delivery", resp);
    struct store_delivery dl;
    struct store_attempt_info *attempts;
    size_t n = 0;
    enum store_rc rc;
    json_t *out, *arr;

    if (id == NULL || api_portal_check_delivery(ctx, req, id, resp) != 0)
        return;
    attempts = calloc(API_ATTEMPTS_MAX, sizeof(*attempts));
    if (attempts == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        return;
    }
    rc = store_delivery_get(ctx->store, req->project, id, &dl, attempts, API_ATTEMPTS_MAX, &n);
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_NOT_FOUND, "delivery %s not found", id);
        goto done;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    out = api_delivery_json(&dl);
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *a = api_attempt_json(&attempts[i]);
        json_object_set_new(a, "request_headers", api_request_headers(&dl, &attempts[i]));
        json_array_append_new(arr, a);
    }
    json_object_set_new(out, "attempts", arr);
    /* The exact bytes that were signed and sent (an envelope is JSON text). */
    if (dl.payload)
        json_object_set_new(out, "payload", json_stringn((const char *)dl.payload,
                                                         dl.payload_len));
    api_reply(resp, out);
    free(dl.payload);
done:
    free(attempts);
}

void api_deliveries_retry(const struct api_ctx *ctx, struct api_request *req,
                          struct api_response *resp)
{
    const char *id = api_path_id(req, "dlv_", "delivery", resp);
    enum store_rc rc;

    if (id == NULL)
        return;
    if (!api_json_no_body(req, resp))
        return;
    if (api_portal_check_delivery(ctx, req, id, resp) != 0)
        return;
    rc = store_delivery_retry(ctx->store, req->project, id, timeutil_now_us());
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_NOT_FOUND, "delivery %s not found", id);
        return;
    }
    if (rc == STORE_CONFLICT) {
        api_error(resp, API_FAILED_PRECONDITION, "delivery %s is already pending", id);
        return;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        return;
    }
    if (ctx->dispatch)
        dispatch_wake(ctx->dispatch);
    api_reply(resp, json_object());
}

void api_deliveries_recover(const struct api_ctx *ctx, struct api_request *req,
                            struct api_response *resp)
{
    static const struct api_field fields[] = {{"since", NULL}, {NULL, NULL}};
    const char *id = api_path_id(req, "wh_", "webhook", resp);
    json_t *body, *since;
    int64_t since_us;
    size_t n = 0;
    enum store_rc rc;

    if (id == NULL || api_portal_check_webhook(ctx, req, id, resp) != 0)
        return;
    body = api_json_body(req, resp, true);
    if (body == NULL)
        return;
    if (!api_json_check(body, fields, NULL, resp))
        goto done;
    since = json_object_get(body, "since");
    if (!json_is_string(since) || timeutil_parse(json_string_value(since), &since_us) != 0) {
        api_error(resp, API_INVALID_ARGUMENT,
                  "since is required and must be an RFC 3339 time, e.g. 2026-01-22T12:00:00Z");
        goto done;
    }
    rc = store_webhook_recover(ctx->store, req->project, id, since_us, timeutil_now_us(), &n);
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_NOT_FOUND, "webhook %s not found", id);
        goto done;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    log_info("deliveries recovered", "project=%s webhook=%s count=%zu", req->project, id, n);
    if (n > 0 && ctx->dispatch)
        dispatch_wake(ctx->dispatch);
    api_reply(resp, json_pack("{s:I}", "recovered", (json_int_t)n));
done:
    json_decref(body);
}
