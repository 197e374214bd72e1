/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_pg_keys.c - the JWT signing keys (store_keys.h) in the PostgreSQL
 * backend: one table, signing_keys, read by keys_list and written by two
 * short transactions. The private blobs are sealed by the caller.
 */
#include <limits.h>
#include <string.h>

#include "store/store_pg_int.h"

/* Taken by key_insert_first before its check, so that processes starting at
 * once on an empty table make one key between them, not one each (row locks
 * cannot serialize on a row that does not exist yet). */
#define KEYS_LOCK "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 3)"

/* Fill k from row i of a KEYS_LIST result. Returns 0, or -1 when a column
 * does not fit (a damaged row: the caller reports it). */
static int row_key(const PGresult *r, int i, struct store_signing_key *k)
{
    if (store_pg_col_text(r, i, 0, k->kid, sizeof k->kid) != 0 ||
        store_pg_col_text(r, i, 2, k->public_jwk, sizeof k->public_jwk) != 0 ||
        store_pg_col_bytea(r, i, 1, k->private_blob, sizeof k->private_blob,
                           &k->private_blob_len) != 0 ||
        k->private_blob_len == 0)
        return -1;
    k->create_time_us = store_pg_col_int(r, i, 3);
    k->activate_time_us = store_pg_col_int(r, i, 4);
    k->retire_time_us = store_pg_col_int(r, i, 5);
    return 0;
}

static enum store_rc pg_keys_list(struct store *st, int64_t since_us,
                                  struct store_signing_key *out, size_t cap, size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    *n = 0;
    if (cap > INT_MAX)
        cap = INT_MAX;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_int(&p, since_us);
    store_pg_int(&p, (int64_t)cap);
    ret = store_pg_run(c, PGSQL_KEYS_LIST, &p, &r, NULL, __func__);
    for (int i = 0; ret == STORE_OK && i < PQntuples(r); i++) {
        if (row_key(r, i, &out[*n]) != 0) {
            ret = store_pg_row_error(__func__, "signing key");
            break;
        }
        (*n)++;
    }
    if (ret != STORE_OK)
        *n = 0;
    PQclear(r);
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc key_insert(struct store_pg_conn *c, const struct store_signing_key *key,
                                const char *op)
{
    struct store_pg_params p = {0};

    store_pg_text(&p, key->kid);
    store_pg_bytea(&p, key->private_blob, key->private_blob_len);
    store_pg_text(&p, key->public_jwk);
    store_pg_int(&p, key->create_time_us);
    store_pg_int(&p, key->activate_time_us);
    store_pg_int(&p, key->retire_time_us);
    return store_pg_run(c, PGSQL_KEY_INSERT, &p, NULL, NULL, op);
}

static enum store_rc pg_key_insert_first(struct store *st, const struct store_signing_key *key)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_begin(c, __func__);
    if (ret == STORE_OK)
        ret = store_pg_exec(c, KEYS_LOCK, __func__);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_KEYS_ANY, NULL, &r, NULL, __func__);
    if (ret == STORE_OK && PQntuples(r) > 0)
        ret = STORE_CONFLICT;
    if (ret == STORE_OK)
        ret = key_insert(c, key, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    PQclear(r);
    store_pg_conn_put(s, c);                 /* rolls back when not committed */
    return ret;
}

static enum store_rc pg_key_rotate(struct store *st, const struct store_signing_key *key)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_begin(c, __func__);
    /* Rotations from two processes at once: one after the other. */
    if (ret == STORE_OK)
        ret = store_pg_exec(c, KEYS_LOCK, __func__);
    store_pg_int(&p, key->activate_time_us);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_KEYS_RETIRE_LIVE, &p, NULL, NULL, __func__);
    /* After the update, so the new key itself is not retired. */
    if (ret == STORE_OK)
        ret = key_insert(c, key, __func__);
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    store_pg_conn_put(s, c);
    return ret;
}

const struct store_keys_ops store_pg_keys_ops = {
    .version = STORE_KEYS_OPS_VERSION,
    .keys_list = pg_keys_list,
    .key_insert_first = pg_key_insert_first,
    .key_rotate = pg_key_rotate,
};
