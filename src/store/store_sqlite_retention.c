/*
 * store_sqlite_retention.c - store_retention.h for SQLite: pruning in
 * short write transactions, and the incremental vacuum that gives the freed
 * pages back to the file system (the file shrinks again).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "store/store_retention.h"
#include "store/store_sqlite_int.h"

/* Run statement id (its parameters bound by the caller) to the end and add
 * the rows it changed to *n. */
static int retention_delete(struct store_conn *c, enum store_sql id, size_t *n)
{
    sqlite3_stmt *q = NULL;
    int rc = store_sqlite_stmt_get(c, id, &q);

    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK && n != NULL)
        *n += (size_t)sqlite3_changes(c->db);
    return rc;
}

static enum store_rc sqlite_prune(struct store *st, int64_t cutoff_us, size_t limit,
                                  struct store_prune *out)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    char bound[IDS_MAX];
    enum store_rc ret;
    int rc;

    out->messages = out->deliveries = out->attempts = out->operations = 0;
    if (ids_time_bound("msg_", cutoff_us, bound, sizeof bound) != 0)
        return STORE_ERROR;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* A temp table lives in the connection, outside the database file, so
     * making it needs no write lock. */
    rc = sqlite3_exec(c->db, "CREATE TEMP TABLE IF NOT EXISTS prune_pick (id TEXT PRIMARY KEY)",
                      NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = retention_delete(c, SQL_PRUNE_CLEAR, NULL);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_PRUNE_PICK, &q);
    store_sqlite_bind_text(q, 1, bound, &rc);
    store_sqlite_bind_int64(q, 2, cutoff_us, &rc);
    store_sqlite_bind_int64(q, 3, (int64_t)limit, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    /* Children first: the counts are the rows each statement removed (a
     * cascade would hide them). */
    if (rc == SQLITE_OK)
        rc = retention_delete(c, SQL_PRUNE_ATTEMPTS, &out->attempts);
    if (rc == SQLITE_OK)
        rc = retention_delete(c, SQL_PRUNE_DELIVERIES, &out->deliveries);
    if (rc == SQLITE_OK)
        rc = retention_delete(c, SQL_PRUNE_MESSAGES, &out->messages);
    if (rc == SQLITE_OK)
        rc = retention_delete(c, SQL_PRUNE_CLEAR, NULL);

    /* Operations: pick the ids (the caller removes their files), then
     * delete them one by one - at most limit, by primary key. */
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_PRUNE_OPS_PICK, &q);
    store_sqlite_bind_int64(q, 1, cutoff_us, &rc);
    store_sqlite_bind_int64(q, 2, (int64_t)limit, &rc);
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (store_sqlite_col_text(q, 0, out->op_ids[out->operations],
                                  sizeof out->op_ids[0]) != 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
        out->operations++;
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    if (q != NULL)
        sqlite3_reset(q);
    for (size_t i = 0; rc == SQLITE_OK && i < out->operations; i++) {
        rc = store_sqlite_stmt_get(c, SQL_PRUNE_OP, &q);
        store_sqlite_bind_text(q, 1, out->op_ids[i], &rc);
        if (rc == SQLITE_OK)
            rc = store_sqlite_stmt_done(q);
    }
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK) {
        ret = store_sqlite_sql_error(c, rc, __func__);
        out->messages = out->deliveries = out->attempts = out->operations = 0;
    }
    store_sqlite_conn_put(s, c);            /* rolls back when not committed */
    return ret;
}

/* The free pages of the file, or -1. */
static int64_t retention_freelist(struct store_conn *c)
{
    sqlite3_stmt *q = NULL;
    int64_t n = -1;

    if (store_sqlite_stmt_get(c, SQL_FREELIST_COUNT, &q) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    if (q != NULL)
        sqlite3_reset(q);
    return n;
}

static enum store_rc sqlite_compact(struct store *st, size_t max_pages, size_t *pages)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    char sql[64];
    int64_t before, after;
    enum store_rc ret;
    int rc;

    *pages = 0;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* A few pages at a time, under the write lock like every write: the
     * vacuum moves pages at the end of the file into free ones and cuts
     * the file; a file without auto_vacuum = INCREMENTAL does nothing. */
    snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%zu)", max_pages);
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    before = retention_freelist(c);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    after = retention_freelist(c);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK)
        ret = store_sqlite_sql_error(c, rc, __func__);
    else if (before > after && after >= 0)
        *pages = (size_t)(before - after);
    store_sqlite_conn_put(s, c);
    return ret;
}

const struct store_retention_ops store_sqlite_retention_ops = {
    .version = STORE_RETENTION_OPS_VERSION,
    .prune = sqlite_prune,
    .compact = sqlite_compact,
};
