/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - the process-wide counters (see metrics.h).
 */
#include "common/metrics.h"

struct metrics metrics;

const double metrics_latency_bounds[METRICS_NBUCKETS] = {
#define X(b) b,
    METRICS_LATENCY_BUCKETS_MAP(X)
#undef X
};

void metrics_attempt(enum metrics_outcome outcome, int64_t latency_us)
{
    double s = (double)latency_us / 1e6;

    atomic_fetch_add_explicit(&metrics.attempts[outcome], 1, memory_order_relaxed);
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        if (s <= metrics_latency_bounds[i]) {
            atomic_fetch_add_explicit(&metrics.latency_bucket[i], 1, memory_order_relaxed);
            break;
        }
    }
    atomic_fetch_add_explicit(&metrics.latency_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&metrics.latency_sum_us, (uint_fast64_t)(latency_us > 0 ? latency_us : 0),
                              memory_order_relaxed);
}

const char *metrics_outcome_name(enum metrics_outcome outcome)
{
    static const char *const names[] = {
#define X(name, str) str,
        METRICS_OUTCOME_MAP(X)
#undef X
    };

    return (unsigned)outcome < METRICS_OUTCOME_COUNT ? names[outcome] : "unknown";
}
