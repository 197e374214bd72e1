/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_operations.c - every long-running operation, whatever its kind, and
 * the external worker protocol:
 *
 *   GET  /v1/operations?kind=&state=      {"operations": […], "next_page_token"}
 *   GET  /v1/operations/{id}              with its request and its events' deliveries
 *   POST /v1/operations:claim             {worker, kinds?, lease_seconds?} -> {operation}
 *   POST /v1/operations/{id}:heartbeat    {worker, lease_seconds?}
 *   POST /v1/operations/{id}:complete     {worker, result?, responses?, result_file?}
 *   POST /v1/operations/{id}:fail         {worker, error_code, error_message}
 *   POST /v1/operations/{id}:requireAction {worker, result?}
 *
 * The worker calls exist only with KABAR_EXECUTOR=external; see
 * docs/operations.md.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_ops.h"
#include "common/timeutil.h"
#include "core/pagetoken.h"
#include "ops/ops_engine.h"
#include "ops/ops_external.h"

#define API_OPERATIONS_PAGE_DEFAULT 50
#define API_OPERATIONS_PAGE_MAX 1000
#define API_LEASE_DEFAULT_S 60
#define API_LEASE_MAX_S 3600

static const struct api_field F_WORKER = {"worker", NULL};
static const struct api_field F_KINDS = {"kinds", NULL};
static const struct api_field F_LEASE = {"lease_seconds", "leaseSeconds"};

/* A page token names the last id, and ids of every kind are listed in one
 * id order: the token is made with that id's own prefix. */
static int decode_token(const char *token, char *after, size_t cap)
{
    for (int k = 0; k < OPS_KIND_COUNT; k++)
        if (pagetoken_decode(ops_kind_prefix((enum ops_kind)k), token, after, cap) == 0)
            return 0;
    return -1;
}

void api_operations_list(const struct api_ctx *ctx, struct api_request *req,
                         struct api_response *resp)
{
    const char *token = api_query_field(req, &API_F_PAGE_TOKEN);
    const char *kind = api_query(req, "kind");
    const char *state = api_query(req, "state");
    long limit = api_page_size(req, resp, API_OPERATIONS_PAGE_DEFAULT, API_OPERATIONS_PAGE_MAX);
    char after[IDS_MAX] = "";
    struct store_operation *page;
    int st = -1;
    size_t n = 0;
    bool more = false;
    enum store_rc rc;
    const char *last;
    json_t *arr;
    int k;

    if (limit < 0)
        return;
    if (kind && kind[0] && ops_kind_lookup(kind) < 0) {
        api_error(resp, API_INVALID_ARGUMENT, "kind must be interaction, batch or video");
        return;
    }
    if (state && state[0]) {
        st = ops_state_lookup(state);
        if (st < 0) {
            api_error(resp, API_INVALID_ARGUMENT, "state must be pending, running, succeeded, "
                                                  "failed, cancelled, expired or requires_action");
            return;
        }
    }
    if (token && token[0] && decode_token(token, after, sizeof after) != 0) {
        api_error(resp, API_INVALID_ARGUMENT, "page_token is not valid");
        return;
    }
    page = api_page_alloc(limit, sizeof *page, resp);
    if (page == NULL)
        return;
    rc = store_operation_list(ctx->store, req->project, kind && kind[0] ? kind : NULL, st, after,
                              (size_t)limit, page, &n, &more);
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_ops_json(ctx, &page[i], false));
    /* The token takes the prefix of the last id's own kind (see decode_token). */
    last = more && n > 0 ? page[n - 1].id : NULL;
    k = last ? ops_kind_of_id(last) : -1;
    api_reply_page(resp, "operations", arr, "next_page_token",
                   k >= 0 ? ops_kind_prefix((enum ops_kind)k) : NULL, last);
    store_operations_clear(page, n);
done:
    free(page);
}

void api_operations_get(const struct api_ctx *ctx, struct api_request *req,
                        struct api_response *resp)
{
    struct store_operation op;

    if (api_ops_load(ctx, req, -1, req->params[0], &op, resp) != 0)
        return;
    api_reply(resp, api_ops_json(ctx, &op, true));
    store_operation_clear(&op);
}

/* The worker calls need the external executor. Returns 0, or -1 after
 * filling resp. */
static int need_workers(const struct api_ctx *ctx, struct api_response *resp)
{
    if (ops_engine_executor(ctx->ops)->workers)
        return 0;
    api_error(resp, API_FAILED_PRECONDITION, "operations are run by the %s executor; worker "
              "calls need KABAR_EXECUTOR=external", ops_engine_executor(ctx->ops)->name);
    return -1;
}

/* worker and lease_seconds of body. Returns 0, or -1 after filling resp. */
static int worker_lease(json_t *body, const char **worker, int64_t *lease_us,
                        struct api_response *resp)
{
    json_t *w = api_json_field(body, &F_WORKER);
    json_t *l = api_json_field(body, &F_LEASE);

    *worker = json_string_value(w);
    if (!*worker || !(*worker)[0] || strlen(*worker) >= STORE_OP_OWNER_MAX) {
        api_error(resp, API_INVALID_ARGUMENT, "worker is required: a name of 1 to %d characters",
                  STORE_OP_OWNER_MAX - 1);
        return -1;
    }
    *lease_us = (int64_t)API_LEASE_DEFAULT_S * 1000000;
    if (l) {
        if (!json_is_integer(l) || json_integer_value(l) < 1 ||
            json_integer_value(l) > API_LEASE_MAX_S) {
            api_error(resp, API_INVALID_ARGUMENT, "lease_seconds must be an integer from 1 to %d",
                      API_LEASE_MAX_S);
            return -1;
        }
        *lease_us = (int64_t)json_integer_value(l) * 1000000;
    }
    return 0;
}

void api_operations_claim(const struct api_ctx *ctx, struct api_request *req,
                          struct api_response *resp)
{
    static const struct api_field fields[] = {
        {"worker", NULL}, {"kinds", NULL}, {"lease_seconds", "leaseSeconds"}, {NULL, NULL},
    };
    const char *kinds[OPS_KIND_COUNT];
    size_t nkinds = 0, i;
    json_t *body, *arr, *k;
    const char *worker;
    int64_t lease_us, now;
    struct store_operation op;
    enum store_rc rc;

    if (need_workers(ctx, resp) != 0)
        return;
    body = api_json_body(req, resp, true);
    if (!body)
        return;
    if (!api_json_check(body, fields, NULL, resp) || worker_lease(body, &worker, &lease_us,
                                                                  resp) != 0)
        goto out;
    arr = api_json_field(body, &F_KINDS);
    if (arr && !json_is_array(arr)) {
        api_error(resp, API_INVALID_ARGUMENT, "kinds must be an array of interaction, batch, "
                                              "video");
        goto out;
    }
    json_array_foreach(arr, i, k) {
        int kind = ops_kind_lookup(json_string_value(k));
        if (kind < 0) {
            api_error(resp, API_INVALID_ARGUMENT, "kinds[%zu] must be interaction, batch or "
                                                  "video", i);
            goto out;
        }
        if (nkinds < OPS_KIND_COUNT)
            kinds[nkinds++] = ops_kind_name((enum ops_kind)kind);
    }
    now = timeutil_now_us();
    rc = store_operation_claim(ctx->store, req->project, kinds, nkinds, worker, now,
                               now + lease_us, &op);
    if (rc == STORE_NOT_FOUND) {
        api_reply(resp, json_object());     /* nothing to do now */
        goto out;
    }
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto out;
    }
    api_reply(resp, json_pack("{s:o}", "operation", api_ops_json(ctx, &op, true)));
    store_operation_clear(&op);
out:
    json_decref(body);
}

void api_operations_heartbeat(const struct api_ctx *ctx, struct api_request *req,
                              struct api_response *resp)
{
    static const struct api_field fields[] = {
        {"worker", NULL}, {"lease_seconds", "leaseSeconds"}, {NULL, NULL},
    };
    const char *worker;
    int64_t lease_us, now;
    struct store_operation op;
    json_t *body;
    enum store_rc rc;

    if (need_workers(ctx, resp) != 0)
        return;
    body = api_json_body(req, resp, true);
    if (!body)
        return;
    if (!api_json_check(body, fields, NULL, resp) ||
        worker_lease(body, &worker, &lease_us, resp) != 0)
        goto out;
    if (api_ops_load(ctx, req, -1, req->params[0], &op, resp) != 0)
        goto out;
    store_operation_clear(&op);
    now = timeutil_now_us();
    rc = store_operation_heartbeat(ctx->store, req->project, req->params[0], worker,
                                   now + lease_us, now);
    if (rc == STORE_CONFLICT) {
        api_error(resp, API_FAILED_PRECONDITION, "operation %s is not leased by worker "
                  "\"%.100s\" (lease lost, or the operation finished)", req->params[0], worker);
        goto out;
    }
    if (rc != STORE_OK) {
        api_ops_store_error(resp, rc, "operation", req->params[0]);
        goto out;
    }
    if (api_ops_load(ctx, req, -1, req->params[0], &op, resp) != 0)
        goto out;
    api_reply(resp, api_ops_json(ctx, &op, false));
    store_operation_clear(&op);
out:
    json_decref(body);
}

typedef int (*report_fn)(struct ops_engine *, const struct store_operation *, json_t *, int *,
                         char *, size_t);

/* A worker's report: load, check, hand to the external executor, answer
 * with the operation as it is afterwards. */
static void report(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp,
                   const struct api_field *fields, report_fn fn)
{
    struct store_operation op;
    char err[512];
    int status = 500;
    json_t *body;

    if (need_workers(ctx, resp) != 0)
        return;
    body = api_json_body(req, resp, true);
    if (!body)
        return;
    if (!api_json_check(body, fields, NULL, resp))
        goto out;
    if (api_ops_load(ctx, req, -1, req->params[0], &op, resp) != 0)
        goto out;
    if (fn(ctx->ops, &op, body, &status, err, sizeof err) != 0) {
        enum api_error e = status == 400 ? API_INVALID_ARGUMENT
                         : status == 404 ? API_NOT_FOUND
                         : status == 409 ? API_FAILED_PRECONDITION
                         : status == 503 ? API_UNAVAILABLE : API_INTERNAL;
        api_error(resp, e, "%s", err);
    }
    store_operation_clear(&op);
    if (resp->body)
        goto out;
    if (api_ops_load(ctx, req, -1, req->params[0], &op, resp) != 0)
        goto out;
    api_reply(resp, api_ops_json(ctx, &op, false));
    store_operation_clear(&op);
out:
    json_decref(body);
}

void api_operations_complete(const struct api_ctx *ctx, struct api_request *req,
                             struct api_response *resp)
{
    static const struct api_field fields[] = {
        {"worker", NULL}, {"result", NULL}, {"responses", NULL},
        {"result_file", NULL}, {NULL, NULL},
    };
    report(ctx, req, resp, fields, ops_external_complete);
}

void api_operations_fail(const struct api_ctx *ctx, struct api_request *req,
                         struct api_response *resp)
{
    static const struct api_field fields[] = {
        {"worker", NULL}, {"error_code", NULL}, {"error_message", NULL},
        {NULL, NULL},
    };
    report(ctx, req, resp, fields, ops_external_fail);
}

void api_operations_require_action(const struct api_ctx *ctx, struct api_request *req,
                                   struct api_response *resp)
{
    static const struct api_field fields[] = {{"worker", NULL}, {"result", NULL}, {NULL, NULL}};
    report(ctx, req, resp, fields, ops_external_require_action);
}
