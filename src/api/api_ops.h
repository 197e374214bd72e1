/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_ops.h - what the operation resources (interactions, batches, videos,
 * operations, files) share: webhook_config validation, loading an
 * operation of a kind with the project check, and the generic Operation
 * JSON of /v1/operations.
 */
#ifndef KABAR_API_OPS_H
#define KABAR_API_OPS_H

#include <jansson.h>

#include "api/api.h"
#include "core/webhook_config.h"
#include "ops/ops_state.h"
#include "store/store_operations.h"

#define API_OPS_SYNC_WAIT_US (INT64_C(60) * 1000000)

/* Parse and validate a webhook_config ({uris, user_metadata}, either
 * spelling) into *out (webhook_config_free; NULL when v is NULL or null):
 * the one place it is checked. Each uri is checked as a webhook's (SSRF
 * rules included); at most WEBHOOK_CONFIG_URIS_MAX; user_metadata an object
 * of at most WEBHOOK_CONFIG_USER_METADATA_MAX bytes of JSON. Returns 0, or
 * -1 after filling resp. */
int api_ops_webhook_config(const struct api_ctx *ctx, json_t *v, struct webhook_config **out,
                           struct api_response *resp);

/* A model name: 1 to STORE_OP_MODEL_MAX-1 characters of [A-Za-z0-9._-/].
 * Returns 0, or -1 after filling resp. */
int api_ops_model(const char *model, struct api_response *resp);

/* Load operation id of kind of the request's project into op (the caller
 * clears it). kind -1 accepts any kind. Returns 0, or -1 after filling resp
 * (404 for an id of another kind or project, as for one that does not
 * exist). */
int api_ops_load(const struct api_ctx *ctx, const struct api_request *req, int kind,
                 const char *id, struct store_operation *op, struct api_response *resp);

/* Fill resp for a failed store call about operation id. */
void api_ops_store_error(struct api_response *resp, enum store_rc rc, const char *what,
                         const char *id);

/* A new operation of kind for req's project into op (id, project, kind,
 * model); the request and webhook_config texts are the caller's to set.
 * Returns 0, or -1 after filling resp. */
int api_ops_new(const struct api_request *req, enum ops_kind kind, const char *model,
                struct store_operation *op, struct api_response *resp);

/* Submit op (ops_engine_submit) and fill resp on failure. Returns 0 or -1. */
int api_ops_submit(const struct api_ctx *ctx, struct store_operation *op, bool background,
                   struct api_response *resp);

/* What every create of an operation does: api_ops_new, then the
 * webhook_config member of holder (either spelling; api_ops_webhook_config)
 * into op, then as op's request the compact JSON of request with no
 * webhook_config member, then api_ops_submit. holder and request may be
 * the same object. Returns 0, or -1 after filling resp. */
int api_ops_create(const struct api_ctx *ctx, const struct api_request *req, enum ops_kind kind,
                   const char *model, json_t *holder, json_t *request, bool background,
                   struct store_operation *op, struct api_response *resp);

/* op's result parsed (a new reference; an empty object when none). */
json_t *api_ops_result(const struct store_operation *op);
/* The download URL of op's result file, or NULL when it has none (a new
 * reference). */
json_t *api_ops_output_uri(const struct api_ctx *ctx, json_t *result);
/* A google.rpc.Status {code, message} of a failed op's result. */
json_t *api_ops_status(json_t *result);

/* The generic Operation JSON (GET /v1/operations/{id}): id, kind, model,
 * state, done, times, webhook_config, result, output_file_uri, error,
 * lease, and with details the request and the deliveries of its events. */
json_t *api_ops_json(const struct api_ctx *ctx, const struct store_operation *op,
                     bool details);

#endif
