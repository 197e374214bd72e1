/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_interactions.c - the Interactions API (wire-compatible with
 * @google/genai's interactions.create/get/cancel/delete):
 *
 *   POST   /v1/interactions                {model, input, background, webhook_config, …}
 *   GET    /v1/interactions/{id}
 *   POST   /v1/interactions/{id}/cancel
 *   DELETE /v1/interactions/{id}
 *
 * With background: true the call answers at once with an in_progress
 * interaction and the executor finishes it later; without, it waits for the
 * outcome (API_OPS_SYNC_WAIT_US at most). webhook_config needs background.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_ops.h"
#include "ops/ops_engine.h"
#include "ops/ops_results.h"

static const struct api_field F_MODEL = {"model", NULL};
static const struct api_field F_AGENT = {"agent", NULL};
static const struct api_field F_INPUT = {"input", NULL};
static const struct api_field F_BACKGROUND = {"background", NULL};
static const struct api_field F_STREAM = {"stream", NULL};
static const struct api_field F_WEBHOOK_CONFIG = {"webhook_config", "webhookConfig"};

/* The user_input step of an interaction's input: a string becomes one text
 * content; a list is content already. */
static json_t *input_step(json_t *input)
{
    json_t *content;

    if (json_is_string(input))
        content = json_pack("[{s:s,s:O}]", "type", "text", "text", input);
    else if (json_is_array(input))
        content = json_incref(input);
    else if (json_is_object(input))
        content = json_pack("[O]", input);
    else
        return NULL;
    return json_pack("{s:s,s:o}", "type", "user_input", "content", content);
}

/* The Interaction resource of op. */
static json_t *api_interaction_json(const struct store_operation *op)
{
    json_t *req = op->request ? json_loads(op->request, 0, NULL) : NULL;
    json_t *result = api_ops_result(op);
    json_t *o, *steps, *step, *given;
    size_t i;

    o = json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", op->id, "status",
                  ops_state_wire(OPS_KIND_INTERACTION, op->state),
                  json_object_get(req, "agent") ? "agent" : "model", op->model,
                  "created", api_json_time(op->create_time_us),
                  "updated", api_json_time(op->update_time_us));
    steps = json_array();
    if (!o || !steps) {
        json_decref(steps);
        goto out;
    }
    if (json_object_get(req, "input")) {
        json_object_set(o, "input", json_object_get(req, "input"));
        step = input_step(json_object_get(req, "input"));
        if (step)
            json_array_append_new(steps, step);
    }
    if (json_is_array(json_object_get(result, "content")))
        json_array_append_new(steps, json_pack("{s:s,s:O}", "type", "model_output", "content",
                                               json_object_get(result, "content")));
    json_array_foreach(json_object_get(result, "steps"), i, given)
        json_array_append(steps, given);
    json_object_set_new(o, "steps", steps);
    if (op->state == STORE_OP_FAILED) {
        const char *code = json_string_value(json_object_get(result, "error_code"));
        const char *msg = json_string_value(json_object_get(result, "error_message"));
        json_object_set_new(o, "errors", json_pack("[{s:s,s:s}]", "code", code ? code : "UNKNOWN",
                                                   "message", msg ? msg : ""));
    }
    if (json_is_boolean(json_object_get(req, "background")))
        json_object_set(o, "background", json_object_get(req, "background"));
    if (op->webhook_config) {
        json_t *wc = webhook_config_json(op->webhook_config);
        if (wc)
            json_object_set_new(o, "webhook_config", wc);
    }
out:
    json_decref(result);
    json_decref(req);
    return o;
}

/* The JSON types of the fields kabard keeps for a worker without reading
 * them: a value of another type is a 400, as Google's API answers it. */
static bool interactions_check_types(json_t *body, struct api_response *resp)
{
    static const struct {
        const char *name;
        const char *want;               /* "string", "boolean", "object", "array", "text" */
    } types[] = {
        {"previous_interaction_id", "string"}, {"cached_content", "string"},
        {"continuation_token", "string"}, {"response_mime_type", "string"},
        {"service_tier", "string"}, {"store", "boolean"}, {"generation_config", "object"},
        {"agent_config", "object"}, {"labels", "object"}, {"response_format", "object"},
        {"tools", "array"}, {"safety_settings", "array"}, {"response_modalities", "array"},
        {"system_instruction", "text"},
    };

    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        json_t *v = json_object_get(body, types[i].name);
        const char *want = types[i].want;
        bool ok;

        if (v == NULL)
            continue;
        if (strcmp(want, "string") == 0)
            ok = json_is_string(v);
        else if (strcmp(want, "boolean") == 0)
            ok = json_is_boolean(v);
        else if (strcmp(want, "object") == 0)
            ok = json_is_object(v);
        else if (strcmp(want, "array") == 0)
            ok = json_is_array(v);
        else
            ok = json_is_string(v) || json_is_object(v);
        if (!ok) {
            api_error(resp, API_INVALID_ARGUMENT, "%s must be %s", types[i].name,
                      strcmp(want, "text") == 0 ? "a string or an object"
                      : strcmp(want, "array") == 0 ? "an array"
                      : strcmp(want, "object") == 0 ? "an object" : want[0] == 's' ? "a string"
                      : "a boolean");
            return false;
        }
    }
    return true;
}

void api_interactions_create(const struct api_ctx *ctx, struct api_request *req,
                             struct api_response *resp)
{
    static const struct api_field fields[] = {
        {"model", NULL}, {"agent", NULL}, {"input", NULL}, {"background", NULL},
        {"stream", NULL}, {"webhook_config", "webhookConfig"}, {NULL, NULL},
    };
    /* Accepted and kept with the request (a worker may use them); the
     * simulator does not. */
    static const struct api_field ignored[] = {
        {"agent_config", NULL}, {"cached_content", NULL}, {"continuation_token", NULL},
        {"environment", NULL}, {"generation_config", NULL}, {"labels", NULL},
        {"previous_interaction_id", NULL}, {"response_format", NULL},
        {"response_mime_type", NULL}, {"response_modalities", NULL},
        {"safety_settings", NULL}, {"service_tier", NULL}, {"store", NULL},
        {"system_instruction", NULL}, {"tools", NULL}, {NULL, NULL},
    };
    json_t *body = api_json_body(req, resp, true);
    json_t *model, *agent, *background, *stream;
    struct store_operation op, done;
    bool bg;
    enum store_rc rc;

    memset(&op, 0, sizeof op);
    if (!body)
        return;
    if (!api_json_check(body, fields, ignored, resp) || !interactions_check_types(body, resp))
        goto out;
    model = api_json_field(body, &F_MODEL);
    agent = api_json_field(body, &F_AGENT);
    background = api_json_field(body, &F_BACKGROUND);
    stream = api_json_field(body, &F_STREAM);
    if (!json_is_string(model) && !json_is_string(agent)) {
        api_error(resp, API_INVALID_ARGUMENT, "model (or agent) is required and must be a string");
        goto out;
    }
    if (background && !json_is_boolean(background)) {
        api_error(resp, API_INVALID_ARGUMENT, "background must be a boolean");
        goto out;
    }
    if (stream && !json_is_boolean(stream)) {
        api_error(resp, API_INVALID_ARGUMENT, "stream must be a boolean");
        goto out;
    }
    if (json_is_true(stream)) {
        api_error(resp, API_INVALID_ARGUMENT, "stream is not supported by kabard; poll with GET "
                                              "or use background with webhooks");
        goto out;
    }
    if (api_json_field(body, &F_INPUT) && !json_is_string(api_json_field(body, &F_INPUT)) &&
        !json_is_array(api_json_field(body, &F_INPUT)) &&
        !json_is_object(api_json_field(body, &F_INPUT))) {
        api_error(resp, API_INVALID_ARGUMENT, "input must be a string, an array or an object");
        goto out;
    }
    if (!api_json_field(body, &F_INPUT)) {
        api_error(resp, API_INVALID_ARGUMENT, "input is required");
        goto out;
    }
    bg = json_is_true(background);
    if (api_json_field(body, &F_WEBHOOK_CONFIG) && !bg) {
        api_error(resp, API_INVALID_ARGUMENT, "webhook_config requires background: true");
        goto out;
    }
    if (api_ops_create(ctx, req, OPS_KIND_INTERACTION,
                       json_string_value(json_is_string(model) ? model : agent), body, body, bg,
                       &op, resp) != 0)
        goto out;
    if (bg) {
        api_reply(resp, api_interaction_json(&op));
        goto out;
    }
    rc = ops_engine_wait(ctx->ops, req->project, op.id, API_OPS_SYNC_WAIT_US, &done);
    if (rc != STORE_OK) {
        api_ops_store_error(resp, rc, "interaction", op.id);
        goto out;
    }
    api_reply(resp, api_interaction_json(&done));
    store_operation_clear(&done);
out:
    store_operation_clear(&op);
    json_decref(body);
}

void api_interactions_get(const struct api_ctx *ctx, struct api_request *req,
                          struct api_response *resp)
{
    const char *stream = api_query(req, "stream");
    struct store_operation op;

    if (stream && strcmp(stream, "true") == 0) {
        api_error(resp, API_INVALID_ARGUMENT, "stream is not supported by kabard");
        return;
    }
    if (api_ops_load(ctx, req, OPS_KIND_INTERACTION, req->params[0], &op, resp) != 0)
        return;
    api_reply(resp, api_interaction_json(&op));
    store_operation_clear(&op);
}

void api_interactions_cancel(const struct api_ctx *ctx, struct api_request *req,
                             struct api_response *resp)
{
    struct store_operation op;
    enum store_rc rc;

    /* Only an empty body or {}: a cancel takes no fields. */
    if (!api_json_no_body(req, resp))
        return;
    if (api_ops_load(ctx, req, OPS_KIND_INTERACTION, req->params[0], &op, resp) != 0)
        return;
    store_operation_clear(&op);
    rc = ops_engine_cancel(ctx->ops, req->project, req->params[0], &op);
    if (rc == STORE_CONFLICT) {
        api_error(resp, API_FAILED_PRECONDITION, "interaction %s is already %s; only one "
                  "in progress can be cancelled", op.id,
                  ops_state_wire(OPS_KIND_INTERACTION, op.state));
    } else if (rc != STORE_OK) {
        api_ops_store_error(resp, rc, "interaction", req->params[0]);
    } else {
        api_reply(resp, api_interaction_json(&op));
    }
    store_operation_clear(&op);
}

void api_interactions_delete(const struct api_ctx *ctx, struct api_request *req,
                             struct api_response *resp)
{
    struct store_operation op;
    enum store_rc rc;

    if (api_ops_load(ctx, req, OPS_KIND_INTERACTION, req->params[0], &op, resp) != 0)
        return;
    store_operation_clear(&op);
    rc = store_operation_delete(ctx->store, req->project, req->params[0]);
    if (rc != STORE_OK) {
        api_ops_store_error(resp, rc, "interaction", req->params[0]);
        return;
    }
    api_reply(resp, json_object());
}
