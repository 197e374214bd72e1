/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_driver.h - the thin SQL driver under the store's concepts.
 *
 * Every concept of the store (webhooks, API keys, messages and deliveries,
 * operations, signing keys, meta) is written once, in SQL, over this table;
 * each backend (store_sqlite.c, store_pg.c) implements it, as an SQLite VFS
 * implements sqlite3_io_methods. A driver knows connections, transactions
 * and how to run one statement of store_sql.h by id; it knows nothing of
 * webhooks or deliveries.
 *
 * A connection is used by one thread between store_conn_get() and
 * store_conn_put(). It has at most one statement running: store_run()
 * executes a statement and makes its rows the connection's current result,
 * read with store_next() and the store_col_*() accessors until the next
 * store_run() (so a caller collects rows before running another statement).
 *
 * Errors: every function returns enum store_rc. The driver logs what it
 * maps (never bound values: sealed secrets and key hashes stay out of the
 * logs); a unique violation is STORE_CONFLICT, a server or lock that is not
 * there is STORE_UNAVAILABLE, the rest STORE_ERROR. store_conn_put() rolls
 * back whatever transaction is still open, so an error path only returns.
 */
#ifndef KABAR_STORE_DRIVER_H
#define KABAR_STORE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_sql.h"

enum store_txn {
    STORE_TXN_READ,         /* reads that need one consistent view */
    STORE_TXN_WRITE,        /* a write transaction (SQLite: BEGIN IMMEDIATE) */
};

enum store_arg_type { STORE_ARG_NULL, STORE_ARG_TEXT, STORE_ARG_INT, STORE_ARG_BLOB };

/* One bound parameter: the caller's memory, which must live until the
 * statement has run. */
struct store_arg {
    enum store_arg_type type;
    const char *text;
    int64_t i;
    const void *blob;
    size_t len;
};

/* Text; NULL binds SQL NULL. */
static inline struct store_arg store_arg_text(const char *v)
{
    return (struct store_arg){.type = v ? STORE_ARG_TEXT : STORE_ARG_NULL, .text = v};
}

/* Text of a nullable column: NULL and "" both bind SQL NULL. */
static inline struct store_arg store_arg_text_opt(const char *v)
{
    return (struct store_arg){.type = v && *v ? STORE_ARG_TEXT : STORE_ARG_NULL, .text = v};
}

static inline struct store_arg store_arg_int(int64_t v)
{
    return (struct store_arg){.type = STORE_ARG_INT, .i = v};
}

/* A blob of len bytes (len 0: an empty blob, not NULL). */
static inline struct store_arg store_arg_blob(const void *p, size_t len)
{
    return (struct store_arg){.type = STORE_ARG_BLOB, .blob = p, .len = len};
}

#define STORE_TEXT(v) store_arg_text(v)
#define STORE_TEXT_OPT(v) store_arg_text_opt(v)
#define STORE_INT(v) store_arg_int((int64_t)(v))
#define STORE_BLOB(p, n) store_arg_blob((p), (n))
/* The argument list of store_run: STORE_ARGS(STORE_TEXT(a), STORE_INT(b)). */
#define STORE_ARGS(...)                                                         \
    (const struct store_arg[]){__VA_ARGS__},                                    \
    sizeof((const struct store_arg[]){__VA_ARGS__}) / sizeof(struct store_arg)
#define STORE_NO_ARGS NULL, 0

struct store_driver;

#define STORE_SQL_WORDS ((STORE_SQL_COUNT + 63) / 64)

/* Every backend's connection begins with this. */
struct store_conn {
    const struct store_driver *driver;
    struct store *st;
    /* The statements run since store_begin, one bit each; kept only while
     * a fault hook is set (store_fault_set), which asks about commits by
     * the statements the transaction ran. */
    uint64_t ran[STORE_SQL_WORDS];
};

struct store_driver {
    const char *name;
    /* Take a connection of st (waiting while all are in use) / give it
     * back, rolling back an open transaction. */
    enum store_rc (*conn_get)(struct store *st, struct store_conn **out);
    void (*conn_put)(struct store_conn *c);
    enum store_rc (*begin)(struct store_conn *c, enum store_txn txn);
    enum store_rc (*commit)(struct store_conn *c);
    /* Run statement id with args[0..nargs); its rows become c's current
     * result. *changes (when not NULL): rows a write changed. */
    enum store_rc (*run)(struct store_conn *c, enum store_sql id, const struct store_arg *args,
                         size_t nargs, size_t *changes);
    /* The next row of the current result: STORE_OK, STORE_NOT_FOUND after
     * the last, or an error. */
    enum store_rc (*next)(struct store_conn *c);
    /* Columns of the current row. text and blob point into the driver's
     * memory until the next next/run; NULL (len 0) for SQL NULL. */
    bool (*col_null)(struct store_conn *c, int col);
    int64_t (*col_int)(struct store_conn *c, int col);
    const char *(*col_text)(struct store_conn *c, int col, size_t *len);
    const void *(*col_blob)(struct store_conn *c, int col, size_t *len);
    /* Optional (NULL: none): make other processes' delivery threads claim
     * at this transaction's commit (PostgreSQL's NOTIFY). */
    enum store_rc (*notify)(struct store_conn *c);
    /* Optional: see store_listen in store.h. */
    enum store_rc (*listen)(struct store *st, void (*wake)(void *arg), void *arg);
    /* Optional (NULL: space is reclaimed otherwise, PostgreSQL's
     * autovacuum): give up to max_pages free pages of the database file
     * back to the file system, in a write transaction of its own (SQLite's
     * incremental vacuum); *pages says how many. */
    enum store_rc (*compact)(struct store_conn *c, size_t max_pages, size_t *pages);
    /* Close st; no connection may be out. */
    void (*close)(struct store *st);
    /* The claim statements (DELIVERY_CLAIM, OP_CLAIM) lock and lease the
     * rows they return themselves (SELECT ... FOR UPDATE SKIP LOCKED in one
     * statement); otherwise the caller leases them after choosing, under
     * the write transaction that keeps other claimers out. */
    bool claim_leases;
    /* Each statement is a round trip to a server: a batch of outcomes is
     * written in two statements (DELIVERIES_RESULT, ATTEMPTS_INSERT)
     * rather than two per outcome, which is cheaper where a statement is
     * a function call (SQLite: DELIVERY_RESULT, ATTEMPT_INSERT). */
    bool batch_rows;
};

/* The backends: open the store at url (store_open picks one), creating and
 * migrating the schema. On failure an error code and a message in err. */
enum store_rc store_sqlite_open(const char *url, struct store **out, char *err, size_t errlen);
enum store_rc store_pg_open(const char *url, struct store **out, char *err, size_t errlen);

/* The driver calls, written for the concepts' use. */
enum store_rc store_conn_get(struct store *st, struct store_conn **out);
void store_conn_put(struct store_conn *c);
enum store_rc store_begin(struct store_conn *c, enum store_txn txn);
enum store_rc store_commit(struct store_conn *c);
enum store_rc store_run(struct store_conn *c, enum store_sql id, const struct store_arg *args,
                        size_t nargs);
/* store_run, with the rows the statement changed in *changes. */
enum store_rc store_run_changes(struct store_conn *c, enum store_sql id,
                                const struct store_arg *args, size_t nargs, size_t *changes);
enum store_rc store_next(struct store_conn *c);
enum store_rc store_notify(struct store_conn *c);

bool store_col_null(struct store_conn *c, int col);
int64_t store_col_int(struct store_conn *c, int col);
/* Copy a text column into dst (cap bytes with the NUL): 0, or -1 when it is
 * NULL or does not fit. _opt: NULL reads as "". */
int store_col_text(struct store_conn *c, int col, char *dst, size_t cap);
int store_col_text_opt(struct store_conn *c, int col, char *dst, size_t cap);
/* A malloc'd NUL-terminated copy (NULL for SQL NULL; *oom set when out of
 * memory). */
char *store_col_strdup(struct store_conn *c, int col, bool *oom);
/* Copy a blob column (NULL: empty) into dst[0..cap): 0, or -1 when too long. */
int store_col_blob(struct store_conn *c, int col, uint8_t *dst, size_t cap, size_t *len);
/* A malloc'd copy of a blob column (at least one byte allocated, so an
 * empty blob is not a NULL that looks like a failed malloc). */
uint8_t *store_col_blob_dup(struct store_conn *c, int col, size_t *len);

/* A column that is not what the schema promises: logged, STORE_ERROR. */
enum store_rc store_row_error(const char *op, const char *what);
enum store_rc store_oom(const char *op);

/* Run statement id as a write transaction of its own. STORE_NOT_FOUND (and
 * nothing committed) when it changed no row and not_found is set. *changes
 * when not NULL. notify: call store_notify when rows changed. */
enum store_rc store_write_one(struct store *st, enum store_sql id, const struct store_arg *args,
                              size_t nargs, bool not_found, size_t *changes, bool notify);
/* Run read statement id and copy text column 0 of its first row into dst:
 * STORE_NOT_FOUND without a row. */
enum store_rc store_read_text(struct store *st, enum store_sql id, const struct store_arg *args,
                              size_t nargs, char *dst, size_t cap);
/* Run read statement id and read integer column 0 of its first row:
 * STORE_NOT_FOUND without a row or with SQL NULL. */
enum store_rc store_read_int(struct store *st, enum store_sql id, const struct store_arg *args,
                             size_t nargs, int64_t *out);

/*
 * Fault injection at the seam, as SQLite's sqlite3Os* wrappers do: with a
 * hook set, store_run() asks hook(STORE_FAULT_RUN, id) before running
 * statement id, and store_commit() asks hook(STORE_FAULT_COMMIT, id) for
 * each statement id the transaction ran; when the hook answers true the
 * call fails with STORE_ERROR without reaching the driver (the
 * transaction is still open, and store_conn_put rolls it back, as after a
 * real failure). Only tests set a hook (tests/fault/kabard_fault.c, a
 * kabard that reads one from its environment); set it before the store
 * is shared between threads. NULL: none (the default).
 */
enum store_fault_point { STORE_FAULT_RUN, STORE_FAULT_COMMIT };
typedef bool (*store_fault_fn)(enum store_fault_point point, enum store_sql id);
void store_fault_set(store_fault_fn hook);

/* Rows one list call returns at most (bound as an SQL integer). */
#define STORE_ROWS_MAX ((size_t)INT32_MAX - 1)

int64_t store_now_us(void);
/* The name of statement id, for logs. */
const char *store_sql_name(enum store_sql id);

#endif
