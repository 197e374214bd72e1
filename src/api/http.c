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
#define _GNU_SOURCE                     /* accept4, pipe2 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api_error.h"
#include "api/api_router.h"
#include "api/api_transport.h"
#include "api/http.h"
#include "common/capbuf.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"

struct http_conn;

struct http_server {
    struct MHD_Daemon *daemon;
    const struct api_ctx *ctx;
    pthread_mutex_t mu;             /* guards the three below and every request's flags */
    pthread_cond_t idle;            /* signalled when handling and waiting are 0 */
    size_t handling;                /* requests in api_handle */
    size_t waiting;                 /* suspended requests whose finish has not run */
    bool draining;                  /* http_stop: no request enters api_handle */
    /* The connection guard (below http_stop's neighbours). */
    struct http_limits limits;
    int listen_fd;
    int wake[2];                    /* a byte in wake[1] stops the accept thread */
    pthread_t acceptor, reaper;
    pthread_mutex_t gmu;            /* guards everything below */
    pthread_cond_t gcond;           /* wakes the reaper */
    bool stopping;
    struct http_conn *conns;        /* every admitted connection */
    size_t nconns;
    struct http_conn **pending;     /* by fd: admitted, not yet started by libmicrohttpd */
    size_t npending;
    unsigned long long refused, accept_failed;  /* since the reaper's last log line */
};

static void http_guard_busy(struct http_server *srv, struct MHD_Connection *conn, bool busy);
static bool http_request_strict(struct http_server *srv, struct MHD_Connection *conn,
                                struct api_response *resp);

struct http_request_state {
    struct http_server *srv;
    struct MHD_Connection *conn;
    struct api_request req;         /* lives as long as the request: deferred answers */
    struct capbuf body;             /* capped at API_MAX_BODY */
    bool too_big;                   /* past the cap: answered 413 */
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
    }
    pthread_mutex_unlock(&srv->mu);
}

/* One of srv's counts drops: http_stop may be waiting for both to be 0. */
static void http_count_down(struct http_server *srv, size_t *count)
{
    pthread_mutex_lock(&srv->mu);
    if (--*count == 0 && srv->handling == 0 && srv->waiting == 0)
        pthread_cond_broadcast(&srv->idle);
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

/* Append a chunk of body; past API_MAX_BODY (or out of memory to hold
 * it) the body is dropped and the request answered 413. */
static void http_body_append(struct http_request_state *st, const char *data, size_t n)
{
    if (!st->too_big && capbuf_add(&st->body, data, n) != CAPBUF_OK)
        st->too_big = true;
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
    if (resp->retry_after > 0) {
        char secs[16];

        snprintf(secs, sizeof secs, "%d", resp->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
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
    bool draining, wait;

    (void)version;
    if (st == NULL) {
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return MHD_NO;
        capbuf_init(&st->body, API_MAX_BODY);
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
        http_count_down(srv, &srv->waiting);
        return http_answer(st, &resp);
    }
    if (*upload_data_size > 0) {
        http_body_append(st, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    http_guard_busy(srv, conn, true);
    if (!http_request_strict(srv, conn, &resp)) {
        memset(&st->req, 0, sizeof(st->req));
        st->req.method = method;
        st->req.path = url;
        return http_answer(st, &resp);
    }
    memset(&st->req, 0, sizeof(st->req));
    st->req.method = method;
    st->req.path = url;
    st->req.body = capbuf_len(&st->body) ? capbuf_str(&st->body) : NULL;
    st->req.body_len = capbuf_len(&st->body);
    st->req.body_too_big = st->too_big;
    st->req.transport = &http_transport;
    st->req.conn = conn;
    /* http_stop waits for every request in a handler: one that defers
     * must be suspended, and resumed, before libmicrohttpd stops. Once it
     * waits, a request that comes on a kept-alive connection is refused. */
    pthread_mutex_lock(&srv->mu);
    draining = srv->draining;
    if (!draining)
        srv->handling++;
    pthread_mutex_unlock(&srv->mu);
    if (draining) {
        api_error(&resp, API_UNAVAILABLE, "the server is shutting down");
        return http_answer(st, &resp);
    }
    api_handle(srv->ctx, &st->req, &resp);
    pthread_mutex_lock(&srv->mu);
    wait = st->deferred && !st->resumed;
    if (wait) {
        MHD_suspend_connection(conn);
        st->suspended = true;
        srv->waiting++;
    }
    pthread_mutex_unlock(&srv->mu);
    if (!wait && st->deferred) {
        /* Already done (a fast commit): answer at once. */
        st->deferred = false;
        st->finish(srv->ctx, &st->req, &resp, st->finish_arg);
    }
    http_count_down(srv, &srv->handling);
    if (wait)
        return MHD_YES;
    return http_answer(st, &resp);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_request_state *st = *con_cls;

    http_guard_busy(cls, conn, false);
    if (st && st->deferred) {
        /* Resumed, but the connection ended before its answer: the
         * handler's second half still runs, to free what it holds. */
        struct http_server *srv = cls;
        struct api_response resp = {.status = 500};

        st->deferred = false;
        st->finish(srv->ctx, &st->req, &resp, st->finish_arg);
        free(resp.body);
        http_count_down(srv, &srv->waiting);
    }
    if (st) {
        api_request_end(&st->req);
        capbuf_free(&st->body);
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

/*
 * The connection guard: kabard accepts connections itself and hands them to
 * libmicrohttpd (MHD_add_connection), so that it can
 *   - refuse a connection past --max-connections, or past
 *     --max-connections-per-address for its client address, with a JSON 503
 *     instead of a silent close;
 *   - give every connection a deadline: a whole request (headers and body)
 *     within --request-timeout of the connection being ready for one (its
 *     accept, or the end of its previous answer). libmicrohttpd's own timeout
 *     is one of inactivity, which a client sending a byte a second never
 *     meets; the guard's reaper thread shuts such a connection down;
 *   - close idle keep-alive connections early (after a second) when
 *     connections are scarce (three quarters of the limit in use).
 * A connection whose request is complete is "busy" until its answer is sent,
 * however long its handler or its commit takes: the deadline is the client's.
 * The guard shuts a socket down through a dup() of it, which no other
 * connection can get while the guard holds it, so a reaped socket is always
 * the right one; libmicrohttpd then sees the end of the stream and closes.
 */
struct http_conn {
    struct http_conn *prev, *next;
    int own;                            /* our dup of the socket, taken in the upper
                                         * half of the descriptors: the sockets
                                         * libmicrohttpd gets stay consecutive,
                                         * and it spreads them over its threads
                                         * by their number */
    uint8_t addr[16];                   /* client address, IPv4 in the first 4 */
    int64_t since_us;                   /* ready for a request since */
    bool busy;                          /* a whole request is in, its answer under way */
    bool closing;                       /* shut down by the reaper */
    bool bad_escape;                    /* the request's path or query: %00 or not UTF-8 */
};

/* Extract the comparable bytes of a client address. */
static void http_guard_addr(const struct sockaddr *sa, uint8_t out[16])
{
    memset(out, 0, 16);
    if (sa->sa_family == AF_INET)
        memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    else if (sa->sa_family == AF_INET6)
        memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
}

static void http_guard_unlink(struct http_server *srv, struct http_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    atomic_fetch_sub(&metrics.http_connections_open, 1);
    close(c->own);
    free(c);
}

/* Answer a refused connection with a JSON 503 and close it. The socket is
 * fresh: a few hundred bytes always fit in its send buffer. */
static void http_guard_refuse(int fd, const char *why)
{
    struct api_response resp = {0};
    char head[256], drain[4096];
    int n;

    api_error(&resp, API_UNAVAILABLE, "%s; retry later", why);
    n = snprintf(head, sizeof head,
                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
                 resp.body ? strlen(resp.body) : 0);
    /* What the client already sent is read first: closing a socket with
     * unread data resets it, and the client might lose the answer. At most
     * 64 KiB: a client that keeps sending must not hold the accept thread. */
    for (int i = 0; i < 16 && recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0; i++)
        ;
    if (send(fd, head, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n && resp.body)
        (void)send(fd, resp.body, strlen(resp.body), MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    close(fd);
    free(resp.body);
}

/* Take in one accepted socket: refuse it, or track it and give it to
 * libmicrohttpd. */
static void http_guard_admit(struct http_server *srv, int fd, const struct sockaddr *sa,
                             socklen_t len)
{
    struct http_conn *c = NULL;
    const char *why = NULL;
    uint8_t addr[16];
    unsigned same = 0;

    http_guard_addr(sa, addr);
    pthread_mutex_lock(&srv->gmu);
    if ((size_t)fd < srv->npending && srv->pending[fd] != NULL) {
        /* A connection libmicrohttpd dropped before it started: its number
         * is free again, so its entry is stale. */
        http_guard_unlink(srv, srv->pending[fd]);
        srv->pending[fd] = NULL;
    }
    for (struct http_conn *o = srv->conns; o != NULL; o = o->next)
        same += memcmp(o->addr, addr, 16) == 0;
    if (srv->nconns >= srv->limits.max_connections)
        why = "the server is at its connection limit";
    else if (same >= srv->limits.max_per_address)
        why = "too many connections from this address";
    else if ((size_t)fd >= srv->npending || (c = calloc(1, sizeof *c)) == NULL)
        why = "the server is out of resources";
    else if ((c->own = fcntl(fd, F_DUPFD_CLOEXEC, (int)(srv->npending / 2))) < 0 &&
             (c->own = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        free(c);
        c = NULL;
        why = "the server is out of file descriptors";
    }
    if (why != NULL) {
        srv->refused++;
        atomic_fetch_add(&metrics.http_connections_refused, 1);
        pthread_mutex_unlock(&srv->gmu);
        http_guard_refuse(fd, why);
        return;
    }
    memcpy(c->addr, addr, 16);
    c->since_us = timeutil_mono_us();
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    srv->nconns++;
    atomic_fetch_add(&metrics.http_connections_open, 1);
    srv->pending[fd] = c;
    if (srv->nconns * 4 >= srv->limits.max_connections * 3)
        pthread_cond_signal(&srv->gcond);       /* scarce: reap idle ones now */
    pthread_mutex_unlock(&srv->gmu);
    if (MHD_add_connection(srv->daemon, fd, sa, len) != MHD_YES) {
        /* libmicrohttpd closed fd; drop the entry unless it started. */
        pthread_mutex_lock(&srv->gmu);
        if (srv->pending[fd] == c) {
            srv->pending[fd] = NULL;
            http_guard_unlink(srv, c);
        }
        pthread_mutex_unlock(&srv->gmu);
    }
}

static void *http_guard_accept(void *arg)
{
    struct http_server *srv = arg;
    struct pollfd p[2] = {{.fd = srv->wake[0], .events = POLLIN},
                          {.fd = srv->listen_fd, .events = POLLIN}};
    bool backoff = false;

    for (;;) {
        /* After an accept failed for want of a descriptor or memory the
         * connection stays queued and the listener readable: for a while,
         * wait on the wake pipe alone, or poll would return at once and
         * this thread spin. */
        int n = poll(p, backoff ? 1 : 2, backoff ? 100 : -1);

        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && p[0].revents)
            break;
        backoff = false;
        for (int i = 0; i < 64; i++) {
            struct sockaddr_storage ss;
            socklen_t len = sizeof ss;
            int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);

            if (fd >= 0) {
                http_guard_admit(srv, fd, (struct sockaddr *)&ss, len);
                continue;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                pthread_mutex_lock(&srv->gmu);
                srv->accept_failed++;
                pthread_mutex_unlock(&srv->gmu);
                backoff = true;
            }
            break;                      /* EAGAIN, or backing off */
        }
    }
    return NULL;
}

/* The reaper: every quarter of the deadline (at most a second), shut down
 * the connections past their deadline and, when connections are scarce,
 * those idle for a second or more. One log line for what it did. */
static void *http_guard_reap(void *arg)
{
    struct http_server *srv = arg;
    int64_t deadline = (int64_t)srv->limits.request_timeout_ms * 1000;
    int64_t tick = deadline / 4 < 1000000 ? deadline / 4 : 1000000;
    int64_t scarce_idle = deadline < 1000000 ? deadline : 1000000;

    pthread_mutex_lock(&srv->gmu);
    while (!srv->stopping) {
        struct timespec ts;
        unsigned long long slow = 0, idle = 0, refused, failed;
        bool scarce;
        int64_t now;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(tick / 1000000);
        ts.tv_nsec += (long)(tick % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->gcond, &srv->gmu, &ts);
        now = timeutil_mono_us();
        scarce = srv->nconns * 4 >= srv->limits.max_connections * 3;
        for (struct http_conn *c = srv->conns; c != NULL; c = c->next) {
            if (c->busy || c->closing)
                continue;
            if (now - c->since_us >= deadline)
                slow++;
            else if (scarce && now - c->since_us >= scarce_idle)
                idle++;
            else
                continue;
            shutdown(c->own, SHUT_RDWR);
            c->closing = true;
        }
        refused = srv->refused;
        failed = srv->accept_failed;
        srv->refused = srv->accept_failed = 0;
        atomic_fetch_add(&metrics.http_connections_past_deadline, slow);
        atomic_fetch_add(&metrics.http_connections_idle_closed, idle);
        if (slow + idle + refused + failed > 0) {
            size_t open = srv->nconns;

            pthread_mutex_unlock(&srv->gmu);
            log_warn("connections shed", "past_deadline=%llu idle_closed=%llu refused=%llu "
                     "accept_failed=%llu open=%zu", slow, idle, refused, failed, open);
            pthread_mutex_lock(&srv->gmu);
        }
    }
    pthread_mutex_unlock(&srv->gmu);
    return NULL;
}

/* libmicrohttpd started or closed a connection the guard admitted. */
static void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *srv = cls;

    pthread_mutex_lock(&srv->gmu);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        int fd = ci ? ci->connect_fd : -1;

        if (fd >= 0 && (size_t)fd < srv->npending) {
            *socket_context = srv->pending[fd];
            srv->pending[fd] = NULL;
        }
    } else if (*socket_context != NULL) {
        http_guard_unlink(srv, *socket_context);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&srv->gmu);
}

/* A request of conn is complete (busy) or answered (ready for the next). */
static void http_guard_busy(struct http_server *srv, struct MHD_Connection *conn, bool busy)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct http_conn *c = ci ? ci->socket_context : NULL;

    if (c == NULL)
        return;
    pthread_mutex_lock(&srv->gmu);
    c->busy = busy;
    c->since_us = timeutil_mono_us();
    pthread_mutex_unlock(&srv->gmu);
}

/* Whether the request of conn had a bad escape (cleared for the next). */
static bool http_guard_bad_escape(struct http_server *srv, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct http_conn *c = ci ? ci->socket_context : NULL;
    bool bad;

    if (c == NULL)
        return false;
    pthread_mutex_lock(&srv->gmu);
    bad = c->bad_escape;
    c->bad_escape = false;
    pthread_mutex_unlock(&srv->gmu);
    return bad;
}

/* Whether s[0..n) is UTF-8 (no overlong forms, no surrogates, at most
 * U+10FFFF). */
static bool http_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += len;
    }
    return true;
}

/* libmicrohttpd's unescaping of the path and of each query parameter, which
 * notes a %00 (it would cut the value short) or bytes that are not UTF-8:
 * the request is then answered 400 (http_dispatch). */
static size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    struct http_server *srv = cls;
    size_t n = MHD_http_unescape(s);

    if (strlen(s) != n || !http_utf8_valid((const unsigned char *)s, n)) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct http_conn *c = ci ? ci->socket_context : NULL;

        if (c != NULL) {
            pthread_mutex_lock(&srv->gmu);
            c->bad_escape = true;
            pthread_mutex_unlock(&srv->gmu);
        }
    }
    return n;
}

#define HTTP_MAX_QUERY 32

/* A query parameter's name in snake_case (pageSize -> page_size), so that
 * both spellings of one parameter count as the same. */
static void http_query_snake(const char *name, char *out, size_t cap)
{
    size_t o = 0;

    for (; *name && o + 2 < cap; name++) {
        if (*name >= 'A' && *name <= 'Z') {
            out[o++] = '_';
            out[o++] = (char)(*name - 'A' + 'a');
        } else {
            out[o++] = *name;
        }
    }
    out[o] = '\0';
}

struct http_query_scan {
    char names[HTTP_MAX_QUERY][64];
    size_t n;
    enum { HTTP_QUERY_OK, HTTP_QUERY_NO_NAME, HTTP_QUERY_EMPTY, HTTP_QUERY_TWICE,
           HTTP_QUERY_TOO_MANY } bad;   /* the first problem */
    char which[64];                     /* and the parameter it is about */
};

static enum MHD_Result http_query_visit(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    struct http_query_scan *sc = cls;
    char snake[64];

    (void)kind;
    if (key == NULL || key[0] == '\0') {
        sc->bad = HTTP_QUERY_NO_NAME;
        return MHD_NO;
    }
    snprintf(sc->which, sizeof sc->which, "%s", key);
    if (value == NULL || value[0] == '\0') {
        sc->bad = HTTP_QUERY_EMPTY;
        return MHD_NO;
    }
    http_query_snake(key, snake, sizeof snake);
    for (size_t i = 0; i < sc->n; i++) {
        if (strcmp(sc->names[i], snake) == 0) {
            sc->bad = HTTP_QUERY_TWICE;
            return MHD_NO;
        }
    }
    if (sc->n == HTTP_MAX_QUERY) {
        sc->bad = HTTP_QUERY_TOO_MANY;
        return MHD_NO;
    }
    snprintf(sc->names[sc->n++], sizeof sc->names[0], "%s", snake);
    return MHD_YES;
}

/* The query string's rules: every parameter has a name and a value, and
 * none comes twice (pageSize and page_size are one); at most
 * HTTP_MAX_QUERY. Returns true, or false after filling resp with a 400. */
static bool http_query_check(struct MHD_Connection *conn, struct api_response *resp)
{
    struct http_query_scan sc = {.n = 0};

    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, http_query_visit, &sc);
    switch (sc.bad) {
    case HTTP_QUERY_OK:
        return true;
    case HTTP_QUERY_NO_NAME:
        api_error(resp, API_INVALID_ARGUMENT, "a query parameter has no name");
        break;
    case HTTP_QUERY_EMPTY:
        api_error(resp, API_INVALID_ARGUMENT, "query parameter %s is empty: give it a value "
                  "or leave it out", sc.which);
        break;
    case HTTP_QUERY_TWICE:
        api_error(resp, API_INVALID_ARGUMENT, "query parameter %s is given more than once "
                  "(in one spelling or another)", sc.which);
        break;
    case HTTP_QUERY_TOO_MANY:
        api_error(resp, API_INVALID_ARGUMENT, "more than %d query parameters", HTTP_MAX_QUERY);
        break;
    }
    return false;
}

/* Before routing: a path or parameter with %00 or bytes that are not UTF-8,
 * and a query string against http_query_check's rules, are 400. Returns
 * true, or false after filling resp. */
static bool http_request_strict(struct http_server *srv, struct MHD_Connection *conn,
                                struct api_response *resp)
{
    if (http_guard_bad_escape(srv, conn)) {
        api_error(resp, API_INVALID_ARGUMENT, "the path or a query parameter holds a NUL byte "
                  "(%%00) or bytes that are not UTF-8");
        return false;
    }
    return http_query_check(conn, resp);
}

/* Raise the soft limit on open files to the hard one: each connection takes
 * two (libmicrohttpd's and the guard's), and the store, the delivery engine
 * and the logs take more. */
static void http_raise_nofile(unsigned max_connections)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_connections * 2 + 256;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        log_warn("open file limit is low for --max-connections",
                 "limit=%llu max_connections=%u wanted=%llu", (unsigned long long)rl.rlim_cur,
                 max_connections, (unsigned long long)want);
}

static void http_guard_free(struct http_server *srv)
{
    while (srv->conns != NULL)
        http_guard_unlink(srv, srv->conns);
    free(srv->pending);
    pthread_cond_destroy(&srv->gcond);
    pthread_mutex_destroy(&srv->gmu);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->mu);
    if (srv->wake[0] >= 0)
        close(srv->wake[0]);
    if (srv->wake[1] >= 0)
        close(srv->wake[1]);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    free(srv);
}

struct http_server *http_start(const struct api_ctx *ctx, int fd, unsigned threads,
                               const struct http_limits *limits, char *err, size_t errlen)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    /* No listen socket for libmicrohttpd: the guard accepts. */
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    struct rlimit rl;

    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return NULL;
    }
    srv->ctx = ctx;
    srv->limits = *limits;
    srv->listen_fd = fd;
    srv->wake[0] = srv->wake[1] = -1;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->idle, NULL);
    pthread_mutex_init(&srv->gmu, NULL);
    pthread_cond_init(&srv->gcond, NULL);
    http_raise_nofile(limits->max_connections);
    srv->npending = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                    rl.rlim_cur < (1u << 20) ? (size_t)rl.rlim_cur : (size_t)1 << 20;
    srv->pending = calloc(srv->npending, sizeof *srv->pending);
    if (srv->pending == NULL || pipe2(srv->wake, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot set up the HTTP server: %s", strerror(errno));
        http_guard_free(srv);
        return NULL;
    }
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, http_access, srv,
                                   MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, srv,
                                   MHD_OPTION_THREAD_POOL_SIZE, threads,
                                   MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
                                   MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, srv,
                                   MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, srv,
                                   /* Inactivity while an answer is sent: the
                                    * guard's deadline covers the request. */
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                                   /* The guard counts. libmicrohttpd splits
                                    * its own limit between its threads; each
                                    * must be able to take every connection
                                    * the guard admits (its refusal path in a
                                    * pool thread can also hang its stop). */
                                   MHD_OPTION_CONNECTION_LIMIT,
                                   (limits->max_connections + 16) * threads,
                                   MHD_OPTION_END);
    if (srv->daemon == NULL) {
        snprintf(err, errlen, "cannot start the HTTP server");
        http_guard_free(srv);
        return NULL;
    }
    if (pthread_create(&srv->reaper, NULL, http_guard_reap, srv) != 0) {
        snprintf(err, errlen, "cannot start the HTTP server's reaper thread");
        MHD_stop_daemon(srv->daemon);
        http_guard_free(srv);
        return NULL;
    }
    if (pthread_create(&srv->acceptor, NULL, http_guard_accept, srv) != 0) {
        snprintf(err, errlen, "cannot start the HTTP server's accept thread");
        pthread_mutex_lock(&srv->gmu);
        srv->stopping = true;
        pthread_cond_signal(&srv->gcond);
        pthread_mutex_unlock(&srv->gmu);
        pthread_join(srv->reaper, NULL);
        MHD_stop_daemon(srv->daemon);
        http_guard_free(srv);
        return NULL;
    }
    return srv;
}

void http_stop(struct http_server *srv)
{
    if (srv == NULL)
        return;
    /* Stop accepting, then wait for the requests in a handler and for the
     * deferred ones to come back and be answered (their commits are under
     * way: the event writer stops later): libmicrohttpd must not be
     * stopped with connections suspended (it aborts), and one resumed but
     * not yet called again would be closed without its answer. */
    (void)write(srv->wake[1], "x", 1);
    pthread_join(srv->acceptor, NULL);
    close(srv->listen_fd);
    srv->listen_fd = -1;
    pthread_mutex_lock(&srv->mu);
    srv->draining = true;
    while (srv->handling > 0 || srv->waiting > 0)
        pthread_cond_wait(&srv->idle, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    MHD_stop_daemon(srv->daemon);
    pthread_mutex_lock(&srv->gmu);
    srv->stopping = true;
    pthread_cond_signal(&srv->gcond);
    pthread_mutex_unlock(&srv->gmu);
    pthread_join(srv->reaper, NULL);
    http_guard_free(srv);
}
