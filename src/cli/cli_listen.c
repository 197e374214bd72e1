/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_listen.c - "kabar listen": a local webhook receiver for development.
 *
 * It answers every request with libkabar's verdict: 400 and the reason when
 * the request does not verify, 2xx when it does. Verified requests are
 * de-duplicated on webhook-id (kabard delivers at least once: a verified
 * duplicate is acknowledged with 200 and not forwarded again), printed as
 * one line each (time, type, id, verified, duplicate; the body too with
 * --verbose), and, with --forward-to, sent on unchanged (headers and body)
 * to the developer's own server, whose status becomes our answer, so that
 * kabard's retries reach it when it fails. A forward that fails releases
 * the webhook-id, so the retry is not taken for a duplicate.
 *
 * libmicrohttpd runs one thread per connection (forwarding blocks on the
 * target); the verifier is shared read-only and the de-duplicator locks
 * itself. The main thread blocks SIGINT and SIGTERM before any thread
 * starts, so that every thread inherits the mask, and waits for them with
 * sigwait(): Ctrl-C stops the daemon (which waits for requests in flight),
 * frees everything and exits 0.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli/cli.h"
#include "cli/cli_print.h"
#include "common/capbuf.h"
#include "kabar/kabar.h"

#define LISTEN_MAX_BODY (16u << 20)
#define LISTEN_MAX_HEADERS 100
#define LISTEN_DEDUP_CAPACITY 100000
#define LISTEN_DEDUP_TTL (25 * 3600)        /* kabard retries for 24 hours */
#define LISTEN_FORWARD_TIMEOUT_MS 30000L

enum { OPT_PORT, OPT_SECRET, OPT_JWKS, OPT_AUDIENCE, OPT_ANY_AUDIENCE, OPT_ISSUER, OPT_FORWARD_TO,
       OPT_VERBOSE };

static const struct cmd_opt listen_opts[] = {
    [OPT_PORT] = {"port", true},
    [OPT_SECRET] = {"secret", true},
    [OPT_JWKS] = {"jwks", true},
    [OPT_AUDIENCE] = {"audience", true},
    [OPT_ANY_AUDIENCE] = {"any-audience", false},
    [OPT_ISSUER] = {"issuer", true},
    [OPT_FORWARD_TO] = {"forward-to", true},
    [OPT_VERBOSE] = {"verbose", false},
    {NULL, false},
};

struct listen_ctx {
    kabar_verifier *verifier;
    kabar_dedup *dedup;
    const char *forward_to;         /* NULL: verify only */
    bool verbose;
    pthread_mutex_t out_lock;       /* one event's lines stay together */
};

/* Per request: the body as it arrives, capped at LISTEN_MAX_BODY. */
struct listen_request {
    struct capbuf body;
    bool too_big;                   /* past the cap (or out of memory) */
};

/* The headers of a request, as libmicrohttpd hands them over. */
struct listen_headers {
    struct curl_slist *list;        /* "Name: value" lines for forwarding */
    bool failed;
};

/* ----------------------------------------------------------- printing */

/*
 * One line per request, "TIME TYPE id=ID verified=yes duplicate=no" and
 * what else happened, then the body with --verbose. The type, the id and
 * the body come from the sender: they go through cli_print_safe() so that
 * they cannot drive the terminal.
 */
static void listen_print(struct listen_ctx *lc, const char *type, const char *id,
                         bool verified, bool duplicate, const char *extra,
                         const struct listen_request *rq)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&lc->out_lock);
    printf("%s ", when);
    cli_print_safe(type != NULL && type[0] != '\0' ? type : "-", stdout);
    fputs(" id=", stdout);
    cli_print_safe(id != NULL && id[0] != '\0' ? id : "-", stdout);
    printf(" verified=%s duplicate=%s", verified ? "yes" : "no", duplicate ? "yes" : "no");
    if (extra != NULL) {
        fputc(' ', stdout);
        cli_print_safe(extra, stdout);
    }
    fputc('\n', stdout);
    if (lc->verbose && capbuf_len(&rq->body) > 0) {
        /* The body is shown as text up to its first NUL, if it has one. */
        cli_print_safe(capbuf_str(&rq->body), stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
    pthread_mutex_unlock(&lc->out_lock);
}

/* ---------------------------------------------------------- forwarding */

/* Headers libcurl must write itself for the forwarded request. */
static bool listen_hop_header(const char *name)
{
    static const char *const hop[] = {"host", "content-length", "transfer-encoding",
                                      "connection", "keep-alive", "expect", "upgrade",
                                      "te", "trailer", "proxy-connection"};
    size_t i;

    for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        if (strcasecmp(name, hop[i]) == 0)
            return true;
    }
    return false;
}

static enum MHD_Result listen_collect_header(void *cls, enum MHD_ValueKind kind,
                                             const char *name, const char *value)
{
    struct listen_headers *h = cls;
    struct curl_slist *l;
    char *line;
    size_t n;

    (void)kind;
    if (listen_hop_header(name))
        return MHD_YES;
    /* "Name;" is libcurl's way to send a header with an empty value. */
    n = strlen(name) + strlen(value != NULL ? value : "") + 3;
    line = malloc(n);
    if (line == NULL) {
        h->failed = true;
        return MHD_NO;
    }
    if (value == NULL || value[0] == '\0')
        snprintf(line, n, "%s;", name);
    else
        snprintf(line, n, "%s: %s", name, value);
    l = curl_slist_append(h->list, line);
    free(line);
    if (l == NULL) {
        h->failed = true;
        return MHD_NO;
    }
    h->list = l;
    return MHD_YES;
}

static size_t listen_discard(char *data, size_t size, size_t nmemb, void *arg)
{
    (void)data;
    (void)arg;
    return size * nmemb;
}

/*
 * POST the request on to --forward-to with its headers and body. Returns
 * the target's HTTP status, or 0 when it could not be reached (err says
 * why).
 */
static long listen_forward(struct listen_ctx *lc, struct MHD_Connection *conn,
                           const struct listen_request *rq, char *err, size_t errlen)
{
    struct listen_headers h = {0};
    char curl_err[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode cc;
    CURL *c;

    MHD_get_connection_values(conn, MHD_HEADER_KIND, listen_collect_header, &h);
    /* No "Expect: 100-continue" round trip: send the body at once. */
    if (!h.failed)
        h.list = curl_slist_append(h.list, "Expect:");
    c = curl_easy_init();
    if (h.failed || h.list == NULL || c == NULL) {
        snprintf(err, errlen, "out of memory");
        curl_slist_free_all(h.list);
        curl_easy_cleanup(c);
        return 0;
    }
    curl_easy_setopt(c, CURLOPT_URL, lc->forward_to);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, capbuf_str(&rq->body));
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)capbuf_len(&rq->body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h.list);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, LISTEN_FORWARD_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, listen_discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "%s", curl_err[0] != '\0' ? curl_err : curl_easy_strerror(cc));
    curl_easy_cleanup(c);
    curl_slist_free_all(h.list);
    return status;
}

/* ------------------------------------------------------------ requests */

static enum MHD_Result listen_reply(struct MHD_Connection *conn, unsigned status,
                                    const char *text)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    /* libmicrohttpd 0.9.75 takes a writable buffer even to copy it: hand it
     * a copy of its own to free. */
    char *copy = strdup(text);

    if (copy == NULL)
        return MHD_NO;
    r = MHD_create_response_from_buffer(strlen(copy), copy, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(copy);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void listen_append(struct listen_request *rq, const char *data, size_t n)
{
    if (!rq->too_big && capbuf_add(&rq->body, data, n) != CAPBUF_OK)
        rq->too_big = true;
}

/* A verified request: de-duplicate, forward, answer. */
static enum MHD_Result listen_verified(struct listen_ctx *lc, struct MHD_Connection *conn,
                                       const struct listen_request *rq, kabar_event *ev)
{
    const char *id = kabar_event_id(ev), *type = kabar_event_type(ev);
    char err[CURL_ERROR_SIZE + 32] = "", extra[CURL_ERROR_SIZE + 64];
    long status;

    if (kabar_dedup_claim(lc->dedup, id, (int64_t)time(NULL)) == KABAR_EDUPLICATE) {
        listen_print(lc, type, id, true, true, NULL, rq);
        return listen_reply(conn, MHD_HTTP_OK, "ok (duplicate)\n");
    }
    if (lc->forward_to == NULL) {
        listen_print(lc, type, id, true, false, NULL, rq);
        return listen_reply(conn, MHD_HTTP_OK, "ok\n");
    }
    status = listen_forward(lc, conn, rq, err, sizeof(err));
    if (status < 200 || status > 299) {
        /* Not handled: let kabard's retry through as new. */
        kabar_dedup_release(lc->dedup, id);
    }
    if (status == 0) {
        snprintf(extra, sizeof(extra), "forward_error=\"%s\"", err);
        listen_print(lc, type, id, true, false, extra, rq);
        return listen_reply(conn, MHD_HTTP_BAD_GATEWAY, "forwarding failed\n");
    }
    snprintf(extra, sizeof(extra), "forwarded=%ld", status);
    listen_print(lc, type, id, true, false, extra, rq);
    return listen_reply(conn, (unsigned)status, status >= 200 && status <= 299 ? "ok\n"
                                                : "the forward target did not accept it\n");
}

static enum MHD_Result listen_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    struct listen_ctx *lc = cls;
    struct listen_request *rq = *con_cls;
    kabar_event *ev = NULL;
    char reason[160];
    kabar_err err;
    enum MHD_Result ret;

    (void)url;
    (void)version;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL)
            return MHD_NO;
        capbuf_init(&rq->body, LISTEN_MAX_BODY);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        listen_append(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0)
        return listen_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "webhooks are POSTed\n");
    if (rq->too_big)
        return listen_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n");

    err = kabar_verify(lc->verifier,
                       MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-id"),
                       MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-timestamp"),
                       MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-signature"),
                       capbuf_str(&rq->body), capbuf_len(&rq->body), &ev);
    if (err != KABAR_OK) {
        snprintf(reason, sizeof(reason), "reason=\"%s\"", kabar_strerror(err));
        listen_print(lc, NULL, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "webhook-id"),
                     false, false, reason, rq);
        snprintf(reason, sizeof(reason), "webhook not verified: %s\n", kabar_strerror(err));
        return listen_reply(conn, MHD_HTTP_BAD_REQUEST, reason);
    }
    ret = listen_verified(lc, conn, rq, ev);
    kabar_event_free(ev);
    return ret;
}

static void listen_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    struct listen_request *rq = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (rq != NULL) {
        capbuf_free(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* ------------------------------------------------------------- set-up */

/* The verifier the options ask for. Returns 0 or an exit code after
 * printing why. */
static int listen_make_verifier(const struct cmd_entry *entry, const struct cmd_args *args,
                                const char *secret, kabar_verifier **out)
{
    const char *jwks_src = args->opt[OPT_JWKS];
    kabar_jwks *jwks = NULL;
    char err[256] = "";
    kabar_err rc;

    if (secret != NULL) {
        if ((rc = kabar_verifier_new_secret(secret, out)) != KABAR_OK)
            return cli_usage_error(entry, "--secret: %s", kabar_strerror(rc));
        return 0;
    }
    if (strncmp(jwks_src, "http://", 7) == 0 || strncmp(jwks_src, "https://", 8) == 0) {
        rc = kabar_jwks_new_url(jwks_src, &jwks);
        /* Not fatal: kabard may start after us; the first request fetches. */
        if (rc == KABAR_OK && kabar_jwks_refresh(jwks, err, sizeof(err)) != KABAR_OK) {
            fputs("kabar listen: cannot get the JWKS yet (", stderr);
            cli_print_safe(err, stderr);
            fputs("); will try again on the first request\n", stderr);
        }
    } else {
        rc = kabar_jwks_new_file(jwks_src, &jwks);
    }
    if (rc != KABAR_OK)
        return cli_usage_error(entry, "--jwks: %s", kabar_strerror(rc));
    if ((rc = kabar_verifier_new_jwks(jwks, out)) != KABAR_OK) {
        kabar_jwks_free(jwks);
        fprintf(stderr, "kabar listen: %s\n", kabar_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    if ((rc = kabar_verifier_set_audience(*out, args->opt[OPT_AUDIENCE])) != KABAR_OK ||
        (rc = kabar_verifier_set_issuer(*out, args->opt[OPT_ISSUER])) != KABAR_OK) {
        fprintf(stderr, "kabar listen: %s\n", kabar_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    return 0;
}

/* Parse --port: 0 (any free port) to 65535. Returns -1 when malformed. */
static int listen_port(const char *s)
{
    char *end;
    long n;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return -1;
    n = strtol(s, &end, 10);
    return *end != '\0' || n > 65535 ? -1 : (int)n;
}

/* Check the combination of options. Returns 0 or CLI_EXIT_USAGE. */
static int listen_check_args(const struct cmd_entry *entry, const struct cmd_args *args)
{
    const char *fwd = args->opt[OPT_FORWARD_TO];
    bool secret = args->opt[OPT_SECRET] != NULL, jwks = args->opt[OPT_JWKS] != NULL;

    if (args->opt[OPT_PORT] == NULL)
        return cli_usage_error(entry, "missing --port");
    if (listen_port(args->opt[OPT_PORT]) < 0)
        return cli_usage_error(entry, "--port must be a number from 0 to 65535");
    if (secret && jwks)
        return cli_usage_error(entry, "give one of --secret and --jwks, not both");
    /* kabard makes every webhook's secret itself: the one to give is the
     * new_signing_secret of "kabar webhooks create". */
    if (!secret && !jwks)
        return cli_usage_error(entry, "give --secret (the webhook's whsec_... from kabar "
                                      "webhooks create) or --jwks");
    if (!jwks && (args->opt[OPT_AUDIENCE] != NULL || args->opt[OPT_ANY_AUDIENCE] != NULL ||
                  args->opt[OPT_ISSUER] != NULL))
        return cli_usage_error(entry, "--audience, --any-audience and --issuer go with --jwks");
    /* As for kabar verify: a token's aud says which receiver it is for, so
     * accepting any audience must be asked for, not fallen into. */
    if (jwks && (args->opt[OPT_AUDIENCE] == NULL) == (args->opt[OPT_ANY_AUDIENCE] == NULL))
        return cli_usage_error(entry, "with --jwks give --audience (the URI this listener "
                               "receives at, or the project's audience) or, to accept tokens "
                               "meant for any receiver, --any-audience");
    if (fwd != NULL && strncmp(fwd, "http://", 7) != 0 && strncmp(fwd, "https://", 8) != 0)
        return cli_usage_error(entry, "--forward-to must be an http:// or https:// URL");
    return 0;
}

/* Start the daemon on 127.0.0.1:port. NULL when it cannot listen. */
static struct MHD_Daemon *listen_start(struct listen_ctx *lc, int port)
{
    struct sockaddr_in addr;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A dynamic webhook's token rides in a header: give headers room. */
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                            0, NULL, NULL, listen_access, lc,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_NOTIFY_COMPLETED, listen_completed, lc,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(1u << 20),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_END);
}

static int listen_exec(struct cli_ctx *ctx, const struct cmd_entry *entry,
                       const struct cmd_args *args)
{
    struct listen_ctx lc = {0};
    struct MHD_Daemon *d = NULL;
    const union MHD_DaemonInfo *info;
    const char *secret = args->opt[OPT_SECRET];
    sigset_t sigs, old;
    int rc, sig = 0;

    (void)ctx;
    if ((rc = listen_check_args(entry, args)) != 0)
        return rc;
    pthread_mutex_init(&lc.out_lock, NULL);
    lc.forward_to = args->opt[OPT_FORWARD_TO];
    lc.verbose = args->opt[OPT_VERBOSE] != NULL;
    rc = listen_make_verifier(entry, args, secret, &lc.verifier);
    if (args->argv_value[OPT_SECRET] != NULL)
        OPENSSL_cleanse(args->argv_value[OPT_SECRET], strlen(args->argv_value[OPT_SECRET]));
    if (rc != 0)
        goto out;
    if (kabar_dedup_new(LISTEN_DEDUP_CAPACITY, LISTEN_DEDUP_TTL, &lc.dedup) != KABAR_OK) {
        fprintf(stderr, "kabar listen: out of memory\n");
        rc = CLI_EXIT_FAIL;
        goto out;
    }

    /* Before any thread exists, so that all of them inherit the mask and
     * only sigwait() below sees Ctrl-C. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    d = listen_start(&lc, listen_port(args->opt[OPT_PORT]));
    if (d == NULL) {
        fprintf(stderr, "kabar listen: cannot listen on 127.0.0.1:%s (in use?)\n",
                args->opt[OPT_PORT]);
        rc = CLI_EXIT_FAIL;
        goto out_mask;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("kabar listen: listening on http://127.0.0.1:%u/ (%s)", (unsigned)info->port,
           args->opt[OPT_JWKS] != NULL ? "dynamic webhooks, RS256 JWT" :
           "static webhooks, Standard Webhooks");
    if (lc.forward_to != NULL) {
        fputs(", forwarding to ", stdout);
        cli_print_safe(lc.forward_to, stdout);
    }
    fputs("; Ctrl-C to stop\n", stdout);
    fflush(stdout);

    while (sigwait(&sigs, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    printf("kabar listen: stopped\n");
    rc = CLI_EXIT_OK;
out_mask:
    pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
    kabar_dedup_free(lc.dedup);
    kabar_verifier_free(lc.verifier);
    pthread_mutex_destroy(&lc.out_lock);
    return rc;
}

const struct cmd_entry cmd_listen_entry = {
    .group = "listen",
    .name = NULL,
    .usage = "--port P (--secret S | --jwks URL|FILE (--audience A | --any-audience) "
             "[--issuer I]) "
             "[--forward-to URL] [--verbose]",
    .help = "Receive webhooks on 127.0.0.1:P (0: any free port): verify each request "
            "(400 and the reason when it does not verify), de-duplicate on webhook-id, print "
            "one line per event (the body too with --verbose), and forward verified requests "
            "unchanged to --forward-to. The secret is the webhook's, as kabar webhooks create "
            "printed it.",
    .opts = listen_opts,
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = listen_exec,
};
