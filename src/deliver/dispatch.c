/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dispatch.c - the delivery loop (see dispatch.h).
 *
 * Shape of one turn of the loop, all on the dispatch thread:
 *
 *   claim   if slots are free and work may be due, lease a batch from the
 *           store and start a transfer for each (signed now: the
 *           timestamp is per attempt);
 *   wait    epoll_wait() on the transfers' sockets and the wake-up
 *           eventfd, until a socket is ready, libcurl's timer is due, or
 *           another thread writes the eventfd (dispatch_wake(), a
 *           hand-over, a signed attempt, stop); then
 *           curl_multi_socket_action() for each ready socket only, and
 *           for the timer when it is due - never a walk over every
 *           transfer, so that hundreds of hung or slow receivers cost
 *           nothing while their sockets are quiet;
 *   finish  for each transfer libcurl reports done, classify the result
 *           (success, retry at a time from the retry policy, failed, gone)
 *           and queue the outcome;
 *   record  hand queued outcomes to the recorder thread, which writes
 *           them in one transaction, when enough have gathered or the
 *           oldest has waited RECORD_DELAY_US (while it writes, the next
 *           batch gathers here: the loop never waits for a commit).
 *
 * The fast path: the event writer asks for a slot per new delivery
 * (dispatch_fast_reserve, on its thread, inside its insert transaction),
 * leases the row to this process in that insert, and after the commit
 * hands the delivery over in memory (dispatch_fast_hand); the loop starts
 * it like a claimed one. The slots (what is in flight, reserved or handed
 * over, per target uri and in all) are counted in one table under
 * slots_mu, the only state the two threads share. While a claim runs, the
 * writer reserves nothing, so that the claim's view of the free slots
 * holds until it has started what it took.
 *
 * Each easy handle carries its struct transfer as CURLOPT_PRIVATE. The
 * SSRF check runs in libcurl's open-socket callback, on the very address
 * about to be connected to.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "deliver/dispatch.h"
#include "deliver/signpool.h"
#include "deliver/ssrf.h"
#include "sign/hmac_keys.h"
#include "sign/keyring.h"
#include "store/store.h"

#define CLAIM_BATCH 256
#define CLAIM_GATHER_US 2000
#define RECORD_BATCH 256
#define RECORD_DELAY_US 5000
#define RECORDS_MAX 16384
#define RECORDS_HIGH 4096           /* the loop waits for the recorder from here */
#define LEASE_MARGIN_US (INT64_C(60) * 1000000)
#define IDLE_POLL_MS 1000
#define EPOLL_EVENTS 256

/* What kabard reads of a response: its status decides, its body is only
 * for the log (the first STORE_EXCERPT_MAX bytes). Past these the transfer
 * is cut off and its connection closed, so that a receiver cannot make the
 * delivery thread read (or wait on) more than this per attempt. */
#define RESPONSE_BODY_MAX (64 * 1024)
#define RESPONSE_HEADERS_MAX (16 * 1024)
/* The kernel's receive buffer of a delivery connection (it doubles it for
 * its bookkeeping): enough for any answer kabard reads in full, and the
 * most a receiver can push at kabard's host before kabard reads - without
 * it, Linux grows the buffer to megabytes for an endpoint that streams. */
#define RESPONSE_RCVBUF (RESPONSE_BODY_MAX + RESPONSE_HEADERS_MAX)

#define SLOT_BUCKETS 1024

/* What this process has in flight, reserved or handed over to one uri. */
struct slot {
    struct slot *next;
    size_t n;
    char uri[];
};

static dispatch_hold_fn dispatch_hold;

void dispatch_hold_set(dispatch_hold_fn fn)
{
    dispatch_hold = fn;
}

struct transfer {
    struct dispatch *d;
    struct store_job job;
    CURL *easy;
    struct curl_slist *headers;
    size_t slot;                    /* index in d->active */
    int64_t start_us;               /* wall clock, for the record */
    int64_t start_mono_us;
    char blocked[160];              /* set when the SSRF check refused */
    char cut[160];                  /* set when kabard cut the transfer short */
    uint8_t excerpt[STORE_EXCERPT_MAX];
    size_t excerpt_len;
    size_t body_len;                /* response bytes read, body */
    size_t headers_len;             /* and headers */
    unsigned requests;              /* requests libcurl began for this attempt */
    bool first_fresh;               /* the first went out on a new connection */
    struct signpool_item sp;        /* queued for a signing worker */
    bool sign_ok;                   /* the worker's result */
};

struct dispatch {
    struct store *st;
    const struct secretbox *box;
    struct dispatch_config cfg;
    char owner[128];
    pthread_t thread;
    CURLM *multi;
    int epfd;                       /* the transfers' sockets and wakefd */
    int wakefd;                     /* eventfd: other threads wake the loop */
    int64_t curl_timer_mono_us;     /* libcurl's timer, -1: none */
    atomic_bool stopping;
    atomic_bool woken;
    atomic_bool running;            /* started, loop not ended (/readyz) */
    struct transfer **active;       /* cfg.max_in_flight slots */
    size_t nactive;
    struct store_attempt *records;
    size_t nrecords;
    int64_t first_record_mono_us;
    /* The recorder thread: rec_buf[0..rec_n) is its batch (0: idle). */
    pthread_t recorder;
    pthread_mutex_t rec_mu;
    pthread_cond_t rec_cond;        /* a batch, idle again, or stop */
    struct store_attempt *rec_buf;
    size_t rec_n;
    bool rec_last;                  /* the loop ended: give failed batches up */
    bool rec_failing;               /* the recorder's batch failed; it retries */
    bool rec_stop;
    int64_t next_claim_mono_us;
    struct store_job *jobs;         /* claim scratch, CLAIM_BATCH long */
    struct signpool *signers;       /* sign dynamic webhooks' attempts */
    bool waiting;                   /* due deliveries may wait for a slot */
    /* Shared with the event writer, under slots_mu. */
    pthread_mutex_t slots_mu;
    struct slot *slots[SLOT_BUCKETS];
    size_t nslots;                  /* in all: never above cfg.max_in_flight */
    size_t nslot_targets;           /* targets holding a slot */
    bool claiming;                  /* no reservations meanwhile */
    struct store_job *handed;       /* committed, to start */
    size_t nhanded, handed_cap;
};

/* Wakes the loop from any thread: epoll_wait() returns for the eventfd. */
static void dispatch_wake_loop(struct dispatch *d)
{
    uint64_t one = 1;

    if (write(d->wakefd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is full, the loop wakes anyway. */
    }
}

void dispatch_config_default(struct dispatch_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_in_flight = DISPATCH_DEFAULT_MAX_IN_FLIGHT;
    cfg->max_per_target = DISPATCH_DEFAULT_MAX_PER_TARGET;
    cfg->connect_timeout_ms = DISPATCH_DEFAULT_CONNECT_TIMEOUT_MS;
    cfg->timeout_ms = DISPATCH_DEFAULT_TIMEOUT_MS;
    cfg->disable_after_us = INT64_C(24) * 3600 * 1000000;
    retry_policy_default(&cfg->retry);
}

/* ---- slots ------------------------------------------------------------------ */

static size_t slot_hash(const char *uri)
{
    size_t h = 5381;

    for (const unsigned char *p = (const unsigned char *)uri; *p; p++)
        h = h * 33 + *p;
    return h % SLOT_BUCKETS;
}

static struct slot **slot_find(struct dispatch *d, const char *uri)
{
    struct slot **s = &d->slots[slot_hash(uri)];

    while (*s && strcmp((*s)->uri, uri) != 0)
        s = &(*s)->next;
    return s;
}

/* The most one target may have in flight (a claim, or a fresh delivery
 * by the fast path), nbusy targets having attempts in flight: the configured per-target cap, lowered to a
 * share of the overall cap when many targets are busy at once (hung or
 * slow endpoints hold their slots up to the attempt timeout). nbusy
 * targets at max_in_flight / (nbusy + 2) each leave two such shares free,
 * one for a target joining them and one more: another endpoint still
 * finds slots until about max_in_flight targets hold one each. */
static size_t dispatch_target_cap(const struct dispatch *d, size_t nbusy)
{
    size_t share = d->cfg.max_in_flight / (nbusy + 2);

    if (share < 1)
        share = 1;
    return share < d->cfg.max_per_target ? share : d->cfg.max_per_target;
}

/* Take a slot of uri (under slots_mu), within the caps unless force.
 * Returns whether it did. */
static bool slot_take(struct dispatch *d, const char *uri, bool force)
{
    struct slot **s = slot_find(d, uri);
    size_t len;

    if (!force && (d->nslots >= d->cfg.max_in_flight ||
                   (*s && (*s)->n >= dispatch_target_cap(d, d->nslot_targets))))
        return false;
    if (*s == NULL) {
        len = strlen(uri);
        *s = malloc(sizeof **s + len + 1);
        if (*s == NULL)
            return false;
        (*s)->next = NULL;
        (*s)->n = 0;
        memcpy((*s)->uri, uri, len + 1);
        d->nslot_targets++;
    }
    (*s)->n++;
    d->nslots++;
    return true;
}

/* Give a slot of uri back (under slots_mu). */
static void slot_put(struct dispatch *d, const char *uri)
{
    struct slot **s = slot_find(d, uri), *gone;

    if (*s == NULL)
        return;
    d->nslots--;
    if (--(*s)->n == 0) {
        gone = *s;
        *s = gone->next;
        free(gone);
        d->nslot_targets--;
    }
}

bool dispatch_fast_reserve(struct dispatch *d, const char *uri)
{
    bool ok = false;

    pthread_mutex_lock(&d->slots_mu);
    if (!d->claiming && !atomic_load(&d->stopping))
        ok = slot_take(d, uri, false);
    pthread_mutex_unlock(&d->slots_mu);
    return ok;
}

void dispatch_fast_unreserve(struct dispatch *d, const char *uri)
{
    pthread_mutex_lock(&d->slots_mu);
    slot_put(d, uri);
    pthread_mutex_unlock(&d->slots_mu);
}

void dispatch_fast_cancel(struct dispatch *d, struct store_job *jobs, size_t n)
{
    pthread_mutex_lock(&d->slots_mu);
    for (size_t i = 0; i < n; i++)
        slot_put(d, jobs[i].target_uri);
    pthread_mutex_unlock(&d->slots_mu);
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].payload);
        jobs[i].payload = NULL;
    }
}

void dispatch_fast_hand(struct dispatch *d, struct store_job *jobs, size_t n)
{
    size_t cap;
    struct store_job *grown;

    if (n == 0)
        return;
    pthread_mutex_lock(&d->slots_mu);
    if (d->nhanded + n > d->handed_cap) {
        cap = d->handed_cap ? d->handed_cap : 64;
        while (cap < d->nhanded + n)
            cap *= 2;
        grown = realloc(d->handed, cap * sizeof *grown);
        if (grown == NULL) {
            /* Leased on disk: sent again once the lease runs out. */
            for (size_t i = 0; i < n; i++)
                slot_put(d, jobs[i].target_uri);
            pthread_mutex_unlock(&d->slots_mu);
            log_warn("cannot hand deliveries over; they wait for their lease", "count=%zu", n);
            for (size_t i = 0; i < n; i++) {
                free(jobs[i].payload);
                jobs[i].payload = NULL;
            }
            return;
        }
        d->handed = grown;
        d->handed_cap = cap;
    }
    memcpy(d->handed + d->nhanded, jobs, n * sizeof *jobs);
    d->nhanded += n;
    atomic_fetch_add(&metrics.deliveries_fast, n);
    pthread_mutex_unlock(&d->slots_mu);
    for (size_t i = 0; i < n; i++)
        jobs[i].payload = NULL;
    dispatch_wake_loop(d);
}

const char *dispatch_owner(const struct dispatch *d)
{
    return d->owner;
}

int64_t dispatch_lease_until(const struct dispatch *d, int64_t now_us)
{
    return now_us + d->cfg.timeout_ms * 1000 + LEASE_MARGIN_US;
}

size_t dispatch_max_in_flight(const struct dispatch *d)
{
    return d->cfg.max_in_flight;
}

/* ---- libcurl callbacks ---------------------------------------------------- */

/* The response body: the first STORE_EXCERPT_MAX bytes kept for the log,
 * the rest read and dropped (so the connection can be reused) up to
 * RESPONSE_BODY_MAX; past that a short count makes libcurl abort the
 * transfer and close the connection. */
static size_t dispatch_on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    size_t room = sizeof(t->excerpt) - t->excerpt_len;

    memcpy(t->excerpt + t->excerpt_len, ptr, n < room ? n : room);
    t->excerpt_len += n < room ? n : room;
    t->body_len += n;
    if (t->body_len > RESPONSE_BODY_MAX) {
        snprintf(t->cut, sizeof(t->cut),
                 "response body over %d KiB: not read further, connection closed",
                 RESPONSE_BODY_MAX / 1024);
        return 0;
    }
    return n;
}

/* Each response header line (of interim 1xx answers too), counted against
 * RESPONSE_HEADERS_MAX like the body against its own limit. */
static size_t dispatch_on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;

    (void)ptr;
    t->headers_len += n;
    if (t->headers_len > RESPONSE_HEADERS_MAX) {
        snprintf(t->cut, sizeof(t->cut),
                 "response headers over %d KiB: not read further, connection closed",
                 RESPONSE_HEADERS_MAX / 1024);
        return 0;
    }
    return n;
}

/* Called by libcurl before it sends a request on a connection. The first
 * call is the attempt; a later one is libcurl about to send the same POST
 * again by itself. It does so (7.88: Curl_retry_request, the HTTP/2 error
 * paths) in three cases:
 *   - the first request went out on a reused keep-alive connection that
 *     closed (or failed a send) before any byte of the answer: libcurl
 *     takes it for an idle connection the endpoint had just closed, but a
 *     receiver that took the POST and then reset looks the same;
 *   - HTTP/2 REFUSED_STREAM, or HTTP_1_1_REQUIRED: the endpoint says it
 *     did not process the request.
 * The first case may be a second delivery nobody recorded, so that resend
 * is not made: the attempt ends here, recorded as failed, and the retry
 * schedule decides when to send again. The second case, when the first
 * request went out on a connection opened for it (where the first case
 * cannot arise), is let through once: no request was processed, and an
 * endpoint that requires HTTP/1.1 would otherwise never be reached. */
static int dispatch_on_request(void *arg, char *conn_primary_ip, char *conn_local_ip,
                               int conn_primary_port, int conn_local_port)
{
    struct transfer *t = arg;
    long connects = 0;

    (void)conn_primary_ip;
    (void)conn_local_ip;
    (void)conn_primary_port;
    (void)conn_local_port;
    if (++t->requests == 1) {
        curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
        t->first_fresh = connects > 0;
        return CURL_PREREQFUNC_OK;
    }
    if (t->requests == 2 && t->first_fresh)
        return CURL_PREREQFUNC_OK;
    snprintf(t->cut, sizeof(t->cut),
             "connection closed without a response (the request was not sent again)");
    return CURL_PREREQFUNC_ABORT;
}

/* A socket for a delivery connection, its receive buffer bounded
 * (RESPONSE_RCVBUF; set before connecting, so the window is sized by it). */
static curl_socket_t dispatch_socket(const struct curl_sockaddr *addr)
{
    int fd = socket(addr->family, addr->socktype, addr->protocol);
    int rcvbuf = RESPONSE_RCVBUF;

    if (fd >= 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    return fd;
}

static curl_socket_t dispatch_on_socket(void *arg, curlsocktype purpose,
                                        struct curl_sockaddr *addr)
{
    struct transfer *t = arg;

    if (!t->d->cfg.allow_private) {
        enum ssrf_class c = ssrf_classify(&addr->addr);
        if (c != SSRF_PUBLIC) {
            char ip[INET6_ADDRSTRLEN] = "?";
            const void *raw = addr->family == AF_INET6
                ? (const void *)&((const struct sockaddr_in6 *)&addr->addr)->sin6_addr
                : (const void *)&((const struct sockaddr_in *)&addr->addr)->sin_addr;
            if (addr->family == AF_INET || addr->family == AF_INET6)
                inet_ntop(addr->family, raw, ip, sizeof(ip));
            snprintf(t->blocked, sizeof(t->blocked),
                     "refused to connect to %s: %s address (private targets are not allowed)",
                     ip, ssrf_class_name(c));
            return CURL_SOCKET_BAD;
        }
    }
    return dispatch_socket(addr);
}

/* ---- signing ---------------------------------------------------------------- */

/* The keys of webhook_id among keys[0..*nkeys), opening them (sign/) into
 * a new entry when absent. NULL when the webhook has no usable secret. */
static const struct hmac_keys *dispatch_keys(struct dispatch *d, struct hmac_keys *keys,
                                              size_t *nkeys, const char *webhook_id, int64_t now)
{
    for (size_t i = 0; i < *nkeys; i++)
        if (strcmp(keys[i].webhook_id, webhook_id) == 0)
            return keys[i].n ? &keys[i] : NULL;
    if (hmac_keys_open(d->st, d->box, webhook_id, now, &keys[*nkeys]) != 0) {
        (*nkeys)++;
        return NULL;
    }
    return &keys[(*nkeys)++];
}

/* The webhook-signature value of one attempt of t at now_s: one Standard
 * Webhooks "v1," HMAC per live secret for a static webhook, or an RS256
 * JWS for a dynamic one (made here, once per attempt). Returns a malloc'd
 * string, or NULL with the reason in t->blocked. */
static char *dispatch_signature(struct dispatch *d, struct transfer *t,
                                const struct hmac_keys *k, int64_t now_s)
{
    char *out = NULL;

    if (t->job.webhook_id[0] == '\0') {
        const char *sub = t->job.operation_id[0] ? t->job.operation_id : t->job.message_id;
        const char *aud = t->job.target_uri;
        for (size_t i = 0; i < d->cfg.naudiences; i++)
            if (strcmp(d->cfg.audiences[i].project, t->job.project) == 0)
                aud = d->cfg.audiences[i].aud;
        if (d->cfg.keyring == NULL ||
            keyring_sign(d->cfg.keyring, d->cfg.issuer, aud, sub, now_s,
                         t->job.message_id, t->job.payload, t->job.payload_len, &out) != 0) {
            snprintf(t->blocked, sizeof(t->blocked), "cannot sign: no active signing key");
            return NULL;
        }
        return out;
    }
    if (k == NULL || k->n == 0) {
        snprintf(t->blocked, sizeof(t->blocked),
                 "cannot sign: the webhook has no usable signing secret");
        return NULL;
    }
    out = hmac_keys_sign(k, t->job.message_id, now_s, t->job.payload, t->job.payload_len);
    if (out == NULL)
        snprintf(t->blocked, sizeof(t->blocked), "cannot sign");
    return out;
}

/* Build the header list for one attempt of t, signed at now_s. Returns 0 or
 * -1 (out of memory, cannot sign). */
static int dispatch_headers(struct dispatch *d, struct transfer *t, const struct hmac_keys *k,
                            int64_t now_s)
{
    char line[WEBHOOK_URI_MAX];
    char *sig = dispatch_signature(d, t, k, now_s);
    char *sigline = NULL;
    struct curl_slist *h = NULL, *next;

    if (sig == NULL)
        return -1;
    sigline = malloc(strlen(sig) + sizeof("webhook-signature: "));
    if (sigline == NULL)
        goto fail;
    strcpy(sigline, "webhook-signature: ");
    strcat(sigline, sig);

#define ADD(s)                               \
    do {                                     \
        next = curl_slist_append(h, (s));    \
        if (next == NULL)                    \
            goto fail;                       \
        h = next;                            \
    } while (0)
    ADD("Content-Type: application/json");
    ADD("User-Agent: kabar/" KABAR_VERSION);
    ADD("Expect:");     /* no 100-continue round trip before the body */
    snprintf(line, sizeof(line), "webhook-id: %s", t->job.message_id);
    ADD(line);
    snprintf(line, sizeof(line), "webhook-timestamp: %lld", (long long)now_s);
    ADD(line);
    ADD(sigline);
#undef ADD
    t->headers = h;
    free(sigline);
    free(sig);
    return 0;
fail:
    curl_slist_free_all(h);
    free(sigline);
    free(sig);
    return -1;
}

/* ---- outcomes --------------------------------------------------------------- */

enum flush { FLUSH_IF_IDLE, FLUSH_WAIT, FLUSH_LAST };

/* Hand the queued outcomes to the recorder: if it is idle; or once it is
 * (FLUSH_WAIT: too many wait here - the loop's back-pressure - unless the
 * store is failing; FLUSH_LAST: the loop's last batch, failed batches
 * given up). */
static void dispatch_flush(struct dispatch *d, enum flush how)
{
    struct store_attempt *swap;

    if (d->nrecords == 0)
        return;
    pthread_mutex_lock(&d->rec_mu);
    if (how == FLUSH_LAST) {
        d->rec_last = true;
        pthread_cond_broadcast(&d->rec_cond);
    }
    while (how != FLUSH_IF_IDLE && d->rec_n > 0 && (how == FLUSH_LAST || !d->rec_failing))
        pthread_cond_wait(&d->rec_cond, &d->rec_mu);
    if (d->rec_n == 0) {
        swap = d->rec_buf;
        d->rec_buf = d->records;
        d->records = swap;
        d->rec_n = d->nrecords;
        d->nrecords = 0;
        pthread_cond_broadcast(&d->rec_cond);
    }
    pthread_mutex_unlock(&d->rec_mu);
}

/* The recorder thread: write each batch in one transaction. A batch that
 * fails is tried again a second later (meanwhile the next one gathers on
 * the loop's side, up to RECORDS_MAX); at shutdown it is given up: the
 * leases expire and the deliveries are sent again (a duplicate, never a
 * loss). */
static void *dispatch_record_main(void *arg)
{
    struct dispatch *d = arg;

    pthread_mutex_lock(&d->rec_mu);
    for (;;) {
        size_t n;
        enum store_rc rc;

        while (d->rec_n == 0 && !d->rec_stop)
            pthread_cond_wait(&d->rec_cond, &d->rec_mu);
        if (d->rec_n == 0)
            break;
        n = d->rec_n;
        pthread_mutex_unlock(&d->rec_mu);
        rc = store_attempts_record(d->st, d->rec_buf, n, timeutil_now_us(),
                                   d->cfg.disable_after_us);
        if (rc != STORE_OK)
            log_warn("cannot record attempts", "count=%zu error=\"%s\"", n, store_strerror(rc));
        pthread_mutex_lock(&d->rec_mu);
        d->rec_failing = rc != STORE_OK;
        pthread_cond_broadcast(&d->rec_cond);
        if (rc == STORE_OK || d->rec_last || d->rec_stop) {
            d->rec_n = 0;
        } else {
            struct timespec until;

            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&d->rec_cond, &d->rec_mu, &until);
        }
    }
    pthread_mutex_unlock(&d->rec_mu);
    return NULL;
}

/* Let the recorder write what it has and end. */
static void dispatch_record_stop(struct dispatch *d)
{
    pthread_mutex_lock(&d->rec_mu);
    d->rec_stop = true;
    pthread_cond_broadcast(&d->rec_cond);
    pthread_mutex_unlock(&d->rec_mu);
    pthread_join(d->recorder, NULL);
}

static struct store_attempt *dispatch_new_record(struct dispatch *d)
{
    struct store_attempt *r;

    if (d->nrecords >= RECORDS_HIGH)
        dispatch_flush(d, FLUSH_WAIT);
    if (d->nrecords == RECORDS_MAX)
        return NULL;        /* the lease expires and it is sent again */
    if (d->nrecords == 0)
        d->first_record_mono_us = timeutil_mono_us();
    r = &d->records[d->nrecords++];
    memset(r, 0, sizeof(*r));
    return r;
}

static void dispatch_release_transfer(struct dispatch *d, struct transfer *t)
{
    pthread_mutex_lock(&d->slots_mu);
    slot_put(d, t->job.target_uri);
    pthread_mutex_unlock(&d->slots_mu);
    d->active[t->slot] = d->active[--d->nactive];
    d->active[t->slot]->slot = t->slot;
    atomic_fetch_sub(&metrics.in_flight, 1);
    if (t->easy) {
        curl_multi_remove_handle(d->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->headers);
    free(t->job.payload);
    free(t);
}

/* The HTTP status of t's answer, 0 when there was none. The status line
 * decides the outcome even when kabard cut the rest of the response short
 * (a body too large, headers too long) or the endpoint stopped sending it:
 * the body is only read for the log. */
static long dispatch_status(const struct transfer *t, CURLcode result)
{
    long status = 0;

    if (t->easy == NULL ||
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        return 0;
    if (result != CURLE_OK && status < 200)
        return 0;   /* no final answer (an interim 1xx at most) */
    return status;
}

/* Why t did not end as a complete exchange, in words, or "": the SSRF
 * refusal or signing failure, the limit kabard cut it at, or libcurl's
 * error. */
static void dispatch_error(const struct transfer *t, CURLcode result, char *out, size_t len)
{
    if (t->blocked[0])
        snprintf(out, len, "%s", t->blocked);
    else if (result == CURLE_OK)
        out[0] = '\0';
    else if (t->cut[0])
        snprintf(out, len, "%s", t->cut);
    else
        snprintf(out, len, "%s", curl_easy_strerror(result));
}

/* Classify a finished attempt and queue its record. */
static void dispatch_finish(struct dispatch *d, struct transfer *t, CURLcode result)
{
    struct store_attempt *r = dispatch_new_record(d);
    int64_t now = timeutil_now_us();
    int64_t retry_after = -1;
    long status = 0;
    uint32_t rnd = 0;
    enum metrics_outcome mo;

    if (r == NULL) {
        dispatch_release_transfer(d, t);
        return;
    }
    ids_new("att_", r->id, sizeof(r->id));
    strcpy(r->delivery_id, t->job.id);
    strcpy(r->webhook_id, t->job.webhook_id);
    r->time_us = t->start_us;
    r->latency_us = timeutil_mono_us() - t->start_mono_us;
    status = dispatch_status(t, result);
    r->response_status = (int)status;
    memcpy(r->excerpt, t->excerpt, t->excerpt_len);
    r->excerpt_len = t->excerpt_len;
    dispatch_error(t, result, r->error, sizeof(r->error));

    if (status >= 200 && status < 300) {
        r->outcome = STORE_OUTCOME_SUCCEEDED;
    } else if (status == 410) {
        r->outcome = t->job.webhook_id[0] ? STORE_OUTCOME_GONE : STORE_OUTCOME_FAILED;
    } else {
        if (status == 429 || status == 503) {
            struct curl_header *h;
            if (curl_easy_header(t->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
                retry_after_parse(h->value, now, &retry_after) != 0)
                retry_after = -1;
        }
        RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
        r->next_due_us = retry_next(&d->cfg.retry, t->job.attempts + 1, t->job.message_time_us,
                                    now, retry_after, rnd);
        r->outcome = r->next_due_us < 0 ? STORE_OUTCOME_FAILED : STORE_OUTCOME_RETRY;
    }

    switch (r->outcome) {
    case STORE_OUTCOME_SUCCEEDED: mo = METRICS_OUTCOME_SUCCEEDED; break;
    case STORE_OUTCOME_RETRY: mo = METRICS_OUTCOME_RETRY; break;
    case STORE_OUTCOME_GONE: mo = METRICS_OUTCOME_GONE; break;
    default: mo = METRICS_OUTCOME_FAILED; break;
    }
    metrics_attempt(mo, r->latency_us);
    if (r->outcome != STORE_OUTCOME_SUCCEEDED) {
        /* Every failure says why in words: the transport's error, or, when
         * the endpoint did answer, its status (the record keeps error ""
         * then, the status being in a column of its own). */
        char why[STORE_ERROR_MAX + 32];

        if (r->error[0] && status != 0)
            snprintf(why, sizeof(why), "endpoint answered HTTP %ld; %s", status, r->error);
        else if (r->error[0])
            snprintf(why, sizeof(why), "%s", r->error);
        else if (status == 410)
            snprintf(why, sizeof(why), "endpoint answered HTTP 410 Gone%s",
                     t->job.webhook_id[0] ? "; the webhook is disabled" : "");
        else
            snprintf(why, sizeof(why), "endpoint answered HTTP %ld", status);
        log_info("delivery attempt failed", "delivery=%s webhook=%s attempt=%d status=%ld "
                 "outcome=%s error=\"%s\"", t->job.id, t->job.webhook_id[0] ? t->job.webhook_id : "-",
                 t->job.attempts + 1, status, metrics_outcome_name(mo), why);
    }
    dispatch_release_transfer(d, t);
}

/* ---- starting transfers ----------------------------------------------------- */

/* What one attempt may cost: one request (dispatch_on_request), at most
 * RESPONSE_HEADERS_MAX + RESPONSE_BODY_MAX bytes read, the configured
 * timeouts, no redirect followed. */
static void dispatch_limit(CURL *e, struct transfer *t)
{
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, dispatch_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, dispatch_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, dispatch_on_request);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, t);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, t->d->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, t->d->cfg.timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
}

/* Hand a signed attempt to libcurl. */
static void dispatch_send(struct dispatch *d, struct transfer *t)
{
    CURL *e = curl_easy_init();

    if (e == NULL) {
        dispatch_finish(d, t, CURLE_OUT_OF_MEMORY);
        return;
    }
    t->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, t->job.target_uri);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)t->job.payload);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->job.payload_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    dispatch_limit(e, t);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, dispatch_on_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PROXY, "");     /* a proxy would hide the real target */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (strncmp(t->job.target_uri, "https:", 6) == 0) {
        /* HTTP/2 when the endpoint offers it in the TLS handshake; waiting
         * for that handshake lets later attempts share the connection. */
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    } else {
        /* Cleartext has no upgrade we use; with PIPEWAIT every attempt to a
         * host would queue behind the first, slow or not. */
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK)
        dispatch_finish(d, t, CURLE_FAILED_INIT);
}

/* A signing worker's job: sign one attempt of a dynamic webhook. */
static void dispatch_sign_work(struct signpool_item *item, void *arg)
{
    struct transfer *t = (struct transfer *)((char *)item - offsetof(struct transfer, sp));

    t->sign_ok = dispatch_headers(arg, t, NULL, timeutil_now_us() / TIMEUTIL_US_PER_S) == 0;
}

/* Send the attempts the signing workers have finished. */
static void dispatch_take_signed(struct dispatch *d)
{
    struct signpool_item *items[64];
    size_t n;

    if (d->signers == NULL)
        return;
    while ((n = signpool_take(d->signers, items, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct transfer *t = (struct transfer *)((char *)items[i] - offsetof(struct transfer, sp));
            if (t->sign_ok)
                dispatch_send(d, t);
            else
                dispatch_finish(d, t, CURLE_FAILED_INIT);
        }
    }
}

/* Start one transfer for job (whose payload it takes over): signed here
 * for a static webhook, by a signing worker for a dynamic one. A failure to
 * sign is recorded as a failed attempt and retried per the policy. */
static void dispatch_start_job(struct dispatch *d, struct store_job *job,
                               const struct hmac_keys *k, int64_t now_us)
{
    struct transfer *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        pthread_mutex_lock(&d->slots_mu);
        slot_put(d, job->target_uri);
        pthread_mutex_unlock(&d->slots_mu);
        free(job->payload);
        job->payload = NULL;
        return;     /* the lease expires and the delivery is claimed again */
    }
    t->d = d;
    t->job = *job;
    job->payload = NULL;
    t->start_us = now_us;
    t->start_mono_us = timeutil_mono_us();
    t->slot = d->nactive;
    d->active[d->nactive++] = t;
    atomic_fetch_add(&metrics.in_flight, 1);

    if (t->job.webhook_id[0] == '\0' && d->signers) {
        signpool_push(d->signers, &t->sp);
        return;
    }
    if (dispatch_headers(d, t, k, now_us / TIMEUTIL_US_PER_S) != 0) {
        if (t->blocked[0] == '\0')
            snprintf(t->blocked, sizeof(t->blocked), "out of memory");
        dispatch_finish(d, t, CURLE_FAILED_INIT);
        return;
    }
    dispatch_send(d, t);
}

/* Lease a batch of due deliveries and start them. *limit_out is what it
 * asked for. Returns how many it got. */
static size_t dispatch_claim(struct dispatch *d, size_t *limit_out)
{
    char **busy = NULL;
    size_t *inflight = NULL, nbusy = 0, n = 0, nkeys = 0, room, limit;
    struct hmac_keys *keys = NULL;
    int64_t now = timeutil_now_us();
    enum store_rc rc;

    /* The free slots as the claim sees them: the writer reserves none
     * until the claimed deliveries hold theirs. */
    pthread_mutex_lock(&d->slots_mu);
    room = d->cfg.max_in_flight - d->nslots;
    limit = room < CLAIM_BATCH ? room : CLAIM_BATCH;
    *limit_out = limit;
    if (limit == 0) {
        pthread_mutex_unlock(&d->slots_mu);
        return 0;
    }
    d->claiming = true;
    busy = malloc((d->nslots ? d->nslots : 1) * sizeof *busy);
    inflight = malloc((d->nslots ? d->nslots : 1) * sizeof *inflight);
    for (size_t b = 0; busy && inflight && b < SLOT_BUCKETS; b++) {
        for (struct slot *x = d->slots[b]; x; x = x->next) {
            if ((busy[nbusy] = strdup(x->uri)) == NULL)
                goto nomem;
            inflight[nbusy++] = x->n;
        }
    }
    pthread_mutex_unlock(&d->slots_mu);
    if (busy == NULL || inflight == NULL)
        goto done;
    rc = store_deliveries_claim(d->st, d->owner, now, dispatch_lease_until(d, now), limit,
                                dispatch_target_cap(d, nbusy), (const char *const *)busy, inflight,
                                nbusy, d->jobs, &n);
    if (rc != STORE_OK) {
        log_warn("cannot claim deliveries", "error=\"%s\"", store_strerror(rc));
        n = 0;
        goto done;
    }
    pthread_mutex_lock(&d->slots_mu);
    for (size_t i = 0; i < n; i++)
        slot_take(d, d->jobs[i].target_uri, true);
    d->claiming = false;
    pthread_mutex_unlock(&d->slots_mu);
    keys = calloc(n ? n : 1, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        const struct hmac_keys *k = NULL;
        if (keys && d->jobs[i].webhook_id[0])
            k = dispatch_keys(d, keys, &nkeys, d->jobs[i].webhook_id, now);
        dispatch_start_job(d, &d->jobs[i], k, now);
    }
    goto out;
nomem:
    pthread_mutex_unlock(&d->slots_mu);
done:
    pthread_mutex_lock(&d->slots_mu);
    d->claiming = false;
    pthread_mutex_unlock(&d->slots_mu);
out:
    if (keys) {
        hmac_keys_wipe(keys, n ? n : 1);
        free(keys);
    }
    for (size_t i = 0; busy && i < nbusy; i++)
        free(busy[i]);
    free(busy);
    free(inflight);
    return n;
}

/* Start the deliveries the event writer handed over (their slots are
 * theirs already). */
static void dispatch_take_handed(struct dispatch *d)
{
    struct store_job *jobs;
    struct hmac_keys *keys;
    size_t n, nkeys = 0, nhooks = 0;
    int64_t now;

    pthread_mutex_lock(&d->slots_mu);
    jobs = d->handed;
    n = d->nhanded;
    d->handed = NULL;
    d->nhanded = d->handed_cap = 0;
    pthread_mutex_unlock(&d->slots_mu);
    if (n == 0) {
        free(jobs);
        return;
    }
    now = timeutil_now_us();
    /* Room for the keys of each webhook once (a batch often has one). */
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;

        while (j < i && strcmp(jobs[j].webhook_id, jobs[i].webhook_id) != 0)
            j++;
        nhooks += j == i && jobs[i].webhook_id[0];
    }
    keys = calloc(nhooks ? nhooks : 1, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        const struct hmac_keys *k = NULL;

        if (dispatch_hold && dispatch_hold(&jobs[i])) {
            /* Held (a test's hook): leased on disk, never sent here. */
            pthread_mutex_lock(&d->slots_mu);
            slot_put(d, jobs[i].target_uri);
            pthread_mutex_unlock(&d->slots_mu);
            free(jobs[i].payload);
            continue;
        }
        if (keys && jobs[i].webhook_id[0])
            k = dispatch_keys(d, keys, &nkeys, jobs[i].webhook_id, now);
        dispatch_start_job(d, &jobs[i], k, now);
    }
    if (keys) {
        hmac_keys_wipe(keys, nhooks ? nhooks : 1);
        free(keys);
    }
    free(jobs);
}

/* When to claim next after a claim that returned n of limit. */
static void dispatch_schedule_claim(struct dispatch *d, size_t n, size_t limit)
{
    int64_t now_mono = timeutil_mono_us();
    int64_t due = 0, wait;

    if (n > 0 && n == limit) {
        d->next_claim_mono_us = now_mono;
        d->waiting = true;
        return;
    }
    wait = IDLE_POLL_MS * 1000;
    d->waiting = true;
    if (store_deliveries_next_due(d->st, &due) == STORE_OK) {
        int64_t until = due - timeutil_now_us();
        /* Due now but not claimable (targets at their cap): a finishing
         * transfer triggers the next claim, so do not spin. Due later:
         * nothing waits for a slot, and finishing transfers (the fast
         * path's) need not claim. */
        d->waiting = until <= 0;
        if (until < 50000)
            until = 50000;
        if (until < wait)
            wait = until;
    }
    d->next_claim_mono_us = now_mono + wait;
}

/* ---- the loop --------------------------------------------------------------- */

static void dispatch_reap(struct dispatch *d)
{
    CURLMsg *msg;
    int left;
    int64_t now_mono = timeutil_mono_us();

    while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
        struct transfer *t = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        dispatch_finish(d, t, msg->data.result);
        /* A slot is free: when deliveries wait for one, claim soon, but
         * not at once - a claim per finished attempt would cost a query
         * each; a short wait gathers the slots that free up meanwhile
         * into one claim. */
        if (d->waiting && d->next_claim_mono_us > now_mono + CLAIM_GATHER_US)
            d->next_claim_mono_us = now_mono + CLAIM_GATHER_US;
    }
}

/* libcurl's socket callback: keep the epoll set to the sockets libcurl
 * wants watched, for what it wants to know. */
static int dispatch_on_sock(CURL *e, curl_socket_t s, int what, void *arg, void *sockp)
{
    struct dispatch *d = arg;
    struct epoll_event ev;

    (void)e;
    (void)sockp;
    if (what == CURL_POLL_REMOVE) {
        /* Gone already when libcurl closed it first: nothing to undo. */
        epoll_ctl(d->epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    memset(&ev, 0, sizeof ev);
    ev.data.fd = s;
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, s, &ev) != 0 &&
        (errno != ENOENT || epoll_ctl(d->epfd, EPOLL_CTL_ADD, s, &ev) != 0)) {
        /* Not an error for libcurl, which would abandon every transfer:
         * this one waits unwatched and ends at its timeout. */
        log_warn("cannot watch a delivery socket", "errno=%d", errno);
    }
    return 0;
}

/* libcurl's timer callback: when to call it back with CURL_SOCKET_TIMEOUT
 * (-1: no timer). */
static int dispatch_on_timer(CURLM *multi, long timeout_ms, void *arg)
{
    struct dispatch *d = arg;

    (void)multi;
    d->curl_timer_mono_us = timeout_ms < 0 ? -1 : timeutil_mono_us() + (int64_t)timeout_ms * 1000;
    return 0;
}

/* Runs libcurl's timer when it is due. */
static void dispatch_curl_timer(struct dispatch *d)
{
    int running;

    if (d->curl_timer_mono_us >= 0 && timeutil_mono_us() >= d->curl_timer_mono_us) {
        d->curl_timer_mono_us = -1;
        curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

/* Waits up to timeout_ms for sockets, a wake-up or libcurl's timer, and
 * lets libcurl act on the sockets that are ready. */
static void dispatch_wait(struct dispatch *d, int timeout_ms)
{
    struct epoll_event evs[EPOLL_EVENTS];
    int n, running;

    if (d->curl_timer_mono_us >= 0) {
        int64_t until = d->curl_timer_mono_us - timeutil_mono_us();
        int ms = until <= 0 ? 0 : (int)((until + 999) / 1000);
        if (ms < timeout_ms)
            timeout_ms = ms;
    }
    n = epoll_wait(d->epfd, evs, EPOLL_EVENTS, timeout_ms);
    for (int i = 0; i < n; i++) {
        int mask = 0;

        if (evs[i].data.fd == d->wakefd) {
            uint64_t count;
            if (read(d->wakefd, &count, sizeof count) < 0) {
                /* EAGAIN: another turn drained it. */
            }
            continue;
        }
        if (evs[i].events & EPOLLIN)
            mask |= CURL_CSELECT_IN;
        if (evs[i].events & EPOLLOUT)
            mask |= CURL_CSELECT_OUT;
        if (evs[i].events & (EPOLLERR | EPOLLHUP))
            mask |= CURL_CSELECT_ERR;
        curl_multi_socket_action(d->multi, evs[i].data.fd, mask, &running);
    }
    dispatch_curl_timer(d);
}

static void *dispatch_main(void *arg)
{
    struct dispatch *d = arg;

    for (;;) {
        bool stopping = atomic_load(&d->stopping);
        int64_t now_mono = timeutil_mono_us();
        int timeout_ms;

        dispatch_take_handed(d);
        if (!stopping && d->nactive < d->cfg.max_in_flight &&
            (atomic_exchange(&d->woken, false) || now_mono >= d->next_claim_mono_us)) {
            size_t limit = 0, n = dispatch_claim(d, &limit);

            if (limit > 0) {
                dispatch_schedule_claim(d, n, limit);
            } else {
                /* Every slot is taken: the next finished attempt claims. */
                d->waiting = true;
                d->next_claim_mono_us = now_mono + IDLE_POLL_MS * 1000;
            }
        }
        dispatch_take_signed(d);
        /* New transfers set libcurl's timer to now: start them at once. */
        dispatch_curl_timer(d);
        dispatch_reap(d);

        now_mono = timeutil_mono_us();
        /* Records go to the recorder when there are enough or the oldest
         * has waited: a few transactions a second at a low rate, rather
         * than one per attempt competing with the event writer's. */
        if (d->nrecords > 0 && (d->nrecords >= RECORD_BATCH ||
                                now_mono - d->first_record_mono_us >= RECORD_DELAY_US))
            dispatch_flush(d, FLUSH_IF_IDLE);
        if (stopping && d->nactive == 0) {
            bool handed;

            pthread_mutex_lock(&d->slots_mu);
            handed = d->nhanded > 0;
            pthread_mutex_unlock(&d->slots_mu);
            if (!handed) {
                dispatch_flush(d, FLUSH_LAST);
                break;
            }
        }

        timeout_ms = IDLE_POLL_MS;
        if (!stopping && d->nactive < d->cfg.max_in_flight) {
            int64_t until = (d->next_claim_mono_us - now_mono) / 1000;
            if (until < timeout_ms)
                timeout_ms = until > 0 ? (int)until : 0;
        }
        if (d->nrecords > 0 && timeout_ms > RECORD_DELAY_US / 1000)
            timeout_ms = RECORD_DELAY_US / 1000;
        dispatch_wait(d, timeout_ms);
        dispatch_reap(d);
    }
    atomic_store(&d->running, false);
    return NULL;
}

static void dispatch_wake_multi(void *arg)
{
    dispatch_wake_loop(arg);
}

struct dispatch *dispatch_start(struct store *st, const struct secretbox *box,
                                const struct dispatch_config *cfg, char *err, size_t errlen)
{
    struct dispatch *d = calloc(1, sizeof(*d));
    char rnd[IDS_MAX];
    char prefix[sizeof(d->owner)];
    size_t released = 0;

    if (d == NULL)
        goto fail;
    d->st = st;
    d->box = box;
    d->cfg = *cfg;
    d->waiting = true;
    pthread_mutex_init(&d->slots_mu, NULL);
    pthread_mutex_init(&d->rec_mu, NULL);
    pthread_cond_init(&d->rec_cond, NULL);
    ids_new("", rnd, sizeof(rnd));
    snprintf(prefix, sizeof(prefix), "%.60s/", cfg->node[0] ? cfg->node : "kabard");
    snprintf(d->owner, sizeof(d->owner), "%s%ld/%s", prefix, (long)getpid(), rnd);
    if (store_deliveries_release(st, cfg->release_prefix, &released) == STORE_OK &&
        released > 0)
        log_info("released the deliveries of a previous run", "count=%zu", released);
    d->active = calloc(cfg->max_in_flight, sizeof(*d->active));
    d->records = calloc(RECORDS_MAX, sizeof(*d->records));
    d->rec_buf = calloc(RECORDS_MAX, sizeof(*d->rec_buf));
    d->jobs = calloc(CLAIM_BATCH, sizeof(*d->jobs));
    d->multi = curl_multi_init();
    d->curl_timer_mono_us = -1;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    d->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->active == NULL || d->records == NULL || d->rec_buf == NULL || d->jobs == NULL ||
        d->multi == NULL || d->epfd < 0 || d->wakefd < 0)
        goto fail_free;
    {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = d->wakefd};
        if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wakefd, &ev) != 0)
            goto fail_free;
    }
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, dispatch_on_sock);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, dispatch_on_timer);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        d->signers = signpool_start(ncpu > 0 ? (unsigned)ncpu : 1, dispatch_sign_work,
                                    dispatch_wake_multi, d);
        if (d->signers == NULL)
            goto fail_free;
    }
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)cfg->max_in_flight);
    /* Set before the thread starts, so a probe right after start-up does
     * not see a delivery thread that is merely not scheduled yet; the
     * thread clears it when its loop ends. */
    atomic_store(&d->running, true);
    if (pthread_create(&d->recorder, NULL, dispatch_record_main, d) != 0)
        goto fail_free;
    if (pthread_create(&d->thread, NULL, dispatch_main, d) != 0) {
        dispatch_record_stop(d);
        goto fail_free;
    }
    return d;
fail_free:
    signpool_stop(d->signers);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    if (d->epfd > 0)
        close(d->epfd);
    if (d->wakefd > 0)
        close(d->wakefd);
    pthread_mutex_destroy(&d->slots_mu);
    pthread_cond_destroy(&d->rec_cond);
    pthread_mutex_destroy(&d->rec_mu);
    free(d->jobs);
    free(d->rec_buf);
    free(d->records);
    free(d->active);
    free(d);
fail:
    snprintf(err, errlen, "cannot start the delivery thread");
    return NULL;
}

void dispatch_wake(struct dispatch *d)
{
    atomic_store(&d->woken, true);
    dispatch_wake_loop(d);
}

bool dispatch_running(struct dispatch *d)
{
    return atomic_load(&d->running) && !atomic_load(&d->stopping);
}

void dispatch_stop(struct dispatch *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->stopping, true);
    dispatch_wake_loop(d);
    pthread_join(d->thread, NULL);
    dispatch_record_stop(d);        /* after the loop's last batch */
    signpool_stop(d->signers);
    curl_multi_cleanup(d->multi);   /* may still tell dispatch_on_sock */
    close(d->epfd);
    close(d->wakefd);
    for (size_t b = 0; b < SLOT_BUCKETS; b++) {
        while (d->slots[b]) {
            struct slot *next = d->slots[b]->next;
            free(d->slots[b]);
            d->slots[b] = next;
        }
    }
    for (size_t i = 0; i < d->nhanded; i++)
        free(d->handed[i].payload);
    free(d->handed);
    pthread_mutex_destroy(&d->slots_mu);
    pthread_cond_destroy(&d->rec_cond);
    pthread_mutex_destroy(&d->rec_mu);
    free(d->jobs);
    free(d->rec_buf);
    free(d->records);
    free(d->active);
    free(d);
}
