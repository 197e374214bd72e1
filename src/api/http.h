/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.h - kabard's HTTP/1.1 front end on libmicrohttpd.
 *
 * One epoll-driven listener with a pool of worker threads; keep-alive; a
 * cap on request bodies (API_MAX_BODY). Each request is routed, authenticated
 * and handed to its handler; one log line per request records the method,
 * path (never the query string, which may carry ?key=), status and latency.
 */
#ifndef KABAR_HTTP_H
#define KABAR_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "api/api.h"

struct http_server;

/* Start serving on addr with threads workers. ctx must outlive the server.
 * Returns NULL with a message in err on failure (e.g. the port is taken). */
struct http_server *http_start(const struct api_ctx *ctx, const struct sockaddr *addr,
                               unsigned threads, char *err, size_t errlen);

/* Stop accepting, finish the requests in flight, free the server. */
void http_stop(struct http_server *srv);

#endif
