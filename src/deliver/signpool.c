/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signpool.c - the signing workers (see signpool.h): a mutex, two FIFO
 * lists threaded through the items, one condition variable.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "deliver/signpool.h"

struct signpool_list {
    struct signpool_item *head;
    struct signpool_item **tail;
};

struct signpool {
    signpool_fn fn;
    void (*wake)(void *arg);
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct signpool_list todo;
    struct signpool_list done;
    bool stopping;
    unsigned nthreads;
    pthread_t threads[];
};

static void signpool_append(struct signpool_list *l, struct signpool_item *n)
{
    n->next = NULL;
    *l->tail = n;
    l->tail = &n->next;
}

static struct signpool_item *signpool_shift(struct signpool_list *l)
{
    struct signpool_item *n = l->head;

    if (n) {
        l->head = n->next;
        if (l->head == NULL)
            l->tail = &l->head;
    }
    return n;
}

static void *signpool_main(void *arg)
{
    struct signpool *p = arg;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct signpool_item *n;
        bool wake;

        while (p->todo.head == NULL && !p->stopping)
            pthread_cond_wait(&p->work, &p->lock);
        n = signpool_shift(&p->todo);
        if (n == NULL)
            break;      /* stopping, and nothing left to do */
        pthread_mutex_unlock(&p->lock);
        p->fn(n, p->arg);
        pthread_mutex_lock(&p->lock);
        /* Wake the taker only when the done list becomes non-empty: it
         * takes everything there at once, so more wake-ups are wasted. */
        wake = p->done.head == NULL;
        signpool_append(&p->done, n);
        pthread_mutex_unlock(&p->lock);
        if (wake)
            p->wake(p->arg);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct signpool *signpool_start(unsigned n, signpool_fn fn, void (*wake)(void *arg), void *arg)
{
    struct signpool *p;

    if (n == 0)
        return NULL;
    p = calloc(1, sizeof(*p) + n * sizeof(pthread_t));
    if (p == NULL)
        return NULL;
    p->fn = fn;
    p->wake = wake;
    p->arg = arg;
    p->todo.tail = &p->todo.head;
    p->done.tail = &p->done.head;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    for (; p->nthreads < n; p->nthreads++) {
        if (pthread_create(&p->threads[p->nthreads], NULL, signpool_main, p) != 0) {
            signpool_stop(p);
            return NULL;
        }
    }
    return p;
}

void signpool_push(struct signpool *p, struct signpool_item *item)
{
    pthread_mutex_lock(&p->lock);
    signpool_append(&p->todo, item);
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
}

size_t signpool_take(struct signpool *p, struct signpool_item **items, size_t cap)
{
    size_t k = 0;

    pthread_mutex_lock(&p->lock);
    while (k < cap && p->done.head)
        items[k++] = signpool_shift(&p->done);
    pthread_mutex_unlock(&p->lock);
    return k;
}

void signpool_stop(struct signpool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
