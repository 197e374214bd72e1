/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_sessions.h - web UI sessions and portal links in the store.
 *
 * A row is either a one-time portal link (LINK) or a signed-in session
 * (ACTIVE), found by the SHA-256 of its token: the store never holds a token
 * itself, so a copy of the database opens no session. A session belongs to
 * one project and, for a customer portal, to one tenant of it, which
 * narrows what it may see to that tenant's webhooks (api/api_portal.c); an
 * operator's session has tenant "". Rows end at expire_time; expired rows
 * are deleted whenever a new row is written.
 *
 * Written once over the driver (store_sessions.c).
 */
#ifndef KABAR_STORE_SESSIONS_H
#define KABAR_STORE_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_SESSION_HASH_LEN 32

enum store_session_kind { STORE_SESSION_LINK = 0, STORE_SESSION_ACTIVE = 1 };

struct store_session {
    uint8_t hash[STORE_SESSION_HASH_LEN];   /* SHA-256 of the token */
    enum store_session_kind kind;
    char project[WEBHOOK_PROJECT_MAX + 1];
    char tenant[WEBHOOK_TENANT_MAX + 1];    /* "": the operator (whole project) */
    uint32_t events;                        /* event types a tenant may subscribe to */
    int64_t create_time_us;
    int64_t expire_time_us;
};

/* Delete the rows expired at now_us, then insert s, in one transaction.
 * CONFLICT when the hash exists. */
enum store_rc store_session_insert(struct store *st, const struct store_session *s,
                                   int64_t now_us);
/* The ACTIVE session with this hash not expired at now_us into out;
 * NOT_FOUND otherwise. */
enum store_rc store_session_lookup(struct store *st, const uint8_t *hash, int64_t now_us,
                                   struct store_session *out);
/* Turn the LINK with link_hash, unexpired at now_us, into an ACTIVE session
 * with session_hash, in one statement, so that a link opens one session
 * only. NOT_FOUND when there is no such link (used, expired, never made). */
enum store_rc store_session_exchange(struct store *st, const uint8_t *link_hash,
                                     const uint8_t *session_hash, int64_t now_us);
/* Delete the row with this hash (sign-out); NOT_FOUND when none. */
enum store_rc store_session_remove(struct store *st, const uint8_t *hash);

#endif
