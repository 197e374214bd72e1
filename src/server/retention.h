/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retention.h - the background job that prunes what is older than the
 * retention window (KABAR_RETENTION_DAYS), in small batches that never
 * stall delivery or the API: each batch is one short transaction, and the
 * job pauses between batches so that other writers go first - at least
 * pause_us, and at least RETENTION_YIELD times as long as the batch took,
 * so that pruning holds the database (and a core) for at most a fifth of
 * the time however slow the batches are on this machine.
 */
#ifndef KABAR_RETENTION_H
#define KABAR_RETENTION_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct retention_config {
    int64_t window_us;          /* keep this long; 0: keep everything */
    int64_t interval_us;        /* between passes */
    size_t batch;               /* messages (and operations) per transaction */
    int64_t pause_us;           /* between batches of one pass */
    const char *data_dir;       /* result files of pruned operations live here */
};

#define RETENTION_DEFAULT_DAYS 30
#define RETENTION_DEFAULT_INTERVAL_S 60
#define RETENTION_DEFAULT_BATCH 500
#define RETENTION_DEFAULT_PAUSE_MS 10
#define RETENTION_COMPACT_PAGES 256     /* pages given back per step */
#define RETENTION_YIELD 4               /* pause >= 4 x the batch's time */

struct retention;

/* Start the job (nothing runs when window_us is 0; NULL is then returned
 * with err empty). st must outlive it. NULL with a message in err on
 * failure. */
struct retention *retention_start(struct store *st, const struct retention_config *cfg,
                                  char *err, size_t errlen);

/* Stop after the batch in progress and free r (NULL: nothing). */
void retention_stop(struct retention *r);

#endif
