/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_api_events.c - POST /v1/events (api_events.c) through the test
 * transport (api_testreq.h): the handler defers its answer to the event
 * writer's commit (api_defer/api_resume), as it does under http.c. Status
 * codes, the JSON answer, the deliveries made, idempotency, and no write on
 * a bad request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api_testreq.h"

#define EVENT "{\"type\":\"batch.succeeded\",\"data\":{\"id\":\"batches/1\"}}"

static void test_publish_no_webhook(void **state)
{
    struct api_testenv *env = *state;
    int64_t n = api_test_count(env, "messages");
    json_t *r = api_test_call(env, "POST", "/v1/events", EVENT, 200);

    assert_int_equal(strncmp(json_string_value(json_object_get(r, "id")), "msg_", 4), 0);
    assert_string_equal(json_string_value(json_object_get(r, "type")), "batch.succeeded");
    assert_int_equal(json_integer_value(json_object_get(r, "deliveries")), 0);
    assert_true(json_is_false(json_object_get(r, "duplicate")));
    json_decref(r);
    assert_int_equal(api_test_count(env, "messages"), n + 1);
}

static void test_publish_makes_deliveries(void **state)
{
    struct api_testenv *env = *state;
    char id[64], sql[160];
    json_t *r;

    api_test_webhook(env, "[\"batch.failed\"]", id, sizeof id);
    /* Not subscribed: no delivery. */
    r = api_test_call(env, "POST", "/v1/events",
                      "{\"type\":\"batch.succeeded\",\"data\":{\"id\":\"batches/2\"}}", 200);
    assert_int_equal(json_integer_value(json_object_get(r, "deliveries")), 0);
    json_decref(r);
    r = api_test_call(env, "POST", "/v1/events",
                      "{\"type\":\"batch.failed\",\"data\":{\"id\":\"batches/2\"}}", 200);
    assert_int_equal(json_integer_value(json_object_get(r, "deliveries")), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM deliveries WHERE message_id = '%s' "
             "AND webhook_id = '%s'", json_string_value(json_object_get(r, "id")), id);
    assert_int_equal(testdb_int(&env->db, sql), 1);
    json_decref(r);
}

static void test_idempotency_key(void **state)
{
    struct api_testenv *env = *state;
    const char *headers[] = {"x-goog-api-key", API_TEST_KEY, "Idempotency-Key", "order-7", NULL};
    struct api_test_request req = {.method = "POST", .path = "/v1/events", .body = EVENT,
                                   .headers = headers};
    struct api_test_response a, b;
    int64_t n;

    api_test_send(env, &req, &a);
    assert_int_equal(a.status, 200);
    n = api_test_count(env, "messages");
    api_test_send(env, &req, &b);
    assert_int_equal(b.status, 200);
    assert_string_equal(json_string_value(json_object_get(b.json, "id")),
                        json_string_value(json_object_get(a.json, "id")));
    assert_true(json_is_true(json_object_get(b.json, "duplicate")));
    assert_int_equal(api_test_count(env, "messages"), n);
    json_decref(a.json);
    json_decref(b.json);
}

static void test_bad_input_writes_nothing(void **state)
{
    static const char *const bodies[] = {
        "",
        "{",
        "{\"data\":{\"id\":\"x\"}}",
        "{\"type\":\"no.such\",\"data\":{\"id\":\"x\"}}",
        "{\"type\":\"kabar.webhook.disabled\",\"data\":{\"id\":\"x\"}}",
        "{\"type\":\"batch.failed\",\"data\":[]}",
        "{\"type\":\"batch.failed\",\"data\":{}}",
        "{\"type\":\"batch.failed\",\"data\":{\"id\":\"\"}}",
        "{\"type\":\"batch.failed\",\"data\":{\"id\":\"x\"},\"extra\":1}",
        "{\"type\":\"batch.failed\",\"data\":{\"id\":\"x\"},\"webhook_config\":{\"uris\":[]}}",
    };
    struct api_testenv *env = *state;
    char long_key[300];
    int64_t messages = api_test_count(env, "messages");
    int64_t deliveries = api_test_count(env, "deliveries");

    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_t *e = api_test_call(env, "POST", "/v1/events", bodies[i], 400);

        assert_string_equal(api_test_error_status(e), "INVALID_ARGUMENT");
        json_decref(e);
    }
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    for (int i = 0; i < 2; i++) {
        const char *headers[] = {"x-goog-api-key", API_TEST_KEY, "Idempotency-Key",
                                 i == 0 ? "" : long_key, NULL};
        struct api_test_request r = {.method = "POST", .path = "/v1/events", .body = EVENT,
                                     .headers = headers};
        struct api_test_response out;

        api_test_send(env, &r, &out);
        assert_int_equal(out.status, 400);
        json_decref(out.json);
    }
    assert_int_equal(api_test_count(env, "messages"), messages);
    assert_int_equal(api_test_count(env, "deliveries"), deliveries);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_no_webhook),
        cmocka_unit_test(test_publish_makes_deliveries),
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_bad_input_writes_nothing),
    };

    return cmocka_run_group_tests(tests, api_test_setup, api_test_teardown);
}
