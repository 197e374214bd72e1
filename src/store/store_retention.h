/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_retention.h - pruning what is older than the retention window
 * (server/retention.c runs it in the background).
 *
 * A batch is one short transaction, so that pruning a million rows never
 * holds the database for long: the group-commit writer and the delivery
 * engine's outcome batches get in between batches. What goes, per batch:
 *   - messages created before the cutoff none of whose deliveries is still
 *     pending, with their deliveries (succeeded or failed) and attempts.
 *     A message's idempotency key is a column of it and goes with it;
 *     pending deliveries (a disabled webhook's, waiting) are never pruned;
 *   - operations in a final state (succeeded, failed, cancelled, expired)
 *     last updated before the cutoff; their ids are returned so that the
 *     caller removes their result files.
 */
#ifndef KABAR_STORE_RETENTION_H
#define KABAR_STORE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "store/store.h"

#define STORE_PRUNE_BATCH_MAX 1000

/* What one batch removed. */
struct store_prune {
    size_t messages;
    size_t deliveries;
    size_t attempts;
    size_t operations;
    char op_ids[STORE_PRUNE_BATCH_MAX][IDS_MAX];    /* operations[i]'s id */
};

/* One batch (see above), at most limit (capped at STORE_PRUNE_BATCH_MAX)
 * messages and limit operations, in one transaction; *out says what went.
 * Nothing left to prune when every count is 0. */
enum store_rc store_prune(struct store *st, int64_t cutoff_us, size_t limit,
                          struct store_prune *out);
/* Give up to max_pages free pages back to the file system (SQLite's
 * incremental vacuum); *pages says how many. A backend whose space is
 * reclaimed otherwise (PostgreSQL's autovacuum) answers 0. */
enum store_rc store_compact(struct store *st, size_t max_pages, size_t *pages);

#endif
