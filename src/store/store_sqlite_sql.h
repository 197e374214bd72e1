/*
 * store_sqlite_sql.h - the SQL of the SQLite backend, one statement table
 * for every file of the backend: each file's statements are one X-macro
 * list here (name, text), cached per connection by store_sqlite_stmt_get().
 */
#ifndef KABAR_STORE_SQLITE_SQL_H
#define KABAR_STORE_SQLITE_SQL_H

/* "Live at now" for a secret, with the parameter number of now. */
#define SECRET_LIVE(now) "(expire_time = 0 OR expire_time > " now ")"

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
                       " lease_expire_time, create_time, target_id)"              \
                       " VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, 0, ?6, ?7)")       \
    /* The per-target queue (see docs/architecture.md, "Delivery"). A       */ \
    /* target's next_due only ever goes down here; the claim sets it.       */ \
    X(TARGET_UPSERT, "INSERT INTO targets (id, project, webhook_id, uri, next_due)"  \
                     " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE"    \
                     " SET next_due = excluded.next_due"                         \
                     " WHERE excluded.next_due < targets.next_due")              \
    X(TARGET_LOWER, "UPDATE targets SET next_due = ?2"                            \
                    " WHERE id = ?1 AND next_due > ?2")                           \
    X(TARGET_LOWER_OF, "UPDATE targets SET next_due = ?2 WHERE id ="              \
                       " (SELECT target_id FROM deliveries WHERE id = ?1)"        \
                       " AND next_due > ?2")                                      \
    X(TARGET_SET, "UPDATE targets SET next_due = ?2 WHERE id = ?1")               \
    X(TARGETS_DUE, "SELECT t.id, t.project, t.webhook_id,"                        \
                   " coalesce(w.uri, t.uri), w.state, t.next_due"                 \
                   " FROM targets t LEFT JOIN webhooks w ON w.id = t.webhook_id"  \
                   " WHERE t.next_due <= ?1 ORDER BY t.next_due LIMIT ?2")        \
    /* One target's pending deliveries in due order: the claim steps over    */ \
    /* the leased ones (at most what is in flight there) and stops at the    */ \
    /* first that is not due, so it reads what it takes and little more.     */ \
    X(TARGET_WALK, "SELECT d.id, d.message_id, d.webhook_id, d.attempts,"         \
                   " d.due_time, d.lease_expire_time, m.create_time, m.payload,"  \
                   " m.operation_id"                                              \
                   " FROM deliveries d JOIN messages m ON m.id = d.message_id"    \
                   " WHERE d.target_id = ?1 AND d.state = 0"                      \
                   " ORDER BY d.due_time")                                        \
    X(TARGETS_NEXT_DUE, "SELECT min(next_due) FROM targets")                     \
    X(TARGETS_WAKE_RELEASED, "UPDATE targets SET next_due = 0 WHERE id IN"        \
                             " (SELECT target_id FROM deliveries WHERE state = 0" \
                             " AND lease_expire_time > 0"                         \
                             " AND substr(lease_owner, 1, length(?1)) = ?1)")     \
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
    X(DELIVERY_PENDING_COUNT, "SELECT count(*) FROM deliveries WHERE state = 0")  \
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

#endif
