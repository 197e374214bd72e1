/* SPDX-License-Identifier: Apache-2.0 */
/*
 * publish.c - the group-commit writer (see publish.h).
 *
 * Submitters queue a request on a list and sleep on the request's own
 * condition variable; the writer detaches up to PUBLISH_BATCH_MAX requests,
 * commits them with one store_messages_insert() call outside the lock,
 * marks them done and wakes exactly their submitters (a broadcast would
 * wake every waiting thread for every batch). While a batch commits, the next one queues up, so under
 * load each fsync carries many events and at low load an event waits for
 * one transaction only.
 *
 * With a delivery thread in this process (publish_fast), the batch's new
 * deliveries take its free slots in the insert transaction (leased to it
 * there) and are handed to it after the commit: the fast path, no claim
 * for a fresh event. The rest are claimed as usual, after the notify.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "deliver/dispatch.h"
#include "deliver/publish.h"

struct publish_req {
    struct store_message *msg;
    enum store_rc rc;
    bool done;
    pthread_cond_t cond;            /* signalled when done: one waiter each */
    publish_done_fn done_fn;        /* set: an asynchronous request (malloc'd) */
    void *done_arg;
    struct publish_req *next;
};

struct publish {
    struct store *st;
    publish_notify_fn notify;
    void *arg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;            /* the writer waits for requests */
    struct publish_req *head;
    struct publish_req **tail;
    bool stopping;
    struct store_message *batch;    /* the writer's scratch, PUBLISH_BATCH_MAX long */
    struct dispatch *fast;          /* set: the fast path to it (under mu) */
    struct store_job *jobs;         /* the writer's: its slots, max in flight long */
};

static bool publish_reserve(void *arg, const char *uri)
{
    return dispatch_fast_reserve(arg, uri);
}

static void publish_unreserve(void *arg, const char *uri)
{
    dispatch_fast_unreserve(arg, uri);
}

/* Commit the detached requests list[0..n). */
static void publish_commit(struct publish *p, struct publish_req **list, size_t n)
{
    int64_t now = timeutil_now_us();
    size_t created = 0, nasync = 0;
    struct store_fast fast = {0};
    struct dispatch *d;
    enum store_rc rc;

    pthread_mutex_lock(&p->mu);
    d = p->fast;
    pthread_mutex_unlock(&p->mu);
    if (d && !p->jobs)
        p->jobs = calloc(dispatch_max_in_flight(d), sizeof *p->jobs);
    if (d && p->jobs) {
        fast.owner = dispatch_owner(d);
        fast.lease_until_us = dispatch_lease_until(d, now);
        fast.reserve = publish_reserve;
        fast.unreserve = publish_unreserve;
        fast.arg = d;
        fast.jobs = p->jobs;
        fast.cap = dispatch_max_in_flight(d);
    }
    for (size_t i = 0; i < n; i++)
        p->batch[i] = *list[i]->msg;
    rc = store_messages_insert_fast(p->st, p->batch, n, now - PUBLISH_IDEMPOTENCY_US,
                                    fast.jobs ? &fast : NULL);
    if (fast.n > 0 && rc == STORE_OK)
        dispatch_fast_hand(d, fast.jobs, fast.n);
    else if (fast.n > 0)
        dispatch_fast_cancel(d, fast.jobs, fast.n);
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        struct store_message *m = list[i]->msg;
        if (rc == STORE_OK) {
            memcpy(m->id, p->batch[i].id, sizeof(m->id));
            m->rc = p->batch[i].rc;
            m->duplicate = p->batch[i].duplicate;
            m->ndeliveries = p->batch[i].ndeliveries;
            created += m->ndeliveries;
        } else {
            m->rc = rc;
        }
        list[i]->rc = rc;
        list[i]->done = true;
        /* A waiting submitter's request is on its stack: not to be touched
         * once signalled. The asynchronous ones are kept for below. */
        if (list[i]->done_fn)
            list[nasync++] = list[i];
        else
            pthread_cond_signal(&list[i]->cond);
    }
    pthread_mutex_unlock(&p->mu);
    if (rc != STORE_OK)
        log_error("event commit failed", "events=%zu error=\"%s\"", n, store_strerror(rc));
    /* The dispatcher claims what the fast path did not take. */
    if (created > fast.n && p->notify)
        p->notify(p->arg);
    /* Asynchronous submitters are told outside the lock; their requests are
     * ours to free. */
    for (size_t i = 0; i < nasync; i++) {
        list[i]->done_fn(list[i]->msg, list[i]->rc, list[i]->done_arg);
        free(list[i]);
    }
}

static void *publish_main(void *arg)
{
    struct publish *p = arg;
    struct publish_req *list[PUBLISH_BATCH_MAX];

    for (;;) {
        size_t n = 0;

        pthread_mutex_lock(&p->mu);
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->head == NULL) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        while (p->head && n < PUBLISH_BATCH_MAX) {
            list[n++] = p->head;
            p->head = p->head->next;
        }
        if (p->head == NULL)
            p->tail = &p->head;
        pthread_mutex_unlock(&p->mu);
        publish_commit(p, list, n);
    }
    return NULL;
}

struct publish *publish_start(struct store *st, publish_notify_fn notify, void *arg)
{
    struct publish *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->batch = calloc(PUBLISH_BATCH_MAX, sizeof(*p->batch));
    if (p->batch == NULL)
        goto fail_free;
    p->st = st;
    p->notify = notify;
    p->arg = arg;
    p->tail = &p->head;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    if (pthread_create(&p->thread, NULL, publish_main, p) != 0)
        goto fail_sync;
    return p;
fail_sync:
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p->batch);
fail_free:
    free(p);
    return NULL;
}

void publish_fast(struct publish *p, struct dispatch *d)
{
    pthread_mutex_lock(&p->mu);
    p->fast = d;
    pthread_mutex_unlock(&p->mu);
}

enum store_rc publish_submit(struct publish *p, struct store_message *msg)
{
    struct publish_req req = {.msg = msg};

    pthread_cond_init(&req.cond, NULL);
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        pthread_cond_destroy(&req.cond);
        msg->rc = STORE_UNAVAILABLE;
        return STORE_UNAVAILABLE;
    }
    *p->tail = &req;
    p->tail = &req.next;
    pthread_cond_signal(&p->work);
    while (!req.done)
        pthread_cond_wait(&req.cond, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&req.cond);
    return req.rc;
}

enum store_rc publish_submit_async(struct publish *p, struct store_message *msg,
                                   publish_done_fn done, void *arg)
{
    struct publish_req *req = calloc(1, sizeof(*req));

    if (req == NULL)
        return STORE_UNAVAILABLE;
    req->msg = msg;
    req->done_fn = done;
    req->done_arg = arg;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        free(req);
        msg->rc = STORE_UNAVAILABLE;
        return STORE_UNAVAILABLE;
    }
    *p->tail = req;
    p->tail = &req->next;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return STORE_OK;
}

void publish_stop(struct publish *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p->batch);
    free(p->jobs);
    free(p);
}
