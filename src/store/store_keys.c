/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_keys.c - the JWT signing keys (store_keys.h), written once over the
 * driver: one table, signing_keys, read by store_keys_list and written by
 * two short transactions. The private blobs are sealed by the caller.
 */
#include <limits.h>
#include <string.h>

#include "store/store_driver.h"
#include "store/store_keys.h"

/* Fill k from a KEYS_LIST row. Returns 0, or -1 when a column does not fit
 * (a damaged row: the caller reports it). */
static int row_key(struct store_conn *c, struct store_signing_key *k)
{
    if (store_col_text(c, 0, k->kid, sizeof k->kid) != 0 ||
        store_col_text(c, 2, k->public_jwk, sizeof k->public_jwk) != 0 ||
        store_col_blob(c, 1, k->private_blob, sizeof k->private_blob,
                       &k->private_blob_len) != 0 ||
        k->private_blob_len == 0)
        return -1;
    k->create_time_us = store_col_int(c, 3);
    k->activate_time_us = store_col_int(c, 4);
    k->retire_time_us = store_col_int(c, 5);
    return 0;
}

enum store_rc store_keys_list(struct store *st, int64_t since_us,
                              struct store_signing_key *out, size_t cap, size_t *n)
{
    struct store_conn *c = NULL;
    enum store_rc ret;

    *n = 0;
    if (cap > INT_MAX)
        cap = INT_MAX;
    ret = store_conn_get(st, &c);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_KEYS_LIST, STORE_ARGS(STORE_INT(since_us), STORE_INT(cap)));
    while (ret == STORE_OK && *n < cap && (ret = store_next(c)) == STORE_OK) {
        if (row_key(c, &out[*n]) != 0)
            ret = store_row_error("keys_list", "signing key");
        else
            (*n)++;
    }
    if (ret == STORE_NOT_FOUND)
        ret = STORE_OK;
    if (ret != STORE_OK)
        *n = 0;
    store_conn_put(c);
    return ret;
}

static enum store_rc key_insert(struct store_conn *c, const struct store_signing_key *key)
{
    return store_run(c, STORE_SQL_KEY_INSERT,
                     STORE_ARGS(STORE_TEXT(key->kid),
                                STORE_BLOB(key->private_blob, key->private_blob_len),
                                STORE_TEXT(key->public_jwk), STORE_INT(key->create_time_us),
                                STORE_INT(key->activate_time_us),
                                STORE_INT(key->retire_time_us)));
}

/* KEYS_LOCK is taken before the check, so that processes starting at once
 * on an empty table make one key between them, not one each (row locks
 * cannot serialize on a row that does not exist yet). */
enum store_rc store_keys_insert_first(struct store *st, const struct store_signing_key *key)
{
    struct store_conn *c = NULL;
    enum store_rc ret = store_conn_get(st, &c);

    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_KEYS_LOCK, STORE_NO_ARGS);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_KEYS_ANY, STORE_NO_ARGS);
    if (ret == STORE_OK) {
        ret = store_next(c);
        ret = ret == STORE_OK ? STORE_CONFLICT : ret == STORE_NOT_FOUND ? STORE_OK : ret;
    }
    if (ret == STORE_OK)
        ret = key_insert(c, key);
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);                       /* rolls back when not committed */
    return ret;
}

enum store_rc store_keys_rotate(struct store *st, const struct store_signing_key *key)
{
    struct store_conn *c = NULL;
    enum store_rc ret = store_conn_get(st, &c);

    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    /* Rotations from two processes at once: one after the other. */
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_KEYS_LOCK, STORE_NO_ARGS);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_KEYS_RETIRE_LIVE,
                        STORE_ARGS(STORE_INT(key->activate_time_us)));
    /* After the update, so the new key itself is not retired. */
    if (ret == STORE_OK)
        ret = key_insert(c, key);
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}
