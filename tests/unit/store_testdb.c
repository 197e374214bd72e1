/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_testdb.c - see store_testdb.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "common/secretbox.h"
#include "store/store.h"
#include "store_testdb.h"

static const char *testdb_base_url(void)
{
    const char *u = getenv("KABAR_TEST_DATABASE_URL");

    return u && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0)
               ? u : NULL;
}

bool testdb_is_pg(void)
{
    return testdb_base_url() != NULL;
}

static void pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Run sql on url with one connection; returns the result (the caller's to
 * clear) or fails the test. */
static PGresult *pg_run(const char *url, const char *sql)
{
    PGconn *pg = PQconnectdb(url);
    PGresult *r;

    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("cannot connect to %s: %s", url, PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, pg_quiet, NULL);     /* "drop cascades to ..." */
    r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQfinish(pg);
    return r;
}

int testdb_setup(struct testdb *t, const char *name)
{
    const char *base = testdb_base_url();
    const char *tmp = getenv("TMPDIR");
    static unsigned counter;
    char sql[256];

    memset(t, 0, sizeof *t);
    if (base) {
        t->pg = true;
        snprintf(t->schema, sizeof t->schema, "t_%s_%ld_%u_%d", name, (long)getpid(),
                 counter++, rand() % 100000);
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", t->schema);
        PQclear(pg_run(base, sql));
        /* libpq applies options=-csearch_path=... to the session, so every
         * connection of the store works in this schema; application_name
         * tells this test's connections from those of tests running
         * alongside. */
        snprintf(t->url, sizeof t->url, "%s%soptions=-csearch_path%%3D%s&application_name=%s",
                 base, strchr(base, '?') ? "&" : "?", t->schema, t->schema);
        return 0;
    }
    snprintf(t->dir, sizeof t->dir, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof t->path, "%s/kabar.db", t->dir);
    snprintf(t->url, sizeof t->url, "sqlite:%s", t->path);
    return 0;
}

void testdb_teardown(struct testdb *t)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    char p[PATH_MAX + 32];
    char sql[128];

    if (t->pg) {
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", t->schema);
        PQclear(pg_run(testdb_base_url(), sql));
        return;
    }
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", t->path, suffixes[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

struct store *testdb_open(struct testdb *t, const char *name)
{
    struct store *st = NULL;
    char err[256] = "";

    if (testdb_setup(t, name) != 0) {
        print_error("testdb_setup %s failed\n", name);
        return NULL;
    }
    if (store_open(t->url, &st, err, sizeof err) != STORE_OK) {
        print_error("store_open: %s\n", err);
        testdb_teardown(t);
        return NULL;
    }
    return st;
}

void testdb_close(struct testdb *t, struct store *st)
{
    if (st)
        store_close(st);
    testdb_teardown(t);
}

int testdb_fixture_setup(void **state, const char *name)
{
    struct testdb_fixture *f = calloc(1, sizeof *f);

    if (!f || !(f->st = testdb_open(&f->db, name))) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int testdb_fixture_setup_box(void **state, const char *name, const uint8_t *key)
{
    struct testdb_fixture *f;

    if (testdb_fixture_setup(state, name) != 0)
        return -1;
    f = *state;
    f->box = secretbox_new(key);
    if (f->box == NULL) {
        testdb_fixture_teardown(state);
        return -1;
    }
    return 0;
}

int testdb_fixture_teardown(void **state)
{
    struct testdb_fixture *f = *state;

    secretbox_free(f->box);
    testdb_close(&f->db, f->st);
    free(f);
    return 0;
}

int64_t testdb_int(const struct testdb *t, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int64_t v;

    if (t->pg) {
        PGresult *r = pg_run(t->url, sql);
        const char *s;

        if (PQntuples(r) < 1)
            fail_msg("%s: no row", sql);
        s = PQgetvalue(r, 0, 0);
        if (PQgetisnull(r, 0, 0))
            v = -1;
        else if (strcmp(s, "t") == 0)
            v = 1;
        else if (strcmp(s, "f") == 0)
            v = 0;
        else
            v = strtoll(s, NULL, 10);
        PQclear(r);
        return v;
    }
    assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    v = sqlite3_column_type(q, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

void testdb_text(const struct testdb *t, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;

    if (t->pg) {
        PGresult *r = pg_run(t->url, sql);

        assert_int_equal(PQntuples(r), 1);
        snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        return;
    }
    assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(q, 0));
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

void testdb_exec(const struct testdb *t, const char *sql)
{
    sqlite3 *db = NULL;

    if (t->pg) {
        PQclear(pg_run(t->url, sql));
        return;
    }
    assert_int_equal(sqlite3_open_v2(t->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}
