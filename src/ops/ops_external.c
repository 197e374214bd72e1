/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_external.c - the external executor: operations wait, PENDING, for
 * the user's own workers. A worker leases one with POST
 * /v1/operations:claim (the lease runs out unless it heartbeats, and the
 * operation can then be claimed again) and reports the outcome here; the
 * engine makes the transition and emits the event, exactly as for the
 * simulator. Only the holder of the lease may report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/capbuf.h"
#include "ops/ops_engine.h"
#include "ops/ops_external.h"
#include "ops/ops_results.h"

#define EXT_ERROR_CODE_MAX 64
#define EXT_ERROR_MESSAGE_MAX 1024

static int64_t ext_due_time(const struct ops_engine *eng, const struct store_operation *op,
                            bool background, int64_t now_us)
{
    return 0;   /* never the engine's: a worker claims it */
}

static void ext_tick(struct ops_engine *eng, int64_t now_us)
{
    /* Nothing to do: a lease that runs out makes its operation claimable
     * again by the claim query itself, with no state change to emit. */
}

const struct ops_executor ops_executor_external = {
    .name = "external",
    .workers = true,
    .due_time = ext_due_time,
    .tick = ext_tick,
};

#define FAIL(code, ...)                                  \
    do {                                                 \
        *status = (code);                                \
        snprintf(err, errlen, __VA_ARGS__);              \
        goto out;                                        \
    } while (0)

/* The worker named in body, which must hold op's lease. Returns it, or NULL
 * after setting *status and err. */
static const char *ext_worker(const struct store_operation *op, json_t *body, int *status,
                              char *err, size_t errlen)
{
    const char *worker = json_string_value(json_object_get(body, "worker"));

    if (!worker || !worker[0] || strlen(worker) >= STORE_OP_OWNER_MAX) {
        *status = 400;
        snprintf(err, errlen, "worker is required: the name the operation was claimed with");
        return NULL;
    }
    if (op->state != STORE_OP_RUNNING || strcmp(op->lease_owner, worker) != 0) {
        *status = 409;
        snprintf(err, errlen, "operation %s is not leased by worker \"%.100s\" (state %s)",
                 op->id, worker, ops_state_name(op->state));
        return NULL;
    }
    return worker;
}

/* Make the transition; map the store's answer to a status. */
static int ext_finish(struct ops_engine *eng, const struct store_operation *op,
                      enum store_op_state to, const char *worker, json_t *result, int *status,
                      char *err, size_t errlen)
{
    enum store_rc rc = ops_engine_finish(eng, op, to, worker, result);

    switch (rc) {
    case STORE_OK:
        return 0;
    case STORE_NOT_FOUND:
        *status = 404;
        snprintf(err, errlen, "operation %s not found", op->id);
        return -1;
    case STORE_CONFLICT:
        *status = 409;
        snprintf(err, errlen, "operation %s changed meanwhile (lease lost, cancelled or "
                              "finished)", op->id);
        return -1;
    default:
        *status = rc == STORE_UNAVAILABLE ? 503 : 500;
        snprintf(err, errlen, "%s", store_strerror(rc));
        return -1;
    }
}

/* Write the worker's result_file {data (base64), mime_type} of op; fill
 * result's file members. Returns 0, or -1 after setting *status and err. */
static int ext_write_file(struct ops_engine *eng, const struct store_operation *op, json_t *rf,
                          const char *def_mime, json_t *result, int *status, char *err,
                          size_t errlen)
{
    const char *data = json_string_value(json_object_get(rf, "data"));
    const char *mime = json_string_value(json_object_get(rf, "mime_type"));
    char name[OPS_RESULTS_NAME_MAX], werr[256];
    uint8_t *bytes = NULL;
    size_t dlen;
    int n, ret = -1;

    if (!data)
        FAIL(400, "result_file.data is required: the file's bytes in base64");
    dlen = strlen(data);
    bytes = malloc(dlen / 4 * 3 + 4);
    if (!bytes)
        FAIL(500, "out of memory");
    n = b64_decode(data, dlen, bytes, dlen / 4 * 3 + 4);
    if (n < 0)
        FAIL(400, "result_file.data is not valid base64");
    if (ops_results_name(op->id, name, sizeof name) != 0 ||
        ops_results_write(ops_engine_data_dir(eng), name, bytes, (size_t)n, werr,
                          sizeof werr) != 0)
        FAIL(500, "cannot write the result file");
    json_object_set_new(result, "file", json_string(name));
    json_object_set_new(result, "mime_type", json_string(mime ? mime : def_mime));
    json_object_set_new(result, "size_bytes", json_integer(n));
    ret = 0;
out:
    free(bytes);
    return ret;
}

/* A batch's responses array as JSONL, one line per element (each an
 * object, e.g. {"key": …, "response": {…}}). */
static int ext_write_responses(struct ops_engine *eng, const struct store_operation *op,
                               json_t *responses, json_t *result, int *status, char *err,
                               size_t errlen)
{
    char name[OPS_RESULTS_NAME_MAX], werr[256];
    struct capbuf lines;
    size_t i;
    json_t *r;
    int ret = -1;

    capbuf_init(&lines, OPS_RESULTS_FILE_MAX);
    json_array_foreach(responses, i, r) {
        char *t;
        enum capbuf_rc rc;

        if (!json_is_object(r))
            FAIL(400, "responses[%zu] must be an object", i);
        t = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!t)
            FAIL(500, "out of memory");
        rc = capbuf_adds(&lines, t);
        if (rc == CAPBUF_OK)
            rc = capbuf_add(&lines, "\n", 1);
        free(t);
        if (rc == CAPBUF_TOO_BIG)
            FAIL(400, "the responses are more than %d bytes of JSONL", OPS_RESULTS_FILE_MAX);
        if (rc != CAPBUF_OK)
            FAIL(500, "out of memory");
    }
    if (ops_results_name(op->id, name, sizeof name) != 0 ||
        ops_results_write(ops_engine_data_dir(eng), name, capbuf_str(&lines), capbuf_len(&lines),
                          werr, sizeof werr) != 0)
        FAIL(500, "cannot write the result file");
    json_object_set_new(result, "file", json_string(name));
    json_object_set_new(result, "mime_type", json_string("application/jsonl"));
    json_object_set_new(result, "size_bytes", json_integer((json_int_t)capbuf_len(&lines)));
    json_object_set_new(result, "request_count", json_integer((json_int_t)json_array_size(responses)));
    ret = 0;
out:
    capbuf_free(&lines);
    return ret;
}

int ops_external_complete(struct ops_engine *eng, const struct store_operation *op,
                          json_t *body, int *status, char *err, size_t errlen)
{
    const char *worker = ext_worker(op, body, status, err, errlen);
    json_t *given = json_object_get(body, "result");
    json_t *rf = json_object_get(body, "result_file");
    json_t *responses = json_object_get(body, "responses");
    json_t *result = json_object();
    int ret = -1, kind = ops_kind_lookup(op->kind);

    if (!worker)
        goto out;
    if (!result)
        FAIL(500, "out of memory");
    if (given && !json_is_object(given))
        FAIL(400, "result must be an object");
    if (rf && !json_is_object(rf))
        FAIL(400, "result_file must be an object {data, mime_type}");
    if (responses && !json_is_array(responses))
        FAIL(400, "responses must be an array");
    if (given)
        json_object_update(result, given);
    switch (kind) {
    case OPS_KIND_BATCH:
        if (responses) {
            json_t *req = op->request ? json_loads(op->request, 0, NULL) : NULL;
            bool inline_input = json_is_array(json_object_get(req, "requests"));

            json_decref(req);
            if (inline_input)
                json_object_set(result, "inlined_responses", responses);
            if (ext_write_responses(eng, op, responses, result, status, err, errlen) != 0)
                goto out;
        } else if (rf) {
            if (ext_write_file(eng, op, rf, "application/jsonl", result, status, err,
                               errlen) != 0)
                goto out;
        } else {
            FAIL(400, "a batch needs responses (one per request) or result_file");
        }
        break;
    case OPS_KIND_VIDEO:
        if (!rf)
            FAIL(400, "a video needs result_file {data, mime_type}");
        if (ext_write_file(eng, op, rf, "video/mp4", result, status, err, errlen) != 0)
            goto out;
        break;
    default:
        if (rf || responses)
            FAIL(400, "an interaction's result is result {content: […]} or {text: …}");
        if (json_is_string(json_object_get(result, "text")) &&
            !json_object_get(result, "content"))
            json_object_set_new(result, "content",
                                json_pack("[{s:s,s:O}]", "type", "text", "text",
                                          json_object_get(result, "text")));
        break;
    }
    ret = ext_finish(eng, op, STORE_OP_SUCCEEDED, worker, result, status, err, errlen);
    if (ret != 0 && json_string_value(json_object_get(result, "file")))
        ops_results_remove(ops_engine_data_dir(eng), json_string_value(json_object_get(result, "file")));
out:
    json_decref(result);
    return ret;
}

int ops_external_fail(struct ops_engine *eng, const struct store_operation *op, json_t *body,
                      int *status, char *err, size_t errlen)
{
    const char *worker = ext_worker(op, body, status, err, errlen);
    json_t *code = json_object_get(body, "error_code");
    json_t *msg = json_object_get(body, "error_message");
    json_t *result = NULL;
    int ret = -1;

    if (!worker)
        goto out;
    if (!json_is_string(code) || json_string_length(code) == 0 ||
        json_string_length(code) > EXT_ERROR_CODE_MAX)
        FAIL(400, "error_code is required: a string of 1 to %d characters", EXT_ERROR_CODE_MAX);
    if (msg && (!json_is_string(msg) || json_string_length(msg) > EXT_ERROR_MESSAGE_MAX))
        FAIL(400, "error_message must be a string of at most %d characters",
             EXT_ERROR_MESSAGE_MAX);
    result = json_pack("{s:O,s:s}", "error_code", code, "error_message",
                       msg ? json_string_value(msg) : "");
    if (!result)
        FAIL(500, "out of memory");
    ret = ext_finish(eng, op, STORE_OP_FAILED, worker, result, status, err, errlen);
out:
    json_decref(result);
    return ret;
}

int ops_external_require_action(struct ops_engine *eng, const struct store_operation *op,
                                json_t *body, int *status, char *err, size_t errlen)
{
    const char *worker = ext_worker(op, body, status, err, errlen);
    json_t *given = json_object_get(body, "result");
    json_t *result = NULL;
    int ret = -1;

    if (!worker)
        goto out;
    if (ops_kind_lookup(op->kind) != OPS_KIND_INTERACTION)
        FAIL(400, "only an interaction can require action; %s is a %s", op->id, op->kind);
    if (given && !json_is_object(given))
        FAIL(400, "result must be an object, e.g. {steps: [{type: \"function_call\", …}]}");
    result = given ? json_deep_copy(given) : json_object();
    if (!result)
        FAIL(500, "out of memory");
    ret = ext_finish(eng, op, STORE_OP_REQUIRES_ACTION, worker, result, status, err, errlen);
out:
    json_decref(result);
    return ret;
}
