/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_testreq.c - see api_testreq.h.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "api/api_error.h"
#include "api/api_router.h"
#include "api/api_transport.h"
#include "api/auth_key.h"
#include "api_testreq.h"
#include "common/secretbox.h"
#include "deliver/publish.h"
#include "store/store.h"

/* One request in flight: the transport's handle (req->conn). */
struct testreq {
    const struct api_test_request *r;
    const char *const *headers;
    pthread_mutex_t mu;
    pthread_cond_t resumed_cv;
    api_finish_fn finish;
    void *finish_arg;
    bool deferred;
    bool resumed;
};

/* Names compare without case, as libmicrohttpd's lookups do. */
static const char *testreq_find(const char *const *pairs, const char *name)
{
    for (size_t i = 0; pairs != NULL && pairs[i] != NULL; i += 2) {
        if (strcasecmp(pairs[i], name) == 0)
            return pairs[i + 1];
    }
    return NULL;
}

static const char *testreq_query(const struct api_request *req, const char *name)
{
    const struct testreq *t = req->conn;

    return testreq_find(t->r->query, name);
}

static const char *testreq_header(const struct api_request *req, const char *name)
{
    const struct testreq *t = req->conn;

    return testreq_find(t->headers, name);
}

static const char *testreq_cookie(const struct api_request *req, const char *name)
{
    const struct testreq *t = req->conn;

    return testreq_find(t->r->cookies, name);
}

static void testreq_client_addr(const struct api_request *req, char *out, size_t cap)
{
    (void)req;
    snprintf(out, cap, "192.0.2.1");
}

static void testreq_defer(struct api_request *req, api_finish_fn finish, void *arg)
{
    struct testreq *t = req->conn;

    t->finish = finish;
    t->finish_arg = arg;
    t->deferred = true;
}

/* From the event writer's thread, or from the handler itself. */
static void testreq_resume(struct api_request *req)
{
    struct testreq *t = req->conn;

    pthread_mutex_lock(&t->mu);
    t->resumed = true;
    pthread_cond_signal(&t->resumed_cv);
    pthread_mutex_unlock(&t->mu);
}

static const struct api_transport testreq_transport = {
    .query = testreq_query,
    .header = testreq_header,
    .cookie = testreq_cookie,
    .client_addr = testreq_client_addr,
    .defer = testreq_defer,
    .resume = testreq_resume,
};

int api_testenv_setup(struct api_testenv *env, const char *name)
{
    static const uint8_t master[32] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct store_apikey key = {.project = API_TEST_PROJECT, .source = STORE_KEY_CONFIG};

    memset(env, 0, sizeof *env);
    env->store = testdb_open(&env->db, name);
    if (env->store == NULL)
        return -1;
    auth_key_hash(API_TEST_KEY, strlen(API_TEST_KEY), key.hash);
    if (store_apikey_insert(env->store, &key) != STORE_OK)
        goto fail_store;
    env->box = secretbox_new(master);
    if (env->box == NULL)
        goto fail_store;
    /* No delivery thread: deliveries stay in the store, where the tests
     * look for them. */
    env->publish = publish_start(env->store, NULL, NULL);
    if (env->publish == NULL)
        goto fail_box;
    env->ctx.store = env->store;
    env->ctx.box = env->box;
    env->ctx.allow_private = true;
    env->ctx.publish = env->publish;
    return 0;

fail_box:
    secretbox_free(env->box);
fail_store:
    testdb_close(&env->db, env->store);
    return -1;
}

void api_testenv_teardown(struct api_testenv *env)
{
    publish_stop(env->publish);
    secretbox_free(env->box);
    testdb_close(&env->db, env->store);
}

int api_test_setup(void **state)
{
    static struct api_testenv env;

    if (api_testenv_setup(&env, "test_api") != 0)
        return -1;
    *state = &env;
    return 0;
}

int api_test_teardown(void **state)
{
    api_testenv_teardown(*state);
    return 0;
}

void api_test_send(struct api_testenv *env, const struct api_test_request *r,
                   struct api_test_response *out)
{
    const char *with_key[] = {"x-goog-api-key", API_TEST_KEY, NULL};
    struct testreq t = {.r = r, .headers = r->headers};
    struct api_request req = {0};
    struct api_response resp = {.status = 500};

    if (t.headers == NULL && !r->no_key)
        t.headers = with_key;
    pthread_mutex_init(&t.mu, NULL);
    pthread_cond_init(&t.resumed_cv, NULL);
    req.method = r->method;
    req.path = r->path;
    /* As http.c: an empty body is no body. */
    req.body_len = r->body ? strlen(r->body) : 0;
    req.body = req.body_len ? r->body : NULL;
    req.body_too_big = r->body_too_big;
    req.transport = &testreq_transport;
    req.conn = &t;
    api_handle(&env->ctx, &req, &resp);
    if (t.deferred) {
        pthread_mutex_lock(&t.mu);
        while (!t.resumed)
            pthread_cond_wait(&t.resumed_cv, &t.mu);
        pthread_mutex_unlock(&t.mu);
        t.finish(&env->ctx, &req, &resp, t.finish_arg);
    }
    /* As http.c answers a 5xx that a handler left without a body. */
    if (resp.body == NULL && resp.status >= 500)
        api_error(&resp, API_INTERNAL, "internal error");
    out->status = resp.status;
    out->allow = resp.allow;
    snprintf(out->set_cookie, sizeof out->set_cookie, "%s", resp.set_cookie);
    out->json = resp.body ? json_loads(resp.body, 0, NULL) : NULL;
    free(resp.body);
    api_request_end(&req);
    pthread_cond_destroy(&t.resumed_cv);
    pthread_mutex_destroy(&t.mu);
}

json_t *api_test_call(struct api_testenv *env, const char *method, const char *path,
                      const char *body, int status)
{
    struct api_test_request r = {.method = method, .path = path, .body = body};
    struct api_test_response out;

    api_test_send(env, &r, &out);
    if (out.status != status) {
        char *text = out.json ? json_dumps(out.json, JSON_COMPACT) : NULL;

        print_error("%s %s: status %d, expected %d: %s\n", method, path, out.status, status,
                    text ? text : "(no JSON body)");
        free(text);
        json_decref(out.json);
        fail();
    }
    assert_non_null(out.json);
    return out.json;
}

void api_test_webhook(struct api_testenv *env, const char *events, char *id, size_t cap)
{
    char body[512];
    json_t *w;

    snprintf(body, sizeof body, "{\"uri\":\"https://example.com/hook\","
             "\"subscribed_events\":%s}", events);
    w = api_test_call(env, "POST", "/v1/webhooks", body, 200);
    snprintf(id, cap, "%s", json_string_value(json_object_get(w, "id")));
    json_decref(w);
}

int64_t api_test_count(struct api_testenv *env, const char *table)
{
    char sql[128];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return testdb_int(&env->db, sql);
}

const char *api_test_error_status(const json_t *body)
{
    const char *s = json_string_value(json_object_get(json_object_get(body, "error"), "status"));

    return s ? s : "";
}
