/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_api_webhooks.c - the Webhook handlers (api_webhooks.c) and the policy
 * every request meets first (api_handle in api_router.c), through the test
 * transport (api_testreq.h) over a real store: status codes, JSON bodies,
 * and no write on a bad request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api_testreq.h"

#define WH_BODY "{\"name\":\"orders\",\"uri\":\"https://example.com/hook\"," \
                "\"subscribed_events\":[\"batch.failed\",\"batch.succeeded\"]}"

static void test_create_get_list(void **state)
{
    struct api_testenv *env = *state;
    json_t *w = api_test_call(env, "POST", "/v1/webhooks", WH_BODY, 200);
    char path[128];
    const char *id = json_string_value(json_object_get(w, "id"));
    json_t *got, *list, *events;

    assert_non_null(id);
    assert_int_equal(strncmp(id, "wh_", 3), 0);
    assert_string_equal(json_string_value(json_object_get(w, "name")), "orders");
    assert_string_equal(json_string_value(json_object_get(w, "state")), "enabled");
    assert_int_equal(strncmp(json_string_value(json_object_get(w, "new_signing_secret")),
                             "whsec_", 6), 0);
    /* The catalog's order, not the request's. */
    events = json_object_get(w, "subscribed_events");
    assert_int_equal(json_array_size(events), 2);
    assert_string_equal(json_string_value(json_array_get(events, 0)), "batch.succeeded");
    assert_string_equal(json_string_value(json_array_get(events, 1)), "batch.failed");

    snprintf(path, sizeof path, "/v1/webhooks/%s", id);
    got = api_test_call(env, "GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(got, "id")), id);
    assert_string_equal(json_string_value(json_object_get(got, "uri")), "https://example.com/hook");
    /* The secret is shown once, at creation. */
    assert_null(json_object_get(got, "new_signing_secret"));
    /* The same under /v1beta/. */
    json_decref(got);
    snprintf(path, sizeof path, "/v1beta/webhooks/%s", id);
    got = api_test_call(env, "GET", path, NULL, 200);
    json_decref(got);

    list = api_test_call(env, "GET", "/v1/webhooks", NULL, 200);
    assert_true(json_array_size(json_object_get(list, "webhooks")) >= 1);
    json_decref(list);
    json_decref(w);
}

/* Each bad body: 400 INVALID_ARGUMENT, and nothing written. */
static void test_create_bad_input_writes_nothing(void **state)
{
    static const char *const bodies[] = {
        "",
        "not json",
        "[]",
        "{\"uri\":\"https://example.com/h\"}",
        "{\"uri\":\"ftp://example.com/h\",\"subscribed_events\":[\"batch.failed\"]}",
        "{\"uri\":\"https://example.com/h\",\"subscribed_events\":[]}",
        "{\"uri\":\"https://example.com/h\",\"subscribed_events\":[\"no.such\"]}",
        "{\"uri\":\"https://example.com/h\",\"subscribed_events\":[\"batch.failed\"],"
        "\"colour\":\"red\"}",
        "{\"uri\":\"https://example.com/h\",\"subscribed_events\":[\"batch.failed\"],"
        "\"state\":\"sleepy\"}",
        "{\"uri\":7,\"subscribed_events\":[\"batch.failed\"]}",
    };
    struct api_testenv *env = *state;
    int64_t webhooks = api_test_count(env, "webhooks");
    int64_t secrets = api_test_count(env, "webhook_secrets");

    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_t *e = api_test_call(env, "POST", "/v1/webhooks", bodies[i], 400);

        assert_string_equal(api_test_error_status(e), "INVALID_ARGUMENT");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "error"),
                                                            "code")), 400);
        json_decref(e);
    }
    assert_int_equal(api_test_count(env, "webhooks"), webhooks);
    assert_int_equal(api_test_count(env, "webhook_secrets"), secrets);
}

static void test_update(void **state)
{
    struct api_testenv *env = *state;
    char id[64], path[128], sql[256], before[32], after[32];
    json_t *w, *e;

    api_test_webhook(env, "[\"batch.failed\"]", id, sizeof id);
    snprintf(path, sizeof path, "/v1/webhooks/%s", id);
    snprintf(sql, sizeof sql, "SELECT name || ' ' || uri || ' ' || update_time "
             "FROM webhooks WHERE id = '%s'", id);
    testdb_text(&env->db, sql, before, sizeof before);

    /* A mask naming an unknown field, or a bad value: 400, the row as it was. */
    snprintf(path, sizeof path, "/v1/webhooks/%s", id);
    {
        struct api_test_request r = {.method = "PATCH", .path = path,
                                     .body = "{\"name\":\"x\"}",
                                     .query = (const char *const[]){"update_mask", "colour",
                                                                    NULL}};
        struct api_test_response out;

        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 400);
        assert_string_equal(api_test_error_status(out.json), "INVALID_ARGUMENT");
        json_decref(out.json);
    }
    e = api_test_call(env, "PATCH", path, "{\"uri\":\"gopher://x\"}", 400);
    json_decref(e);
    testdb_text(&env->db, sql, after, sizeof after);
    assert_string_equal(after, before);

    w = api_test_call(env, "PATCH", path, "{\"name\":\"renamed\"}", 200);
    assert_string_equal(json_string_value(json_object_get(w, "name")), "renamed");
    json_decref(w);
    assert_int_equal(testdb_int(&env->db, "SELECT count(*) FROM webhooks WHERE name = 'renamed'"),
                     1);
}

static void test_delete(void **state)
{
    struct api_testenv *env = *state;
    char id[64], path[128];
    json_t *r;
    int64_t n;

    api_test_webhook(env, "[\"batch.failed\"]", id, sizeof id);
    n = api_test_count(env, "webhooks");
    snprintf(path, sizeof path, "/v1/webhooks/%s", id);
    r = api_test_call(env, "DELETE", path, NULL, 200);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    assert_int_equal(api_test_count(env, "webhooks"), n - 1);
    r = api_test_call(env, "GET", path, NULL, 404);
    assert_string_equal(api_test_error_status(r), "NOT_FOUND");
    json_decref(r);
    r = api_test_call(env, "DELETE", path, NULL, 404);
    json_decref(r);
    /* Not an id of this resource at all. */
    r = api_test_call(env, "GET", "/v1/webhooks/dlv_01ARZ3NDEKTSV4RRFFQ69G5FAV", NULL, 404);
    json_decref(r);
}

static void test_rotate(void **state)
{
    struct api_testenv *env = *state;
    char id[64], path[128], sql[128];
    json_t *r;

    api_test_webhook(env, "[\"batch.failed\"]", id, sizeof id);
    snprintf(path, sizeof path, "/v1/webhooks/%s:rotateSigningSecret", id);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM webhook_secrets WHERE webhook_id = '%s'", id);
    r = api_test_call(env, "POST", path, "{\"revocation_behavior\":\"later\"}", 400);
    json_decref(r);
    assert_int_equal(testdb_int(&env->db, sql), 1);
    r = api_test_call(env, "POST", path, "{}", 200);
    assert_int_equal(strncmp(json_string_value(json_object_get(r, "secret")), "whsec_", 6), 0);
    json_decref(r);
    assert_int_equal(testdb_int(&env->db, sql), 2);
}

/* The policy of api_handle(), before any handler. */
static void test_policy(void **state)
{
    struct api_testenv *env = *state;
    struct api_test_response out;
    int64_t n = api_test_count(env, "webhooks");

    {
        struct api_test_request r = {.method = "POST", .path = "/v1/webhooks", .body = WH_BODY,
                                     .no_key = true};
        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 401);
        assert_string_equal(api_test_error_status(out.json), "UNAUTHENTICATED");
        json_decref(out.json);
    }
    {
        struct api_test_request r = {.method = "POST", .path = "/v1/webhooks", .body = WH_BODY,
                                     .headers = (const char *const[]){"X-Goog-Api-Key",
                                                                      "kbr_not-a-key", NULL}};
        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 401);
        json_decref(out.json);
    }
    {
        /* The key as ?key=, and the header's name in any case. */
        struct api_test_request r = {.method = "GET", .path = "/v1/webhooks", .no_key = true,
                                     .query = (const char *const[]){"key", API_TEST_KEY, NULL}};
        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 200);
        json_decref(out.json);
    }
    {
        struct api_test_request r = {.method = "POST", .path = "/v1/webhooks", .body = NULL,
                                     .body_too_big = true};
        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 413);
        json_decref(out.json);
    }
    {
        struct api_test_request r = {.method = "PUT", .path = "/v1/webhooks"};
        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 405);
        assert_string_equal(out.allow, "GET, POST");
        json_decref(out.json);
    }
    {
        struct api_test_request r = {.method = "GET", .path = "/v2/webhooks"};
        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 404);
        json_decref(out.json);
    }
    {
        /* --role worker: keyed routes are not served, probes are. */
        struct api_test_request r = {.method = "POST", .path = "/v1/webhooks", .body = WH_BODY};
        struct api_test_request h = {.method = "GET", .path = "/healthz", .no_key = true};
        env->ctx.health_only = true;
        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 404);
        json_decref(out.json);
        api_test_send(env, &h, &out);
        assert_int_equal(out.status, 200);
        json_decref(out.json);
        env->ctx.health_only = false;
    }
    assert_int_equal(api_test_count(env, "webhooks"), n);
}

/* A web UI session instead of a key: the cookie and the CSRF header reach
 * auth through the transport. */
static void test_session(void **state)
{
    struct api_testenv *env = *state;
    struct api_test_request signin = {.method = "POST", .path = "/ui/signin", .no_key = true,
                                      .body = "{\"api_key\":\"" API_TEST_KEY "\"}"};
    struct api_test_response out;
    char token[128], csrf[128];
    const char *eq, *semi;
    int64_t n = api_test_count(env, "webhooks");

    api_test_send(env, &signin, &out);
    assert_int_equal(out.status, 200);
    snprintf(csrf, sizeof csrf, "%s", json_string_value(json_object_get(out.json, "csrf_token")));
    json_decref(out.json);
    eq = strchr(out.set_cookie, '=');
    semi = strchr(out.set_cookie, ';');
    assert_non_null(eq);
    assert_non_null(semi);
    snprintf(token, sizeof token, "%.*s", (int)(semi - eq - 1), eq + 1);
    {
        const char *cookies[] = {"kabar_session", token, NULL};
        const char *no_csrf[] = {"Accept", "application/json", NULL};
        const char *with_csrf[] = {"X-Kabar-CSRF", csrf, NULL};
        struct api_test_request list = {.method = "GET", .path = "/v1/webhooks",
                                        .cookies = cookies, .no_key = true};
        struct api_test_request post = {.method = "POST", .path = "/v1/webhooks",
                                        .body = WH_BODY, .cookies = cookies,
                                        .headers = no_csrf};

        api_test_send(env, &list, &out);
        assert_int_equal(out.status, 200);
        json_decref(out.json);
        /* A change without the CSRF header: 403, nothing written. */
        api_test_send(env, &post, &out);
        assert_int_equal(out.status, 403);
        json_decref(out.json);
        assert_int_equal(api_test_count(env, "webhooks"), n);
        post.headers = with_csrf;
        api_test_send(env, &post, &out);
        assert_int_equal(out.status, 200);
        json_decref(out.json);
        assert_int_equal(api_test_count(env, "webhooks"), n + 1);
    }
    {
        const char *cookies[] = {"kabar_session", "ses_not-a-session", NULL};
        struct api_test_request r = {.method = "GET", .path = "/v1/webhooks",
                                     .cookies = cookies, .no_key = true};

        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 401);
        json_decref(out.json);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_get_list),
        cmocka_unit_test(test_create_bad_input_writes_nothing),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_rotate),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_session),
    };

    return cmocka_run_group_tests(tests, api_test_setup, api_test_teardown);
}
