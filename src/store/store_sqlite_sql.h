/*
 * store_sqlite_sql.h - the SQL of the SQLite backend, one statement table
 * for every file of the backend: each file's statements are one X-macro
 * list here (name, text), cached per connection by store_sqlite_stmt_get().
 */
#ifndef KABAR_STORE_SQLITE_SQL_H
#define KABAR_STORE_SQLITE_SQL_H

/* "Live at now" for a secret, with the parameter number of now. */
#define SECRET_LIVE(now) "(expire_time = 0 OR expire_time > " now ")"

/* The deliveries of the claim and next-due queries, each with its webhook
 * (none for a dynamic target, which has no webhook_id). */
#define DELIVERIES_WEBHOOKS "deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id"

/* A delivery of DELIVERIES_WEBHOOKS that may be sent: a dynamic one, one
 * whose webhook still exists and is enabled, or a ping to a webhook in any
 * state (how an operator checks a repaired endpoint before enabling it). */
#define CLAIMABLE                                                           \
    "(d.webhook_id IS NULL OR w.state = 0 OR (w.id IS NOT NULL AND EXISTS"  \
    " (SELECT 1 FROM messages pm WHERE pm.id = d.message_id"                \
    " AND pm.type = 'webhook.ping')))"

/* Where a delivery of DELIVERIES_WEBHOOKS goes: its webhook's uri as it is
 * now (an edited uri applies to pending retries too), or the dynamic
 * target's. The per-target caps of the claim count this uri. */
#define TARGET_URI "coalesce(w.uri, d.target_uri)"

/* A webhook's failing_since after a failure at ?2 (set unless already
 * set), and whether that failure disables it: an enabled webhook that is
 * gone (?4) or has failed without a success for ?3 microseconds. In an
 * UPDATE every column on the right-hand side is the old value. */
#define FAILING_SINCE "CASE WHEN failing_since = 0 THEN ?2 ELSE failing_since END"
#define WEBHOOK_DISABLE "(state = 0 AND (?4 != 0 OR ?2 - " FAILING_SINCE " >= ?3))"

/* A delivery as the delivery log shows it (row_delivery reads these). */
#define DELIVERY_COLUMNS                                                    \
    "d.id, d.message_id, d.webhook_id, d.target_uri, m.type, d.state,"      \
    " d.attempts, d.create_time, d.due_time, d.last_attempt_time"           \
    " FROM deliveries d JOIN messages m ON m.id = d.message_id"

/* Every statement a connection may cache: name and SQL text. */
#define STORE_SQL_MAP(X)                                                          \
    X(BEGIN_READ, "BEGIN")                                                        \
    X(BEGIN_WRITE, "BEGIN IMMEDIATE")                                             \
    X(COMMIT, "COMMIT")                                                           \
    X(ROLLBACK, "ROLLBACK")                                                       \
    X(META_GET, "SELECT value FROM meta WHERE key = ?1")                          \
    X(META_PUT, "INSERT INTO meta (key, value) VALUES (?1, ?2)"                   \
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value")        \
    X(PROJECT_ENSURE, "INSERT INTO projects (id, create_time) VALUES (?1, ?2)"    \
                      " ON CONFLICT (id) DO NOTHING")                             \
    X(APIKEY_DELETE_SOURCE, "DELETE FROM api_keys WHERE source = ?1")             \
    X(APIKEY_UPSERT, "INSERT INTO api_keys (hash, project, source, create_time)"  \
                     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hash) DO UPDATE"      \
                     " SET project = excluded.project, source = excluded.source") \
    X(APIKEY_INSERT, "INSERT INTO api_keys (hash, project, source, create_time)"  \
                     " VALUES (?1, ?2, ?3, ?4)")                                  \
    X(APIKEY_COUNT, "SELECT count(*) FROM api_keys WHERE source = ?1")            \
    X(APIKEY_LOOKUP, "SELECT project FROM api_keys WHERE hash = ?1")              \
    X(WEBHOOK_INSERT, "INSERT INTO webhooks (id, project, name, uri, events,"     \
                      " state, create_time, update_time)"                         \
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")                 \
    X(WEBHOOK_GET, "SELECT id, project, name, uri, events, state, create_time,"   \
                   " update_time FROM webhooks WHERE project = ?1 AND id = ?2")   \
    X(WEBHOOK_LIST, "SELECT id, project, name, uri, events, state, create_time,"  \
                    " update_time FROM webhooks WHERE project = ?1 AND id > ?2"   \
                    " ORDER BY id LIMIT ?3")                                      \
    X(WEBHOOK_UPDATE, "UPDATE webhooks SET name = ?3, uri = ?4, events = ?5,"     \
                      " state = ?6, update_time = ?7,"                            \
                      " failing_since = CASE WHEN ?6 = 0 AND state != 0 THEN 0"  \
                      " ELSE failing_since END"                                   \
                      " WHERE project = ?1 AND id = ?2")                          \
    X(WEBHOOK_DELETE, "DELETE FROM webhooks WHERE project = ?1 AND id = ?2")      \
    X(WEBHOOK_DELIVERIES_DELETE, "DELETE FROM deliveries"                         \
                                 " WHERE project = ?1 AND webhook_id = ?2")       \
    X(WEBHOOK_TOUCH, "UPDATE webhooks SET update_time = ?3"                       \
                     " WHERE project = ?1 AND id = ?2")                           \
    X(SECRET_INSERT, "INSERT INTO webhook_secrets (id, webhook_id, blob,"         \
                     " truncated, create_time, expire_time)"                      \
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                          \
    X(SECRET_EXPIRE_LIVE, "UPDATE webhook_secrets SET expire_time = ?3"           \
                          " WHERE webhook_id = ?1 AND " SECRET_LIVE("?2")         \
                          " AND " SECRET_LIVE("?3"))                              \
    X(SECRET_EXPIRE_EXCESS, "UPDATE webhook_secrets SET expire_time = ?2"         \
                            " WHERE id IN (SELECT id FROM webhook_secrets"        \
                            " WHERE webhook_id = ?1 AND " SECRET_LIVE("?2")       \
                            " ORDER BY create_time DESC, id DESC"                 \
                            " LIMIT -1 OFFSET ?3)")                               \
    X(SECRET_INFO_LIVE, "SELECT id, truncated, expire_time FROM webhook_secrets"  \
                        " WHERE webhook_id = ?1 AND " SECRET_LIVE("?2")           \
                        " ORDER BY create_time DESC, id DESC LIMIT ?3")           \
    X(SECRET_LIVE, "SELECT id, blob, truncated, create_time, expire_time"         \
                   " FROM webhook_secrets"                                        \
                   " WHERE webhook_id = ?1 AND " SECRET_LIVE("?2")                \
                   " ORDER BY create_time DESC, id DESC LIMIT ?3")                \
    X(SAVEPOINT, "SAVEPOINT store_message")                                       \
    X(SAVEPOINT_ROLLBACK, "ROLLBACK TO store_message")                            \
    X(SAVEPOINT_RELEASE, "RELEASE store_message")                                 \
    X(MESSAGE_IDEM_FIND, "SELECT id, create_time FROM messages"                   \
                         " WHERE project = ?1 AND idempotency_key = ?2")          \
    X(MESSAGE_IDEM_RELEASE, "UPDATE messages SET idempotency_key = NULL"          \
                            " WHERE project = ?1 AND idempotency_key = ?2")       \
    X(MESSAGE_INSERT, "INSERT INTO messages (id, project, type, payload,"         \
                      " create_time, operation_id, idempotency_key)"              \
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                     \
    X(WEBHOOK_URI, "SELECT uri FROM webhooks WHERE project = ?1 AND id = ?2")     \
    X(WEBHOOK_SUBSCRIBED, "SELECT id, uri FROM webhooks"                          \
                          " WHERE project = ?1 AND state = 0"                     \
                          " AND (events & ?2) != 0"                               \
                          " ORDER BY id")                                         \
    X(DELIVERY_INSERT, "INSERT INTO deliveries (id, message_id, project,"         \
                       " webhook_id, target_uri, state, attempts, due_time,"      \
                       " lease_expire_time, create_time)"                         \
                       " VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, 0, ?6)")           \
    X(DELIVERY_CLAIM, "WITH busy (uri, n) AS MATERIALIZED"                        \
                      " (SELECT key, value FROM json_each(?2)),"                  \
                      " candidate AS (SELECT d.id, d.message_id, d.webhook_id,"   \
                      " d.attempts, d.due_time, " TARGET_URI " AS uri"            \
                      " FROM " DELIVERIES_WEBHOOKS                                \
                      " WHERE d.state = 0 AND d.due_time <= ?1"                   \
                      " AND d.lease_expire_time <= ?1 AND " CLAIMABLE             \
                      " AND " TARGET_URI " NOT IN"                                \
                      " (SELECT uri FROM busy WHERE n >= ?3)"                     \
                      " ORDER BY d.due_time LIMIT ?4),"                           \
                      " ranked AS (SELECT *, row_number() OVER"                   \
                      " (PARTITION BY uri ORDER BY due_time, id) AS rn"           \
                      " FROM candidate)"                                          \
                      " SELECT r.id, r.message_id, m.project, r.webhook_id,"      \
                      " r.uri,"                                                   \
                      " r.attempts, m.create_time, m.payload, m.operation_id"     \
                      " FROM ranked r JOIN messages m ON m.id = r.message_id"     \
                      " WHERE r.rn <= ?3 - coalesce((SELECT n FROM busy"          \
                      " WHERE busy.uri = r.uri), 0)"                              \
                      " ORDER BY r.due_time, r.id LIMIT ?5")                      \
    X(DELIVERY_LEASE, "UPDATE deliveries SET lease_owner = ?2,"                   \
                      " lease_expire_time = ?3 WHERE id = ?1")                    \
    X(DELIVERY_RESULT, "UPDATE deliveries SET state = ?2,"                        \
                       " due_time = CASE WHEN ?2 = 0 THEN ?3 ELSE due_time END,"  \
                       " attempts = attempts + 1, last_attempt_time = ?4,"        \
                       " lease_owner = NULL, lease_expire_time = 0"                \
                       " WHERE id = ?1")                                          \
    X(DELIVERY_RELEASE, "UPDATE deliveries SET lease_owner = NULL,"               \
                        " lease_expire_time = 0 WHERE id = ?1")                   \
    X(ATTEMPT_INSERT, "INSERT INTO attempts (id, delivery_id, time,"              \
                      " latency_us, response_status, error, response_excerpt)"    \
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                     \
    /* At most one write a second for a healthy webhook: the health    */ \
    /* record needs no finer grain, and it saves a row write per attempt. */ \
    X(WEBHOOK_SUCCEEDED, "UPDATE webhooks SET last_success_time = ?2,"            \
                         " failing_since = 0 WHERE id = ?1 AND (failing_since != 0" \
                         " OR last_success_time <= ?2 - 1000000)")                \
    X(WEBHOOK_FAILED, "UPDATE webhooks SET"                                       \
                      " state = CASE WHEN " WEBHOOK_DISABLE " THEN 2"             \
                      " ELSE state END,"                                          \
                      " update_time = CASE WHEN " WEBHOOK_DISABLE " THEN ?2"      \
                      " ELSE update_time END,"                                    \
                      " failing_since = " FAILING_SINCE " WHERE id = ?1")         \
    /* Operator events (store_opevents.h): disable a webhook whose failure */ \
    /* at ?2 disables it, returning what kabar.webhook.disabled reports;   */ \
    /* what kabar.delivery.exhausted reports of a delivery.                */ \
    X(WEBHOOK_DISABLE_NOW, "UPDATE webhooks SET state = 2, update_time = ?2,"     \
                           " failing_since = " FAILING_SINCE                      \
                           " WHERE id = ?1 AND " WEBHOOK_DISABLE                  \
                           " RETURNING project, uri, failing_since")              \
    X(DELIVERY_EXHAUSTED, "SELECT d.project, d.message_id, m.type,"              \
                          " coalesce(d.webhook_id, ''), " TARGET_URI ","          \
                          " d.attempts FROM " DELIVERIES_WEBHOOKS                 \
                          " JOIN messages m ON m.id = d.message_id"               \
                          " WHERE d.id = ?1")                                     \
    X(WEBHOOK_STATE_URI, "SELECT state, uri FROM webhooks"                       \
                         " WHERE project = ?1 AND id = ?2")                       \
    X(DELIVERY_PENDING_COUNT, "SELECT count(*) FROM deliveries WHERE state = 0")  \
    X(DELIVERY_NEXT_DUE, "SELECT min(max(d.due_time, d.lease_expire_time))"       \
                         " FROM " DELIVERIES_WEBHOOKS                             \
                         " WHERE d.state = 0 AND " CLAIMABLE                      \
                         " AND d.due_time <= coalesce("                           \
                         "(SELECT d.due_time FROM " DELIVERIES_WEBHOOKS           \
                         " WHERE d.state = 0 AND d.lease_expire_time = 0"         \
                         " AND " CLAIMABLE                                        \
                         " ORDER BY d.due_time LIMIT 1), 9223372036854775807)")   \
    X(DELIVERY_LIST, "SELECT " DELIVERY_COLUMNS                                   \
                     " WHERE d.project = ?1 AND d.webhook_id = ?2"                \
                     " AND (?3 < 0 OR d.state = ?3) AND d.id < ?4"                \
                     " ORDER BY d.id DESC LIMIT ?5")                              \
    X(DELIVERY_GET, "SELECT " DELIVERY_COLUMNS                                    \
                    " WHERE d.project = ?1 AND d.id = ?2")                        \
    X(ATTEMPT_LIST, "SELECT id, time, latency_us, response_status, error,"        \
                    " response_excerpt FROM attempts WHERE delivery_id = ?1"      \
                    " ORDER BY id LIMIT ?2")                                      \
    X(DELIVERY_STATE, "SELECT state FROM deliveries"                              \
                      " WHERE project = ?1 AND id = ?2")                          \
    X(DELIVERIES_RELEASE, "UPDATE deliveries SET lease_owner = NULL,"             \
                          " lease_expire_time = 0 WHERE state = 0"                \
                          " AND lease_expire_time > 0"                            \
                          " AND substr(lease_owner, 1, length(?1)) = ?1")         \
    X(DELIVERY_RETRY, "UPDATE deliveries SET state = 0, due_time = ?3,"           \
                      " lease_owner = NULL, lease_expire_time = 0"                \
                      " WHERE project = ?1 AND id = ?2")                          \
    X(WEBHOOK_RECOVER, "UPDATE deliveries SET state = 0, due_time = ?4,"          \
                       " lease_owner = NULL, lease_expire_time = 0"               \
                       " WHERE project = ?1 AND webhook_id = ?2 AND +state = 2"   \
                       " AND create_time >= ?3")

/* Statements of store_sqlite_ops.c (long-running operations). The state
 * numbers are enum store_op_state's: 0 pending, 1 running. */
#define OPERATION_COLUMNS                                                     \
    "id, project, kind, model, state, request, result, webhook_config,"       \
    " create_time, update_time, due_time, lease_owner, lease_expire_time"     \
    " FROM operations"

#define STORE_SQL_OPERATIONS_MAP(X)                                               \
    X(OP_INSERT, "INSERT INTO operations (id, project, kind, model, state,"       \
                 " request, result, webhook_config, create_time, update_time,"    \
                 " due_time, lease_owner, lease_expire_time) VALUES (?1, ?2, ?3," \
                 " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")                  \
    X(OP_GET, "SELECT " OPERATION_COLUMNS " WHERE project = ?1 AND id = ?2")      \
    X(OP_LIST, "SELECT " OPERATION_COLUMNS " WHERE project = ?1"                  \
               " AND (?2 IS NULL OR kind = ?2) AND (?3 < 0 OR state = ?3)"        \
               " AND id > ?4 ORDER BY id LIMIT ?5")                               \
    X(OP_DELETE, "DELETE FROM operations WHERE project = ?1 AND id = ?2")         \
    X(OP_STATE, "SELECT state FROM operations WHERE project = ?1 AND id = ?2")    \
    X(OP_TRANSITION, "UPDATE operations SET state = ?5,"                          \
                     " result = coalesce(?6, result), update_time = ?7,"          \
                     " due_time = 0, lease_owner = NULL, lease_expire_time = 0"   \
                     " WHERE project = ?1 AND id = ?2 AND state = ?3"             \
                     " AND (?4 IS NULL OR lease_owner = ?4)")                     \
    X(OP_CLAIM_FIND, "SELECT id FROM operations WHERE project = ?1"               \
                     " AND (?2 IS NULL OR kind IN (SELECT value FROM json_each(?2)))" \
                     " AND (state = 0 OR (state = 1 AND lease_expire_time <= ?3))" \
                     " ORDER BY create_time, id LIMIT 1")                         \
    X(OP_LEASE, "UPDATE operations SET state = 1, lease_owner = ?3,"              \
                " lease_expire_time = ?4, update_time = ?5"                       \
                " WHERE project = ?1 AND id = ?2")                                \
    X(OP_HEARTBEAT, "UPDATE operations SET lease_expire_time = ?4"                \
                    " WHERE project = ?1 AND id = ?2 AND state = 1"               \
                    " AND lease_owner = ?3")                                      \
    X(OP_DUE, "SELECT " OPERATION_COLUMNS " WHERE state = 0 AND due_time > 0"     \
              " AND due_time <= ?1 ORDER BY due_time, id LIMIT ?2")               \
    X(OP_STALE, "SELECT " OPERATION_COLUMNS " WHERE kind = ?1 AND state IN (0, 1)" \
                " AND create_time <= ?2 ORDER BY create_time, id LIMIT ?3") \
    X(OP_DELIVERIES, "SELECT m.id, m.type, d.id, d.webhook_id, d.target_uri,"   \
                     " d.state, d.attempts, d.create_time FROM messages m"        \
                     " JOIN deliveries d ON d.message_id = m.id"                  \
                     " WHERE m.operation_id = ?2 AND m.project = ?1"              \
                     " ORDER BY d.create_time, d.id LIMIT ?3")

/* Statements of store_sqlite_keys.c (JWT signing keys). A key is "not
 * retired at t" when retire_time is 0 or later than t. */
#define STORE_SQL_KEYS_MAP(X)                                                     \
    X(KEYS_LIST, "SELECT kid, private_blob, public_jwk, create_time,"             \
                 " activate_time, retire_time FROM signing_keys"                  \
                 " WHERE retire_time = 0 OR retire_time > ?1"                     \
                 " ORDER BY activate_time DESC, kid DESC LIMIT ?2")               \
    X(KEYS_ANY, "SELECT 1 FROM signing_keys LIMIT 1")                             \
    X(KEYS_RETIRE_LIVE, "UPDATE signing_keys SET retire_time = ?1"                \
                        " WHERE retire_time = 0 OR retire_time > ?1")             \
    X(KEY_INSERT, "INSERT INTO signing_keys (kid, private_blob, public_jwk,"      \
                  " create_time, activate_time, retire_time)"                     \
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")

/* Statements of store_sqlite_retention.c. A batch's messages are picked
 * into the connection's temp table prune_pick (made by the file before
 * use), then their attempts, deliveries and the messages go, each counted.
 * ?1 is the smallest message id of the cutoff's millisecond (ids sort by
 * creation), so the pick walks the primary key from the oldest message and
 * stops at the cutoff instead of scanning every message. */
#define STORE_SQL_RETENTION_MAP(X)                                                \
    X(PRUNE_PICK, "INSERT INTO temp.prune_pick (id) SELECT m.id FROM messages m"  \
                  " WHERE m.id < ?1 AND m.create_time < ?2 AND NOT EXISTS"        \
                  " (SELECT 1 FROM deliveries p WHERE p.message_id = m.id"        \
                  " AND p.state = 0) ORDER BY m.id LIMIT ?3")                     \
    X(PRUNE_ATTEMPTS, "DELETE FROM attempts WHERE delivery_id IN"                 \
                      " (SELECT d.id FROM deliveries d WHERE d.message_id IN"     \
                      " (SELECT id FROM temp.prune_pick))")                       \
    X(PRUNE_DELIVERIES, "DELETE FROM deliveries WHERE message_id IN"              \
                        " (SELECT id FROM temp.prune_pick)")                      \
    X(PRUNE_MESSAGES, "DELETE FROM messages WHERE id IN"                          \
                      " (SELECT id FROM temp.prune_pick)")                        \
    X(PRUNE_CLEAR, "DELETE FROM temp.prune_pick")                                 \
    X(PRUNE_OPS_PICK, "SELECT id FROM operations WHERE state IN (2, 3, 4, 5)"     \
                      " AND update_time < ?1 ORDER BY id LIMIT ?2")               \
    X(PRUNE_OP, "DELETE FROM operations WHERE id = ?1")                           \
    X(FREELIST_COUNT, "PRAGMA freelist_count")

#endif
