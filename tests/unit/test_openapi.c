/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_openapi.c - the OpenAPI description compiled into kabard against the
 * router's own table: every route the router serves is in the document with
 * its method, and every operation of the document is a route. A route added
 * without documenting it (or documented and never served) fails here, by
 * name. The document's validity and the shapes of real responses are
 * checked by tests/integration/openapi.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/api_router.h"

extern const char api_openapi_doc[];
extern const size_t api_openapi_doc_len;

#define PATH_MAX_LEN 256

/* The router's form of a document path: "/v1/webhooks/{id}:ping" becomes
 * "/v1/webhooks/ *:ping" (without the space) - each {name} is a "*". */
static void openapi_to_pattern(const char *path, char *out, size_t cap)
{
    size_t o = 0;

    for (const char *p = path; *p && o + 1 < cap; p++) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            assert_non_null(end);
            out[o++] = '*';
            p = end;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* The document's form of route i: "/v1/" + pattern for versioned routes. */
static void route_path(size_t i, char *method, char *out, size_t cap)
{
    const char *m, *pattern;
    bool versioned;

    api_router_route(i, &m, &pattern, &versioned);
    for (size_t k = 0; m[k] && k < 15; k++) {
        method[k] = (char)(m[k] | 0x20);        /* OpenAPI keys are lower case */
        method[k + 1] = '\0';
    }
    snprintf(out, cap, "%s%s", versioned ? "/v1/" : "", pattern);
}

static json_t *load_doc(void)
{
    json_error_t err;
    json_t *doc = json_loadb(api_openapi_doc, api_openapi_doc_len, 0, &err);

    if (doc == NULL)
        fail_msg("src/api/openapi.json does not parse: %s at line %d", err.text, err.line);
    return doc;
}

static void test_every_route_is_documented(void **state)
{
    json_t *doc = load_doc(), *paths = json_object_get(doc, "paths");
    size_t missing = 0;

    assert_non_null(paths);
    for (size_t i = 0; i < api_router_count(); i++) {
        char method[16], want[PATH_MAX_LEN], got[PATH_MAX_LEN];
        const char *key;
        json_t *item;
        bool found = false;

        route_path(i, method, want, sizeof want);
        json_object_foreach(paths, key, item) {
            openapi_to_pattern(key, got, sizeof got);
            if (strcmp(got, want) == 0 && json_object_get(item, method) != NULL)
                found = true;
        }
        if (!found) {
            print_error("route %s %s is served but not in src/api/openapi.json\n", method, want);
            missing++;
        }
    }
    json_decref(doc);
    assert_int_equal(missing, 0);
}

static void test_every_documented_operation_is_a_route(void **state)
{
    static const char *const methods[] = {"get", "post", "patch", "delete", "put"};
    json_t *doc = load_doc(), *paths = json_object_get(doc, "paths");
    const char *key;
    json_t *item;
    size_t extra = 0, ops = 0;

    json_object_foreach(paths, key, item) {
        char pattern[PATH_MAX_LEN];

        openapi_to_pattern(key, pattern, sizeof pattern);
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            bool found = false;

            if (json_object_get(item, methods[m]) == NULL)
                continue;
            ops++;
            for (size_t i = 0; i < api_router_count() && !found; i++) {
                char method[16], path[PATH_MAX_LEN];

                route_path(i, method, path, sizeof path);
                found = strcmp(method, methods[m]) == 0 && strcmp(path, pattern) == 0;
            }
            if (!found) {
                print_error("%s %s is documented but no route serves it\n", methods[m], key);
                extra++;
            }
        }
    }
    json_decref(doc);
    assert_int_equal(extra, 0);
    assert_int_equal(ops, api_router_count());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_is_documented),
        cmocka_unit_test(test_every_documented_operation_is_a_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
