/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_testreq.h - the handler tests' transport (src/api/api_transport.h)
 * and their world: a real store on a temporary database (store_testdb.h),
 * a secretbox, the event writer, an API key of project "p1", and requests
 * sent through api_handle() exactly as http.c sends them, without a socket.
 *
 * The transport holds a request's query parameters, headers and cookies as
 * NULL-terminated name/value arrays; names compare without case, as
 * libmicrohttpd's lookups do. A deferred answer (api_defer) is waited for on a
 * condition variable, then finished as http.c finishes it.
 */
#ifndef KABAR_TEST_API_TESTREQ_H
#define KABAR_TEST_API_TESTREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/api.h"
#include "store_testdb.h"

/* The key every request carries unless it says otherwise. */
#define API_TEST_KEY "kbr_test-key-of-project-p1"
#define API_TEST_PROJECT "p1"

struct api_testenv {
    struct testdb db;
    struct store *store;
    struct secretbox *box;
    struct publish *publish;
    struct api_ctx ctx;
};

struct api_test_request {
    const char *method;
    const char *path;
    const char *body;               /* NULL: none */
    const char *const *query;       /* name, value, ..., NULL; or NULL */
    /* name, value, ..., NULL; NULL: the test key alone (unless no_key) */
    const char *const *headers;
    const char *const *cookies;     /* name, value, ..., NULL; or NULL */
    bool no_key;                    /* send no x-goog-api-key header */
    bool body_too_big;              /* as a transport that dropped the body */
};

struct api_test_response {
    int status;
    json_t *json;                   /* the body parsed, or NULL; the caller's */
    const char *allow;              /* the Allow header, or NULL */
    char set_cookie[256];           /* the Set-Cookie header, or "" */
};

/* Make env (name labels its database) or tear it down. */
int api_testenv_setup(struct api_testenv *env, const char *name);
void api_testenv_teardown(struct api_testenv *env);

/* cmocka group setup and teardown for a test program that needs nothing
 * more than one env: *state is the env. */
int api_test_setup(void **state);
int api_test_teardown(void **state);

/* Send r through api_handle() and wait for its answer. */
void api_test_send(struct api_testenv *env, const struct api_test_request *r,
                   struct api_test_response *out);

/* Send method path body with the test key; assert the status; return the
 * JSON body (the caller's to json_decref()). */
json_t *api_test_call(struct api_testenv *env, const char *method, const char *path,
                      const char *body, int status);

/* Create an enabled webhook to https://example.com/hook subscribed to
 * events (a JSON array's text); its id into id. */
void api_test_webhook(struct api_testenv *env, const char *events, char *id, size_t cap);

/* SELECT count(*) FROM table, below the interface. */
int64_t api_test_count(struct api_testenv *env, const char *table);

/* The Google error status name of an error body ("INVALID_ARGUMENT"). */
const char *api_test_error_status(const json_t *body);

#endif
