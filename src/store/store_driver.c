/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_driver.c - the calls of store_driver.h that every concept uses: the
 * driver table's entries behind one name each, the column copies, and the
 * two shapes most ops have (one write statement in a transaction of its
 * own, one read of one value).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "store/store_driver.h"

static const char *const sql_names[STORE_SQL_COUNT] = {
#define S(name, text) [STORE_SQL_##name] = #name,
#define D(name, sqlite, pg) [STORE_SQL_##name] = #name,
    STORE_SQL_LIST(S, D)
#undef S
#undef D
};

const char *store_sql_name(enum store_sql id)
{
    return (unsigned)id < STORE_SQL_COUNT ? sql_names[id] : "unknown";
}

int64_t store_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static store_fault_fn fault_hook;

void store_fault_set(store_fault_fn hook)
{
    fault_hook = hook;
}

/* Whether the hook fails this commit: asked once per statement c ran. */
static bool fault_commit(struct store_conn *c)
{
    for (unsigned id = 0; id < STORE_SQL_COUNT; id++) {
        if ((c->ran[id / 64] >> (id % 64) & 1) && fault_hook(STORE_FAULT_COMMIT, id))
            return true;
    }
    return false;
}

enum store_rc store_conn_get(struct store *st, struct store_conn **out)
{
    *out = NULL;
    return st->driver->conn_get(st, out);
}

void store_conn_put(struct store_conn *c)
{
    if (c)
        c->driver->conn_put(c);
}

enum store_rc store_begin(struct store_conn *c, enum store_txn txn)
{
    memset(c->ran, 0, sizeof(c->ran));
    return c->driver->begin(c, txn);
}

/* Track resource failures for store_write_failing. */
static enum store_rc note_rc(struct store *st, enum store_rc rc, bool committed)
{
    if (rc == STORE_UNAVAILABLE)
        atomic_store_explicit(&st->write_failing, true, memory_order_relaxed);
    else if (rc == STORE_OK && committed &&
             atomic_load_explicit(&st->write_failing, memory_order_relaxed))
        atomic_store_explicit(&st->write_failing, false, memory_order_relaxed);
    return rc;
}

bool store_write_failing(struct store *st)
{
    return atomic_load_explicit(&st->write_failing, memory_order_relaxed);
}

enum store_rc store_commit(struct store_conn *c)
{
    if (fault_hook && fault_commit(c))
        return STORE_ERROR;
    return note_rc(c->st, c->driver->commit(c), true);
}

/* The one way to the driver's run: the fault hook sees every statement. */
static enum store_rc run_statement(struct store_conn *c, enum store_sql id,
                                   const struct store_arg *args, size_t nargs, size_t *changes)
{
    if (fault_hook) {
        if (fault_hook(STORE_FAULT_RUN, id))
            return STORE_ERROR;
        c->ran[id / 64] |= UINT64_C(1) << (id % 64);
    }
    return note_rc(c->st, c->driver->run(c, id, args, nargs, changes), false);
}

enum store_rc store_run(struct store_conn *c, enum store_sql id, const struct store_arg *args,
                        size_t nargs)
{
    return run_statement(c, id, args, nargs, NULL);
}

enum store_rc store_run_changes(struct store_conn *c, enum store_sql id,
                                const struct store_arg *args, size_t nargs, size_t *changes)
{
    *changes = 0;
    return run_statement(c, id, args, nargs, changes);
}

enum store_rc store_next(struct store_conn *c)
{
    return c->driver->next(c);
}

enum store_rc store_notify(struct store_conn *c)
{
    return c->driver->notify ? c->driver->notify(c) : STORE_OK;
}

bool store_col_null(struct store_conn *c, int col)
{
    return c->driver->col_null(c, col);
}

int64_t store_col_int(struct store_conn *c, int col)
{
    return c->driver->col_int(c, col);
}

int store_col_text(struct store_conn *c, int col, char *dst, size_t cap)
{
    size_t len = 0;
    const char *t = c->driver->col_text(c, col, &len);

    if (!t || len >= cap)
        return -1;
    memcpy(dst, t, len);
    dst[len] = '\0';
    return 0;
}

int store_col_text_opt(struct store_conn *c, int col, char *dst, size_t cap)
{
    if (c->driver->col_null(c, col)) {
        dst[0] = '\0';
        return 0;
    }
    return store_col_text(c, col, dst, cap);
}

char *store_col_strdup(struct store_conn *c, int col, bool *oom)
{
    size_t len = 0;
    const char *t = c->driver->col_text(c, col, &len);
    char *s;

    if (!t)
        return NULL;
    s = malloc(len + 1);
    if (!s) {
        *oom = true;
        return NULL;
    }
    memcpy(s, t, len);
    s[len] = '\0';
    return s;
}

int store_col_blob(struct store_conn *c, int col, uint8_t *dst, size_t cap, size_t *len)
{
    size_t n = 0;
    const void *b = c->driver->col_blob(c, col, &n);

    if (n > cap)
        return -1;
    if (n > 0)
        memcpy(dst, b, n);
    *len = n;
    return 0;
}

uint8_t *store_col_blob_dup(struct store_conn *c, int col, size_t *len)
{
    size_t n = 0;
    const void *b = c->driver->col_blob(c, col, &n);
    uint8_t *p = malloc(n > 0 ? n : 1);

    if (!p)
        return NULL;
    if (n > 0)
        memcpy(p, b, n);
    *len = n;
    return p;
}

enum store_rc store_row_error(const char *op, const char *what)
{
    log_error("database row out of range", "op=%s field=%s", op, what);
    return STORE_ERROR;
}

enum store_rc store_oom(const char *op)
{
    log_error("out of memory", "op=%s", op);
    return STORE_ERROR;
}

enum store_rc store_write_one(struct store *st, enum store_sql id, const struct store_arg *args,
                              size_t nargs, bool not_found, size_t *changes, bool notify)
{
    struct store_conn *c;
    size_t changed = 0;
    enum store_rc ret;

    if (changes)
        *changes = 0;
    ret = store_conn_get(st, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = store_run_changes(c, id, args, nargs, &changed);
    if (ret == STORE_OK && changed == 0 && not_found)
        ret = STORE_NOT_FOUND;
    if (ret == STORE_OK && notify && changed > 0)
        ret = store_notify(c);
    if (ret == STORE_OK)
        ret = store_commit(c);
    if (ret == STORE_OK && changes)
        *changes = changed;
    store_conn_put(c);                       /* rolls back when not committed */
    return ret;
}

/* Run id and step to its first row: STORE_OK with the row current. */
static enum store_rc read_first(struct store *st, enum store_sql id,
                                const struct store_arg *args, size_t nargs,
                                struct store_conn **out)
{
    enum store_rc ret = store_conn_get(st, out);

    if (ret == STORE_OK)
        ret = store_run(*out, id, args, nargs);
    if (ret == STORE_OK)
        ret = store_next(*out);
    return ret;
}

enum store_rc store_read_text(struct store *st, enum store_sql id, const struct store_arg *args,
                              size_t nargs, char *dst, size_t cap)
{
    struct store_conn *c;
    enum store_rc ret = read_first(st, id, args, nargs, &c);

    if (ret == STORE_OK && store_col_text(c, 0, dst, cap) != 0)
        ret = store_row_error("read_text", "text");
    store_conn_put(c);
    return ret;
}

enum store_rc store_read_int(struct store *st, enum store_sql id, const struct store_arg *args,
                             size_t nargs, int64_t *out)
{
    struct store_conn *c;
    enum store_rc ret = read_first(st, id, args, nargs, &c);

    *out = 0;
    if (ret == STORE_OK && store_col_null(c, 0))
        ret = STORE_NOT_FOUND;
    if (ret == STORE_OK)
        *out = store_col_int(c, 0);
    store_conn_put(c);
    return ret;
}
