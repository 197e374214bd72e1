/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_publish.c - the group-commit writer (deliver/publish.h) under
 * concurrent submitters, on a real store (a temporary SQLite file, or
 * PostgreSQL on make test's PostgreSQL pass): every submit returns after
 * its event is committed, each with its own result; one idempotency key
 * submitted from every thread at once makes exactly one message; the
 * notify function runs after commits that made deliveries. The ThreadSanitizer pass of make test runs this too.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/timeutil.h"
#include "deliver/publish.h"
#include "store/store.h"
#include "store_testdb.h"

#define THREADS 8
#define PER_THREAD 40

struct fixture {
    struct testdb db;
    struct store *st;
    struct publish *pub;
    atomic_uint notified;
};

struct submitter {
    struct fixture *f;
    unsigned n;
    unsigned failures;
    unsigned duplicates;
};

static void notify(void *arg)
{
    struct fixture *f = arg;

    atomic_fetch_add(&f->notified, 1);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f || !(f->st = testdb_open(&f->db, "test_publish"))) {
        free(f);
        return -1;
    }
    f->pub = publish_start(f->st, notify, f);
    if (!f->pub) {
        testdb_close(&f->db, f->st);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->pub)
        publish_stop(f->pub);
    testdb_close(&f->db, f->st);
    free(f);
    return 0;
}

static const char payload[] = "{\"type\":\"batch.succeeded\"}";
static const char *const uris[] = {"https://example.com/hook"};

static void message(struct store_message *m, unsigned n, const char *key)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "msg_%026u", n);
    snprintf(m->project, sizeof m->project, "p1");
    snprintf(m->type, sizeof m->type, "batch.succeeded");
    m->payload = (const uint8_t *)payload;
    m->payload_len = sizeof payload - 1;
    m->create_time_us = timeutil_now_us();
    m->idempotency_key = key;
    m->uris = uris;
    m->nuris = 1;
}

static void *submit_many(void *arg)
{
    struct submitter *s = arg;
    struct store_message m;

    for (unsigned i = 0; i < PER_THREAD; i++) {
        message(&m, s->n * 1000 + i + 1, NULL);
        if (publish_submit(s->f->pub, &m) != STORE_OK || m.rc != STORE_OK ||
            m.ndeliveries != 1 || m.duplicate)
            s->failures++;
    }
    return NULL;
}

static void *submit_same_key(void *arg)
{
    struct submitter *s = arg;
    struct store_message m;

    message(&m, 900000 + s->n, "the-key");
    if (publish_submit(s->f->pub, &m) != STORE_OK || m.rc != STORE_OK)
        s->failures++;
    else if (m.duplicate)
        s->duplicates++;
    return NULL;
}

static void run_threads(struct fixture *f, void *(*fn)(void *), struct submitter *s)
{
    pthread_t th[THREADS];

    for (unsigned i = 0; i < THREADS; i++) {
        s[i] = (struct submitter){.f = f, .n = i};
        assert_int_equal(pthread_create(&th[i], NULL, fn, &s[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
}

static void test_concurrent_submits(void **state)
{
    struct fixture *f = *state;
    struct submitter s[THREADS];
    size_t pending = 0;

    run_threads(f, submit_many, s);
    for (unsigned i = 0; i < THREADS; i++)
        assert_int_equal(s[i].failures, 0);
    /* Each submit returned after its commit: all are in the store now. */
    assert_int_equal(store_deliveries_pending_count(f->st, &pending), STORE_OK);
    assert_int_equal(pending, THREADS * PER_THREAD);
    assert_true(atomic_load(&f->notified) >= 1);
}

static void test_concurrent_idempotency(void **state)
{
    struct fixture *f = *state;
    struct submitter s[THREADS];
    unsigned duplicates = 0;
    size_t pending = 0;

    run_threads(f, submit_same_key, s);
    for (unsigned i = 0; i < THREADS; i++) {
        assert_int_equal(s[i].failures, 0);
        duplicates += s[i].duplicates;
    }
    assert_int_equal(duplicates, THREADS - 1);
    assert_int_equal(store_deliveries_pending_count(f->st, &pending), STORE_OK);
    assert_int_equal(pending, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_submits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_idempotency, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
