/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_stats.c - GET /v1/stats: what the web UI's overview charts, for the
 * key's project, from the store (so every kabard process on one database
 * shows the same numbers):
 *
 *   {"window_s": 900, "bucket_s": 30, "end_time": "...", "queue_depth": 3,
 *    "buckets": [{"start_time": "...", "succeeded": 10, "failed": 1,
 *                 "latency_p50_ms": 4.2, "latency_p99_ms": 31.0}, ...],
 *    "webhooks": [{"webhook_id": "wh_...", "attempts": 11, "succeeded": 10,
 *                  "success_rate": 0.909}, ...],
 *    "sampled": false}
 *
 * Buckets run oldest first. At most API_STATS_SAMPLES attempts are read,
 * newest first; "sampled": true says the window held more, and the oldest
 * buckets are then short of attempts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_error.h"
#include "api/api_json.h"
#include "common/timeutil.h"
#include "store/store.h"

#define API_STATS_SAMPLES 50000
#define API_STATS_BUCKETS 30
#define API_STATS_WINDOW_DEFAULT_S 900
#define API_STATS_WINDOW_MAX_S 86400
#define API_STATS_WEBHOOKS_MAX 100

struct api_stats_hook {
    char id[IDS_MAX];
    size_t attempts;
    size_t succeeded;
};

static int api_stats_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The p-quantile (0..1) of sorted v[0..n), nearest rank; n > 0. */
static double api_stats_quantile(const double *v, size_t n, double p)
{
    size_t rank = (size_t)ceil(p * (double)n);

    return v[rank > 0 ? rank - 1 : 0];
}

void api_stats_get(const struct api_ctx *ctx, struct api_request *req,
                   struct api_response *resp)
{
    const char *w = api_query(req, "window_s");
    struct store_attempt_sample *s = NULL;
    struct api_stats_hook hooks[API_STATS_WEBHOOKS_MAX];
    double *lat = NULL;
    size_t n = 0, pending = 0, nhooks = 0;
    long window_s = API_STATS_WINDOW_DEFAULT_S;
    int64_t end, start, bucket_us;
    enum store_rc rc;
    json_t *out, *buckets, *wh;

    if (w && w[0]) {
        char *e;
        window_s = strtol(w, &e, 10);
        if (*e != '\0' || window_s < API_STATS_BUCKETS || window_s > API_STATS_WINDOW_MAX_S) {
            api_error(resp, API_INVALID_ARGUMENT, "window_s must be %d to %d",
                      API_STATS_BUCKETS, API_STATS_WINDOW_MAX_S);
            return;
        }
    }
    end = timeutil_now_us();
    bucket_us = (int64_t)window_s * TIMEUTIL_US_PER_S / API_STATS_BUCKETS;
    /* Buckets end on a multiple of their width, so charts drawn a few
     * seconds apart show the same buckets. */
    end = (end / bucket_us + 1) * bucket_us;
    start = end - bucket_us * API_STATS_BUCKETS;
    s = malloc(API_STATS_SAMPLES * sizeof(*s));
    lat = malloc(API_STATS_SAMPLES * sizeof(*lat));
    if (s == NULL || lat == NULL) {
        api_error(resp, API_UNAVAILABLE, "out of memory");
        goto done;
    }
    rc = store_attempts_since(ctx->store, req->project, start, s, API_STATS_SAMPLES, &n);
    if (rc == STORE_OK)
        rc = store_deliveries_pending_project(ctx->store, req->project, &pending);
    if (rc != STORE_OK) {
        api_error_store(resp, rc);
        goto done;
    }

    buckets = json_array();
    for (int b = 0; b < API_STATS_BUCKETS; b++) {
        int64_t b0 = start + b * bucket_us, b1 = b0 + bucket_us;
        size_t ok = 0, failed = 0, nl = 0;
        json_t *o;

        for (size_t i = 0; i < n; i++) {
            if (s[i].time_us < b0 || s[i].time_us >= b1)
                continue;
            if (s[i].response_status >= 200 && s[i].response_status < 300)
                ok++;
            else
                failed++;
            lat[nl++] = (double)s[i].latency_us / 1000.0;
        }
        o = json_pack("{s:o, s:I, s:I}", "start_time", api_json_time(b0),
                      "succeeded", (json_int_t)ok, "failed", (json_int_t)failed);
        if (nl > 0) {
            qsort(lat, nl, sizeof(*lat), api_stats_cmp_double);
            json_object_set_new(o, "latency_p50_ms", json_real(api_stats_quantile(lat, nl, 0.5)));
            json_object_set_new(o, "latency_p99_ms", json_real(api_stats_quantile(lat, nl, 0.99)));
        }
        json_array_append_new(buckets, o);
    }

    for (size_t i = 0; i < n; i++) {
        size_t h;

        if (s[i].webhook_id[0] == '\0')
            continue;
        for (h = 0; h < nhooks && strcmp(hooks[h].id, s[i].webhook_id) != 0; h++)
            ;
        if (h == nhooks) {
            if (nhooks == API_STATS_WEBHOOKS_MAX)
                continue;
            memset(&hooks[h], 0, sizeof hooks[h]);
            strcpy(hooks[h].id, s[i].webhook_id);
            nhooks++;
        }
        hooks[h].attempts++;
        if (s[i].response_status >= 200 && s[i].response_status < 300)
            hooks[h].succeeded++;
    }
    wh = json_array();
    for (size_t h = 0; h < nhooks; h++)
        json_array_append_new(wh, json_pack("{s:s, s:I, s:I, s:f}", "webhook_id", hooks[h].id,
                                            "attempts", (json_int_t)hooks[h].attempts,
                                            "succeeded", (json_int_t)hooks[h].succeeded,
                                            "success_rate",
                                            (double)hooks[h].succeeded /
                                                (double)hooks[h].attempts));
    out = json_pack("{s:I, s:I, s:o, s:I, s:o, s:o, s:b}", "window_s", (json_int_t)window_s,
                    "bucket_s", (json_int_t)(bucket_us / TIMEUTIL_US_PER_S),
                    "end_time", api_json_time(end), "queue_depth", (json_int_t)pending,
                    "buckets", buckets, "webhooks", wh, "sampled", n == API_STATS_SAMPLES);
    api_reply(resp, out);
done:
    free(s);
    free(lat);
}
