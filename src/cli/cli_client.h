/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_client.h - the kabar tool's HTTP JSON client for the kabard API.
 *
 * One libcurl easy handle per run, reused so that "webhooks list --all"
 * keeps its connection. A request is a method, a path under the server URL
 * and an optional JSON body; the answer is the HTTP status and the parsed
 * JSON body. Bodies are capped (CLI_CLIENT_MAX_BODY) because a server, or
 * whatever answers at that address, can send anything.
 *
 * cli_client_request() is the transport; cli_call() adds kabar's
 * conventions on top (2xx must carry JSON, other statuses are Google error
 * objects) and prints the errors itself, so commands only handle success.
 */
#ifndef KABAR_CLI_CLIENT_H
#define KABAR_CLI_CLIENT_H

#include <jansson.h>

#include "cli/cli.h"

#define CLI_CLIENT_MAX_BODY (4u * 1024 * 1024)

#define CLI_CLIENT_ERRORS(X)                                        \
    X(OK, "success")                                                \
    X(NOMEM, "out of memory")                                       \
    X(TRANSPORT, "cannot reach the server")                         \
    X(TOOBIG, "response larger than 4 MiB")

enum cli_client_rc {
#define X(name, str) CLI_CLIENT_##name,
    CLI_CLIENT_ERRORS(X)
#undef X
};

struct cli_client;

struct cli_response {
    long status;        /* HTTP status, 0 when no answer came */
    json_t *json;       /* the body, or NULL when empty or not JSON; the
                         * caller's to json_decref() */
    bool empty;         /* the body had no bytes at all */
};

/* Make a client for server (a base URL; trailing slashes are ignored) that
 * sends api_key. Both strings must outlive the client. Returns NULL when out
 * of memory or when libcurl cannot make a handle. */
struct cli_client *cli_client_new(const char *server, const char *api_key);

/* Free a client; NULL is a no-op. */
void cli_client_free(struct cli_client *c);

/* Send method to server + path (already escaped, starting with "/"), with
 * body as JSON when it is not NULL. Returns CLI_CLIENT_OK when an HTTP
 * answer came back, whatever its status; resp is then filled in. On any
 * other result resp->json is NULL and cli_client_detail() says why. */
enum cli_client_rc cli_client_request(struct cli_client *c, const char *method,
                                      const char *path, const json_t *body,
                                      struct cli_response *resp);

/* cli_client_request() with one more header line, "Name: value", or none
 * when header is NULL. The caller has checked that it holds no control
 * character: a CR or LF would end the line and start another header. */
enum cli_client_rc cli_client_request_header(struct cli_client *c,
                                             const char *method,
                                             const char *path,
                                             const json_t *body,
                                             const char *header,
                                             struct cli_response *resp);

/* The libcurl message of the last failed request ("" when there is none).
 * Points into the client; valid until the next request. */
const char *cli_client_detail(const struct cli_client *c);

const char *cli_client_strerror(enum cli_client_rc rc);

/* Percent-encode s for use as one path segment or query value. Returns a
 * string that is the caller's to free(), or NULL when out of memory. */
char *cli_client_escape(const char *s);

/* Send a request with kabar's conventions, first deciding the server and
 * the key (cli_config.h) and making ctx->client when ctx has none yet. On a 2xx answer stores the JSON
 * body in *out (the caller's to json_decref(); "{}" for an empty body) and
 * returns CLI_EXIT_OK. Otherwise prints "kabar: ..." to stderr (and, with
 * --json, the server's error body to stdout), leaves *out NULL and returns
 * CLI_EXIT_FAIL. */
int cli_call(struct cli_ctx *ctx, const char *method, const char *path,
             const json_t *body, json_t **out);

/* cli_call() with one more header line (see cli_client_request_header()). */
int cli_call_header(struct cli_ctx *ctx, const char *method, const char *path,
                    const json_t *body, const char *header, json_t **out);

#endif
