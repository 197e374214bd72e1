/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_transport.h - what a transport implements so that the API can serve
 * its requests: the table of functions behind api_query(), api_header(),
 * api_cookie(), api_client_addr(), api_defer() and api_resume().
 *
 * As a redis connection carries its ConnectionType and connWrite() calls
 * through it, every struct api_request carries the table of the transport
 * that made it (req->transport) and its handle (req->conn); the wrappers of
 * api_transport.c call through the table, so no handler, nor the router, nor
 * auth, knows which transport runs. http.c implements it on libmicrohttpd;
 * the unit tests implement it over plain arrays (tests/unit/api_testreq.c).
 *
 * A transport fills in a request (method, path, body, transport, conn, and
 * body_too_big when it dropped a body past API_MAX_BODY), hands it to
 * api_handle() (api_router.h) and sends the response back, unless the
 * handler deferred it (api_defer): then the transport waits for
 * api_resume() and runs the finish function before sending.
 */
#ifndef KABAR_API_TRANSPORT_H
#define KABAR_API_TRANSPORT_H

#include <stddef.h>

#include "api/api.h"

struct api_transport {
    /* A query parameter or request header or cookie of req, or NULL; valid
     * until the request ends. Header names compare without case. */
    const char *(*query)(const struct api_request *req, const char *name);
    const char *(*header)(const struct api_request *req, const char *name);
    const char *(*cookie)(const struct api_request *req, const char *name);
    /* The client's address as text into out ("" when unknown). */
    void (*client_addr)(const struct api_request *req, char *out, size_t cap);
    /* api_defer: note that req answers later, through finish(arg). Called
     * on the thread that runs the handler, before it returns. */
    void (*defer)(struct api_request *req, api_finish_fn finish, void *arg);
    /* api_resume: the deferred work is done; from any thread, once. */
    void (*resume)(struct api_request *req);
};

#endif
