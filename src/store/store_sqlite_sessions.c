/*
 * store_sqlite_sessions.c - web UI sessions and portal links
 * (store_sessions.h) in the SQLite backend: one table, ui_sessions, keyed by
 * the SHA-256 of a token.
 */
#include <sqlite3.h>
#include <string.h>

#include "store/store_sqlite_int.h"

static enum store_rc sqlite_session_insert(struct store *st, const struct store_session *s,
                                           int64_t now_us)
{
    struct store_sqlite *db = (struct store_sqlite *)st;
    const struct store_sqlite_arg purge[] = {STORE_SQLITE_INT64(now_us)};
    const struct store_sqlite_arg args[] = {
        STORE_SQLITE_BLOB(s->hash, STORE_SESSION_HASH_LEN),
        STORE_SQLITE_INT64(s->kind),
        STORE_SQLITE_TEXT(s->project),
        STORE_SQLITE_TEXT(s->tenant),
        STORE_SQLITE_INT64(s->events),
        STORE_SQLITE_INT64(s->create_time_us),
        STORE_SQLITE_INT64(s->expire_time_us),
    };
    enum store_rc ret;

    ret = store_sqlite_write(db, SQL_SESSION_PURGE, purge, 1, STORE_SQLITE_NONE_OK, NULL,
                             __func__);
    if (ret != STORE_OK)
        return ret;
    return store_sqlite_write(db, SQL_SESSION_INSERT, args, sizeof args / sizeof args[0],
                              STORE_SQLITE_NONE_OK, NULL, __func__);
}

static enum store_rc sqlite_session_lookup(struct store *st, const uint8_t *hash,
                                           int64_t now_us, struct store_session *out)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int64_t events;
    int rc;

    memset(out, 0, sizeof *out);
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_SESSION_LOOKUP, &q);
    store_sqlite_bind_blob(q, 1, hash, STORE_SESSION_HASH_LEN, &rc);
    store_sqlite_bind_int64(q, 2, now_us, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
    } else if (rc != SQLITE_ROW) {
        ret = store_sqlite_sql_error(c, rc, __func__);
    } else {
        events = sqlite3_column_int64(q, 2);
        if (store_sqlite_col_text(q, 0, out->project, sizeof out->project) != 0 ||
            store_sqlite_col_text(q, 1, out->tenant, sizeof out->tenant) != 0 ||
            events < 0 || events > UINT32_MAX) {
            ret = store_sqlite_row_error(__func__, "session");
        } else {
            memcpy(out->hash, hash, STORE_SESSION_HASH_LEN);
            out->kind = STORE_SESSION_ACTIVE;
            out->events = (uint32_t)events;
            out->create_time_us = sqlite3_column_int64(q, 3);
            out->expire_time_us = sqlite3_column_int64(q, 4);
        }
    }
    store_sqlite_conn_put(s, c);             /* resets q on every path */
    return ret;
}

static enum store_rc sqlite_session_exchange(struct store *st, const uint8_t *link_hash,
                                             const uint8_t *session_hash, int64_t now_us)
{
    const struct store_sqlite_arg args[] = {
        STORE_SQLITE_BLOB(link_hash, STORE_SESSION_HASH_LEN),
        STORE_SQLITE_BLOB(session_hash, STORE_SESSION_HASH_LEN),
        STORE_SQLITE_INT64(now_us),
    };

    return store_sqlite_write((struct store_sqlite *)st, SQL_SESSION_EXCHANGE, args,
                              sizeof args / sizeof args[0], STORE_SQLITE_NONE_NOT_FOUND, NULL,
                              __func__);
}

static enum store_rc sqlite_session_remove(struct store *st, const uint8_t *hash)
{
    const struct store_sqlite_arg args[] = {STORE_SQLITE_BLOB(hash, STORE_SESSION_HASH_LEN)};

    return store_sqlite_write((struct store_sqlite *)st, SQL_SESSION_DELETE, args, 1,
                              STORE_SQLITE_NONE_NOT_FOUND, NULL, __func__);
}

const struct store_sessions_ops store_sqlite_sessions_ops = {
    .version = STORE_SESSIONS_OPS_VERSION,
    .insert = sqlite_session_insert,
    .lookup = sqlite_session_lookup,
    .exchange = sqlite_session_exchange,
    .remove = sqlite_session_remove,
};
