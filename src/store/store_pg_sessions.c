/*
 * store_pg_sessions.c - web UI sessions and portal links
 * (store_sessions.h) in the PostgreSQL backend: one table, ui_sessions,
 * keyed by the SHA-256 of a token. Each op is one statement in its own
 * implicit transaction; exchange's UPDATE takes a link once even when two
 * processes try at the same time.
 */
#include <string.h>

#include "store/store_pg_int.h"

/* Run one statement of p on a pooled connection. */
static enum store_rc pg_session_write(struct store *st, enum store_pg_sql id,
                                      const struct store_pg_params *p, bool none_is_missing,
                                      const char *op)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_conn *c;
    size_t changed = 0;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_run(c, id, p, NULL, &changed, op);
    if (ret == STORE_OK && none_is_missing && changed == 0)
        ret = STORE_NOT_FOUND;
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_session_insert(struct store *st, const struct store_session *s,
                                       int64_t now_us)
{
    struct store_pg_params purge = {0};
    struct store_pg_params p = {0};
    enum store_rc ret;

    store_pg_int(&purge, now_us);
    ret = pg_session_write(st, PGSQL_SESSION_PURGE, &purge, false, __func__);
    if (ret != STORE_OK)
        return ret;
    store_pg_bytea(&p, s->hash, STORE_SESSION_HASH_LEN);
    store_pg_int(&p, s->kind);
    store_pg_text(&p, s->project);
    store_pg_text(&p, s->tenant);
    store_pg_int(&p, s->events);
    store_pg_int(&p, s->create_time_us);
    store_pg_int(&p, s->expire_time_us);
    return pg_session_write(st, PGSQL_SESSION_INSERT, &p, false, __func__);
}

static enum store_rc pg_session_lookup(struct store *st, const uint8_t *hash, int64_t now_us,
                                       struct store_session *out)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r = NULL;
    enum store_rc ret;

    memset(out, 0, sizeof *out);
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_bytea(&p, hash, STORE_SESSION_HASH_LEN);
    store_pg_int(&p, now_us);
    ret = store_pg_run(c, PGSQL_SESSION_LOOKUP, &p, &r, NULL, __func__);
    if (ret == STORE_OK) {
        int64_t events = PQntuples(r) ? store_pg_col_int(r, 0, 2) : 0;

        if (PQntuples(r) == 0) {
            ret = STORE_NOT_FOUND;
        } else if (store_pg_col_text(r, 0, 0, out->project, sizeof out->project) != 0 ||
                   store_pg_col_text(r, 0, 1, out->tenant, sizeof out->tenant) != 0 ||
                   events < 0 || events > UINT32_MAX) {
            ret = store_pg_row_error(__func__, "session");
        } else {
            memcpy(out->hash, hash, STORE_SESSION_HASH_LEN);
            out->kind = STORE_SESSION_ACTIVE;
            out->events = (uint32_t)events;
            out->create_time_us = store_pg_col_int(r, 0, 3);
            out->expire_time_us = store_pg_col_int(r, 0, 4);
        }
        PQclear(r);
    }
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_session_exchange(struct store *st, const uint8_t *link_hash,
                                         const uint8_t *session_hash, int64_t now_us)
{
    struct store_pg_params p = {0};

    store_pg_bytea(&p, link_hash, STORE_SESSION_HASH_LEN);
    store_pg_bytea(&p, session_hash, STORE_SESSION_HASH_LEN);
    store_pg_int(&p, now_us);
    return pg_session_write(st, PGSQL_SESSION_EXCHANGE, &p, true, __func__);
}

static enum store_rc pg_session_remove(struct store *st, const uint8_t *hash)
{
    struct store_pg_params p = {0};

    store_pg_bytea(&p, hash, STORE_SESSION_HASH_LEN);
    return pg_session_write(st, PGSQL_SESSION_DELETE, &p, true, __func__);
}

const struct store_sessions_ops store_pg_sessions_ops = {
    .version = STORE_SESSIONS_OPS_VERSION,
    .insert = pg_session_insert,
    .lookup = pg_session_lookup,
    .exchange = pg_session_exchange,
    .remove = pg_session_remove,
};
