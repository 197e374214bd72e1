/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_apikeys.c - API keys (store.h), written once over the driver. Keys
 * are stored as their SHA-256 only and looked up by it; a key's project
 * gets its projects row on first use.
 */
#include <assert.h>
#include <string.h>

#include "store/store_driver.h"

/* Write one key with statement id (APIKEY_INSERT or APIKEY_UPSERT), its
 * project row first. */
static enum store_rc apikey_write(struct store_conn *c, enum store_sql id,
                                  const struct store_apikey *key, int64_t now_us)
{
    enum store_rc ret = store_run(c, STORE_SQL_PROJECT_ENSURE,
                                  STORE_ARGS(STORE_TEXT(key->project), STORE_INT(now_us)));

    if (ret == STORE_OK)
        ret = store_run(c, id,
                        STORE_ARGS(STORE_BLOB(key->hash, STORE_KEY_HASH_LEN),
                                   STORE_TEXT(key->project), STORE_INT(key->source),
                                   STORE_INT(now_us)));
    return ret;
}

enum store_rc store_apikeys_sync_config(struct store *st, const struct store_apikey *keys,
                                        size_t n)
{
    struct store_conn *c = NULL;
    int64_t now_us = store_now_us();
    enum store_rc ret = store_conn_get(st, &c);

    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    /* Several processes starting at once each replace the configured keys;
     * one at a time, or their deletes and upserts could deadlock. */
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_APIKEYS_LOCK, STORE_NO_ARGS);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_APIKEY_DELETE_SOURCE,
                        STORE_ARGS(STORE_INT(STORE_KEY_CONFIG)));
    /* Upsert, not insert: the same key listed twice in the configuration,
     * or a generated key pasted into it, becomes one configured key rather
     * than a failed start. */
    for (size_t i = 0; i < n && ret == STORE_OK; i++) {
        assert(keys[i].source == STORE_KEY_CONFIG);
        ret = apikey_write(c, STORE_SQL_APIKEY_UPSERT, &keys[i], now_us);
    }
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}

enum store_rc store_apikey_insert(struct store *st, const struct store_apikey *key)
{
    struct store_conn *c = NULL;
    enum store_rc ret = store_conn_get(st, &c);

    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    if (ret == STORE_OK)
        ret = apikey_write(c, STORE_SQL_APIKEY_INSERT, key, store_now_us());
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}

enum store_rc store_apikey_count(struct store *st, enum store_key_source source, size_t *n)
{
    int64_t v = 0;
    enum store_rc ret = store_read_int(st, STORE_SQL_APIKEY_COUNT,
                                       STORE_ARGS(STORE_INT(source)), &v);

    *n = ret == STORE_OK && v > 0 ? (size_t)v : 0;
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

enum store_rc store_apikey_lookup(struct store *st, const uint8_t *hash, char *project,
                                  size_t cap)
{
    return store_read_text(st, STORE_SQL_APIKEY_LOOKUP,
                           STORE_ARGS(STORE_BLOB(hash, STORE_KEY_HASH_LEN)), project, cap);
}

/* ---- meta ----------------------------------------------------------------- */

enum store_rc store_meta_get(struct store *st, const char *key, char *val, size_t cap)
{
    return store_read_text(st, STORE_SQL_META_GET, STORE_ARGS(STORE_TEXT(key)), val, cap);
}

enum store_rc store_meta_put(struct store *st, const char *key, const char *val)
{
    /* meta_get promises values below STORE_META_MAX; keep that true here. */
    if (strlen(val) >= STORE_META_MAX)
        return store_row_error("meta_put", key);
    return store_write_one(st, STORE_SQL_META_PUT, STORE_ARGS(STORE_TEXT(key), STORE_TEXT(val)),
                           false, NULL, false);
}
