/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_portal.c - portal links and tenant scoping (api_portal.h).
 *
 *   POST /v1/portalSessions {"tenant": "acme", "ttl": "3600s",
 *                            "event_types": ["batch.succeeded", ...]}
 *     -> {"url": "https://kabar.example/portal#token=kbl_...",
 *         "tenant": "acme", "expire_time": "..."}
 *
 * The link works once: opening it (POST /ui/portal/open, which the portal
 * page does with the fragment) turns it into a session cookie that lasts
 * until the link's expire_time. The token rides in the URL's fragment, which
 * browsers never send, so it reaches no access log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_portal.h"
#include "api/api_session.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "core/events.h"
#include "store/store.h"
#include "store/store_sessions.h"

#define API_PORTAL_TTL_DEFAULT_S 3600
#define API_PORTAL_TTL_MIN_S 60
#define API_PORTAL_TTL_MAX_S (7 * 86400)

bool api_portal_sees(const struct api_request *req, const struct webhook *wh)
{
    return req->tenant[0] == '\0' || strcmp(req->tenant, wh->tenant) == 0;
}

int api_portal_check_webhook(const struct api_ctx *ctx, const struct api_request *req,
                             const char *id, struct api_response *resp)
{
    struct webhook *wh;
    enum store_rc rc;
    int ret = -1;

    if (req->tenant[0] == '\0')
        return 0;
    wh = malloc(sizeof *wh);
    if (wh == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        return -1;
    }
    rc = store_webhook_get(ctx->store, req->project, id, timeutil_now_us(), wh);
    if (rc == STORE_OK && api_portal_sees(req, wh))
        ret = 0;
    else if (rc == STORE_OK || rc == STORE_NOT_FOUND)
        api_error(resp, API_NOT_FOUND, "webhook %s not found", id);
    else
        api_error_store(resp, rc);
    free(wh);
    return ret;
}

int api_portal_check_delivery(const struct api_ctx *ctx, const struct api_request *req,
                              const char *id, struct api_response *resp)
{
    struct store_delivery dl;
    size_t n = 0;
    enum store_rc rc;

    if (req->tenant[0] == '\0')
        return 0;
    rc = store_delivery_get(ctx->store, req->project, id, &dl, NULL, 0, &n);
    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        api_error_store(resp, rc);
        return -1;
    }
    if (rc == STORE_OK)
        free(dl.payload);
    if (rc == STORE_NOT_FOUND || dl.webhook_id[0] == '\0') {
        api_error(resp, API_NOT_FOUND, "delivery %s not found", id);
        return -1;
    }
    if (api_portal_check_webhook(ctx, req, dl.webhook_id, resp) != 0) {
        api_error(resp, API_NOT_FOUND, "delivery %s not found", id);
        return -1;
    }
    return 0;
}

int api_portal_check_events(const struct api_request *req, uint32_t mask,
                            struct api_response *resp)
{
    uint32_t extra;

    if (req->tenant[0] == '\0')
        return 0;
    extra = mask & ~req->tenant_events;
    for (int t = 0; t < EVENT_COUNT; t++) {
        if (extra & (UINT32_C(1) << t)) {
            api_error(resp, API_PERMISSION_DENIED, "event type %s is not offered here",
                      events_name((enum event_type)t));
            return -1;
        }
    }
    return 0;
}

/* ttl as "3600s" (the protobuf Duration form) or a number of seconds.
 * Returns 0, or -1 after answering 400. */
static int api_portal_ttl(json_t *v, int64_t *ttl_s, struct api_response *resp)
{
    char *end = NULL;
    double d;

    *ttl_s = API_PORTAL_TTL_DEFAULT_S;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        d = (double)json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        d = strtod(s, &end);
        if (end == s || (strcmp(end, "s") != 0 && *end != '\0'))
            d = -1;
    } else {
        d = -1;
    }
    if (!(d >= API_PORTAL_TTL_MIN_S && d <= API_PORTAL_TTL_MAX_S)) {
        api_error(resp, API_INVALID_ARGUMENT,
                  "ttl must be %d to %d seconds, e.g. \"3600s\"", API_PORTAL_TTL_MIN_S,
                  API_PORTAL_TTL_MAX_S);
        return -1;
    }
    *ttl_s = (int64_t)d;
    return 0;
}

void api_portal_sessions_create(const struct api_ctx *ctx, struct api_request *req,
                                struct api_response *resp)
{
    static const struct api_field fields[] = {
        {"tenant", NULL}, {"ttl", NULL}, {"event_types", "eventTypes"}, {NULL, NULL},
    };
    struct store_session s = {.kind = STORE_SESSION_LINK, .events = EVENTS_ALL_MASK};
    char token[API_SESSION_TOKEN_MAX];
    char err[WEBHOOK_ERR_MAX];
    char *url = NULL;
    json_t *body, *v, *e;
    int64_t now = timeutil_now_us(), ttl_s;
    size_t i, len;
    enum store_rc rc;

    token[0] = '\0';
    if (req->session) {
        /* A link is a credential: made with the API key, by the program that
         * embeds the portal, not from a browser session. */
        api_error(resp, API_PERMISSION_DENIED, "portal links are made with an API key");
        return;
    }
    body = api_json_body(req, resp, true);
    if (body == NULL || !api_json_check(body, fields, NULL, resp))
        goto done;
    v = json_object_get(body, "tenant");
    if (!json_is_string(v) ||
        webhook_validate_tenant(json_string_value(v), err, sizeof err) != 0) {
        api_error(resp, API_INVALID_ARGUMENT, "%s",
                  json_is_string(v) ? err : "tenant is required");
        goto done;
    }
    snprintf(s.tenant, sizeof s.tenant, "%s", json_string_value(v));
    if (api_portal_ttl(json_object_get(body, "ttl"), &ttl_s, resp) != 0)
        goto done;
    v = api_json_field(body, &fields[2]);
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) == 0) {
            api_error(resp, API_INVALID_ARGUMENT,
                      "event_types must be a non-empty array of event types");
            goto done;
        }
        s.events = 0;
        json_array_foreach(v, i, e) {
            int t = json_is_string(e) ? events_lookup(json_string_value(e)) : -1;
            if (t < 0) {
                api_error(resp, API_INVALID_ARGUMENT, "event_types[%zu] is not an event type", i);
                goto done;
            }
            s.events |= UINT32_C(1) << t;
        }
    }
    snprintf(s.project, sizeof s.project, "%s", req->project);
    s.create_time_us = now;
    s.expire_time_us = now + ttl_s * TIMEUTIL_US_PER_S;
    if (api_session_token_new("kbl_", token, sizeof token, s.hash) != 0) {
        api_error(resp, API_INTERNAL, "cannot make a link");
        goto done;
    }
    rc = store_session_insert(ctx->store, &s, now);
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    len = strlen(ctx->public_url ? ctx->public_url : "") + sizeof "/portal#token=" + strlen(token);
    url = malloc(len);
    if (url == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        goto done;
    }
    snprintf(url, len, "%s/portal#token=%s", ctx->public_url ? ctx->public_url : "", token);
    api_reply(resp, json_pack("{s:s, s:s, s:o}", "url", url, "tenant", s.tenant,
                              "expire_time", api_json_time(s.expire_time_us)));
    log_info("portal link made", "project=%s tenant=%s ttl_s=%lld", s.project, s.tenant,
             (long long)ttl_s);
done:
    if (url) {
        OPENSSL_cleanse(url, strlen(url));
        free(url);
    }
    OPENSSL_cleanse(token, sizeof token);
    json_decref(body);
}
