/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_error.h - Google-style JSON errors.
 *
 *   {"error":{"code":404,"message":"webhook wh_… not found","status":"NOT_FOUND"}}
 *
 * The canonical status names and their HTTP codes are one table
 * (API_ERROR_MAP) so that a handler names the status and the code follows.
 */
#ifndef KABAR_API_ERROR_H
#define KABAR_API_ERROR_H

#include "api/api.h"
#include "store/store.h"

#define API_ERROR_MAP(X)                         \
    X(INVALID_ARGUMENT, 400)                     \
    X(FAILED_PRECONDITION, 400)                  \
    X(UNAUTHENTICATED, 401)                      \
    X(PERMISSION_DENIED, 403)                    \
    X(NOT_FOUND, 404)                            \
    X(UNIMPLEMENTED, 405)                        \
    X(ALREADY_EXISTS, 409)                       \
    X(PAYLOAD_TOO_LARGE, 413)                    \
    X(RESOURCE_EXHAUSTED, 429)                   \
    X(INTERNAL, 500)                             \
    X(UNAVAILABLE, 503)

enum api_error {
#define X(name, code) API_##name,
    API_ERROR_MAP(X)
#undef X
};

/* Fill resp with an error of the given status and a printf-formatted
 * message. Replaces any body resp already had. */
void api_error(struct api_response *resp, enum api_error err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The error for a failed store call (NOT_FOUND is the caller's to phrase;
 * here it becomes a generic not found). */
void api_error_store(struct api_response *resp, enum store_rc rc);

#endif
