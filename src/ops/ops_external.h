/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_external.h - the external executor's half that the API calls: what a
 * user's worker reports about an operation it leased with
 * POST /v1/operations:claim (see docs/operations.md for the protocol).
 */
#ifndef KABAR_OPS_EXTERNAL_H
#define KABAR_OPS_EXTERNAL_H

#include <stddef.h>

#include <jansson.h>

#include "store/store_operations.h"

struct ops_engine;

/* External workers' reports (ops_external.c). body is the request's JSON
 * (worker, result, result_file, error_code, error_message); op is the
 * operation as read. Each validates body, writes a result file when one is
 * given, and makes the transition held by body's worker. Returns 0, or -1
 * with *status set to an HTTP status (400: bad body; 404; 409: the state or
 * lease changed; 500/503) and a message in err. */
int ops_external_complete(struct ops_engine *eng, const struct store_operation *op,
                          json_t *body, int *status, char *err, size_t errlen);
int ops_external_fail(struct ops_engine *eng, const struct store_operation *op, json_t *body,
                      int *status, char *err, size_t errlen);
int ops_external_require_action(struct ops_engine *eng, const struct store_operation *op,
                                json_t *body, int *status, char *err, size_t errlen);

#endif
