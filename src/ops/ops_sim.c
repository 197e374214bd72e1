/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_sim.c - the simulated executor (the default): it finishes each
 * operation KABAR_SIM_DELAY_MS after it was created (at once for a call
 * that waits for its result) with deterministic, echo-style output, and
 * writes real result files (a batch's JSONL, a video) that the returned
 * URIs serve. The model name steers the outcome, so tests can reach every
 * transition:
 *
 *   …kabar-sim-fail…             failed (error_code INTERNAL)
 *   …kabar-sim-requires-action…  an interaction stops at requires_action
 *   …kabar-sim-never…            never finishes (a batch then expires)
 *   anything else                succeeds
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/capbuf.h"
#include "common/log.h"
#include "ops/ops_engine.h"
#include "ops/ops_results.h"
#include "ops/ops_sim.h"

/* Operations one tick finishes at most; the rest are due at the next. */
#define SIM_BATCH 32
/* The echoed text is cut here: the output stays small whatever the input. */
#define SIM_TEXT_MAX 1000
#define SIM_DEPTH_MAX 16

static bool model_is(const struct store_operation *op, const char *name)
{
    return strstr(op->model, name) != NULL;
}

/* Append every "text" and "prompt" string under v (depth-first, in order)
 * to buf, separated by spaces, up to SIM_TEXT_MAX bytes. */
static void collect_text(json_t *v, int depth, char *buf, size_t *len)
{
    const char *key;
    json_t *child;
    size_t i;

    if (depth > SIM_DEPTH_MAX || *len >= SIM_TEXT_MAX)
        return;
    if (json_is_object(v)) {
        json_object_foreach(v, key, child) {
            if (json_is_string(child) && (strcmp(key, "text") == 0 || strcmp(key, "prompt") == 0)) {
                int n = snprintf(buf + *len, SIM_TEXT_MAX + 1 - *len, "%s%s", *len ? " " : "",
                                 json_string_value(child));
                *len = n < 0 ? *len : *len + (size_t)n > SIM_TEXT_MAX ? SIM_TEXT_MAX
                                                                       : *len + (size_t)n;
            } else {
                collect_text(child, depth + 1, buf, len);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
            collect_text(child, depth + 1, buf, len);
    }
}

void ops_sim_echo(json_t *v, char *out, size_t cap)
{
    char buf[SIM_TEXT_MAX + 1] = "";
    size_t len = 0;

    if (json_is_string(v))
        snprintf(buf, sizeof buf, "%s", json_string_value(v));
    else
        collect_text(v, 0, buf, &len);
    snprintf(out, cap, "echo: %s", buf);
}

json_t *ops_sim_generate_response(const char *model, json_t *request)
{
    char text[SIM_TEXT_MAX + 16];
    const char *m = strncmp(model, "models/", 7) == 0 ? model + 7 : model;

    ops_sim_echo(json_object_get(request, "contents"), text, sizeof text);
    return json_pack("{s:[{s:{s:s,s:[{s:s}]},s:s,s:i}],s:s}",
                     "candidates", "content", "role", "model", "parts", "text", text,
                     "finishReason", "STOP", "index", 0, "modelVersion", m);
}

/* One JSONL line per request into lines, and, for inline requests, one
 * inlined response each into inlined. Returns CAPBUF_OK, CAPBUF_TOO_BIG
 * (the results would pass OPS_RESULTS_FILE_MAX) or CAPBUF_NOMEM. */
static enum capbuf_rc batch_line(const char *model, json_t *req, json_t *metadata,
                                 struct capbuf *lines, json_t *inlined)
{
    json_t *resp = ops_sim_generate_response(model, req);
    json_t *line = json_object();
    char *text;
    enum capbuf_rc rc = CAPBUF_NOMEM;
    json_t *key = json_object_get(metadata, "key");

    if (!resp || !line)
        goto out;
    if (key)
        json_object_set(line, "key", key);
    json_object_set(line, "response", resp);
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        goto out;
    rc = capbuf_adds(lines, text);
    if (rc == CAPBUF_OK)
        rc = capbuf_add(lines, "\n", 1);
    free(text);
    if (rc == CAPBUF_OK && inlined) {
        json_t *item = json_pack("{s:O}", "response", resp);
        if (item && metadata)
            json_object_set(item, "metadata", metadata);
        json_array_append_new(inlined, item);
    }
out:
    json_decref(line);
    json_decref(resp);
    return rc;
}

/* The input file of a file-input batch: a result file of this project, or
 * one placed in DATA_DIR/files by the operator. Returns 0 with *data
 * malloc'd, or -1 with the failure's code and message in result. */
static int batch_input_file(struct ops_engine *eng, const struct store_operation *op,
                            const char *file_name, char **data, size_t *len, json_t *result)
{
    const char *name = strncmp(file_name, "files/", 6) == 0 ? file_name + 6 : file_name;
    char owner[IDS_MAX], err[256];
    struct store_operation src;

    /* A result file of another project is not this project's to read. */
    if (ops_results_op_id(name, owner, sizeof owner) == 0 && ops_kind_of_id(owner) >= 0) {
        if (store_operation_get(ops_engine_store(eng), op->project, owner, &src) != STORE_OK)
            goto not_found;
        store_operation_clear(&src);
    }
    switch (ops_results_read(ops_engine_data_dir(eng), name, OPS_RESULTS_FILE_MAX, data, len,
                             err, sizeof err)) {
    case 0:
        return 0;
    case 1:
        goto not_found;
    default:
        json_object_set_new(result, "error_code", json_string("INTERNAL"));
        json_object_set_new(result, "error_message", json_string(err));
        return -1;
    }
not_found:
    json_object_set_new(result, "error_code", json_string("NOT_FOUND"));
    json_object_set_new(result, "error_message", json_sprintf("input file %s not found", file_name));
    return -1;
}

/* Simulate batch op: write its JSONL and fill result. Returns the state to
 * move to (SUCCEEDED, or FAILED with the error in result). */
static enum store_op_state sim_batch(struct ops_engine *eng, const struct store_operation *op,
                                     json_t *request, json_t *result)
{
    json_t *requests = json_object_get(request, "requests");
    const char *file_name = json_string_value(json_object_get(request, "file_name"));
    json_t *inlined = requests ? json_array() : NULL;
    char *input = NULL, name[OPS_RESULTS_NAME_MAX], err[256];
    struct capbuf lines;
    size_t count = 0, ilen = 0;
    enum store_op_state to = STORE_OP_FAILED;
    enum capbuf_rc rc = CAPBUF_OK;

    capbuf_init(&lines, OPS_RESULTS_FILE_MAX);
    if (json_is_array(requests)) {
        size_t i;
        json_t *r;
        json_array_foreach(requests, i, r) {
            rc = batch_line(op->model, json_object_get(r, "request"),
                            json_object_get(r, "metadata"), &lines, inlined);
            if (rc != CAPBUF_OK)
                goto fail;
            count++;
        }
    } else if (file_name) {
        char *line, *save = NULL;
        if (batch_input_file(eng, op, file_name, &input, &ilen, result) != 0)
            goto out;
        for (line = strtok_r(input, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            json_t *in = json_loads(line, 0, NULL);
            if (!in)
                continue;   /* a blank or broken line gets no output line */
            rc = batch_line(op->model, json_object_get(in, "request"), in, &lines, NULL);
            json_decref(in);
            if (rc != CAPBUF_OK)
                goto fail;
            count++;
        }
    }
    if (ops_results_name(op->id, name, sizeof name) != 0 ||
        ops_results_write(ops_engine_data_dir(eng), name, capbuf_str(&lines),
                          capbuf_len(&lines), err, sizeof err) != 0) {
        log_error("cannot write batch results", "id=%s error=\"%s\"", op->id, err);
        json_object_set_new(result, "error_code", json_string("INTERNAL"));
        json_object_set_new(result, "error_message", json_string("cannot write the results"));
        goto out;
    }
    json_object_set_new(result, "file", json_string(name));
    json_object_set_new(result, "mime_type", json_string("application/jsonl"));
    json_object_set_new(result, "size_bytes", json_integer((json_int_t)capbuf_len(&lines)));
    json_object_set_new(result, "request_count", json_integer((json_int_t)count));
    if (inlined)
        json_object_set(result, "inlined_responses", inlined);
    to = STORE_OP_SUCCEEDED;
    goto out;
fail:
    json_object_set_new(result, "error_code", json_string("INTERNAL"));
    json_object_set_new(result, "error_message",
                        json_string(rc == CAPBUF_TOO_BIG ? "the results are larger than 256 MiB"
                                                         : "out of memory"));
out:
    json_decref(inlined);
    free(input);
    capbuf_free(&lines);
    return to;
}

int ops_sim_video_bytes(const char *text, char *out, size_t cap, size_t *len)
{
    /* An MP4 'ftyp' box (so the file is recognisably a video container)
     * and a 'free' box carrying the prompt: deterministic and small. */
    static const unsigned char ftyp[24] = {
        0, 0, 0, 24, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0,
        'i', 's', 'o', 'm', 'm', 'p', '4', '1',
    };
    size_t tlen = strlen(text), box = 8 + tlen;

    if (cap < sizeof ftyp + box || box > UINT32_MAX)
        return -1;
    memcpy(out, ftyp, sizeof ftyp);
    out[24] = (char)(box >> 24);
    out[25] = (char)(box >> 16);
    out[26] = (char)(box >> 8);
    out[27] = (char)box;
    memcpy(out + 28, "free", 4);
    memcpy(out + 32, text, tlen);
    *len = sizeof ftyp + box;
    return 0;
}

static enum store_op_state sim_video(struct ops_engine *eng, const struct store_operation *op,
                                     json_t *request, json_t *result)
{
    char text[SIM_TEXT_MAX + 64], bytes[SIM_TEXT_MAX + 128], name[OPS_RESULTS_NAME_MAX];
    char err[256];
    size_t len = 0;

    ops_sim_echo(json_object_get(request, "instances"), text, sizeof text);
    if (ops_sim_video_bytes(text, bytes, sizeof bytes, &len) != 0 ||
        ops_results_name(op->id, name, sizeof name) != 0 ||
        ops_results_write(ops_engine_data_dir(eng), name, bytes, len, err, sizeof err) != 0) {
        json_object_set_new(result, "error_code", json_string("INTERNAL"));
        json_object_set_new(result, "error_message", json_string("cannot write the video"));
        return STORE_OP_FAILED;
    }
    json_object_set_new(result, "file", json_string(name));
    json_object_set_new(result, "mime_type", json_string("video/mp4"));
    json_object_set_new(result, "size_bytes", json_integer((json_int_t)len));
    return STORE_OP_SUCCEEDED;
}

static enum store_op_state sim_interaction(const struct store_operation *op, json_t *request,
                                           json_t *result)
{
    char text[SIM_TEXT_MAX + 16];

    ops_sim_echo(json_object_get(request, "input"), text, sizeof text);
    if (model_is(op, OPS_SIM_MODEL_REQUIRES_ACTION)) {
        json_object_set_new(result, "steps",
                            json_pack("[{s:s,s:s,s:s,s:{s:s}}]", "type", "function_call",
                                      "id", "call_1", "name", "kabar_sim_action",
                                      "arguments", "input", text + 6));
        return STORE_OP_REQUIRES_ACTION;
    }
    json_object_set_new(result, "content", json_pack("[{s:s,s:s}]", "type", "text", "text", text));
    return STORE_OP_SUCCEEDED;
}

/* Finish one due operation. */
static void sim_finish(struct ops_engine *eng, const struct store_operation *op)
{
    json_t *request = op->request ? json_loads(op->request, 0, NULL) : NULL;
    json_t *result = json_object();
    enum store_op_state to;
    enum store_rc rc;
    const char *file;

    if (!result)
        goto out;
    if (model_is(op, OPS_SIM_MODEL_FAIL)) {
        to = STORE_OP_FAILED;
        json_object_set_new(result, "error_code", json_string("INTERNAL"));
        json_object_set_new(result, "error_message",
                            json_sprintf("simulated failure (model %s)", op->model));
    } else {
        switch (ops_kind_lookup(op->kind)) {
        case OPS_KIND_BATCH:
            to = sim_batch(eng, op, request, result);
            break;
        case OPS_KIND_VIDEO:
            to = sim_video(eng, op, request, result);
            break;
        default:
            to = sim_interaction(op, request, result);
            break;
        }
    }
    rc = ops_engine_finish(eng, op, to, NULL, result);
    file = json_string_value(json_object_get(result, "file"));
    if (rc != STORE_OK && file)
        ops_results_remove(ops_engine_data_dir(eng), file);   /* cancelled meanwhile */
    if (rc != STORE_OK && rc != STORE_CONFLICT)
        log_warn("cannot finish simulated operation", "id=%s error=\"%s\"", op->id,
                 store_strerror(rc));
out:
    json_decref(result);
    json_decref(request);
}

static int64_t sim_due_time(const struct ops_engine *eng, const struct store_operation *op,
                            bool background, int64_t now_us)
{
    if (model_is(op, OPS_SIM_MODEL_NEVER))
        return 0;
    /* A call that waits for its result is answered now, not after the
     * delay that stands in for a background job's run time. */
    return background ? now_us + ops_engine_sim_delay_us(eng) : now_us;
}

static void sim_tick(struct ops_engine *eng, int64_t now_us)
{
    struct store_operation ops[SIM_BATCH];
    size_t n = 0;

    if (store_operation_due(ops_engine_store(eng), now_us, SIM_BATCH, ops, &n) != STORE_OK)
        return;
    for (size_t i = 0; i < n; i++)
        sim_finish(eng, &ops[i]);
    store_operations_clear(ops, n);
    if (n == SIM_BATCH)
        ops_engine_wake(eng);   /* more may be due */
}

const struct ops_executor ops_executor_sim = {
    .name = "sim",
    .workers = false,
    .due_time = sim_due_time,
    .tick = sim_tick,
};
