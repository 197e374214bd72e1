/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_videos.c - video generation as a long-running operation:
 *
 *   POST /v1/models/{model}:predictLongRunning      {instances: [{prompt, …}], parameters}
 *   GET  /v1/models/{model}/operations/{id}         (Gemini API polling)
 *   POST /v1/models/{model}:fetchPredictOperation   {operationName} (Vertex AI polling)
 *
 * The Operation's response carries the video both ways the SDK reads it:
 * generateVideoResponse.generatedSamples[].video.uri (Gemini API) and
 * videos[].gcsUri (Vertex AI, which @google/genai 3.x uses for
 * models.generateVideos); both are the download URL of the video file.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "api/api_ops.h"
#include "ops/ops_engine.h"

#define VIDEO_RESPONSE_TYPE \
    "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"

static const struct api_field F_INSTANCES = {"instances", NULL};
static const struct api_field F_OPERATION_NAME = {"operation_name", "operationName"};

/* The model of a route: its last capture (a route may name the publisher
 * first, as Vertex AI paths do). */
static const char *route_model(const struct api_request *req)
{
    return req->params[req->nparams > 1 ? 1 : 0];
}

static json_t *api_video_json(const struct api_ctx *ctx, const struct store_operation *op)
{
    json_t *result = api_ops_result(op);
    json_t *o, *uri;
    char name[STORE_OP_MODEL_MAX + IDS_MAX + 32];

    snprintf(name, sizeof name, "%s/operations/%s", op->model, op->id);
    o = json_pack("{s:s,s:{s:o,s:o,s:s},s:b}", "name", name, "metadata", "createTime",
                  api_json_time(op->create_time_us), "updateTime",
                  api_json_time(op->update_time_us), "state", ops_state_name(op->state),
                  "done", ops_state_final(op->state));
    if (!o)
        goto out;
    uri = api_ops_output_uri(ctx, result);
    if (op->state == STORE_OP_SUCCEEDED && uri) {
        const char *mime = json_string_value(json_object_get(result, "mime_type"));

        json_object_set_new(o, "response",
                            json_pack("{s:s,s:{s:[{s:{s:O,s:s}}]},s:[{s:O,s:s}]}",
                                      "@type", VIDEO_RESPONSE_TYPE,
                                      "generateVideoResponse", "generatedSamples", "video",
                                      "uri", uri, "encoding", mime ? mime : "video/mp4",
                                      "videos", "gcsUri", uri, "mimeType",
                                      mime ? mime : "video/mp4"));
        json_object_set(o, "output_file_uri", uri);
    }
    json_decref(uri);
    if (op->state == STORE_OP_FAILED)
        json_object_set_new(o, "error", api_ops_status(result));
    else if (op->state == STORE_OP_CANCELLED)
        json_object_set_new(o, "error", json_pack("{s:i,s:s}", "code", 1, "message",
                                                  "the operation was cancelled"));
out:
    json_decref(result);
    return o;
}

/* Each instance an object whose prompt, when given, is a string and whose
 * image, video and lastFrame are objects. */
static bool videos_check_instances(json_t *instances, struct api_response *resp)
{
    static const char *const objects[] = {"image", "video", "lastFrame", "last_frame"};
    size_t i;
    json_t *inst;

    json_array_foreach(instances, i, inst) {
        json_t *prompt = json_object_get(inst, "prompt");

        if (!json_is_object(inst)) {
            api_error(resp, API_INVALID_ARGUMENT, "instances[%zu] must be an object", i);
            return false;
        }
        if (prompt != NULL && !json_is_string(prompt)) {
            api_error(resp, API_INVALID_ARGUMENT, "instances[%zu].prompt must be a string", i);
            return false;
        }
        for (size_t k = 0; k < sizeof objects / sizeof objects[0]; k++) {
            json_t *v = json_object_get(inst, objects[k]);

            if (v != NULL && !json_is_object(v)) {
                api_error(resp, API_INVALID_ARGUMENT, "instances[%zu].%s must be an object", i,
                          objects[k]);
                return false;
            }
        }
    }
    return true;
}

void api_videos_create(const struct api_ctx *ctx, struct api_request *req,
                       struct api_response *resp)
{
    static const struct api_field fields[] = {
        {"instances", NULL}, {"parameters", NULL}, {"webhook_config", "webhookConfig"},
        {NULL, NULL},
    };
    json_t *body = api_json_body(req, resp, true);
    json_t *instances;
    struct store_operation op;
    char model[STORE_OP_MODEL_MAX + 8];

    memset(&op, 0, sizeof op);
    if (!body)
        return;
    if (!api_json_check(body, fields, NULL, resp))
        goto out;
    instances = api_json_field(body, &F_INSTANCES);
    if (!json_is_array(instances) || json_array_size(instances) == 0 ||
        !json_is_object(json_array_get(instances, 0))) {
        api_error(resp, API_INVALID_ARGUMENT, "instances must be a non-empty array of objects "
                                              "({prompt, image, video})");
        goto out;
    }
    if (!videos_check_instances(instances, resp))
        goto out;
    if (json_object_get(body, "parameters") && !json_is_object(json_object_get(body, "parameters"))) {
        api_error(resp, API_INVALID_ARGUMENT, "parameters must be an object");
        goto out;
    }
    snprintf(model, sizeof model, "models/%s", route_model(req));
    if (api_ops_create(ctx, req, OPS_KIND_VIDEO, model, body, body, true, &op, resp) != 0)
        goto out;
    api_reply(resp, api_video_json(ctx, &op));
out:
    store_operation_clear(&op);
    json_decref(body);
}

/* Answer with video operation id if it belongs to model. */
static void video_reply(const struct api_ctx *ctx, struct api_request *req, const char *model,
                        const char *id, struct api_response *resp)
{
    struct store_operation op;
    char full[STORE_OP_MODEL_MAX + 8];

    if (api_ops_load(ctx, req, OPS_KIND_VIDEO, id, &op, resp) != 0)
        return;
    snprintf(full, sizeof full, "models/%s", model);
    if (strcmp(full, op.model) != 0)
        api_error(resp, API_NOT_FOUND, "operation %.100s of %.100s not found", id, full);
    else
        api_reply(resp, api_video_json(ctx, &op));
    store_operation_clear(&op);
}

void api_videos_get(const struct api_ctx *ctx, struct api_request *req,
                    struct api_response *resp)
{
    video_reply(ctx, req, req->params[0], req->params[1], resp);
}

void api_videos_fetch(const struct api_ctx *ctx, struct api_request *req,
                      struct api_response *resp)
{
    static const struct api_field fields[] = {{"operation_name", "operationName"}, {NULL, NULL}};
    json_t *body = api_json_body(req, resp, true);
    const char *name, *id;

    if (!body)
        return;
    if (!api_json_check(body, fields, NULL, resp))
        goto out;
    name = json_string_value(api_json_field(body, &F_OPERATION_NAME));
    id = name ? strrchr(name, '/') : NULL;
    if (!id || strstr(name, "/operations/") == NULL) {
        api_error(resp, API_INVALID_ARGUMENT, "operationName must be "
                                              "\"models/MODEL/operations/ID\"");
        goto out;
    }
    video_reply(ctx, req, route_model(req), id + 1, resp);
out:
    json_decref(body);
}
