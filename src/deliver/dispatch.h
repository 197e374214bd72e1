/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dispatch.h - the delivery engine.
 *
 * One thread drives a libcurl multi handle: it claims due deliveries from
 * the store in batches (leased, so a crashed process's work is claimed
 * again when the lease runs out), signs each attempt, sends them all
 * concurrently over kept-alive connections (HTTP/2 where offered), and
 * records the outcomes in batches. Concurrency is bounded overall and per
 * target URI, so one slow or dead endpoint holds at most its own share of
 * slots and is skipped by the claim while it is full.
 */
#ifndef KABAR_DISPATCH_H
#define KABAR_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/webhook.h"
#include "deliver/retry.h"

#define DISPATCH_AUDIENCES_MAX 64

struct store;
struct secretbox;
struct keyring;

struct dispatch_config {
    size_t max_in_flight;           /* transfers at once, overall */
    size_t max_per_target;          /* transfers at once, per target URI */
    long connect_timeout_ms;
    long timeout_ms;                /* whole attempt */
    int64_t disable_after_us;       /* failing this long without success: disabled */
    struct retry_policy retry;
    bool allow_private;             /* skip the SSRF address check */
    /* This process's stable name (host and listen address): leases are
     * owned by "node/pid/random", and a restarted process releases the
     * leases of its earlier lives at start instead of waiting them out. */
    char node[160];
    /* Leases to release at start: those of owners starting with this. With
     * SQLite, where one process has the database, everything (""); with
     * PostgreSQL, "node/" - this node's earlier lives only. */
    char release_prefix[168];
    /* Dynamic webhooks: the keys that sign their JWTs and the issuer (iss,
     * kabard's public URL). Without a keyring they cannot be signed. */
    struct keyring *keyring;
    char issuer[1024];
    /* Projects that set their own JWT audience (KABAR_JWT_AUDIENCES);
     * the others' tokens have the target URI as aud. */
    struct dispatch_audience {
        char project[WEBHOOK_PROJECT_MAX + 1];
        char aud[256];
    } audiences[DISPATCH_AUDIENCES_MAX];
    size_t naudiences;
};

#define DISPATCH_DEFAULT_MAX_IN_FLIGHT 512
#define DISPATCH_DEFAULT_MAX_PER_TARGET 64
#define DISPATCH_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DISPATCH_DEFAULT_TIMEOUT_MS 15000

struct dispatch;

void dispatch_config_default(struct dispatch_config *cfg);

/* Start the delivery thread. st and box must outlive it. Returns NULL with
 * a message in err on failure. */
struct dispatch *dispatch_start(struct store *st, const struct secretbox *box,
                                const struct dispatch_config *cfg, char *err, size_t errlen);

/* New deliveries may be due: claim now instead of at the next poll.
 * Callable from any thread. */
void dispatch_wake(struct dispatch *d);

/* ---- the fast path (docs/architecture.md, "The fast path") ----
 * For the event writer, on its thread. */

struct store_job;

/* Take a slot for a new delivery to uri: true when this process has room
 * for it (in all and at uri) and is not claiming meanwhile. The slot is
 * the caller's until handed over or cancelled. */
bool dispatch_fast_reserve(struct dispatch *d, const char *uri);
/* After the commit: start jobs[0..n) (their slots reserved), taking over
 * their payloads. */
void dispatch_fast_hand(struct dispatch *d, struct store_job *jobs, size_t n);
/* After a failed commit: give the slots of jobs[0..n) back and free their
 * payloads. */
void dispatch_fast_cancel(struct dispatch *d, struct store_job *jobs, size_t n);
/* Give back one slot of uri that dispatch_fast_reserve gave. */
void dispatch_fast_unreserve(struct dispatch *d, const char *uri);
/* The owner of this process's leases, and when a lease taken at now_us
 * runs out. */
const char *dispatch_owner(const struct dispatch *d);
int64_t dispatch_lease_until(const struct dispatch *d, int64_t now_us);
size_t dispatch_max_in_flight(const struct dispatch *d);

/* A test hook (only the kabard_fault test binary sets one): asked for
 * each delivery handed over by the fast path before it is started; true
 * holds it - never sent by this process, its row leased on disk as after
 * a crash between commit and send. Set before dispatch_start. */
typedef bool (*dispatch_hold_fn)(const struct store_job *job);
void dispatch_hold_set(dispatch_hold_fn fn);

/* Whether the delivery thread is running its loop and not stopping (the
 * readiness probe asks). Callable from any thread. */
bool dispatch_running(struct dispatch *d);

/* Stop claiming, let the transfers in flight finish (each is bounded by
 * timeout_ms), record them, and free d. */
void dispatch_stop(struct dispatch *d);

#endif
