/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_error.c - Google-style JSON error bodies (see api_error.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "api/api_error.h"

static const struct {
    const char *status;
    int code;
} api_error_table[] = {
#define X(name, code) {#name, code},
    API_ERROR_MAP(X)
#undef X
};

void api_error(struct api_response *resp, enum api_error err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    json_t *obj;
    const char *status = api_error_table[err].status;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);   /* a cut message is still a message */
    va_end(ap);

    /* 413 is not one of Google's canonical codes; the status name stays
     * INVALID_ARGUMENT so clients that switch on it keep working. */
    if (err == API_PAYLOAD_TOO_LARGE)
        status = "INVALID_ARGUMENT";
    /* Likewise 405: gRPC-gateway answers an unknown method with
     * UNIMPLEMENTED. */

    /* 503: a resource is short (the database, the disk, connections);
     * nothing was done, and the client may try again shortly. */
    resp->retry_after = err == API_UNAVAILABLE ? 1 : 0;
    free(resp->body);
    resp->status = api_error_table[err].code;
    /* A message that quotes the client's bytes may not be UTF-8 (or be cut
     * inside a character by a %.100s), which jansson refuses: such bytes
     * become '?', so that the error still has its body. */
    obj = json_string(msg);
    if (obj == NULL)
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
    json_decref(obj);
    obj = json_pack("{s:{s:i,s:s,s:s}}", "error", "code", resp->status,
                    "message", msg, "status", status);
    resp->body = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
}

void api_error_store(struct api_response *resp, enum store_rc rc)
{
    switch (rc) {
    case STORE_NOT_FOUND:
        api_error(resp, API_NOT_FOUND, "not found");
        break;
    case STORE_CONFLICT:
        api_error(resp, API_ALREADY_EXISTS, "already exists");
        break;
    case STORE_UNAVAILABLE:
        api_error(resp, API_UNAVAILABLE, "the database is busy or unavailable; retry");
        break;
    default:
        api_error(resp, API_INTERNAL, "internal error");
        break;
    }
}
