/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_pool.c - the pool of connections both backends keep (store_pool.h).
 */
#include <assert.h>

#include "store/store_pool.h"

int store_pool_init(struct store_pool *p, size_t max, struct store_conn *first)
{
    assert(max >= 1 && max <= STORE_POOL_MAX);
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        return -1;
    if (pthread_cond_init(&p->idle_cond, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        return -1;
    }
    p->max = max;
    p->idle[0] = first;
    p->nidle = 1;
    p->nconns = 1;
    return 0;
}

void store_pool_destroy(struct store_pool *p, void (*close_conn)(struct store_conn *c))
{
    assert(p->nidle == p->nconns);
    for (size_t i = 0; i < p->nidle; i++)
        close_conn(p->idle[i]);
    p->nidle = p->nconns = 0;
    pthread_cond_destroy(&p->idle_cond);
    pthread_mutex_destroy(&p->lock);
}

struct store_conn *store_pool_take(struct store_pool *p)
{
    struct store_conn *c = NULL;

    pthread_mutex_lock(&p->lock);
    while (p->nidle == 0 && p->nconns >= p->max)
        pthread_cond_wait(&p->idle_cond, &p->lock);
    if (p->nidle > 0)
        c = p->idle[--p->nidle];
    else
        p->nconns++;            /* reserve the slot; the caller opens outside the lock */
    pthread_mutex_unlock(&p->lock);
    return c;
}

void store_pool_drop(struct store_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->nconns--;
    pthread_cond_signal(&p->idle_cond);
    pthread_mutex_unlock(&p->lock);
}

void store_pool_put(struct store_pool *p, struct store_conn *c)
{
    pthread_mutex_lock(&p->lock);
    p->idle[p->nidle++] = c;
    pthread_cond_signal(&p->idle_cond);
    pthread_mutex_unlock(&p->lock);
}
