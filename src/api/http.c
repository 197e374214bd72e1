/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c - the libmicrohttpd transport: connection -> struct api_request ->
 * api_handle() -> struct api_response -> connection. The only file that
 * knows libmicrohttpd; it implements the transport table (api_transport.h)
 * that api_query(), api_header(), api_defer() and the rest call through.
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with the headers (we allocate per-request state), then once per chunk of
 * body, then a last time with no data, when we answer. Bodies past
 * API_MAX_BODY are drained, not stored, and answered with 413.
 *
 * A handler that calls api_defer() gets its connection suspended
 * (MHD_suspend_connection) when it returns; api_resume() resumes it, and
 * libmicrohttpd calls the access handler once more, which runs the
 * handler's finish function and answers. So a request waiting for its
 * commit holds no thread, and a few threads serve every connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api_error.h"
#include "api/api_router.h"
#include "api/api_transport.h"
#include "api/http.h"
#include "common/log.h"
#include "common/timeutil.h"

struct http_server {
    struct MHD_Daemon *daemon;
    const struct api_ctx *ctx;
    pthread_mutex_t mu;             /* guards suspended and every request's flags */
    pthread_cond_t idle;            /* signalled when suspended drops to 0 */
    size_t suspended;               /* deferred requests not yet resumed */
};

struct http_request_state {
    struct http_server *srv;
    struct MHD_Connection *conn;
    struct api_request req;         /* lives as long as the request: deferred answers */
    char *body;
    size_t len;
    size_t cap;
    int too_big;
    int64_t start_us;
    /* api_defer / api_resume; the flags under srv->mu. */
    api_finish_fn finish;
    void *finish_arg;
    bool deferred;                  /* the handler called api_defer */
    bool resumed;                   /* api_resume was called */
    bool suspended;                 /* the connection is suspended */
};

static void http_defer(struct api_request *req, api_finish_fn finish, void *arg)
{
    struct http_request_state *st =
        (struct http_request_state *)((char *)req - offsetof(struct http_request_state, req));

    st->finish = finish;
    st->finish_arg = arg;
    st->deferred = true;
}

static void http_resume(struct api_request *req)
{
    struct http_request_state *st =
        (struct http_request_state *)((char *)req - offsetof(struct http_request_state, req));
    struct http_server *srv = st->srv;

    pthread_mutex_lock(&srv->mu);
    st->resumed = true;
    if (st->suspended) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
        if (--srv->suspended == 0)
            pthread_cond_broadcast(&srv->idle);
    }
    pthread_mutex_unlock(&srv->mu);
}

static const char *http_query(const struct api_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static const char *http_header(const struct api_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static const char *http_cookie(const struct api_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

static void http_client_addr(const struct api_request *req, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    out[0] = '\0';
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)cap);
}

static const struct api_transport http_transport = {
    .query = http_query,
    .header = http_header,
    .cookie = http_cookie,
    .client_addr = http_client_addr,
    .defer = http_defer,
    .resume = http_resume,
};

/* Append a chunk of body, growing geometrically up to API_MAX_BODY. */
static void http_body_append(struct http_request_state *st, const char *data, size_t n)
{
    if (st->too_big)
        return;
    if (st->len + n > API_MAX_BODY) {
        st->too_big = 1;
        return;
    }
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        char *p;
        while (cap < st->len + n + 1)
            cap *= 2;
        if (cap > API_MAX_BODY + 1)
            cap = API_MAX_BODY + 1;
        p = realloc(st->body, cap);
        if (p == NULL) {
            st->too_big = 1;    /* answered as 413: we cannot hold it */
            return;
        }
        st->body = p;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    st->body[st->len] = '\0';
}

static enum MHD_Result http_send(struct MHD_Connection *conn, struct api_response *resp)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    size_t len = resp->body_len ? resp->body_len : resp->body ? strlen(resp->body) : 0;

    r = MHD_create_response_from_buffer(len, resp->body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(resp->body);
        resp->body = NULL;
        return MHD_NO;
    }
    resp->body = NULL;  /* now libmicrohttpd's */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    if (resp->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
    if (resp->cache_control)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, resp->cache_control);
    if (resp->set_cookie[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, resp->set_cookie);
    /* Every answer, the web UI's pages and the API's JSON alike: nothing
     * kabard serves may run a script that is not one of its own files, be
     * framed, or be sniffed into another type. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "img-src 'self'; connect-src 'self'; form-action 'self'; "
                            "base-uri 'none'; frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Log the request and queue its response. */
static enum MHD_Result http_answer(struct http_request_state *st, struct api_response *resp)
{
    if (resp->body == NULL && resp->status >= 500)
        api_error(resp, API_INTERNAL, "internal error");
    log_info("request", "method=%s path=\"%.300s\" status=%d latency_ms=%.3f project=%s",
             st->req.method, st->req.path, resp->status,
             (double)(timeutil_mono_us() - st->start_us) / 1000.0,
             st->req.project[0] ? st->req.project : "-");
    return http_send(st->conn, resp);
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
    struct http_server *srv = cls;
    struct http_request_state *st = *con_cls;
    struct api_response resp = {.status = 500};

    (void)version;
    if (st == NULL) {
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return MHD_NO;
        st->srv = srv;
        st->conn = conn;
        st->start_us = timeutil_mono_us();
        *con_cls = st;
        return MHD_YES;
    }
    if (st->deferred) {
        /* Called again after api_resume: the handler's second half. */
        st->deferred = false;
        st->finish(srv->ctx, &st->req, &resp, st->finish_arg);
        return http_answer(st, &resp);
    }
    if (*upload_data_size > 0) {
        http_body_append(st, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    memset(&st->req, 0, sizeof(st->req));
    st->req.method = method;
    st->req.path = url;
    st->req.body = st->len ? st->body : NULL;
    st->req.body_len = st->len;
    st->req.body_too_big = st->too_big;
    st->req.transport = &http_transport;
    st->req.conn = conn;
    api_handle(srv->ctx, &st->req, &resp);
    if (st->deferred) {
        bool now;

        pthread_mutex_lock(&srv->mu);
        now = st->resumed;
        if (!now) {
            MHD_suspend_connection(conn);
            st->suspended = true;
            srv->suspended++;
        }
        pthread_mutex_unlock(&srv->mu);
        if (!now)
            return MHD_YES;
        /* Already done (a fast commit): answer at once. */
        st->deferred = false;
        st->finish(srv->ctx, &st->req, &resp, st->finish_arg);
    }
    return http_answer(st, &resp);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_request_state *st = *con_cls;

    if (st) {
        api_request_end(&st->req);
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (msg[i] == '"')
            msg[i] = '\'';
    log_warn("http", "detail=\"%s\"", msg);
}

/* addr as "host:port" ("[v6]:port" for IPv6), numeric, into out. */
static void http_addr_text(const struct sockaddr *addr, socklen_t len, char *out, size_t cap)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];

    if (getnameinfo(addr, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "(an address of family %d)", addr->sa_family);
        return;
    }
    snprintf(out, cap, addr->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

int http_listen(const struct sockaddr *addr, char *err, size_t errlen)
{
    socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    char where[NI_MAXHOST + NI_MAXSERV + 8];
    const char *step = "socket";
    int fd, one = 1, saved;

    http_addr_text(addr, len, where, sizeof where);
    fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto fail;
    /* As libmicrohttpd would: a restart need not wait out TIME_WAIT, and
     * "[::]:8080" is IPv6 only, as "0.0.0.0:8080" is IPv4 only. */
    step = "setsockopt";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        goto fail;
    if (addr->sa_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
        goto fail;
    step = NULL;                        /* the usual failure needs no label */
    if (bind(fd, addr, len) != 0)
        goto fail;
    step = "listen";
    if (listen(fd, SOMAXCONN) != 0)
        goto fail;
    return fd;

fail:
    saved = errno;
    snprintf(err, errlen, "cannot listen on %s: %s%s%s%s", where, strerror(saved),
             step != NULL ? " (" : "", step != NULL ? step : "", step != NULL ? ")" : "");
    if (fd >= 0)
        close(fd);
    return -1;
}

struct http_server *http_start(const struct api_ctx *ctx, int fd, unsigned threads,
                               char *err, size_t errlen)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;

    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->ctx = ctx;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->idle, NULL);
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, http_access, srv,
                                   MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, srv,
                                   MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                   MHD_OPTION_THREAD_POOL_SIZE, threads,
                                   MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                                   MHD_OPTION_END);
    if (srv->daemon == NULL) {
        snprintf(err, errlen, "cannot start the HTTP server");
        pthread_cond_destroy(&srv->idle);
        pthread_mutex_destroy(&srv->mu);
        free(srv);
        return NULL;
    }
    return srv;
}

void http_stop(struct http_server *srv)
{
    if (srv == NULL)
        return;
    /* Stop accepting, then let the deferred requests come back (their
     * commits are under way: the event writer stops later): libmicrohttpd
     * must not be stopped with connections suspended. */
    MHD_quiesce_daemon(srv->daemon);
    pthread_mutex_lock(&srv->mu);
    while (srv->suspended > 0)
        pthread_cond_wait(&srv->idle, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    MHD_stop_daemon(srv->daemon);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
