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

/* Bind and listen on addr (IPv4 or IPv6), before anything else of kabard
 * is made, so that a port in use stops the start before any file or key is
 * created. Returns the listening socket, or -1 with "cannot listen on
 * ADDRESS: reason" in err, ADDRESS being the numeric address that failed. */
int http_listen(const struct sockaddr *addr, char *err, size_t errlen);

/* What a client may hold (kabard --max-connections,
 * --max-connections-per-address, --request-timeout). */
struct http_limits {
    unsigned max_connections;           /* past it: a JSON 503 and close */
    unsigned max_per_address;           /* the same, per client address */
    unsigned request_timeout_ms;        /* a whole request within this */
};

/* Start serving on fd (from http_listen) with threads workers. ctx must
 * outlive the server. The server owns fd from here on, even on failure
 * (it is closed then). Returns NULL with a message in err on failure. */
struct http_server *http_start(const struct api_ctx *ctx, int fd, unsigned threads,
                               const struct http_limits *limits, char *err, size_t errlen);

/* Stop accepting, finish the requests in flight, free the server. */
void http_stop(struct http_server *srv);

#endif
