/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signpool.h - threads that sign dynamic webhooks' attempts.
 *
 * An RS256 signature costs about 250 us, two orders of magnitude more than
 * anything else an attempt needs, so the delivery thread does not make it:
 * it hands the attempt to this pool and goes on driving transfers. A worker
 * runs the sign function on the item, puts it on the done list and calls
 * the wake function; the delivery thread collects finished items with
 * signpool_take(). With one worker per core, signing uses every core.
 *
 * Items are intrusive (a struct signpool_item inside the caller's struct),
 * so queueing never allocates and cannot fail.
 */
#ifndef KABAR_SIGNPOOL_H
#define KABAR_SIGNPOOL_H

#include <stddef.h>

struct signpool_item {
    struct signpool_item *next;
};

struct signpool;

/* The work done on each item, on a worker thread. */
typedef void (*signpool_fn)(struct signpool_item *item, void *arg);

/* Start n workers (n >= 1). wake(arg) is called after each item is done.
 * Returns NULL when the threads cannot be started. */
struct signpool *signpool_start(unsigned n, signpool_fn fn, void (*wake)(void *arg), void *arg);

/* Queue item for a worker. */
void signpool_push(struct signpool *p, struct signpool_item *item);

/* Move up to cap finished items into items[]. Returns how many. */
size_t signpool_take(struct signpool *p, struct signpool_item **items, size_t cap);

/* Finish the queued items (they end on the done list), stop the workers and
 * free p. Take the done items before: those left are forgotten. */
void signpool_stop(struct signpool *p);

#endif
