/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_webhooks.c - the WebhookService: create, get, list, update, delete,
 * rotate the signing secret, ping. Wire shapes follow the Gemini API (see
 * docs/api.md); every error is answered before anything is written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "api/api_error.h"
#include "api/api_events.h"
#include "api/api_json.h"
#include "api/api_portal.h"
#include "api/api_webhooks.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/secretbox.h"
#include "common/timeutil.h"
#include "core/events.h"
#include "core/pagetoken.h"
#include "core/webhook.h"
#include "core/whsec.h"
#include "deliver/dispatch.h"
#include "store/store.h"

#define API_WEBHOOKS_PAGE_DEFAULT 50
#define API_WEBHOOKS_PAGE_MAX 1000

static const struct api_field F_NAME = {"name", NULL};
static const struct api_field F_URI = {"uri", NULL};
static const struct api_field F_EVENTS = {"subscribed_events", "subscribedEvents"};
static const struct api_field F_STATE = {"state", NULL};
static const struct api_field F_REVOCATION = {"revocation_behavior", "revocationBehavior"};
static const struct api_field F_UPDATE_MASK = {"update_mask", "updateMask"};
static const struct api_field F_TENANT = {"tenant", NULL};

/* tenant is kabar's extension (the customer portal); the other fields are
 * the Gemini API's. */
static const struct api_field api_webhook_fields[] = {
    {"name", NULL}, {"uri", NULL}, {"subscribed_events", "subscribedEvents"},
    {"state", NULL}, {"tenant", NULL}, {NULL, NULL},
};

/* Output-only members of the resource: accepted on input and ignored. */
static const struct api_field api_webhook_output_only[] = {
    {"id", NULL}, {"create_time", "createTime"}, {"update_time", "updateTime"},
    {"signing_secrets", "signingSecrets"}, {"new_signing_secret", "newSigningSecret"},
    {NULL, NULL},
};

/* ---- the resource as JSON ---------------------------------------------- */

static json_t *api_webhook_json(const struct webhook *wh)
{
    json_t *obj = json_object();
    json_t *events = json_array();
    json_t *secrets = json_array();

    for (int t = 0; t < EVENT_COUNT; t++)
        if (wh->events & (UINT32_C(1) << t))
            json_array_append_new(events, json_string(events_name((enum event_type)t)));
    for (size_t i = 0; i < wh->nsecrets; i++) {
        json_t *s = json_pack("{s:s}", "truncated_secret", wh->secrets[i].truncated);
        if (wh->secrets[i].expire_time_us)
            json_object_set_new(s, "expire_time", api_json_time(wh->secrets[i].expire_time_us));
        json_array_append_new(secrets, s);
    }
    json_object_set_new(obj, "id", json_string(wh->id));
    json_object_set_new(obj, "name", json_string(wh->name));
    json_object_set_new(obj, "uri", json_string(wh->uri));
    json_object_set_new(obj, "subscribed_events", events);
    json_object_set_new(obj, "state", json_string(webhook_state_name(wh->state)));
    json_object_set_new(obj, "signing_secrets", secrets);
    json_object_set_new(obj, "create_time", api_json_time(wh->create_time_us));
    json_object_set_new(obj, "update_time", api_json_time(wh->update_time_us));
    if (wh->tenant[0])
        json_object_set_new(obj, "tenant", json_string(wh->tenant));
    return obj;
}

/* ---- field parsing; each returns 0 or -1 after filling resp ----------- */

static int api_parse_name(json_t *v, struct webhook *wh, struct api_response *resp)
{
    char err[WEBHOOK_ERR_MAX];

    if (v == NULL || json_is_null(v)) {
        wh->name[0] = '\0';
        return 0;
    }
    if (!json_is_string(v)) {
        api_error(resp, API_INVALID_ARGUMENT, "name must be a string");
        return -1;
    }
    if (webhook_validate_name(json_string_value(v), err, sizeof(err)) != 0) {
        api_error(resp, API_INVALID_ARGUMENT, "%s", err);
        return -1;
    }
    strcpy(wh->name, json_string_value(v));
    return 0;
}

static int api_parse_uri(const struct api_ctx *ctx, json_t *v, struct webhook *wh,
                         struct api_response *resp)
{
    char err[WEBHOOK_ERR_MAX];

    if (v == NULL || json_is_null(v)) {
        api_error(resp, API_INVALID_ARGUMENT, "uri is required");
        return -1;
    }
    if (!json_is_string(v)) {
        api_error(resp, API_INVALID_ARGUMENT, "uri must be a string");
        return -1;
    }
    if (webhook_validate_uri(json_string_value(v), ctx->allow_private, err, sizeof(err)) != 0) {
        api_error(resp, API_INVALID_ARGUMENT, "%s", err);
        return -1;
    }
    strcpy(wh->uri, json_string_value(v));
    return 0;
}

static int api_parse_events(json_t *v, struct webhook *wh, struct api_response *resp)
{
    size_t i;
    json_t *e;
    uint32_t mask = 0;

    if (v == NULL || json_is_null(v)) {
        api_error(resp, API_INVALID_ARGUMENT, "subscribed_events is required");
        return -1;
    }
    if (!json_is_array(v)) {
        api_error(resp, API_INVALID_ARGUMENT, "subscribed_events must be an array of strings");
        return -1;
    }
    if (json_array_size(v) == 0) {
        api_error(resp, API_INVALID_ARGUMENT, "subscribed_events must name at least one event");
        return -1;
    }
    json_array_foreach(v, i, e) {
        int t;
        if (!json_is_string(e)) {
            api_error(resp, API_INVALID_ARGUMENT, "subscribed_events[%zu] must be a string", i);
            return -1;
        }
        t = events_lookup(json_string_value(e));
        if (t < 0) {
            api_error(resp, API_INVALID_ARGUMENT,
                      "subscribed_events[%zu]: unknown event type \"%.100s\"",
                      i, json_string_value(e));
            return -1;
        }
        mask |= UINT32_C(1) << t;
    }
    wh->events = mask;
    return 0;
}

static int api_parse_state(json_t *v, struct webhook *wh, struct api_response *resp)
{
    int s;

    if (v == NULL || json_is_null(v)) {
        api_error(resp, API_INVALID_ARGUMENT, "state is required when named in update_mask");
        return -1;
    }
    s = json_is_string(v) ? webhook_state_lookup(json_string_value(v)) : -1;
    if (s != WEBHOOK_STATE_ENABLED && s != WEBHOOK_STATE_DISABLED) {
        api_error(resp, API_INVALID_ARGUMENT, "state must be \"enabled\" or \"disabled\"");
        return -1;
    }
    wh->state = (enum webhook_state)s;
    return 0;
}

/* tenant: a portal session's webhooks are always its own tenant's, and it
 * may not name another; an API key or an operator sets or clears it. */
static int api_parse_tenant(const struct api_request *req, json_t *v, struct webhook *wh,
                            struct api_response *resp)
{
    char err[WEBHOOK_ERR_MAX];
    const char *t = json_is_string(v) ? json_string_value(v) : "";

    if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
        api_error(resp, API_INVALID_ARGUMENT, "tenant must be a string");
        return -1;
    }
    if (req->tenant[0]) {
        if (t[0] && strcmp(t, req->tenant) != 0) {
            api_error(resp, API_PERMISSION_DENIED, "a portal session manages only its own "
                      "tenant's webhooks");
            return -1;
        }
        strcpy(wh->tenant, req->tenant);
        return 0;
    }
    if (t[0] && webhook_validate_tenant(t, err, sizeof(err)) != 0) {
        api_error(resp, API_INVALID_ARGUMENT, "%s", err);
        return -1;
    }
    snprintf(wh->tenant, sizeof(wh->tenant), "%s", t);
    return 0;
}

/* The {id} of the path, or NULL after answering 404 when it cannot be a
 * webhook id (so malformed ids never reach the store). */
static const char *api_webhook_id(const struct api_request *req, struct api_response *resp)
{
    const char *id = req->nparams ? req->params[0] : "";

    if (!ids_valid("wh_", id)) {
        api_error(resp, API_NOT_FOUND, "webhook %.64s not found", id);
        return NULL;
    }
    return id;
}

static int api_webhook_load(const struct api_ctx *ctx, const struct api_request *req,
                            const char *id, struct webhook *wh, struct api_response *resp)
{
    enum store_rc rc = store_webhook_get(ctx->store, req->project, id, timeutil_now_us(), wh);

    if (rc == STORE_NOT_FOUND || (rc == STORE_OK && !api_portal_sees(req, wh))) {
        api_error(resp, API_NOT_FOUND, "webhook %s not found", id);
        return -1;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        return -1;
    }
    return 0;
}

/*
 * Make a new signing secret for webhook_id: the clear text goes to secret
 * (caller wipes it), the sealed form to *rec. Returns 0 or -1 after filling
 * resp.
 */
static int api_new_secret(const struct api_ctx *ctx, const char *webhook_id, int64_t now,
                          char *secret, size_t cap, struct store_secret *rec,
                          struct api_response *resp)
{
    int n;

    memset(rec, 0, sizeof(*rec));
    if (whsec_generate(secret, cap) != 0 || ids_new("sec_", rec->id, sizeof(rec->id)) != 0 ||
        whsec_truncate(secret, rec->truncated, sizeof(rec->truncated)) != 0)
        goto fail;
    n = secretbox_seal(ctx->box, webhook_id, (const uint8_t *)secret, strlen(secret),
                       rec->blob, sizeof(rec->blob));
    if (n < 0)
        goto fail;
    rec->blob_len = (size_t)n;
    rec->create_time_us = now;
    return 0;
fail:
    OPENSSL_cleanse(secret, cap);
    api_error(resp, API_INTERNAL, "cannot create a signing secret");
    return -1;
}

/* ---- a body through validation (api_webhooks.h) ------------------------- */

int api_webhook_parse_create(const struct api_ctx *ctx, const struct api_request *req,
                             json_t *body, struct webhook *wh, struct api_response *resp)
{
    if (!api_json_check(body, api_webhook_fields, api_webhook_output_only, resp) ||
        api_parse_uri(ctx, api_json_field(body, &F_URI), wh, resp) != 0 ||
        api_parse_events(api_json_field(body, &F_EVENTS), wh, resp) != 0 ||
        api_parse_name(api_json_field(body, &F_NAME), wh, resp) != 0 ||
        api_parse_tenant(req, api_json_field(body, &F_TENANT), wh, resp) != 0 ||
        api_portal_check_events(req, wh->events, resp) != 0)
        return -1;
    wh->state = WEBHOOK_STATE_ENABLED;
    if (api_json_field(body, &F_STATE) &&
        api_parse_state(api_json_field(body, &F_STATE), wh, resp) != 0)
        return -1;
    return 0;
}

/* ---- handlers ------------------------------------------------------------ */

void api_webhooks_create(const struct api_ctx *ctx, struct api_request *req,
                         struct api_response *resp)
{
    json_t *body = api_json_body(req, resp, true);
    struct webhook *wh = NULL;
    struct store_secret rec;
    char secret[WHSEC_MAX];
    enum store_rc rc;
    json_t *out;
    int64_t now = timeutil_now_us();

    secret[0] = '\0';
    if (body == NULL)
        return;
    wh = calloc(1, sizeof(*wh));
    if (wh == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        goto done;
    }
    if (api_webhook_parse_create(ctx, req, body, wh, resp) != 0)
        goto done;
    if (ids_new("wh_", wh->id, sizeof(wh->id)) != 0) {
        api_error(resp, API_INTERNAL, "cannot make an id");
        goto done;
    }
    strcpy(wh->project, req->project);
    wh->create_time_us = wh->update_time_us = now;
    if (api_new_secret(ctx, wh->id, now, secret, sizeof(secret), &rec, resp) != 0)
        goto done;

    rc = store_webhook_create(ctx->store, wh, &rec);
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    wh->nsecrets = 1;
    strcpy(wh->secrets[0].id, rec.id);
    strcpy(wh->secrets[0].truncated, rec.truncated);
    wh->secrets[0].expire_time_us = 0;

    out = api_webhook_json(wh);
    json_object_set_new(out, "new_signing_secret", json_string(secret));
    api_reply(resp, out);
    log_info("webhook created", "project=%s webhook=%s", wh->project, wh->id);
done:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(&rec, sizeof(rec));
    free(wh);
    json_decref(body);
}

void api_webhooks_get(const struct api_ctx *ctx, struct api_request *req,
                      struct api_response *resp)
{
    const char *id = api_webhook_id(req, resp);
    struct webhook *wh;

    if (id == NULL)
        return;
    wh = malloc(sizeof(*wh));
    if (wh == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        return;
    }
    if (api_webhook_load(ctx, req, id, wh, resp) == 0)
        api_reply(resp, api_webhook_json(wh));
    free(wh);
}

void api_webhooks_list(const struct api_ctx *ctx, struct api_request *req,
                       struct api_response *resp)
{
    const char *token = api_query_field(req, &API_F_PAGE_TOKEN);
    char after[IDS_MAX] = "";
    struct webhook *page = NULL;
    size_t n = 0;
    bool more = false;
    long limit = api_page_size(req, resp, API_WEBHOOKS_PAGE_DEFAULT, API_WEBHOOKS_PAGE_MAX);
    enum store_rc rc;
    json_t *arr;

    const char *tenant = req->tenant[0] ? req->tenant : api_query(req, "tenant");
    char err[WEBHOOK_ERR_MAX];

    if (limit < 0)
        return;
    if (tenant && tenant[0] && webhook_validate_tenant(tenant, err, sizeof(err)) != 0) {
        api_error(resp, API_INVALID_ARGUMENT, "%s", err);
        return;
    }
    if (api_page_token(token, "wh_", after, sizeof(after), resp) != 0)
        return;
    page = api_page_alloc(limit, sizeof *page, resp);
    if (page == NULL)
        return;
    rc = store_webhook_list(ctx->store, req->project, tenant, after, (size_t)limit,
                            timeutil_now_us(), page, &n, &more);
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_webhook_json(&page[i]));
    api_reply_page(resp, "webhooks", arr, "next_page_token", "wh_",
                   more && n > 0 ? page[n - 1].id : NULL);
done:
    free(page);
}

int api_webhook_update_fields(json_t *body, const char *mask, struct api_response *resp)
{
    static const struct { const struct api_field *f; int bit; } map[] = {
        {&F_NAME, API_WEBHOOK_NAME}, {&F_URI, API_WEBHOOK_URI}, {&F_EVENTS, API_WEBHOOK_EVENTS},
        {&F_STATE, API_WEBHOOK_STATE}, {&F_TENANT, API_WEBHOOK_TENANT},
    };
    int fields = 0;

    if (!api_json_check(body, api_webhook_fields, api_webhook_output_only, resp))
        return -1;
    if (mask == NULL || mask[0] == '\0') {
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
            if (api_json_field(body, map[i].f))
                fields |= map[i].bit;
        return fields;
    }
    for (const char *p = mask; *p;) {
        size_t len = strcspn(p, ",");
        bool known = false;
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]) && !known; i++) {
            const struct api_field *f = map[i].f;
            if ((strlen(f->snake) == len && strncmp(p, f->snake, len) == 0) ||
                (f->camel && strlen(f->camel) == len && strncmp(p, f->camel, len) == 0)) {
                fields |= map[i].bit;
                known = true;
            }
        }
        if (!known) {
            api_error(resp, API_INVALID_ARGUMENT,
                      "update_mask names an unknown or read-only field \"%.*s\"",
                      (int)(len > 100 ? 100 : len), p);
            return -1;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return fields;
}

int api_webhook_parse_update(const struct api_ctx *ctx, const struct api_request *req,
                             json_t *body, int fields, struct webhook *wh,
                             struct api_response *resp)
{
    if (((fields & API_WEBHOOK_NAME) &&
         api_parse_name(api_json_field(body, &F_NAME), wh, resp) != 0) ||
        ((fields & API_WEBHOOK_URI) &&
         api_parse_uri(ctx, api_json_field(body, &F_URI), wh, resp) != 0) ||
        ((fields & API_WEBHOOK_EVENTS) &&
         api_parse_events(api_json_field(body, &F_EVENTS), wh, resp) != 0) ||
        ((fields & API_WEBHOOK_STATE) &&
         api_parse_state(api_json_field(body, &F_STATE), wh, resp) != 0) ||
        ((fields & API_WEBHOOK_TENANT) &&
         api_parse_tenant(req, api_json_field(body, &F_TENANT), wh, resp) != 0) ||
        api_portal_check_events(req, wh->events, resp) != 0)
        return -1;
    return 0;
}

void api_webhooks_update(const struct api_ctx *ctx, struct api_request *req,
                         struct api_response *resp)
{
    const char *id = api_webhook_id(req, resp);
    json_t *body = NULL;
    struct webhook *wh = NULL, *next = NULL;
    enum store_rc rc;
    int fields;

    if (id == NULL)
        return;
    body = api_json_body(req, resp, false);
    if (body == NULL)
        return;
    fields = api_webhook_update_fields(body, api_query_field(req, &F_UPDATE_MASK), resp);
    if (fields < 0)
        goto done;
    wh = malloc(sizeof(*wh));
    next = malloc(sizeof(*next));
    if (wh == NULL || next == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        goto done;
    }
    if (api_webhook_load(ctx, req, id, wh, resp) != 0)
        goto done;

    *next = *wh;
    if (api_webhook_parse_update(ctx, req, body, fields, next, resp) != 0)
        goto done;

    if (strcmp(next->name, wh->name) != 0 || strcmp(next->uri, wh->uri) != 0 ||
        next->events != wh->events || next->state != wh->state ||
        strcmp(next->tenant, wh->tenant) != 0) {
        next->update_time_us = timeutil_now_us();
        rc = store_webhook_update(ctx->store, next);
        if (rc == STORE_NOT_FOUND) {    /* deleted since we read it */
            api_error(resp, API_NOT_FOUND, "webhook %s not found", id);
            goto done;
        }
        if (rc != STORE_OK) {
            api_error_store(resp, rc);
            goto done;
        }
        /* Enabled again: its pending deliveries, and the
         * kabar.webhook.enabled event committed with the update, are due. */
        if (next->state == WEBHOOK_STATE_ENABLED && wh->state != WEBHOOK_STATE_ENABLED &&
            ctx->dispatch != NULL)
            dispatch_wake(ctx->dispatch);
    }
    api_reply(resp, api_webhook_json(next));
done:
    free(wh);
    free(next);
    json_decref(body);
}

void api_webhooks_delete(const struct api_ctx *ctx, struct api_request *req,
                         struct api_response *resp)
{
    const char *id = api_webhook_id(req, resp);
    enum store_rc rc;

    if (id == NULL || api_portal_check_webhook(ctx, req, id, resp) != 0)
        return;
    rc = store_webhook_delete(ctx->store, req->project, id);
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_NOT_FOUND, "webhook %s not found", id);
        return;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        return;
    }
    log_info("webhook deleted", "project=%s webhook=%s", req->project, id);
    api_reply(resp, json_object());
}

void api_webhooks_rotate(const struct api_ctx *ctx, struct api_request *req,
                         struct api_response *resp)
{
    static const struct api_field fields[] = {{"revocation_behavior", "revocationBehavior"},
                                              {NULL, NULL}};
    const char *id = api_webhook_id(req, resp);
    json_t *body = NULL, *v;
    char secret[WHSEC_MAX];
    struct store_secret rec;
    int64_t now = timeutil_now_us();
    int64_t prev_expire = now + WEBHOOK_SECRET_GRACE_US;
    enum store_rc rc;

    secret[0] = '\0';
    memset(&rec, 0, sizeof(rec));
    if (id == NULL || api_portal_check_webhook(ctx, req, id, resp) != 0)
        return;
    body = api_json_body(req, resp, false);
    if (body == NULL || !api_json_check(body, fields, NULL, resp))
        goto done;
    v = api_json_field(body, &F_REVOCATION);
    if (v && !json_is_null(v)) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcasecmp(s, "revoke_previous_secrets_immediately") == 0) {
            prev_expire = now;
        } else if (strcasecmp(s, "revoke_previous_secrets_after_h24") != 0 &&
                   strcasecmp(s, "revocation_behavior_unspecified") != 0) {
            api_error(resp, API_INVALID_ARGUMENT,
                      "revocation_behavior must be revoke_previous_secrets_after_h24 or "
                      "revoke_previous_secrets_immediately");
            goto done;
        }
    }
    if (api_new_secret(ctx, id, now, secret, sizeof(secret), &rec, resp) != 0)
        goto done;
    rc = store_secret_rotate(ctx->store, req->project, id, &rec, prev_expire,
                             WEBHOOK_SECRETS_MAX, now);
    if (rc == STORE_NOT_FOUND) {
        api_error(resp, API_NOT_FOUND, "webhook %s not found", id);
        goto done;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    log_info("signing secret rotated", "project=%s webhook=%s immediate=%d",
             req->project, id, prev_expire == now);
    api_reply(resp, json_pack("{s:s}", "secret", secret));
done:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(&rec, sizeof(rec));
    json_decref(body);
}

void api_webhooks_ping(const struct api_ctx *ctx, struct api_request *req,
                       struct api_response *resp)
{
    const char *id = api_webhook_id(req, resp);
    json_t *data;
    struct webhook *wh;
    struct store_message msg;

    if (id == NULL)
        return;
    /* PingWebhookRequest has no fields; accept {} or nothing. */
    if (!api_json_no_body(req, resp))
        return;
    wh = malloc(sizeof(*wh));
    if (wh == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        return;
    }
    if (api_webhook_load(ctx, req, id, wh, resp) != 0)
        goto done;
    /* A ping is an event of its own type, signed and delivered like any
     * other, to this webhook only - whatever its state: pinging a disabled
     * webhook is how an operator checks a repaired endpoint before
     * enabling it again. Its outcome does not change the state. */
    memset(&msg, 0, sizeof(msg));
    if (ids_new("msg_", msg.id, sizeof(msg.id)) != 0) {
        api_error(resp, API_INTERNAL, "cannot make an id");
        goto done;
    }
    strcpy(msg.project, req->project);
    strcpy(msg.type, API_PING_EVENT);
    msg.create_time_us = timeutil_now_us();
    msg.webhook_id = id;
    data = json_pack("{s:s}", "webhook_id", id);
    if (api_events_commit(ctx, &msg, data, NULL, resp) == 0)
        api_reply(resp, json_object());
    json_decref(data);
done:
    free(wh);
}
