/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_batches.c - the Batch API (wire-compatible with @google/genai's
 * batches.create/get/list/cancel/delete in Gemini API mode):
 *
 *   POST   /v1/models/{model}:batchGenerateContent   {batch: {displayName,
 *              inputConfig: {requests: {requests: […]}} | {fileName},
 *              webhookConfig: {uris, userMetadata}}}
 *   GET    /v1/batches/{id}        GET /v1/batches (paged)
 *   POST   /v1/batches/{id}:cancel DELETE /v1/batches/{id}
 *
 * A batch is shown as Google's Operation: name "batches/{id}", metadata
 * (a GenerateContentBatch: state BATCH_STATE_…, times, output), done, and
 * response or error. Results are a JSONL file, one line per request in
 * order, at output_file_uri; inline requests also get inlinedResponses.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_ops.h"
#include "core/pagetoken.h"
#include "ops/ops_engine.h"
#include "ops/ops_results.h"

#define API_BATCHES_PAGE_DEFAULT 50
#define API_BATCHES_PAGE_MAX 1000
#define API_BATCH_REQUESTS_MAX 100000

#define BATCH_TYPE "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
#define BATCH_OUTPUT_TYPE \
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"

static const struct api_field F_BATCH = {"batch", NULL};
static const struct api_field F_DISPLAY_NAME = {"display_name", "displayName"};
static const struct api_field F_INPUT_CONFIG = {"input_config", "inputConfig"};
static const struct api_field F_REQUESTS = {"requests", NULL};
static const struct api_field F_FILE_NAME = {"file_name", "fileName"};

/* An int64 as proto3 JSON spells it: a decimal string. */
static json_t *int64_json(json_int_t n)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%lld", (long long)n);
    return json_string(buf);
}

/* The batch resource (an Operation) of op. */
static json_t *api_batch_json(const struct api_ctx *ctx, const struct store_operation *op)
{
    json_t *req = op->request ? json_loads(op->request, 0, NULL) : NULL;
    json_t *result = api_ops_result(op);
    json_t *o = NULL, *meta, *stats, *uri;
    char name[IDS_MAX + 16], file[OPS_RESULTS_NAME_MAX + 8];
    json_int_t count = (json_int_t)json_array_size(json_object_get(req, "requests"));
    const char *rfile = json_string_value(json_object_get(result, "file"));

    if (json_integer_value(json_object_get(result, "request_count")) > 0)
        count = json_integer_value(json_object_get(result, "request_count"));
    snprintf(name, sizeof name, "batches/%s", op->id);
    meta = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s}", "@type", BATCH_TYPE, "name", name,
                     "model", op->model, "createTime", api_json_time(op->create_time_us),
                     "updateTime", api_json_time(op->update_time_us), "state",
                     ops_state_wire(OPS_KIND_BATCH, op->state));
    if (!meta)
        goto out;
    if (json_is_string(json_object_get(req, "display_name")))
        json_object_set(meta, "displayName", json_object_get(req, "display_name"));
    if (ops_state_final(op->state))
        json_object_set_new(meta, "endTime", api_json_time(op->update_time_us));
    stats = json_pack("{s:o}", "requestCount", int64_json(count));
    if (op->state == STORE_OP_SUCCEEDED)
        json_object_set_new(stats, "successfulRequestCount", int64_json(count));
    else if (op->state == STORE_OP_FAILED)
        json_object_set_new(stats, "failedRequestCount", int64_json(count));
    else if (!ops_state_final(op->state))
        json_object_set_new(stats, "pendingRequestCount", int64_json(count));
    json_object_set_new(meta, "batchStats", stats);
    if (op->webhook_config) {
        json_t *wc = webhook_config_json(op->webhook_config);
        if (wc && json_object_get(wc, "user_metadata")) {
            json_object_set(wc, "userMetadata", json_object_get(wc, "user_metadata"));
            json_object_del(wc, "user_metadata");
        }
        if (wc)
            json_object_set_new(meta, "webhookConfig", wc);
    }
    o = json_pack("{s:s,s:o,s:b}", "name", name, "metadata", meta, "done",
                  ops_state_final(op->state));
    if (!o)
        goto out;
    if (op->state == STORE_OP_SUCCEEDED && rfile) {
        json_t *output = json_pack("{s:s}", "@type", BATCH_OUTPUT_TYPE);

        snprintf(file, sizeof file, "files/%s", rfile);
        json_object_set_new(output, "responsesFile", json_string(file));
        if (json_is_array(json_object_get(result, "inlined_responses")))
            json_object_set_new(output, "inlinedResponses",
                                json_pack("{s:O}", "inlinedResponses",
                                          json_object_get(result, "inlined_responses")));
        json_object_set(meta, "output", output);
        json_object_set_new(o, "response", output);
    }
    if (op->state == STORE_OP_FAILED)
        json_object_set_new(o, "error", api_ops_status(result));
    uri = api_ops_output_uri(ctx, result);
    if (uri)
        json_object_set_new(o, "output_file_uri", uri);
out:
    json_decref(result);
    json_decref(req);
    return o;
}

/* Check the inline requests: each {request: {…}, metadata: {…}?}. */
static int check_requests(json_t *requests, struct api_response *resp)
{
    static const struct api_field fields[] = {{"request", NULL}, {"metadata", NULL}, {NULL, NULL}};
    size_t i;
    json_t *r;

    if (!json_is_array(requests) || json_array_size(requests) == 0) {
        api_error(resp, API_INVALID_ARGUMENT,
                  "batch.inputConfig.requests.requests must be a non-empty array");
        return -1;
    }
    if (json_array_size(requests) > API_BATCH_REQUESTS_MAX) {
        api_error(resp, API_INVALID_ARGUMENT, "a batch has at most %d inline requests",
                  API_BATCH_REQUESTS_MAX);
        return -1;
    }
    json_array_foreach(requests, i, r) {
        if (!json_is_object(r) || !json_is_object(json_object_get(r, "request"))) {
            api_error(resp, API_INVALID_ARGUMENT, "requests[%zu] must be {request: {…}, "
                      "metadata: {…}}", i);
            return -1;
        }
        if (!api_json_check(r, fields, NULL, resp))
            return -1;
        if (json_object_get(r, "metadata") && !json_is_object(json_object_get(r, "metadata"))) {
            api_error(resp, API_INVALID_ARGUMENT, "requests[%zu].metadata must be an object", i);
            return -1;
        }
    }
    return 0;
}

/* The normalized request of a batch body: {model, display_name,
 * requests | file_name}. Returns a new object, or NULL after filling resp. */
static json_t *batch_request(json_t *batch, const char *model, struct api_response *resp)
{
    static const struct api_field fields[] = {
        {"display_name", "displayName"}, {"input_config", "inputConfig"},
        {"webhook_config", "webhookConfig"}, {"model", NULL}, {NULL, NULL},
    };
    /* Output-only members a client may echo back. */
    static const struct api_field ignored[] = {
        {"name", NULL}, {"state", NULL}, {"create_time", "createTime"},
        {"update_time", "updateTime"}, {"end_time", "endTime"}, {"output", NULL},
        {"batch_stats", "batchStats"}, {"priority", NULL}, {NULL, NULL},
    };
    static const struct api_field in_fields[] = {
        {"requests", NULL}, {"file_name", "fileName"}, {NULL, NULL},
    };
    json_t *in, *requests, *file, *dn, *norm;

    if (!json_is_object(batch)) {
        api_error(resp, API_INVALID_ARGUMENT, "batch is required and must be an object");
        return NULL;
    }
    if (!api_json_check(batch, fields, ignored, resp))
        return NULL;
    in = api_json_field(batch, &F_INPUT_CONFIG);
    if (!json_is_object(in)) {
        api_error(resp, API_INVALID_ARGUMENT, "batch.inputConfig is required: {requests: "
                                              "{requests: […]}} or {fileName}");
        return NULL;
    }
    if (!api_json_check(in, in_fields, NULL, resp))
        return NULL;
    requests = api_json_field(in, &F_REQUESTS);
    file = api_json_field(in, &F_FILE_NAME);
    if (!!requests == !!file) {
        api_error(resp, API_INVALID_ARGUMENT,
                  "batch.inputConfig needs exactly one of requests and fileName");
        return NULL;
    }
    dn = api_json_field(batch, &F_DISPLAY_NAME);
    if (dn && (!json_is_string(dn) || json_string_length(dn) > 512)) {
        api_error(resp, API_INVALID_ARGUMENT, "batch.displayName must be a string of at most "
                                              "512 characters");
        return NULL;
    }
    norm = json_pack("{s:s}", "model", model);
    if (dn)
        json_object_set(norm, "display_name", dn);
    if (requests) {
        json_t *list = json_is_object(requests) ? json_object_get(requests, "requests") : NULL;

        if (json_is_object(requests) && json_object_size(requests) != 1) {
            api_error(resp, API_INVALID_ARGUMENT, "batch.inputConfig.requests has only the "
                                                  "member requests");
            goto fail;
        }
        if (check_requests(list, resp) != 0)
            goto fail;
        json_object_set(norm, "requests", list);
    } else {
        const char *f = json_string_value(file);
        if (!f || strncmp(f, "files/", 6) != 0 || strlen(f) < 7 || strlen(f) > 64 ||
            strchr(f + 6, '/') || strstr(f, "..")) {
            api_error(resp, API_INVALID_ARGUMENT, "batch.inputConfig.fileName must be "
                                                  "\"files/NAME\"");
            goto fail;
        }
        json_object_set(norm, "file_name", file);
    }
    return norm;
fail:
    json_decref(norm);
    return NULL;
}

void api_batches_create(const struct api_ctx *ctx, struct api_request *req,
                        struct api_response *resp)
{
    static const struct api_field fields[] = {{"batch", NULL}, {NULL, NULL}};
    json_t *body = api_json_body(req, resp, true);
    json_t *batch, *norm = NULL;
    struct store_operation op;
    char model[STORE_OP_MODEL_MAX + 8];

    memset(&op, 0, sizeof op);
    if (!body)
        return;
    if (!api_json_check(body, fields, NULL, resp))
        goto out;
    snprintf(model, sizeof model, "models/%s", req->params[0]);
    batch = api_json_field(body, &F_BATCH);
    norm = batch_request(batch, model, resp);
    if (!norm)
        goto out;
    if (api_ops_create(ctx, req, OPS_KIND_BATCH, model, batch, norm, true, &op, resp) != 0)
        goto out;
    api_reply(resp, api_batch_json(ctx, &op));
out:
    store_operation_clear(&op);
    json_decref(norm);
    json_decref(body);
}

void api_batches_get(const struct api_ctx *ctx, struct api_request *req,
                     struct api_response *resp)
{
    struct store_operation op;

    if (api_ops_load(ctx, req, OPS_KIND_BATCH, req->params[0], &op, resp) != 0)
        return;
    api_reply(resp, api_batch_json(ctx, &op));
    store_operation_clear(&op);
}

void api_batches_list(const struct api_ctx *ctx, struct api_request *req,
                      struct api_response *resp)
{
    const char *token = api_query_field(req, &API_F_PAGE_TOKEN);
    long limit = api_page_size(req, resp, API_BATCHES_PAGE_DEFAULT, API_BATCHES_PAGE_MAX);
    char after[IDS_MAX] = "";
    struct store_operation *page;
    size_t n = 0;
    bool more = false;
    enum store_rc rc;
    json_t *arr;

    if (limit < 0)
        return;
    if (api_page_token(token, ops_kind_prefix(OPS_KIND_BATCH), after, sizeof after, resp) != 0)
        return;
    page = api_page_alloc(limit, sizeof *page, resp);
    if (page == NULL)
        return;
    rc = store_operation_list(ctx->store, req->project, ops_kind_name(OPS_KIND_BATCH), -1, after,
                              (size_t)limit, page, &n, &more);
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_batch_json(ctx, &page[i]));
    /* camelCase, as the Gemini batches API answers (docs/operations.md). */
    api_reply_page(resp, "operations", arr, "nextPageToken", ops_kind_prefix(OPS_KIND_BATCH),
                   more && n > 0 ? page[n - 1].id : NULL);
    store_operations_clear(page, n);
done:
    free(page);
}

void api_batches_cancel(const struct api_ctx *ctx, struct api_request *req,
                        struct api_response *resp)
{
    struct store_operation op;
    enum store_rc rc;

    /* Only an empty body or {}: a cancel takes no fields. */
    if (!api_json_no_body(req, resp))
        return;
    if (api_ops_load(ctx, req, OPS_KIND_BATCH, req->params[0], &op, resp) != 0)
        return;
    store_operation_clear(&op);
    rc = ops_engine_cancel(ctx->ops, req->project, req->params[0], &op);
    if (rc == STORE_CONFLICT)
        api_error(resp, API_FAILED_PRECONDITION, "batch %s is already %s; only a pending or "
                  "running batch can be cancelled", op.id,
                  ops_state_wire(OPS_KIND_BATCH, op.state));
    else if (rc != STORE_OK)
        api_ops_store_error(resp, rc, "batch", req->params[0]);
    else
        api_reply(resp, json_object());
    store_operation_clear(&op);
}

void api_batches_delete(const struct api_ctx *ctx, struct api_request *req,
                        struct api_response *resp)
{
    struct store_operation op;
    char name[OPS_RESULTS_NAME_MAX];
    enum store_rc rc;

    if (api_ops_load(ctx, req, OPS_KIND_BATCH, req->params[0], &op, resp) != 0)
        return;
    store_operation_clear(&op);
    rc = store_operation_delete(ctx->store, req->project, req->params[0]);
    if (rc != STORE_OK) {
        api_ops_store_error(resp, rc, "batch", req->params[0]);
        return;
    }
    /* The results go with the batch. */
    if (ops_results_name(req->params[0], name, sizeof name) == 0)
        ops_results_remove(ops_engine_data_dir(ctx->ops), name);
    api_reply(resp, json_object());
}
