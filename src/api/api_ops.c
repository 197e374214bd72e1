/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_ops.c - helpers shared by the operation resources (see api_ops.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_ops.h"
#include "common/ids.h"
#include "ops/ops_engine.h"

int api_ops_webhook_config(const struct api_ctx *ctx, json_t *v, struct webhook_config **out,
                           struct api_response *resp)
{
    static const struct api_field fields[] = {
        {"uris", NULL}, {"user_metadata", "userMetadata"}, {NULL, NULL},
    };
    static const struct api_field f_uris = {"uris", NULL};
    static const struct api_field f_meta = {"user_metadata", "userMetadata"};
    json_t *uris, *meta;
    struct webhook_config *wc = NULL;
    char err[WEBHOOK_ERR_MAX];
    size_t i;
    json_t *u;
    char *meta_text;

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        api_error(resp, API_INVALID_ARGUMENT, "webhook_config must be an object {uris, user_metadata}");
        return -1;
    }
    if (!api_json_check(v, fields, NULL, resp))
        return -1;
    uris = api_json_field(v, &f_uris);
    meta = api_json_field(v, &f_meta);
    if (uris && !json_is_array(uris)) {
        api_error(resp, API_INVALID_ARGUMENT, "webhook_config.uris must be an array of strings");
        return -1;
    }
    if (json_array_size(uris) > WEBHOOK_CONFIG_URIS_MAX) {
        api_error(resp, API_INVALID_ARGUMENT, "webhook_config.uris has %zu uris; at most %d",
                  json_array_size(uris), WEBHOOK_CONFIG_URIS_MAX);
        return -1;
    }
    wc = webhook_config_new();
    if (!wc)
        goto oom;
    json_array_foreach(uris, i, u) {
        const char *s = json_string_value(u);
        if (!s) {
            api_error(resp, API_INVALID_ARGUMENT, "webhook_config.uris[%zu] must be a string", i);
            goto fail;
        }
        if (webhook_validate_uri(s, ctx->allow_private, err, sizeof err) != 0) {
            api_error(resp, API_INVALID_ARGUMENT, "webhook_config.uris[%zu]: %s", i, err);
            goto fail;
        }
        if (webhook_config_add_uri(wc, s) != 0)
            goto oom;
    }
    if (meta && !json_is_null(meta)) {
        if (!json_is_object(meta)) {
            api_error(resp, API_INVALID_ARGUMENT, "webhook_config.user_metadata must be an object");
            goto fail;
        }
        meta_text = json_dumps(meta, JSON_COMPACT);
        if (!meta_text)
            goto oom;
        i = strlen(meta_text);
        free(meta_text);
        if (i > WEBHOOK_CONFIG_USER_METADATA_MAX) {
            api_error(resp, API_INVALID_ARGUMENT,
                      "webhook_config.user_metadata is %zu bytes of JSON; at most %d", i,
                      WEBHOOK_CONFIG_USER_METADATA_MAX);
            goto fail;
        }
        /* A copy: the config outlives the request body. */
        wc->user_metadata = json_deep_copy(meta);
        if (!wc->user_metadata)
            goto oom;
    }
    *out = wc;
    return 0;
oom:
    api_error(resp, API_UNAVAILABLE, "out of memory");
fail:
    webhook_config_free(wc);
    return -1;
}

int api_ops_model(const char *model, struct api_response *resp)
{
    size_t len = model ? strlen(model) : 0;

    if (len == 0 || len >= STORE_OP_MODEL_MAX) {
        api_error(resp, API_INVALID_ARGUMENT, "model is required: 1 to %d characters",
                  STORE_OP_MODEL_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = model[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/')) {
            api_error(resp, API_INVALID_ARGUMENT, "model \"%.100s\" is not a valid model name",
                      model);
            return -1;
        }
    }
    return 0;
}

void api_ops_store_error(struct api_response *resp, enum store_rc rc, const char *what,
                         const char *id)
{
    if (rc == STORE_NOT_FOUND)
        api_error(resp, API_NOT_FOUND, "%s %.100s not found", what, id);
    else
        api_error_store(resp, rc);
}

int api_ops_load(const struct api_ctx *ctx, const struct api_request *req, int kind,
                 const char *id, struct store_operation *op, struct api_response *resp)
{
    const char *what = kind >= 0 ? ops_kind_name((enum ops_kind)kind) : "operation";
    int k = ops_kind_of_id(id);
    enum store_rc rc;

    memset(op, 0, sizeof *op);
    if (k < 0 || (kind >= 0 && k != kind)) {
        api_error(resp, API_NOT_FOUND, "%s %.100s not found", what, id);
        return -1;
    }
    rc = store_operation_get(ctx->store, req->project, id, op);
    if (rc != STORE_OK) {
        api_ops_store_error(resp, rc, what, id);
        return -1;
    }
    return 0;
}

int api_ops_new(const struct api_request *req, enum ops_kind kind, const char *model,
                struct store_operation *op, struct api_response *resp)
{
    memset(op, 0, sizeof *op);
    if (api_ops_model(model, resp) != 0)
        return -1;
    if (ids_new(ops_kind_prefix(kind), op->id, sizeof op->id) != 0) {
        api_error(resp, API_INTERNAL, "cannot make an id");
        return -1;
    }
    snprintf(op->project, sizeof op->project, "%s", req->project);
    snprintf(op->kind, sizeof op->kind, "%s", ops_kind_name(kind));
    snprintf(op->model, sizeof op->model, "%s", model);
    return 0;
}

int api_ops_submit(const struct api_ctx *ctx, struct store_operation *op, bool background,
                   struct api_response *resp)
{
    enum store_rc rc = ops_engine_submit(ctx->ops, op, background);

    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        return -1;
    }
    return 0;
}

int api_ops_create(const struct api_ctx *ctx, const struct api_request *req, enum ops_kind kind,
                   const char *model, json_t *holder, json_t *request, bool background,
                   struct store_operation *op, struct api_response *resp)
{
    static const struct api_field f_webhook_config = {"webhook_config", "webhookConfig"};

    if (api_ops_new(req, kind, model, op, resp) != 0 ||
        api_ops_webhook_config(ctx, api_json_field(holder, &f_webhook_config),
                               &op->webhook_config, resp) != 0)
        return -1;
    json_object_del(request, f_webhook_config.snake);
    json_object_del(request, f_webhook_config.camel);
    op->request = json_dumps(request, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!op->request) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        return -1;
    }
    return api_ops_submit(ctx, op, background, resp);
}

json_t *api_ops_result(const struct store_operation *op)
{
    json_t *r = op->result ? json_loads(op->result, 0, NULL) : NULL;

    return json_is_object(r) ? r : (json_decref(r), json_object());
}

json_t *api_ops_output_uri(const struct api_ctx *ctx, json_t *result)
{
    const char *file = json_string_value(json_object_get(result, "file"));
    char uri[OPS_URL_MAX];

    if (!file || ops_engine_file_uri(ctx->ops, file, uri, sizeof uri) != 0)
        return NULL;
    return json_string(uri);
}

/* google.rpc.Code numbers of the canonical names a worker may give. */
static const char *const api_ops_codes[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};

json_t *api_ops_status(json_t *result)
{
    const char *code = json_string_value(json_object_get(result, "error_code"));
    const char *msg = json_string_value(json_object_get(result, "error_message"));
    int n = 2;  /* UNKNOWN: a worker's own code */

    for (int i = 0; code && i < (int)(sizeof api_ops_codes / sizeof api_ops_codes[0]); i++)
        if (strcmp(code, api_ops_codes[i]) == 0)
            n = i;
    return json_pack("{s:i,s:s,s:s}", "code", n, "message", msg ? msg : "", "status",
                     code ? code : "UNKNOWN");
}

/* The deliveries of op's events, as an array. */
static json_t *api_ops_deliveries(const struct api_ctx *ctx, const struct store_operation *op)
{
    enum { CAP = 64 };
    struct store_op_delivery *d = calloc(CAP, sizeof *d);
    json_t *arr = json_array();
    size_t n = 0;

    if (d && store_operation_deliveries(ctx->store, op->project, op->id, d, CAP, &n) == STORE_OK) {
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:o}", "event_id", d[i].message_id,
                                  "type", d[i].type, "delivery_id", d[i].delivery_id,
                                  "target_uri", d[i].target_uri, "state",
                                  store_delivery_state_name(d[i].state), "attempts",
                                  d[i].attempts, "create_time",
                                  api_json_time(d[i].create_time_us));
            if (o && d[i].webhook_id[0])
                json_object_set_new(o, "webhook_id", json_string(d[i].webhook_id));
            json_array_append_new(arr, o);
        }
    }
    free(d);
    return arr;
}

json_t *api_ops_json(const struct api_ctx *ctx, const struct store_operation *op, bool details)
{
    char name[IDS_MAX + 16];
    json_t *o, *result = api_ops_result(op), *uri;

    snprintf(name, sizeof name, "operations/%s", op->id);
    o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:o}", "name", name, "id", op->id, "kind",
                  op->kind, "model", op->model, "state", ops_state_name(op->state), "done",
                  ops_state_final(op->state), "create_time", api_json_time(op->create_time_us),
                  "update_time", api_json_time(op->update_time_us));
    if (!o)
        goto out;
    if (op->webhook_config) {
        json_t *wc = webhook_config_json(op->webhook_config);
        if (wc)
            json_object_set_new(o, "webhook_config", wc);
    }
    if (op->state == STORE_OP_RUNNING && op->lease_owner[0])
        json_object_set_new(o, "lease", json_pack("{s:s,s:o}", "worker", op->lease_owner,
                                                  "expire_time",
                                                  api_json_time(op->lease_expire_time_us)));
    uri = api_ops_output_uri(ctx, result);
    if (uri)
        json_object_set_new(o, "output_file_uri", uri);
    if (op->state == STORE_OP_FAILED)
        json_object_set_new(o, "error", api_ops_status(result));
    if (json_object_size(result) > 0)
        json_object_set(o, "result", result);
    if (details) {
        json_t *req = op->request ? json_loads(op->request, 0, NULL) : NULL;
        if (req)
            json_object_set_new(o, "request", req);
        json_object_set_new(o, "deliveries", api_ops_deliveries(ctx, op));
    }
out:
    json_decref(result);
    return o;
}
