/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_metrics.c - GET /metrics in the Prometheus text format. No key is
 * needed, like /healthz: it shows counts, never ids, URLs or secrets.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "common/metrics.h"
#include "store/store.h"

#define API_METRICS_MAX 8192

#define LOAD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

void api_metrics_get(const struct api_ctx *ctx, struct api_request *req,
                     struct api_response *resp)
{
    char *buf = malloc(API_METRICS_MAX);
    size_t off = 0, pending = 0;
    unsigned long long cum = 0;
    int has_pending = store_deliveries_pending_count(ctx->store, &pending) == STORE_OK;

#define OUT(...)                                                                  \
    do {                                                                          \
        if (off < API_METRICS_MAX)                                                \
            off += (size_t)snprintf(buf + off, API_METRICS_MAX - off, __VA_ARGS__); \
    } while (0)

    if (buf == NULL) {
        resp->status = 500;
        return;
    }
    OUT("# HELP kabar_events_accepted_total Events committed by the API.\n"
        "# TYPE kabar_events_accepted_total counter\n"
        "kabar_events_accepted_total %llu\n", LOAD(metrics.events_accepted));
    OUT("# HELP kabar_events_duplicate_total Events answered from an earlier Idempotency-Key.\n"
        "# TYPE kabar_events_duplicate_total counter\n"
        "kabar_events_duplicate_total %llu\n", LOAD(metrics.events_duplicate));
    OUT("# HELP kabar_deliveries_created_total Deliveries created for accepted events.\n"
        "# TYPE kabar_deliveries_created_total counter\n"
        "kabar_deliveries_created_total %llu\n", LOAD(metrics.deliveries_created));
    OUT("# HELP kabar_deliveries_fast_total Deliveries leased in their insert and handed to"
        " the delivery thread without a claim (the fast path).\n"
        "# TYPE kabar_deliveries_fast_total counter\n"
        "kabar_deliveries_fast_total %llu\n", LOAD(metrics.deliveries_fast));
    OUT("# HELP kabar_delivery_attempts_total Delivery attempts by outcome.\n"
        "# TYPE kabar_delivery_attempts_total counter\n");
    for (int i = 0; i < METRICS_OUTCOME_COUNT; i++)
        OUT("kabar_delivery_attempts_total{outcome=\"%s\"} %llu\n",
            metrics_outcome_name((enum metrics_outcome)i), LOAD(metrics.attempts[i]));
    OUT("# HELP kabar_delivery_attempt_seconds Latency of delivery attempts.\n"
        "# TYPE kabar_delivery_attempt_seconds histogram\n");
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        cum += LOAD(metrics.latency_bucket[i]);
        OUT("kabar_delivery_attempt_seconds_bucket{le=\"%g\"} %llu\n",
            metrics_latency_bounds[i], cum);
    }
    OUT("kabar_delivery_attempt_seconds_bucket{le=\"+Inf\"} %llu\n", LOAD(metrics.latency_count));
    OUT("kabar_delivery_attempt_seconds_sum %.6f\n", (double)LOAD(metrics.latency_sum_us) / 1e6);
    OUT("kabar_delivery_attempt_seconds_count %llu\n", LOAD(metrics.latency_count));
    OUT("# HELP kabar_deliveries_in_flight Attempts being sent by this process.\n"
        "# TYPE kabar_deliveries_in_flight gauge\n"
        "kabar_deliveries_in_flight %lld\n",
        (long long)atomic_load_explicit(&metrics.in_flight, memory_order_relaxed));
    OUT("# HELP kabar_pruned_rows_total Rows removed by retention (KABAR_RETENTION_DAYS).\n"
        "# TYPE kabar_pruned_rows_total counter\n"
        "kabar_pruned_rows_total{table=\"messages\"} %llu\n"
        "kabar_pruned_rows_total{table=\"deliveries\"} %llu\n"
        "kabar_pruned_rows_total{table=\"attempts\"} %llu\n"
        "kabar_pruned_rows_total{table=\"operations\"} %llu\n",
        LOAD(metrics.pruned_messages), LOAD(metrics.pruned_deliveries),
        LOAD(metrics.pruned_attempts), LOAD(metrics.pruned_operations));
    OUT("# HELP kabar_pruned_pages_total Database file pages given back to the file system.\n"
        "# TYPE kabar_pruned_pages_total counter\n"
        "kabar_pruned_pages_total %llu\n", LOAD(metrics.pruned_pages));
    OUT("# HELP kabar_http_connections_open HTTP connections open now.\n"
        "# TYPE kabar_http_connections_open gauge\n"
        "kabar_http_connections_open %lld\n",
        (long long)atomic_load(&metrics.http_connections_open));
    OUT("# HELP kabar_http_connections_shed_total HTTP connections refused (a JSON 503 at "
        "--max-connections or --max-connections-per-address) or closed (past "
        "--request-timeout, or idle while connections were scarce).\n"
        "# TYPE kabar_http_connections_shed_total counter\n"
        "kabar_http_connections_shed_total{reason=\"refused\"} %llu\n"
        "kabar_http_connections_shed_total{reason=\"past_deadline\"} %llu\n"
        "kabar_http_connections_shed_total{reason=\"idle_scarce\"} %llu\n",
        LOAD(metrics.http_connections_refused), LOAD(metrics.http_connections_past_deadline),
        LOAD(metrics.http_connections_idle_closed));
    if (has_pending)
        OUT("# HELP kabar_deliveries_pending Deliveries waiting to be delivered (queue depth).\n"
            "# TYPE kabar_deliveries_pending gauge\n"
            "kabar_deliveries_pending %zu\n", pending);
#undef OUT
    resp->status = 200;
    resp->body = buf;
    resp->content_type = "text/plain; version=0.0.4";
}
