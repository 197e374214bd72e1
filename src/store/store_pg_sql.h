/*
 * store_pg_sql.h - the SQL of the PostgreSQL backend, one statement table
 * for every file of the backend: each file's statements are one X-macro list
 * here (name, text), prepared per connection by store_pg_run(). The
 * statements mirror store_sqlite_sql.h one for one where they can, so that
 * the two backends keep the same semantics; where they differ the comment
 * says why.
 */
#ifndef KABAR_STORE_PG_SQL_H
#define KABAR_STORE_PG_SQL_H

/* "Live at now" for a secret, with the parameter number of now. */
#define PG_SECRET_LIVE(now) "(expire_time = 0 OR expire_time > " now ")"

#define PG_DELIVERIES_WEBHOOKS "deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id"
/* Claimable: dynamic, or the webhook exists and is enabled, or a ping (to
 * a webhook in any state: an operator checking a repaired endpoint). */
#define PG_CLAIMABLE                                                        \
    "(d.webhook_id IS NULL OR w.state = 0 OR (w.id IS NOT NULL AND EXISTS"  \
    " (SELECT 1 FROM messages pm WHERE pm.id = d.message_id"                \
    " AND pm.type = 'webhook.ping')))"
#define PG_TARGET_URI "coalesce(w.uri, d.target_uri)"

/* See FAILING_SINCE and WEBHOOK_DISABLE in store_sqlite_sql.h. */
#define PG_FAILING_SINCE "CASE WHEN failing_since = 0 THEN $2::bigint ELSE failing_since END"
#define PG_WEBHOOK_DISABLE \
    "(state = 0 AND ($4::int <> 0 OR $2::bigint - " PG_FAILING_SINCE " >= $3::bigint))"

#define PG_DELIVERY_COLUMNS                                                 \
    "d.id, d.message_id, d.webhook_id, d.target_uri, m.type, d.state,"      \
    " d.attempts, d.create_time, d.due_time, d.last_attempt_time"           \
    " FROM deliveries d JOIN messages m ON m.id = d.message_id"

#define STORE_PG_SQL_MAP(X)                                                       \
    X(META_GET, "SELECT value FROM meta WHERE key = $1")                          \
    X(META_PUT, "INSERT INTO meta (key, value) VALUES ($1, $2)"                   \
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value")        \
    X(PROJECT_ENSURE, "INSERT INTO projects (id, create_time) VALUES ($1, $2)"    \
                      " ON CONFLICT (id) DO NOTHING")                             \
    X(APIKEY_DELETE_SOURCE, "DELETE FROM api_keys WHERE source = $1")             \
    X(APIKEY_UPSERT, "INSERT INTO api_keys (hash, project, source, create_time)"  \
                     " VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO UPDATE"      \
                     " SET project = excluded.project, source = excluded.source") \
    X(APIKEY_INSERT, "INSERT INTO api_keys (hash, project, source, create_time)"  \
                     " VALUES ($1, $2, $3, $4)")                                  \
    X(APIKEY_COUNT, "SELECT count(*) FROM api_keys WHERE source = $1")            \
    X(APIKEY_LOOKUP, "SELECT project FROM api_keys WHERE hash = $1")              \
    X(WEBHOOK_INSERT, "INSERT INTO webhooks (id, project, name, uri, events,"     \
                      " state, create_time, update_time)"                         \
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")                 \
    X(WEBHOOK_GET, "SELECT id, project, name, uri, events, state, create_time,"   \
                   " update_time FROM webhooks WHERE project = $1 AND id = $2")   \
    X(WEBHOOK_LIST, "SELECT id, project, name, uri, events, state, create_time,"  \
                    " update_time FROM webhooks WHERE project = $1 AND id > $2"   \
                    " ORDER BY id LIMIT $3")                                      \
    X(WEBHOOK_UPDATE, "UPDATE webhooks SET name = $3, uri = $4, events = $5,"     \
                      " state = $6::int, update_time = $7,"                       \
                      " failing_since = CASE WHEN $6::int = 0 AND state <> 0"     \
                      " THEN 0 ELSE failing_since END"                            \
                      " WHERE project = $1 AND id = $2")                          \
    X(WEBHOOK_DELETE, "DELETE FROM webhooks WHERE project = $1 AND id = $2")      \
    X(WEBHOOK_DELIVERIES_DELETE, "DELETE FROM deliveries"                         \
                                 " WHERE project = $1 AND webhook_id = $2")       \
    X(WEBHOOK_TOUCH, "UPDATE webhooks SET update_time = $3"                       \
                     " WHERE project = $1 AND id = $2")                           \
    X(SECRET_INSERT, "INSERT INTO webhook_secrets (id, webhook_id, blob,"         \
                     " truncated, create_time, expire_time)"                      \
                     " VALUES ($1, $2, $3, $4, $5, $6)")                          \
    X(SECRET_EXPIRE_LIVE, "UPDATE webhook_secrets SET expire_time = $3"           \
                          " WHERE webhook_id = $1 AND " PG_SECRET_LIVE("$2")      \
                          " AND " PG_SECRET_LIVE("$3"))                           \
    X(SECRET_EXPIRE_EXCESS, "UPDATE webhook_secrets SET expire_time = $2"         \
                            " WHERE id IN (SELECT id FROM webhook_secrets"        \
                            " WHERE webhook_id = $1 AND " PG_SECRET_LIVE("$2")    \
                            " ORDER BY create_time DESC, id DESC OFFSET $3)")     \
    X(SECRET_INFO_LIVE, "SELECT id, truncated, expire_time FROM webhook_secrets"  \
                        " WHERE webhook_id = $1 AND " PG_SECRET_LIVE("$2")        \
                        " ORDER BY create_time DESC, id DESC LIMIT $3")           \
    X(SECRET_LIVE, "SELECT id, blob, truncated, create_time, expire_time"         \
                   " FROM webhook_secrets"                                        \
                   " WHERE webhook_id = $1 AND " PG_SECRET_LIVE("$2")             \
                   " ORDER BY create_time DESC, id DESC LIMIT $3")                \
    X(MESSAGE_IDEM_FIND, "SELECT id, create_time FROM messages"                   \
                         " WHERE project = $1 AND idempotency_key = $2")          \
    X(MESSAGE_IDEM_RELEASE, "UPDATE messages SET idempotency_key = NULL"          \
                            " WHERE project = $1 AND idempotency_key = $2")       \
    /* DO NOTHING instead of an error: another process may commit the same   \
     * idempotency key meanwhile, and an error would abort the whole batch's  \
     * transaction (PostgreSQL has no statement-level rollback without a      \
     * savepoint per message). No row inserted: the caller finds out why. */  \
    X(MESSAGE_INSERT, "INSERT INTO messages (id, project, type, payload,"         \
                      " create_time, operation_id, idempotency_key)"              \
                      " VALUES ($1, $2, $3, $4, $5, $6, $7)"                      \
                      " ON CONFLICT DO NOTHING")                                  \
    X(WEBHOOK_URI, "SELECT uri FROM webhooks WHERE project = $1 AND id = $2")     \
    /* FOR KEY SHARE (in WEBHOOK_TARGET too): a webhook_delete running       \
     * meanwhile waits for this event's commit and then deletes its new      \
     * deliveries with the others; or, when it came first, the webhook is    \
     * skipped. Without it an event could leave deliveries to a webhook that \
     * is gone. KEY SHARE does not conflict with the health updates. */     \
    X(WEBHOOK_TARGET, "SELECT uri FROM webhooks WHERE project = $1 AND id = $2"   \
                      " FOR KEY SHARE")                                           \
    X(WEBHOOK_SUBSCRIBED, "SELECT id, uri FROM webhooks"                          \
                          " WHERE project = $1 AND state = 0"                     \
                          " AND (events & $2::bigint) <> 0"                       \
                          " ORDER BY id FOR KEY SHARE")                           \
    /* Taken first by attempts_record, in id order: webhook_delete locks the \
     * webhook, then its deliveries; recording locks deliveries, then        \
     * (health) the webhook. Taking the webhooks first puts both in one      \
     * order, so they cannot deadlock. */                                    \
    X(WEBHOOKS_LOCK, "SELECT 1 FROM webhooks WHERE id IN"                         \
                     " (SELECT json_array_elements_text($1::json))"               \
                     " ORDER BY id FOR KEY SHARE")                                \
    /* All deliveries of one message in one statement: $1 is a JSON array of  \
     * {"id", "webhook_id", "uri"}. */                                        \
    X(DELIVERY_INSERT, "INSERT INTO deliveries (id, message_id, project,"         \
                       " webhook_id, target_uri, state, attempts, due_time,"      \
                       " lease_expire_time, create_time)"                         \
                       " SELECT t.id, $2, $3, t.webhook_id, t.uri, 0, 0, $4, 0,"  \
                       " $4 FROM json_to_recordset($1::json)"                     \
                       " AS t (id text, webhook_id text, uri text)")              \
    /* The claim of store_sqlite_sql.h (oldest due first, per-target caps,  \
     * the same scan window), choosing from the statement's snapshot, then  \
     * locking only the chosen rows, FOR UPDATE SKIP LOCKED: a row another   \
     * process is claiming at this moment is skipped rather than waited for, \
     * and a row it has leased since the snapshot fails PostgreSQL's re-check \
     * of the WHERE clause after the lock (its lease_expire_time is in the   \
     * future). So no two processes lease one delivery. Locking only what is \
     * chosen, not the whole scan window, keeps a claim to a target near its \
     * cap from locking (and writing) hundreds of rows it will not take. The \
     * lease is written by the same statement. */                            \
    X(DELIVERY_CLAIM, "WITH busy (uri, n) AS"                                     \
                      " (SELECT key, value::bigint FROM json_each_text($2::json)),"\
                      " candidate AS (SELECT d.id, d.message_id, d.webhook_id,"   \
                      " d.attempts, d.due_time, " PG_TARGET_URI " AS uri"         \
                      " FROM " PG_DELIVERIES_WEBHOOKS                             \
                      " WHERE d.state = 0 AND d.due_time <= $1"                   \
                      " AND d.lease_expire_time <= $1 AND " PG_CLAIMABLE          \
                      " AND " PG_TARGET_URI " NOT IN"                             \
                      " (SELECT uri FROM busy WHERE n >= $3)"                     \
                      " ORDER BY d.due_time LIMIT $4),"                           \
                      " ranked AS (SELECT *, row_number() OVER"                   \
                      " (PARTITION BY uri ORDER BY due_time, id) AS rn"           \
                      " FROM candidate),"                                         \
                      " chosen AS (SELECT * FROM ranked r"                        \
                      " WHERE r.rn <= $3 - coalesce((SELECT n FROM busy"          \
                      " WHERE busy.uri = r.uri), 0)"                              \
                      " ORDER BY r.due_time, r.id LIMIT $5),"                     \
                      " locked AS (SELECT d.id FROM deliveries d"                 \
                      " WHERE d.id IN (SELECT id FROM chosen) AND d.state = 0"    \
                      " AND d.lease_expire_time <= $1 FOR UPDATE SKIP LOCKED),"   \
                      " leased AS (UPDATE deliveries d SET lease_owner = $6,"     \
                      " lease_expire_time = $7 FROM locked"                       \
                      " WHERE d.id = locked.id RETURNING d.id)"                   \
                      " SELECT c.id, c.message_id, m.project, c.webhook_id,"      \
                      " c.uri, c.attempts, m.create_time, m.payload,"             \
                      " m.operation_id"                                           \
                      " FROM chosen c JOIN leased l ON l.id = c.id"               \
                      " JOIN messages m ON m.id = c.message_id"                   \
                      " ORDER BY c.due_time, c.id")                               \
    /* A batch of outcomes in one statement ($1: a JSON array, one object   \
     * per attempt; the excerpt in base64): each delivery's new state and    \
     * its attempt row. Returns the deliveries that still existed. */        \
    X(ATTEMPTS_RECORD, "WITH a AS (SELECT * FROM json_to_recordset($1::json)"     \
                       " AS t (id text, delivery_id text, state int,"             \
                       " next_due bigint, t_us bigint, latency_us bigint,"        \
                       " status int, error text, excerpt text)),"                 \
                       " upd AS (UPDATE deliveries d SET state = a.state,"        \
                       " due_time = CASE WHEN a.state = 0 THEN a.next_due"        \
                       " ELSE d.due_time END, attempts = d.attempts + 1,"         \
                       " last_attempt_time = a.t_us, lease_owner = NULL,"         \
                       " lease_expire_time = 0 FROM a"                            \
                       " WHERE d.id = a.delivery_id RETURNING d.id)"              \
                       " INSERT INTO attempts (id, delivery_id, time, latency_us,"\
                       " response_status, error, response_excerpt)"               \
                       " SELECT a.id, a.delivery_id, a.t_us, a.latency_us,"       \
                       " a.status, a.error, decode(a.excerpt, 'base64')"          \
                       " FROM a JOIN upd ON upd.id = a.delivery_id"               \
                       " RETURNING delivery_id")                                  \
    X(DELIVERIES_UNLEASE, "UPDATE deliveries SET lease_owner = NULL,"             \
                          " lease_expire_time = 0 WHERE id IN"                    \
                          " (SELECT json_array_elements_text($1::json))")         \
    /* At most once a second for a healthy webhook (as on SQLite): fewer    \
     * row versions, and fewer row locks that outcome batches of several     \
     * processes would queue on. */                                          \
    X(WEBHOOK_SUCCEEDED, "UPDATE webhooks SET last_success_time = $2,"            \
                         " failing_since = 0 WHERE id = $1 AND (failing_since"    \
                         " <> 0 OR last_success_time <= $2::bigint - 1000000)")   \
    X(WEBHOOK_FAILED, "UPDATE webhooks SET"                                       \
                      " state = CASE WHEN " PG_WEBHOOK_DISABLE " THEN 2"          \
                      " ELSE state END,"                                          \
                      " update_time = CASE WHEN " PG_WEBHOOK_DISABLE              \
                      " THEN $2::bigint ELSE update_time END,"                    \
                      " failing_since = " PG_FAILING_SINCE " WHERE id = $1")      \
    /* Operator events (store_opevents.h), as on SQLite.                  */ \
    X(WEBHOOK_DISABLE_NOW, "UPDATE webhooks SET state = 2,"                       \
                           " update_time = $2::bigint,"                           \
                           " failing_since = " PG_FAILING_SINCE                   \
                           " WHERE id = $1 AND " PG_WEBHOOK_DISABLE               \
                           " RETURNING project, uri, failing_since")              \
    X(DELIVERY_EXHAUSTED, "SELECT d.project, d.message_id, m.type,"              \
                          " coalesce(d.webhook_id, ''), " PG_TARGET_URI ","       \
                          " d.attempts::bigint FROM " PG_DELIVERIES_WEBHOOKS      \
                          " JOIN messages m ON m.id = d.message_id"               \
                          " WHERE d.id = $1")                                     \
    X(WEBHOOK_STATE_URI, "SELECT state::bigint, uri FROM webhooks"               \
                         " WHERE project = $1 AND id = $2 FOR UPDATE")            \
    X(DELIVERY_PENDING_COUNT, "SELECT count(*) FROM deliveries WHERE state = 0")  \
    X(DELIVERY_NEXT_DUE, "SELECT min(greatest(d.due_time, d.lease_expire_time))"  \
                         " FROM " PG_DELIVERIES_WEBHOOKS                          \
                         " WHERE d.state = 0 AND " PG_CLAIMABLE                   \
                         " AND d.due_time <= coalesce("                           \
                         "(SELECT d.due_time FROM " PG_DELIVERIES_WEBHOOKS        \
                         " WHERE d.state = 0 AND d.lease_expire_time = 0"         \
                         " AND " PG_CLAIMABLE                                     \
                         " ORDER BY d.due_time LIMIT 1), 9223372036854775807)")   \
    X(DELIVERY_LIST, "SELECT " PG_DELIVERY_COLUMNS                                \
                     " WHERE d.project = $1 AND d.webhook_id = $2"                \
                     " AND ($3::int < 0 OR d.state = $3::int) AND d.id < $4"      \
                     " ORDER BY d.id DESC LIMIT $5")                              \
    X(DELIVERY_GET, "SELECT " PG_DELIVERY_COLUMNS                                 \
                    " WHERE d.project = $1 AND d.id = $2")                        \
    X(ATTEMPT_LIST, "SELECT id, time, latency_us, response_status, error,"        \
                    " response_excerpt FROM attempts WHERE delivery_id = $1"      \
                    " ORDER BY id LIMIT $2")                                      \
    /* FOR UPDATE: the state read and the update that depends on it are one  \
     * step against another process's attempts_record. */                    \
    X(DELIVERY_STATE, "SELECT state FROM deliveries"                              \
                      " WHERE project = $1 AND id = $2 FOR UPDATE")               \
    X(DELIVERIES_RELEASE, "UPDATE deliveries SET lease_owner = NULL,"             \
                          " lease_expire_time = 0 WHERE state = 0"                \
                          " AND lease_expire_time > 0"                            \
                          " AND starts_with(lease_owner, $1)")                    \
    X(DELIVERY_RETRY, "UPDATE deliveries SET state = 0, due_time = $3,"           \
                      " lease_owner = NULL, lease_expire_time = 0"                \
                      " WHERE project = $1 AND id = $2")                          \
    X(WEBHOOK_RECOVER, "UPDATE deliveries SET state = 0, due_time = $4,"          \
                       " lease_owner = NULL, lease_expire_time = 0"               \
                       " WHERE project = $1 AND webhook_id = $2 AND state = 2"    \
                       " AND create_time >= $3")

/* Statements of store_pg_ops.c (long-running operations); states are
 * enum store_op_state's: 0 pending, 1 running. */
#define PG_OPERATION_COLUMNS                                                  \
    "id, project, kind, model, state, request, result, webhook_config,"       \
    " create_time, update_time, due_time, lease_owner, lease_expire_time"

#define STORE_PG_SQL_OPERATIONS_MAP(X)                                            \
    X(OP_INSERT, "INSERT INTO operations (id, project, kind, model, state,"       \
                 " request, result, webhook_config, create_time, update_time,"    \
                 " due_time, lease_owner, lease_expire_time) VALUES ($1, $2, $3," \
                 " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")                  \
    X(OP_GET, "SELECT " PG_OPERATION_COLUMNS " FROM operations"                   \
              " WHERE project = $1 AND id = $2")                                  \
    X(OP_LIST, "SELECT " PG_OPERATION_COLUMNS " FROM operations"                  \
               " WHERE project = $1 AND ($2::text IS NULL OR kind = $2::text)"    \
               " AND ($3::int < 0 OR state = $3::int)"                            \
               " AND id > $4 ORDER BY id LIMIT $5")                               \
    X(OP_DELETE, "DELETE FROM operations WHERE project = $1 AND id = $2")         \
    X(OP_STATE, "SELECT state FROM operations WHERE project = $1 AND id = $2")    \
    X(OP_TRANSITION, "UPDATE operations SET state = $5,"                          \
                     " result = coalesce($6, result), update_time = $7,"          \
                     " due_time = 0, lease_owner = NULL, lease_expire_time = 0"   \
                     " WHERE project = $1 AND id = $2 AND state = $3"             \
                     " AND ($4::text IS NULL OR lease_owner = $4::text)")         \
    /* Find and lease in one statement; SKIP LOCKED lets workers of several  \
     * processes claim at once without waiting on each other's rows, and the \
     * re-check after the lock drops a row another worker just leased. */    \
    X(OP_CLAIM, "UPDATE operations SET state = 1, lease_owner = $3,"              \
                " lease_expire_time = $4, update_time = $5"                       \
                " WHERE id = (SELECT id FROM operations WHERE project = $1"       \
                " AND ($2::text IS NULL OR kind IN"                               \
                " (SELECT json_array_elements_text($2::json)))"                   \
                " AND (state = 0 OR (state = 1 AND lease_expire_time <= $5))"     \
                " ORDER BY create_time, id LIMIT 1 FOR UPDATE SKIP LOCKED)"       \
                " RETURNING " PG_OPERATION_COLUMNS)                               \
    X(OP_HEARTBEAT, "UPDATE operations SET lease_expire_time = $4"                \
                    " WHERE project = $1 AND id = $2 AND state = 1"               \
                    " AND lease_owner = $3")                                      \
    X(OP_DUE, "SELECT " PG_OPERATION_COLUMNS " FROM operations"                   \
              " WHERE state = 0 AND due_time > 0"                                 \
              " AND due_time <= $1 ORDER BY due_time, id LIMIT $2")               \
    X(OP_STALE, "SELECT " PG_OPERATION_COLUMNS " FROM operations"                 \
                " WHERE kind = $1 AND state IN (0, 1)"                            \
                " AND create_time <= $2 ORDER BY create_time, id LIMIT $3")       \
    X(OP_DELIVERIES, "SELECT m.id, m.type, d.id, d.webhook_id, d.target_uri,"   \
                     " d.state, d.attempts, d.create_time FROM messages m"        \
                     " JOIN deliveries d ON d.message_id = m.id"                  \
                     " WHERE m.operation_id = $2 AND m.project = $1"              \
                     " ORDER BY d.create_time, d.id LIMIT $3")

/* Statements of store_pg_keys.c (JWT signing keys). */
#define STORE_PG_SQL_KEYS_MAP(X)                                                  \
    X(KEYS_LIST, "SELECT kid, private_blob, public_jwk, create_time,"             \
                 " activate_time, retire_time FROM signing_keys"                  \
                 " WHERE retire_time = 0 OR retire_time > $1"                     \
                 " ORDER BY activate_time DESC, kid DESC LIMIT $2")               \
    X(KEYS_ANY, "SELECT 1 FROM signing_keys LIMIT 1")                             \
    X(KEYS_RETIRE_LIVE, "UPDATE signing_keys SET retire_time = $1"                \
                        " WHERE retire_time = 0 OR retire_time > $1")             \
    X(KEY_INSERT, "INSERT INTO signing_keys (kid, private_blob, public_jwk,"      \
                  " create_time, activate_time, retire_time)"                     \
                  " VALUES ($1, $2, $3, $4, $5, $6)")

/* Statements of store_pg_retention.c: one batch of messages with their
 * deliveries and attempts in one statement (the deletes of a statement see
 * one snapshot; children are deleted explicitly so that each is counted),
 * and one batch of final operations. SKIP LOCKED: several processes prune
 * side by side without waiting on each other. $1 is the smallest message id
 * of the cutoff's millisecond, so the pick walks the primary key from the
 * oldest message and stops at the cutoff. */
#define STORE_PG_SQL_RETENTION_MAP(X)                                             \
    X(PRUNE_MESSAGES, "WITH picked AS (SELECT m.id FROM messages m"               \
                      " WHERE m.id < $1 AND m.create_time < $2::bigint"           \
                      " AND NOT EXISTS (SELECT 1 FROM deliveries p"               \
                      " WHERE p.message_id = m.id AND p.state = 0)"               \
                      " ORDER BY m.id LIMIT $3::bigint FOR UPDATE SKIP LOCKED),"  \
                      " da AS (DELETE FROM attempts a USING deliveries d, picked" \
                      " WHERE a.delivery_id = d.id AND d.message_id = picked.id"  \
                      " RETURNING 1),"                                            \
                      " dd AS (DELETE FROM deliveries d USING picked"             \
                      " WHERE d.message_id = picked.id RETURNING 1),"             \
                      " dm AS (DELETE FROM messages m USING picked"               \
                      " WHERE m.id = picked.id RETURNING 1)"                      \
                      " SELECT (SELECT count(*) FROM dm), (SELECT count(*) FROM dd)," \
                      " (SELECT count(*) FROM da)")                               \
    X(PRUNE_OPERATIONS, "DELETE FROM operations WHERE id IN (SELECT id"           \
                        " FROM operations WHERE state IN (2, 3, 4, 5)"            \
                        " AND update_time < $1::bigint ORDER BY id"               \
                        " LIMIT $2::bigint FOR UPDATE SKIP LOCKED) RETURNING id")

#endif
