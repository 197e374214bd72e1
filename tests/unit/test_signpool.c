/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_signpool.c - the signing pool (deliver/signpool.h): every item
 * pushed is worked on exactly once, on a worker, and comes back through
 * signpool_take() after a wake; stop finishes what is queued.
 *
 * The main thread plays the delivery thread: it waits on a condition the
 * wake function signals, never on time. The ThreadSanitizer pass of make
 * test runs this too.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "deliver/signpool.h"

#define ITEMS 2000
#define WORKERS 4

struct job {
    struct signpool_item item;          /* first: the pool's view */
    unsigned n;
    uint64_t result;                    /* written by the worker */
    unsigned done;                      /* times the worker ran on it */
};

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned wakes;
};

/* Some work per item (what a signature stands for), on a worker. */
static void work(struct signpool_item *item, void *arg)
{
    struct job *j = (struct job *)item;
    uint64_t x = j->n + 1;

    (void)arg;
    for (int i = 0; i < 1000; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    j->result = x;
    j->done++;
}

static void wake(void *arg)
{
    struct waiter *w = arg;

    pthread_mutex_lock(&w->lock);
    w->wakes++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static uint64_t expected(unsigned n)
{
    uint64_t x = n + 1;

    for (int i = 0; i < 1000; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

static void test_every_item_once(void **state)
{
    static struct job jobs[ITEMS];
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct signpool_item *got[64];
    struct signpool *p = signpool_start(WORKERS, work, wake, &w);
    size_t taken = 0;

    (void)state;
    assert_non_null(p);
    for (unsigned i = 0; i < ITEMS; i++) {
        jobs[i] = (struct job){.n = i};
        signpool_push(p, &jobs[i].item);
    }
    while (taken < ITEMS) {
        size_t n = signpool_take(p, got, sizeof got / sizeof got[0]);

        for (size_t i = 0; i < n; i++) {
            struct job *j = (struct job *)got[i];

            assert_int_equal(j->done, 1);
            assert_true(j->result == expected(j->n));
        }
        taken += n;
        if (n == 0) {
            /* Nothing done yet: wait for a wake, then look again. */
            pthread_mutex_lock(&w.lock);
            while (w.wakes == 0)
                pthread_cond_wait(&w.cond, &w.lock);
            w.wakes = 0;
            pthread_mutex_unlock(&w.lock);
        }
    }
    assert_int_equal(taken, ITEMS);
    assert_int_equal(signpool_take(p, got, 1), 0);
    signpool_stop(p);
}

/* Items still queued at stop are worked on before the workers end. */
static void test_stop_finishes_queue(void **state)
{
    static struct job jobs[ITEMS];
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct signpool *p = signpool_start(2, work, wake, &w);

    (void)state;
    assert_non_null(p);
    for (unsigned i = 0; i < ITEMS; i++) {
        jobs[i] = (struct job){.n = i};
        signpool_push(p, &jobs[i].item);
    }
    signpool_stop(p);
    for (unsigned i = 0; i < ITEMS; i++)
        assert_int_equal(jobs[i].done, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_stop_finishes_queue),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
