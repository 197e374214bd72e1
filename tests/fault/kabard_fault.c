/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabard_fault.c - a kabard for the fault-injection test, built only with
 * the tests: kabard's own sources and this file, which sets the store's
 * fault hook (store_fault_set, store_driver.h) from the environment before
 * main runs. The kabard that is installed has no such file and never reads
 * the variable.
 *
 *   KABAR_STORE_FAULT=run:NAME:N      fail the Nth run of statement NAME
 *   KABAR_STORE_FAULT=commit:NAME:N   fail the Nth commit of a transaction
 *                                     that ran statement NAME
 *   KABAR_STORE_FAULT=list            print the name of every statement that
 *                                     writes (INSERT, UPDATE, DELETE), one a
 *                                     line, and exit
 *
 * The fault fires once, and says so on stderr ("store fault: run NAME"),
 * so that a test can tell that the path it meant to break was taken.
 *
 * It also sets the delivery thread's hold hook (dispatch_hold_set) from
 *
 *   KABAR_DISPATCH_HOLD=log    print "fast path: DELIVERY MESSAGE" on stderr
 *                              for each delivery handed over by the fast
 *                              path, and send it
 *   KABAR_DISPATCH_HOLD=hold   the same ("fast path held: ..."), and never
 *                              send it: its row stays leased, as when the
 *                              process dies between the commit and the send
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/dispatch.h"
#include "store/store.h"
#include "store/store_driver.h"

static const char *const sqlite_text[STORE_SQL_COUNT] = {
#define S(name, text) [STORE_SQL_##name] = text,
#define D(name, sqlite, pg) [STORE_SQL_##name] = sqlite,
    STORE_SQL_LIST(S, D)
#undef S
#undef D
};

static struct {
    pthread_mutex_t lock;
    enum store_fault_point point;
    enum store_sql id;
    long nth;
    long calls;
} fault = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool fault_writes(enum store_sql id)
{
    const char *t = sqlite_text[id];

    return strncmp(t, "INSERT", 6) == 0 || strncmp(t, "UPDATE", 6) == 0 ||
           strncmp(t, "DELETE", 6) == 0;
}

static bool fault_hook(enum store_fault_point point, enum store_sql id)
{
    bool fire;

    if (point != fault.point || id != fault.id)
        return false;
    pthread_mutex_lock(&fault.lock);
    fire = ++fault.calls == fault.nth;
    pthread_mutex_unlock(&fault.lock);
    if (fire)
        fprintf(stderr, "store fault: %s %s\n", point == STORE_FAULT_RUN ? "run" : "commit",
                store_sql_name(id));
    return fire;
}

static bool hold_all;

static bool fault_hold(const struct store_job *job)
{
    fprintf(stderr, "fast path%s: %s %s\n", hold_all ? " held" : "", job->id, job->message_id);
    return hold_all;
}

static void hold_init(void)
{
    const char *spec = getenv("KABAR_DISPATCH_HOLD");

    if (spec == NULL)
        return;
    if (strcmp(spec, "log") != 0 && strcmp(spec, "hold") != 0) {
        fprintf(stderr, "kabard_fault: KABAR_DISPATCH_HOLD=%s: want log or hold\n", spec);
        exit(2);
    }
    hold_all = strcmp(spec, "hold") == 0;
    dispatch_hold_set(fault_hold);
}

static void fault_usage(const char *spec)
{
    fprintf(stderr, "kabard_fault: KABAR_STORE_FAULT=%s: want run:NAME:N, commit:NAME:N or "
                    "list\n", spec);
    exit(2);
}

__attribute__((constructor)) static void fault_init(void)
{
    const char *spec = getenv("KABAR_STORE_FAULT");
    char name[64];
    char *end;
    const char *p, *q;

    hold_init();
    if (spec == NULL)
        return;
    if (strcmp(spec, "list") == 0) {
        for (unsigned id = 0; id < STORE_SQL_COUNT; id++) {
            if (fault_writes(id))
                puts(store_sql_name(id));
        }
        exit(0);
    }
    if (strncmp(spec, "run:", 4) == 0)
        fault.point = STORE_FAULT_RUN;
    else if (strncmp(spec, "commit:", 7) == 0)
        fault.point = STORE_FAULT_COMMIT;
    else
        fault_usage(spec);
    p = strchr(spec, ':') + 1;
    q = strchr(p, ':');
    if (q == NULL || (size_t)(q - p) >= sizeof(name))
        fault_usage(spec);
    memcpy(name, p, (size_t)(q - p));
    name[q - p] = '\0';
    fault.nth = strtol(q + 1, &end, 10);
    if (*end != '\0' || fault.nth < 1)
        fault_usage(spec);
    fault.id = STORE_SQL_COUNT;
    for (unsigned id = 0; id < STORE_SQL_COUNT; id++) {
        if (strcmp(store_sql_name(id), name) == 0)
            fault.id = id;
    }
    if (fault.id == STORE_SQL_COUNT)
        fault_usage(spec);
    store_fault_set(fault_hook);
}
