/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_files.c - the result files of operations, served back with the same
 * authentication as the API (a file belongs to its operation's project):
 *
 *   GET /v1/files/{name}                  {name, mimeType, sizeBytes, uri, state}
 *   GET /v1/files/{name}:download?alt=media   the bytes (what the SDK's
 *                                             files.download fetches)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_ops.h"
#include "common/log.h"
#include "ops/ops_engine.h"
#include "ops/ops_results.h"

/* The operation that owns file name, with its result. Returns 0, or -1
 * after filling resp (404 for a name that is no file of this project). */
static int file_owner(const struct api_ctx *ctx, const struct api_request *req, const char *name,
                      struct store_operation *op, json_t **result, struct api_response *resp)
{
    char id[IDS_MAX];
    const char *file;

    *result = NULL;
    memset(op, 0, sizeof *op);
    if (ops_results_op_id(name, id, sizeof id) != 0 || ops_kind_of_id(id) < 0 ||
        store_operation_get(ctx->store, req->project, id, op) != STORE_OK)
        goto not_found;
    *result = api_ops_result(op);
    file = json_string_value(json_object_get(*result, "file"));
    if (!file || strcmp(file, name) != 0)
        goto not_found;
    return 0;
not_found:
    json_decref(*result);
    *result = NULL;
    store_operation_clear(op);
    api_error(resp, API_NOT_FOUND, "file files/%.100s not found", name);
    return -1;
}

void api_files_get(const struct api_ctx *ctx, struct api_request *req,
                   struct api_response *resp)
{
    struct store_operation op;
    json_t *result, *uri;
    char name[OPS_RESULTS_NAME_MAX + 8];
    json_int_t size;
    char sbuf[32];

    if (file_owner(ctx, req, req->params[0], &op, &result, resp) != 0)
        return;
    snprintf(name, sizeof name, "files/%s", req->params[0]);
    size = json_integer_value(json_object_get(result, "size_bytes"));
    snprintf(sbuf, sizeof sbuf, "%lld", (long long)size);
    uri = api_ops_output_uri(ctx, result);
    api_reply(resp, json_pack("{s:s,s:O,s:s,s:o,s:s,s:o,s:o,s:s}", "name", name, "mimeType",
                              json_object_get(result, "mime_type"), "sizeBytes", sbuf,
                              "uri", uri ? uri : json_null(), "state", "ACTIVE",
                              "createTime", api_json_time(op.update_time_us),
                              "updateTime", api_json_time(op.update_time_us),
                              "source", "GENERATED"));
    json_decref(result);
    store_operation_clear(&op);
}

void api_files_download(const struct api_ctx *ctx, struct api_request *req,
                        struct api_response *resp)
{
    const char *alt = api_query(req, "alt");
    struct store_operation op;
    json_t *result;
    const char *mime;
    char *data = NULL, err[512];
    size_t len = 0;

    if (alt && strcmp(alt, "media") != 0) {
        api_error(resp, API_INVALID_ARGUMENT, "alt must be media");
        return;
    }
    if (file_owner(ctx, req, req->params[0], &op, &result, resp) != 0)
        return;
    switch (ops_results_read(ops_engine_data_dir(ctx->ops), req->params[0], OPS_RESULTS_FILE_MAX,
                             &data, &len, err, sizeof err)) {
    case 0:
        break;
    case 1:
        api_error(resp, API_NOT_FOUND, "file files/%.100s is gone", req->params[0]);
        goto out;
    default:
        log_error("cannot read result file", "name=%s error=\"%s\"", req->params[0], err);
        api_error(resp, API_INTERNAL, "cannot read the file");
        goto out;
    }
    mime = json_string_value(json_object_get(result, "mime_type"));
    /* The response's content type must be a static string. */
    resp->content_type = mime && strcmp(mime, "video/mp4") == 0 ? "video/mp4"
                       : mime && strcmp(mime, "application/jsonl") == 0 ? "application/jsonl"
                       : "application/octet-stream";
    free(resp->body);
    resp->body = data;
    /* An empty file is sent as an empty body (body_len 0 with a "" body). */
    resp->body_len = len;
    resp->status = 200;
out:
    json_decref(result);
    store_operation_clear(&op);
}
