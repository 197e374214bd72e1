/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_sqlite_keys.c - the JWT signing keys (store_keys.h) in the SQLite
 * backend: one table, signing_keys, read by keys_list and written by two
 * short write transactions. The private blobs are sealed by the caller.
 */
#include <limits.h>
#include <sqlite3.h>
#include <string.h>

#include "store/store_sqlite_int.h"

/* Fill k from a KEYS_LIST row. Returns 0, or -1 when a column does not fit
 * (a damaged row: the caller reports it). */
static int row_key(sqlite3_stmt *q, struct store_signing_key *k)
{
    const void *blob = sqlite3_column_blob(q, 1);
    int blob_len = sqlite3_column_bytes(q, 1);

    if (store_sqlite_col_text(q, 0, k->kid, sizeof k->kid) != 0 ||
        store_sqlite_col_text(q, 2, k->public_jwk, sizeof k->public_jwk) != 0)
        return -1;
    if (blob == NULL || blob_len <= 0 || (size_t)blob_len > sizeof k->private_blob)
        return -1;
    memcpy(k->private_blob, blob, (size_t)blob_len);
    k->private_blob_len = (size_t)blob_len;
    k->create_time_us = sqlite3_column_int64(q, 3);
    k->activate_time_us = sqlite3_column_int64(q, 4);
    k->retire_time_us = sqlite3_column_int64(q, 5);
    return 0;
}

static enum store_rc sqlite_keys_list(struct store *st, int64_t since_us,
                                      struct store_signing_key *out, size_t cap, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    if (cap > INT_MAX)
        cap = INT_MAX;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_KEYS_LIST, &q);
    store_sqlite_bind_int64(q, 1, since_us, &rc);
    store_sqlite_bind_int64(q, 2, (int64_t)cap, &rc);
    if (rc != SQLITE_OK) {
        ret = store_sqlite_sql_error(c, rc, __func__);
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (row_key(q, &out[*n]) != 0) {
            ret = store_sqlite_row_error(__func__, "signing key");
            goto out;
        }
        (*n)++;
    }
    if (rc != SQLITE_DONE)
        ret = store_sqlite_sql_error(c, rc, __func__);
out:
    if (ret != STORE_OK)
        *n = 0;
    store_sqlite_conn_put(s, c);             /* resets q on every path */
    return ret;
}

/* Run KEY_INSERT for key on c (inside the caller's transaction). */
static int key_insert(struct store_conn *c, const struct store_signing_key *key)
{
    sqlite3_stmt *q = NULL;
    int rc = store_sqlite_stmt_get(c, SQL_KEY_INSERT, &q);

    store_sqlite_bind_text(q, 1, key->kid, &rc);
    store_sqlite_bind_blob(q, 2, key->private_blob, key->private_blob_len, &rc);
    store_sqlite_bind_text(q, 3, key->public_jwk, &rc);
    store_sqlite_bind_int64(q, 4, key->create_time_us, &rc);
    store_sqlite_bind_int64(q, 5, key->activate_time_us, &rc);
    store_sqlite_bind_int64(q, 6, key->retire_time_us, &rc);
    return rc == SQLITE_OK ? store_sqlite_stmt_done(q) : rc;
}

static enum store_rc sqlite_key_insert_first(struct store *st,
                                             const struct store_signing_key *key)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* BEGIN IMMEDIATE takes the database's write lock before the check, so
     * two processes cannot both see an empty table. */
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_KEYS_ANY, &q);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        ret = STORE_CONFLICT;
        goto out;
    }
    if (rc == SQLITE_DONE) {
        sqlite3_reset(q);
        rc = key_insert(c, key);
    }
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);             /* rolls back when not committed */
    return ret;
}

static enum store_rc sqlite_key_rotate(struct store *st, const struct store_signing_key *key)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_KEYS_RETIRE_LIVE, &q);
    store_sqlite_bind_int64(q, 1, key->activate_time_us, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    /* After the update, so the new key itself is not retired. */
    if (rc == SQLITE_OK)
        rc = key_insert(c, key);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
    return ret;
}

const struct store_keys_ops store_sqlite_keys_ops = {
    .version = STORE_KEYS_OPS_VERSION,
    .keys_list = sqlite_keys_list,
    .key_insert_first = sqlite_key_insert_first,
    .key_rotate = sqlite_key_rotate,
};
