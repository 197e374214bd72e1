/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - process-wide counters for GET /metrics (Prometheus text).
 *
 * Plain C11 atomics, updated where things happen and read only when
 * scraped; no locks on any hot path. Queue depth is not kept here: the
 * scrape asks the store, which is the truth when several processes share
 * one database.
 */
#ifndef KABAR_METRICS_H
#define KABAR_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Upper bounds (seconds) of the attempt latency histogram buckets. */
#define METRICS_LATENCY_BUCKETS_MAP(X) \
    X(0.005) X(0.01) X(0.025) X(0.05) X(0.1) X(0.25) X(0.5) X(1) X(2.5) X(5) X(10) X(30)

#define METRICS_OUTCOME_MAP(X) \
    X(SUCCEEDED, "succeeded")  \
    X(RETRY, "retry")          \
    X(FAILED, "failed")        \
    X(GONE, "gone")

enum metrics_outcome {
#define X(name, str) METRICS_OUTCOME_##name,
    METRICS_OUTCOME_MAP(X)
#undef X
    METRICS_OUTCOME_COUNT
};

#define METRICS_NBUCKETS 12

struct metrics {
    atomic_uint_fast64_t events_accepted;
    atomic_uint_fast64_t events_duplicate;
    atomic_uint_fast64_t deliveries_created;
    atomic_uint_fast64_t deliveries_fast;   /* handed over by the fast path */
    atomic_uint_fast64_t attempts[METRICS_OUTCOME_COUNT];
    atomic_uint_fast64_t latency_bucket[METRICS_NBUCKETS];  /* not cumulative */
    atomic_uint_fast64_t latency_count;
    atomic_uint_fast64_t latency_sum_us;
    atomic_int_fast64_t in_flight;
    atomic_uint_fast64_t http_requests;
    /* Rows removed by retention (server/retention.c), per table. */
    atomic_uint_fast64_t pruned_messages;
    atomic_uint_fast64_t pruned_deliveries;
    atomic_uint_fast64_t pruned_attempts;
    atomic_uint_fast64_t pruned_operations;
    atomic_uint_fast64_t pruned_pages;      /* file pages given back (SQLite) */
    /* The HTTP connection guard (api/http.c). */
    atomic_int_fast64_t http_connections_open;
    atomic_uint_fast64_t http_connections_refused;      /* JSON 503 at a limit */
    atomic_uint_fast64_t http_connections_past_deadline;
    atomic_uint_fast64_t http_connections_idle_closed;  /* when scarce */
};

extern struct metrics metrics;
extern const double metrics_latency_bounds[METRICS_NBUCKETS];

void metrics_attempt(enum metrics_outcome outcome, int64_t latency_us);
const char *metrics_outcome_name(enum metrics_outcome outcome);

#endif
