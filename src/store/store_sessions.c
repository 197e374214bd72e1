/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_sessions.c - web UI sessions and portal links (store_sessions.h),
 * written once over the driver: one table, ui_sessions, keyed by the
 * SHA-256 of a token.
 */
#include <string.h>

#include "store/store_driver.h"
#include "store/store_sessions.h"

enum store_rc store_session_insert(struct store *st, const struct store_session *s,
                                   int64_t now_us)
{
    struct store_conn *c = NULL;
    enum store_rc ret = store_conn_get(st, &c);

    if (ret == STORE_OK)
        ret = store_begin(c, STORE_TXN_WRITE);
    /* Expired rows go whenever a row is written, so the table holds only
     * what is live (and what expired since the last sign-in). */
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_SESSION_PURGE, STORE_ARGS(STORE_INT(now_us)));
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_SESSION_INSERT,
                        STORE_ARGS(STORE_BLOB(s->hash, STORE_SESSION_HASH_LEN),
                                   STORE_INT(s->kind), STORE_TEXT(s->project),
                                   STORE_TEXT(s->tenant), STORE_INT(s->events),
                                   STORE_INT(s->create_time_us), STORE_INT(s->expire_time_us)));
    if (ret == STORE_OK)
        ret = store_commit(c);
    store_conn_put(c);
    return ret;
}

enum store_rc store_session_lookup(struct store *st, const uint8_t *hash, int64_t now_us,
                                   struct store_session *out)
{
    struct store_conn *c = NULL;
    enum store_rc ret = store_conn_get(st, &c);
    int64_t events;

    memset(out, 0, sizeof *out);
    if (ret == STORE_OK)
        ret = store_run(c, STORE_SQL_SESSION_LOOKUP,
                        STORE_ARGS(STORE_BLOB(hash, STORE_SESSION_HASH_LEN), STORE_INT(now_us)));
    if (ret == STORE_OK)
        ret = store_next(c);
    if (ret == STORE_OK) {
        events = store_col_int(c, 2);
        if (store_col_text(c, 0, out->project, sizeof out->project) != 0 ||
            store_col_text(c, 1, out->tenant, sizeof out->tenant) != 0 || events < 0 ||
            events > UINT32_MAX) {
            ret = store_row_error("session_lookup", "session");
        } else {
            memcpy(out->hash, hash, STORE_SESSION_HASH_LEN);
            out->kind = STORE_SESSION_ACTIVE;
            out->events = (uint32_t)events;
            out->create_time_us = store_col_int(c, 3);
            out->expire_time_us = store_col_int(c, 4);
        }
    }
    if (ret != STORE_OK)
        memset(out, 0, sizeof *out);
    store_conn_put(c);
    return ret;
}

enum store_rc store_session_exchange(struct store *st, const uint8_t *link_hash,
                                     const uint8_t *session_hash, int64_t now_us)
{
    return store_write_one(st, STORE_SQL_SESSION_EXCHANGE,
                           STORE_ARGS(STORE_BLOB(link_hash, STORE_SESSION_HASH_LEN),
                                      STORE_BLOB(session_hash, STORE_SESSION_HASH_LEN),
                                      STORE_INT(now_us)),
                           true, NULL, false);
}

enum store_rc store_session_remove(struct store *st, const uint8_t *hash)
{
    return store_write_one(st, STORE_SQL_SESSION_DELETE,
                           STORE_ARGS(STORE_BLOB(hash, STORE_SESSION_HASH_LEN)), true, NULL,
                           false);
}
