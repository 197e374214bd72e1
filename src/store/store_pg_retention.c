/*
 * store_pg_retention.c - store_retention.h for PostgreSQL: batched deletes
 * (docs/running.md says why not time partitions). Space is reclaimed by
 * autovacuum, so compact has nothing to do.
 */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/store_pg_int.h"
#include "store/store_retention.h"

static enum store_rc pg_prune(struct store *st, int64_t cutoff_us, size_t limit,
                              struct store_prune *out)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0}, q = {0};
    struct store_pg_conn *c;
    char bound[IDS_MAX];
    PGresult *r = NULL;
    enum store_rc ret;

    out->messages = out->deliveries = out->attempts = out->operations = 0;
    if (ids_time_bound("msg_", cutoff_us, bound, sizeof bound) != 0)
        return STORE_ERROR;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, bound);
    store_pg_int(&p, cutoff_us);
    store_pg_int(&p, (int64_t)limit);
    ret = store_pg_begin(c, __func__);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_PRUNE_MESSAGES, &p, &r, NULL, __func__);
    if (ret == STORE_OK && PQntuples(r) == 1) {
        out->messages = (size_t)store_pg_col_int(r, 0, 0);
        out->deliveries = (size_t)store_pg_col_int(r, 0, 1);
        out->attempts = (size_t)store_pg_col_int(r, 0, 2);
    }
    PQclear(r);
    r = NULL;
    store_pg_int(&q, cutoff_us);
    store_pg_int(&q, (int64_t)limit);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_PRUNE_OPERATIONS, &q, &r, NULL, __func__);
    for (int i = 0; ret == STORE_OK && i < PQntuples(r) && (size_t)i < limit; i++) {
        if (store_pg_col_text(r, i, 0, out->op_ids[out->operations], sizeof out->op_ids[0]) != 0)
            ret = store_pg_row_error(__func__, "operation id");
        else
            out->operations++;
    }
    PQclear(r);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    if (ret != STORE_OK)
        out->messages = out->deliveries = out->attempts = out->operations = 0;
    store_pg_conn_put(s, c);                 /* rolls back when not committed */
    return ret;
}

static enum store_rc pg_compact(struct store *st, size_t max_pages, size_t *pages)
{
    *pages = 0;
    return STORE_OK;
}

const struct store_retention_ops store_pg_retention_ops = {
    .version = STORE_RETENTION_OPS_VERSION,
    .prune = pg_prune,
    .compact = pg_compact,
};
