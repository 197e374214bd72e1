/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_api_deliveries.c - the delivery log's handlers (api_deliveries.c)
 * through the test transport (api_testreq.h) over a real store: list, get,
 * search and retry, their status codes and JSON, and no write on a bad
 * request. No delivery thread runs, so deliveries stay as the tests set
 * them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api_testreq.h"

struct fixture {
    struct api_testenv env;
    char webhook[64];
    char delivery[64];
};

static int setup(void **state)
{
    static struct fixture f;
    json_t *r, *list;
    char path[128];

    if (api_testenv_setup(&f.env, "test_api_deliveries") != 0)
        return -1;
    api_test_webhook(&f.env, "[\"batch.failed\"]", f.webhook, sizeof f.webhook);
    r = api_test_call(&f.env, "POST", "/v1/events",
                      "{\"type\":\"batch.failed\",\"data\":{\"id\":\"batches/9\"}}", 200);
    json_decref(r);
    snprintf(path, sizeof path, "/v1/webhooks/%s/deliveries", f.webhook);
    list = api_test_call(&f.env, "GET", path, NULL, 200);
    snprintf(f.delivery, sizeof f.delivery, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(list,
                                                                              "deliveries"),
                                                              0), "id")));
    json_decref(list);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    api_testenv_teardown(&f->env);
    return 0;
}

static void test_list_and_get(void **state)
{
    struct fixture *f = *state;
    char path[128];
    json_t *d;

    assert_int_equal(strncmp(f->delivery, "dlv_", 4), 0);
    snprintf(path, sizeof path, "/v1/deliveries/%s", f->delivery);
    d = api_test_call(&f->env, "GET", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(d, "id")), f->delivery);
    assert_string_equal(json_string_value(json_object_get(d, "webhook_id")), f->webhook);
    assert_string_equal(json_string_value(json_object_get(d, "state")), "pending");
    assert_string_equal(json_string_value(json_object_get(d, "event_type")), "batch.failed");
    assert_int_equal(json_array_size(json_object_get(d, "attempts")), 0);
    /* The envelope that will be signed and sent. */
    assert_non_null(strstr(json_string_value(json_object_get(d, "payload")), "batches/9"));
    json_decref(d);
}

static void test_not_found(void **state)
{
    struct fixture *f = *state;
    json_t *e;

    e = api_test_call(&f->env, "GET", "/v1/deliveries/dlv_01ARZ3NDEKTSV4RRFFQ69G5FAV", NULL,
                      404);
    assert_string_equal(api_test_error_status(e), "NOT_FOUND");
    json_decref(e);
    e = api_test_call(&f->env, "GET", "/v1/webhooks/wh_01ARZ3NDEKTSV4RRFFQ69G5FAV/deliveries",
                      NULL, 404);
    json_decref(e);
    e = api_test_call(&f->env, "POST", "/v1/deliveries/dlv_01ARZ3NDEKTSV4RRFFQ69G5FAV:retry",
                      NULL, 404);
    json_decref(e);
}

static void test_search_filters(void **state)
{
    static const char *const bad[][2] = {
        {"state", "lost"},
        {"webhook", "not-an-id"},
        {"event_type", "no.such"},
        {"status_class", "6xx"},
        {"since", "yesterday"},
        {"page_token", "!!"},
        {"page_size", "-1"},
    };
    struct fixture *f = *state;
    struct api_test_response out;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *query[] = {bad[i][0], bad[i][1], NULL};
        struct api_test_request r = {.method = "GET", .path = "/v1/deliveries", .query = query};

        api_test_send(&f->env, &r, &out);
        if (out.status != 400)
            fail_msg("?%s=%s: status %d", bad[i][0], bad[i][1], out.status);
        assert_string_equal(api_test_error_status(out.json), "INVALID_ARGUMENT");
        json_decref(out.json);
    }
    {
        const char *query[] = {"webhook", f->webhook, "state", "pending", NULL};
        struct api_test_request r = {.method = "GET", .path = "/v1/deliveries", .query = query};

        api_test_send(&f->env, &r, &out);
        assert_int_equal(out.status, 200);
        assert_int_equal(json_array_size(json_object_get(out.json, "deliveries")), 1);
        json_decref(out.json);
    }
    {
        const char *query[] = {"state", "succeeded", NULL};
        struct api_test_request r = {.method = "GET", .path = "/v1/deliveries", .query = query};

        api_test_send(&f->env, &r, &out);
        assert_int_equal(out.status, 200);
        assert_int_equal(json_array_size(json_object_get(out.json, "deliveries")), 0);
        json_decref(out.json);
    }
}

static void test_retry(void **state)
{
    struct fixture *f = *state;
    char path[128], sql[160];
    json_t *r;

    snprintf(path, sizeof path, "/v1/deliveries/%s:retry", f->delivery);
    snprintf(sql, sizeof sql, "SELECT state FROM deliveries WHERE id = '%s'", f->delivery);
    /* A pending delivery is not retried again. */
    r = api_test_call(&f->env, "POST", path, NULL, 400);
    assert_string_equal(api_test_error_status(r), "FAILED_PRECONDITION");
    json_decref(r);
    /* A body with a member the method does not take: 400, nothing changes. */
    snprintf(sql, sizeof sql, "UPDATE deliveries SET state = 2 WHERE id = '%s'", f->delivery);
    testdb_exec(&f->env.db, sql);
    r = api_test_call(&f->env, "POST", path, "{\"now\":true}", 400);
    json_decref(r);
    snprintf(sql, sizeof sql, "SELECT state FROM deliveries WHERE id = '%s'", f->delivery);
    assert_int_equal(testdb_int(&f->env.db, sql), 2);
    /* A failed delivery is pending again. */
    r = api_test_call(&f->env, "POST", path, NULL, 200);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    assert_int_equal(testdb_int(&f->env.db, sql), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_and_get),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_search_filters),
        cmocka_unit_test(test_retry),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
