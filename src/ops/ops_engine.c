/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_engine.c - operations: creation, transitions with their events, and
 * the engine thread (see ops_engine.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "core/events.h"
#include "deliver/dispatch.h"
#include "deliver/envelope.h"
#include "ops/ops_engine.h"
#include "ops/ops_results.h"

/* Operations one tick of expiry looks at; the rest wait for the next. */
#define OPS_SWEEP_BATCH 64
/* The thread's tick bounds: often enough for a short simulated delay,
 * rarely enough to cost nothing when idle. */
#define OPS_TICK_MIN_US 10000
#define OPS_TICK_MAX_US 250000
/* How often a waiter re-reads its operation without a wake-up. */
#define OPS_WAIT_POLL_US 50000

struct ops_engine {
    struct store *store;
    struct dispatch *dispatch;
    const struct ops_executor *executor;
    int64_t sim_delay_us;
    int64_t batch_expiry_us;
    char *data_dir;
    char *public_url;
    int64_t tick_us;

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;            /* the thread: new work, or stop */
    pthread_cond_t changed;         /* waiters: some operation moved */
    bool stopping;
    bool woken;
};

struct store *ops_engine_store(const struct ops_engine *eng)
{
    return eng->store;
}

const struct ops_executor *ops_engine_executor(const struct ops_engine *eng)
{
    return eng->executor;
}

const char *ops_engine_data_dir(const struct ops_engine *eng)
{
    return eng->data_dir;
}

int64_t ops_engine_sim_delay_us(const struct ops_engine *eng)
{
    return eng->sim_delay_us;
}

int ops_engine_file_uri(const struct ops_engine *eng, const char *name, char *out, size_t cap)
{
    size_t blen = strlen(eng->public_url);
    int n;

    /* "http://host/" and "http://host" name the same base. */
    while (blen > 0 && eng->public_url[blen - 1] == '/')
        blen--;
    n = snprintf(out, cap, "%.*s/v1/files/%s:download?alt=media", (int)blen, eng->public_url,
                 name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

void ops_engine_wake(struct ops_engine *eng)
{
    pthread_mutex_lock(&eng->lock);
    eng->woken = true;
    pthread_cond_signal(&eng->wake);
    pthread_mutex_unlock(&eng->lock);
}

enum store_rc ops_engine_submit(struct ops_engine *eng, struct store_operation *op,
                                bool background)
{
    int64_t now = timeutil_now_us();
    enum store_rc rc;

    op->state = STORE_OP_PENDING;
    op->create_time_us = now;
    op->update_time_us = now;
    op->lease_owner[0] = '\0';
    op->lease_expire_time_us = 0;
    op->due_time_us = eng->executor->due_time(eng, op, background, now);
    rc = store_operation_create(eng->store, op);
    if (rc == STORE_OK) {
        log_info("operation created", "id=%s project=%s kind=%s model=\"%s\" executor=%s",
                 op->id, op->project, op->kind, op->model, eng->executor->name);
        ops_engine_wake(eng);
    }
    return rc;
}

/* The event data of op's transition to state to, with result's details.
 * Returns a new object, or NULL when out of memory or a file URI does not
 * fit. */
static json_t *event_data(const struct ops_engine *eng, const struct store_operation *op,
                          enum store_op_state to, json_t *result)
{
    json_t *data = json_pack("{s:s}", "id", op->id);
    const char *file = json_string_value(json_object_get(result, "file"));
    char uri[OPS_URL_MAX], name[OPS_RESULTS_NAME_MAX + 8];

    if (!data)
        return NULL;
    if (to == STORE_OP_SUCCEEDED && file) {
        if (ops_engine_file_uri(eng, file, uri, sizeof uri) != 0)
            goto fail;
        json_object_set_new(data, "output_file_uri", json_string(uri));
        if (strcmp(op->kind, "video") == 0) {
            snprintf(name, sizeof name, "files/%s", file);
            json_object_set_new(data, "file_name", json_string(name));
        }
    }
    if (to == STORE_OP_FAILED) {
        json_t *code = json_object_get(result, "error_code");
        json_t *msg = json_object_get(result, "error_message");

        json_object_set_new(data, "error_code", code ? json_incref(code) : json_string("UNKNOWN"));
        json_object_set_new(data, "error_message", msg ? json_incref(msg) : json_string(""));
    }
    return data;
fail:
    json_decref(data);
    return NULL;
}

enum store_rc ops_engine_finish(struct ops_engine *eng, const struct store_operation *op,
                                enum store_op_state to, const char *owner, json_t *result)
{
    int kind = ops_kind_lookup(op->kind);
    struct store_op_transition t = {
        .project = op->project, .id = op->id, .from_state = op->state, .owner = owner,
        .to_state = to, .now_us = timeutil_now_us(),
    };
    struct store_message msg;
    const char *uris[STORE_URIS_MAX];
    json_t *data = NULL, *user_metadata = NULL;
    char *result_text = NULL, *payload = NULL;
    enum store_rc rc = STORE_ERROR;
    int event = OPS_EVENT_NONE;
    size_t len = 0;

    if (kind < 0 || !ops_state_allowed((enum ops_kind)kind, op->state, to, &event))
        return STORE_CONFLICT;
    if (result) {
        result_text = json_dumps(result, JSON_COMPACT);
        if (!result_text)
            return STORE_ERROR;
        t.result = result_text;
    }

    memset(&msg, 0, sizeof msg);
    if (event != OPS_EVENT_NONE) {
        const struct webhook_config *wc = op->webhook_config;

        for (size_t i = 0; wc && i < wc->nuris; i++)
            uris[msg.nuris++] = wc->uris[i];
        user_metadata = wc ? wc->user_metadata : NULL;
        data = event_data(eng, op, to, result);
        if (!data || ids_new("msg_", msg.id, sizeof msg.id) != 0)
            goto out;
        snprintf(msg.project, sizeof msg.project, "%s", op->project);
        snprintf(msg.type, sizeof msg.type, "%s", events_name((enum event_type)event));
        msg.type_mask = UINT32_C(1) << event;
        msg.create_time_us = t.now_us;
        msg.operation_id = op->id;
        msg.uris = msg.nuris ? uris : NULL;
        payload = envelope_build(msg.type, msg.create_time_us, data, user_metadata, &len);
        if (!payload)
            goto out;
        msg.payload = (const uint8_t *)payload;
        msg.payload_len = len;
    }

    rc = store_operation_transition(eng->store, &t, event != OPS_EVENT_NONE ? &msg : NULL);
    if (rc == STORE_OK) {
        log_info("operation finished", "id=%s project=%s kind=%s state=%s event=%s deliveries=%zu",
                 op->id, op->project, op->kind, ops_state_name(to),
                 event != OPS_EVENT_NONE ? msg.type : "-", msg.ndeliveries);
        if (msg.ndeliveries > 0 && eng->dispatch)
            dispatch_wake(eng->dispatch);
        pthread_mutex_lock(&eng->lock);
        pthread_cond_broadcast(&eng->changed);
        pthread_mutex_unlock(&eng->lock);
    }
out:
    free(payload);
    json_decref(data);
    free(result_text);
    return rc;
}

enum store_rc ops_engine_cancel(struct ops_engine *eng, const char *project, const char *id,
                                struct store_operation *out)
{
    struct store_operation op;
    enum store_rc rc = STORE_CONFLICT;

    /* A worker or the simulator may move it between our read and our
     * write; the compare-and-set then fails and we look again. */
    for (int tries = 0; tries < 5; tries++) {
        rc = store_operation_get(eng->store, project, id, &op);
        if (rc != STORE_OK)
            return rc;
        if (ops_state_final(op.state)) {
            rc = STORE_CONFLICT;
            if (out)
                *out = op;
            else
                store_operation_clear(&op);
            return rc;
        }
        rc = ops_engine_finish(eng, &op, STORE_OP_CANCELLED, NULL, NULL);
        store_operation_clear(&op);
        if (rc != STORE_CONFLICT)
            break;
    }
    if (rc == STORE_OK && out)
        rc = store_operation_get(eng->store, project, id, out);
    return rc;
}

enum store_rc ops_engine_wait(struct ops_engine *eng, const char *project, const char *id,
                              int64_t timeout_us, struct store_operation *out)
{
    int64_t deadline = timeutil_mono_us() + timeout_us;
    enum store_rc rc;

    for (;;) {
        struct timespec ts;
        int64_t until;

        rc = store_operation_get(eng->store, project, id, out);
        if (rc != STORE_OK || ops_state_final(out->state) || timeutil_mono_us() >= deadline)
            return rc;
        store_operation_clear(out);
        /* Woken by any transition, or after a short poll (a transition in
         * another process, a missed broadcast). */
        clock_gettime(CLOCK_REALTIME, &ts);
        until = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + OPS_WAIT_POLL_US;
        ts.tv_sec = (time_t)(until / 1000000);
        ts.tv_nsec = (long)(until % 1000000) * 1000;
        pthread_mutex_lock(&eng->lock);
        pthread_cond_timedwait(&eng->changed, &eng->lock, &ts);
        pthread_mutex_unlock(&eng->lock);
    }
}

/* Expire every batch older than the expiry that is not final yet. */
static void ops_engine_expire(struct ops_engine *eng, int64_t now_us)
{
    struct store_operation ops[OPS_SWEEP_BATCH];
    size_t n = 0;
    enum store_rc rc;

    rc = store_operation_stale(eng->store, ops_kind_name(OPS_KIND_BATCH),
                               now_us - eng->batch_expiry_us, OPS_SWEEP_BATCH, ops, &n);
    if (rc != STORE_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        rc = ops_engine_finish(eng, &ops[i], STORE_OP_EXPIRED, NULL, NULL);
        if (rc != STORE_OK && rc != STORE_CONFLICT)
            log_warn("cannot expire operation", "id=%s error=\"%s\"", ops[i].id,
                     store_strerror(rc));
    }
    store_operations_clear(ops, n);
}

static void *ops_engine_main(void *arg)
{
    struct ops_engine *eng = arg;

    pthread_mutex_lock(&eng->lock);
    while (!eng->stopping) {
        int64_t now;

        if (!eng->woken) {
            struct timespec ts;
            int64_t until;

            clock_gettime(CLOCK_REALTIME, &ts);
            until = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + eng->tick_us;
            ts.tv_sec = (time_t)(until / 1000000);
            ts.tv_nsec = (long)(until % 1000000) * 1000;
            pthread_cond_timedwait(&eng->wake, &eng->lock, &ts);
        }
        eng->woken = false;
        if (eng->stopping)
            break;
        pthread_mutex_unlock(&eng->lock);
        now = timeutil_now_us();
        ops_engine_expire(eng, now);
        eng->executor->tick(eng, now);
        pthread_mutex_lock(&eng->lock);
    }
    pthread_mutex_unlock(&eng->lock);
    return NULL;
}

struct ops_engine *ops_engine_start(struct store *st, struct dispatch *d,
                                    const struct ops_config *cfg, char *err, size_t errlen)
{
    struct ops_engine *eng = calloc(1, sizeof *eng);

    if (!eng) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    eng->store = st;
    eng->dispatch = d;
    eng->executor = cfg->executor ? cfg->executor : &ops_executor_sim;
    eng->sim_delay_us = cfg->sim_delay_us;
    eng->batch_expiry_us = cfg->batch_expiry_us;
    eng->tick_us = eng->sim_delay_us / 4;
    if (eng->tick_us < OPS_TICK_MIN_US)
        eng->tick_us = OPS_TICK_MIN_US;
    if (eng->tick_us > OPS_TICK_MAX_US)
        eng->tick_us = OPS_TICK_MAX_US;
    eng->data_dir = strdup(cfg->data_dir ? cfg->data_dir : ".");
    eng->public_url = strdup(cfg->public_url ? cfg->public_url : "");
    if (!eng->data_dir || !eng->public_url) {
        snprintf(err, errlen, "out of memory");
        goto fail_strings;
    }
    if (pthread_mutex_init(&eng->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create mutex");
        goto fail_strings;
    }
    if (pthread_cond_init(&eng->wake, NULL) != 0) {
        snprintf(err, errlen, "cannot create condition variable");
        goto fail_lock;
    }
    if (pthread_cond_init(&eng->changed, NULL) != 0) {
        snprintf(err, errlen, "cannot create condition variable");
        goto fail_wake;
    }
    if (pthread_create(&eng->thread, NULL, ops_engine_main, eng) != 0) {
        snprintf(err, errlen, "cannot start the operations thread");
        goto fail_changed;
    }
    log_info("operations engine started", "executor=%s sim_delay_ms=%lld batch_expiry_s=%lld",
             eng->executor->name, (long long)(eng->sim_delay_us / 1000),
             (long long)(eng->batch_expiry_us / 1000000));
    return eng;

fail_changed:
    pthread_cond_destroy(&eng->changed);
fail_wake:
    pthread_cond_destroy(&eng->wake);
fail_lock:
    pthread_mutex_destroy(&eng->lock);
fail_strings:
    free(eng->public_url);
    free(eng->data_dir);
    free(eng);
    return NULL;
}

void ops_engine_stop(struct ops_engine *eng)
{
    if (!eng)
        return;
    pthread_mutex_lock(&eng->lock);
    eng->stopping = true;
    pthread_cond_signal(&eng->wake);
    pthread_mutex_unlock(&eng->lock);
    pthread_join(eng->thread, NULL);
    pthread_cond_destroy(&eng->changed);
    pthread_cond_destroy(&eng->wake);
    pthread_mutex_destroy(&eng->lock);
    free(eng->public_url);
    free(eng->data_dir);
    free(eng);
}
