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

/* Whether the delivery thread is running its loop and not stopping (the
 * readiness probe asks). Callable from any thread. */
bool dispatch_running(struct dispatch *d);

/* Stop claiming, let the transfers in flight finish (each is bounded by
 * timeout_ms), record them, and free d. */
void dispatch_stop(struct dispatch *d);

#endif
