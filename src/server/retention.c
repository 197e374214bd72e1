/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retention.c - the pruning thread (see retention.h and store_retention.h).
 *
 * A pass computes the cutoff once (now - window) and prunes batch after
 * batch until a batch finds nothing, pausing between batches: the store's
 * writers queue on one lock (SQLite) or on row locks (PostgreSQL), and the
 * pause lets the group-commit writer and the delivery engine's outcome
 * batches take it. Then, on SQLite, the freed pages go back to the file
 * system a few at a time. Pruned operations' result files are removed after
 * their rows (a file without a row is harmless; a row without its file
 * would be a broken download).
 */
#include "server/retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "ops/ops_results.h"
#include "store/store.h"
#include "store/store_retention.h"

struct retention {
    struct store *st;
    struct retention_config cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;            /* signalled by retention_stop */
    bool stopping;
    struct store_prune *batch;
};

/* Wait up to us, or until stopping. Returns true when stopping. */
static bool retention_wait(struct retention *r, int64_t us)
{
    struct timespec ts;
    bool stopping;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(us / 1000000);
    ts.tv_nsec += (long)(us % 1000000) * 1000;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->lock);
    while (!r->stopping &&
           pthread_cond_timedwait(&r->cond, &r->lock, &ts) != ETIMEDOUT)
        ;
    stopping = r->stopping;
    pthread_mutex_unlock(&r->lock);
    return stopping;
}

/* The pause after a batch or step that began at start_us: see retention.h.
 * Returns true when stopping. */
static bool retention_yield(struct retention *r, int64_t start_us)
{
    int64_t took = timeutil_mono_us() - start_us;

    return retention_wait(r, took * RETENTION_YIELD > r->cfg.pause_us ? took * RETENTION_YIELD
                                                                      : r->cfg.pause_us);
}

static void retention_remove_files(struct retention *r, const struct store_prune *b)
{
    char name[IDS_MAX];

    for (size_t i = 0; i < b->operations; i++) {
        if (ops_results_name(b->op_ids[i], name, sizeof name) == 0)
            ops_results_remove(r->cfg.data_dir, name);
    }
}

/* One pass: prune everything older than the cutoff, then compact. */
static void retention_pass(struct retention *r)
{
    int64_t cutoff = timeutil_now_us() - r->cfg.window_us;
    struct store_prune *b = r->batch;
    size_t total[4] = {0}, pages = 0, freed;
    int64_t start;
    enum store_rc rc;

    for (;;) {
        start = timeutil_mono_us();
        rc = store_prune(r->st, cutoff, r->cfg.batch, b);
        if (rc != STORE_OK) {
            log_warn("pruning failed; retrying at the next pass", "error=\"%s\"",
                     store_strerror(rc));
            break;
        }
        atomic_fetch_add(&metrics.pruned_messages, b->messages);
        atomic_fetch_add(&metrics.pruned_deliveries, b->deliveries);
        atomic_fetch_add(&metrics.pruned_attempts, b->attempts);
        atomic_fetch_add(&metrics.pruned_operations, b->operations);
        total[0] += b->messages;
        total[1] += b->deliveries;
        total[2] += b->attempts;
        total[3] += b->operations;
        retention_remove_files(r, b);
        if (b->messages == 0 && b->operations == 0)
            break;
        if (retention_yield(r, start))
            return;
    }
    /* Give the freed pages back in small steps, each a short write. */
    for (;;) {
        start = timeutil_mono_us();
        if (store_compact(r->st, RETENTION_COMPACT_PAGES, &freed) != STORE_OK || freed == 0)
            break;
        pages += freed;
        atomic_fetch_add(&metrics.pruned_pages, freed);
        if (retention_yield(r, start))
            return;
    }
    if (total[0] + total[3] + pages > 0)
        log_info("pruned", "messages=%zu deliveries=%zu attempts=%zu operations=%zu pages=%zu",
                 total[0], total[1], total[2], total[3], pages);
}

static void *retention_main(void *arg)
{
    struct retention *r = arg;

    do {
        retention_pass(r);
    } while (!retention_wait(r, r->cfg.interval_us));
    return NULL;
}

struct retention *retention_start(struct store *st, const struct retention_config *cfg,
                                  char *err, size_t errlen)
{
    struct retention *r;

    err[0] = '\0';
    if (cfg->window_us <= 0)
        return NULL;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        goto fail;
    r->st = st;
    r->cfg = *cfg;
    if (r->cfg.batch == 0 || r->cfg.batch > STORE_PRUNE_BATCH_MAX)
        r->cfg.batch = RETENTION_DEFAULT_BATCH;
    r->batch = malloc(sizeof *r->batch);
    if (r->batch == NULL)
        goto fail_free;
    if (pthread_mutex_init(&r->lock, NULL) != 0)
        goto fail_free;
    if (pthread_cond_init(&r->cond, NULL) != 0)
        goto fail_mutex;
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0)
        goto fail_cond;
    log_info("retention started", "window_s=%lld interval_ms=%lld batch=%zu",
             (long long)(cfg->window_us / 1000000), (long long)(cfg->interval_us / 1000),
             r->cfg.batch);
    return r;
fail_cond:
    pthread_cond_destroy(&r->cond);
fail_mutex:
    pthread_mutex_destroy(&r->lock);
fail_free:
    free(r->batch);
    free(r);
fail:
    snprintf(err, errlen, "cannot start the retention job");
    return NULL;
}

void retention_stop(struct retention *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r->batch);
    free(r);
}
