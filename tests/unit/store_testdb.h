/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_testdb.h - a fresh, empty database for each store unit test, on the
 * backend the test run asks for: a temporary SQLite file by default, or,
 * when KABAR_TEST_DATABASE_URL names a PostgreSQL database (make test's
 * PostgreSQL pass), a schema of its own in that database, reached through a
 * URL whose search_path points at it. The same tests thus check that both
 * backends keep the promises of store.h.
 *
 * testdb_open and testdb_close wrap those two with the store itself, and
 * testdb_fixture_setup/teardown those in the fixture most store tests want.
 *
 * testdb_int and testdb_exec run SQL below the interface, on a connection of
 * their own; the SQL must be valid on both (plain SELECT/UPDATE/DELETE).
 */
#ifndef KABAR_TEST_STORE_TESTDB_H
#define KABAR_TEST_STORE_TESTDB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct testdb {
    bool pg;
    char dir[PATH_MAX];                 /* SQLite: the temporary directory */
    char path[PATH_MAX + 16];           /* SQLite: the database file */
    char schema[64];                    /* PostgreSQL: the test's schema */
    char url[PATH_MAX + 256];           /* what store_open gets */
};

/* True when the run is on PostgreSQL. */
bool testdb_is_pg(void);
/* Make t's database; name labels it. Returns 0, or -1 with a message. */
int testdb_setup(struct testdb *t, const char *name);
/* Remove it (the store must be closed). */
void testdb_teardown(struct testdb *t);

struct store;
/* testdb_setup, then store_open on it. Returns the open store, or NULL
 * with a message printed and nothing left behind. */
struct store *testdb_open(struct testdb *t, const char *name);
/* store_close(st) (when not NULL), then testdb_teardown. */
void testdb_close(struct testdb *t, struct store *st);

/* The fixture of most store tests: a database and the store open on it. */
struct testdb_fixture {
    struct testdb db;                   /* SQLite file or PostgreSQL schema */
    struct store *st;
    struct secretbox *box;              /* testdb_fixture_setup_box's */
};
/* A cmocka setup's work: a new struct testdb_fixture (testdb_open(name))
 * into *state. Returns 0, or -1 with nothing left behind. */
int testdb_fixture_setup(void **state, const char *name);
/* The same, and a secretbox of the SECRETBOX_KEY_LEN bytes at key. */
int testdb_fixture_setup_box(void **state, const char *name, const uint8_t *key);
/* A cmocka teardown's: close and free what testdb_fixture_setup made. */
int testdb_fixture_teardown(void **state);
/* The first column of the first row of sql as an integer (booleans 1/0,
 * NULL -1); fails the test on an SQL error or no row. */
int64_t testdb_int(const struct testdb *t, const char *sql);
/* The first column of the first (and only) row as text into out. */
void testdb_text(const struct testdb *t, const char *sql, char *out, size_t cap);
/* Run sql; fails the test on an error. */
void testdb_exec(const struct testdb *t, const char *sql);

#endif
