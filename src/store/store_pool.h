/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_pool.h - the pool of connections both backends keep.
 *
 * A pool holds up to max connections, opened lazily by the backend, each
 * used by one thread at a time. store_pool_take() hands out an idle one,
 * or reserves a slot for the caller to open a new one in (so the slow open
 * happens outside the lock), or waits while all are out. What a backend
 * does around that - checking a connection is still alive, backing off a
 * server that is away, rolling back what a caller left open - stays in the
 * backend.
 */
#ifndef KABAR_STORE_POOL_H
#define KABAR_STORE_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "store/store_driver.h"

#define STORE_POOL_MAX 16

struct store_pool {
    pthread_mutex_t lock;
    pthread_cond_t idle_cond;           /* signalled when a connection or a slot frees up */
    size_t max;
    size_t nconns;                      /* open or being opened */
    size_t nidle;
    struct store_conn *idle[STORE_POOL_MAX];
};

/* Make p with room for max connections (at most STORE_POOL_MAX) and first,
 * idle. Returns 0, or -1 (nothing to undo). */
int store_pool_init(struct store_pool *p, size_t max, struct store_conn *first);
/* Close every connection with close_conn and free p's locks. Every
 * connection must be back: closing while another thread is inside an
 * operation is the caller's bug (asserted). */
void store_pool_destroy(struct store_pool *p, void (*close_conn)(struct store_conn *c));
/* An idle connection, or NULL with a slot reserved for the caller, who then
 * opens one and, should that fail, gives the slot back (store_pool_drop).
 * Waits while none is idle and the pool is full. */
struct store_conn *store_pool_take(struct store_pool *p);
/* Give back a slot: a reserved one whose open failed, or that of a
 * connection the caller has closed. */
void store_pool_drop(struct store_pool *p);
/* Put c back, idle. */
void store_pool_put(struct store_pool *p, struct store_conn *c);

#endif
