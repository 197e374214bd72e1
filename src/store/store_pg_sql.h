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
    X(DELIVERY_INSERT, "WITH t AS (SELECT * FROM json_to_recordset($1::json)"     \
                       " AS j (id text, webhook_id text, uri text, target text)),"\
                       " up AS (UPDATE targets SET next_due = $4"                 \
                       " WHERE id IN (SELECT target FROM t) AND next_due > $4),"  \
                       " tg AS (INSERT INTO targets (id, project, webhook_id,"    \
                       " uri, next_due) SELECT DISTINCT ON (target) target, $3,"  \
                       " webhook_id, uri, $4 FROM t ORDER BY target"              \
                       " ON CONFLICT (id) DO NOTHING)"                            \
                       " INSERT INTO deliveries (id, message_id, project,"        \
                       " webhook_id, target_uri, state, attempts, due_time,"      \
                       " lease_expire_time, create_time, target_id)"              \
                       " SELECT t.id, $2, $3, t.webhook_id, t.uri, 0, 0, $4, 0,"  \
                       " $4, t.target FROM t")                                    \
    /* The per-target claim (store_claim.h): the due targets, each locked   \
     * FOR UPDATE SKIP LOCKED, so that workers of several processes take    \
     * different targets instead of queueing on the same rows; then, per   \
     * target, its due deliveries through deliveries_target_due, leased by  \
     * the same statement; then the target's next due time. */             \
    X(TARGETS_DUE, "SELECT t.id, t.project, t.webhook_id,"                        \
                   " coalesce(w.uri, t.uri), w.state, t.next_due"                 \
                   " FROM targets t LEFT JOIN webhooks w ON w.id = t.webhook_id"  \
                   " WHERE t.next_due <= $1 ORDER BY t.next_due LIMIT $2"         \
                   " FOR UPDATE OF t SKIP LOCKED")                                \
    X(TARGET_TAKE, "WITH picked AS (SELECT d.id FROM deliveries d"                \
                   " WHERE d.target_id = $1 AND d.state = 0 AND d.due_time <= $2" \
                   " AND d.lease_expire_time <= $2 ORDER BY d.due_time LIMIT $3"  \
                   " FOR UPDATE SKIP LOCKED),"                                    \
                   " leased AS (UPDATE deliveries d SET lease_owner = $4,"        \
                   " lease_expire_time = $5 FROM picked WHERE d.id = picked.id"   \
                   " RETURNING d.id, d.message_id, d.webhook_id, d.attempts,"     \
                   " d.due_time)"                                                 \
                   " SELECT l.id, l.message_id, l.webhook_id, l.attempts,"        \
                   " l.due_time, m.create_time, m.payload, m.operation_id"        \
                   " FROM leased l JOIN messages m ON m.id = l.message_id")       \
    /* Now ($2) when the target has more due than it was given (it waits   \
     * behind the targets waiting since earlier); else its next future due  \
     * time, or the lease expiry ($3) while deliveries of its are leased,   \
     * whichever is first. Each probe stops at its first row, past at most  \
     * the target's leased ones. */                                         \
    X(TARGET_SETTLE, "UPDATE targets SET next_due = CASE WHEN EXISTS (SELECT 1"   \
                     " FROM deliveries WHERE target_id = $1 AND state = 0"        \
                     " AND due_time <= $2 AND lease_expire_time <= $2)"           \
                     " THEN $2::bigint ELSE least(coalesce((SELECT min(due_time)" \
                     " FROM deliveries WHERE target_id = $1 AND state = 0"        \
                     " AND due_time > $2), 9223372036854775807),"                 \
                     " CASE WHEN EXISTS (SELECT 1 FROM deliveries"                \
                     " WHERE target_id = $1 AND state = 0 AND due_time <= $2"     \
                     " AND lease_expire_time > $2) THEN $3::bigint"               \
                     " ELSE 9223372036854775807 END) END WHERE id = $1")          \
    X(TARGET_PARK, "UPDATE targets SET next_due = 9223372036854775807"            \
                   " WHERE id = $1")                                              \
    X(TARGET_LOWER, "UPDATE targets SET next_due = $2"                            \
                    " WHERE id = $1 AND next_due > $2")                           \
    X(TARGET_LOWER_OF, "UPDATE targets SET next_due = $2 WHERE id ="              \
                       " (SELECT target_id FROM deliveries WHERE id = $1)"        \
                       " AND next_due > $2")                                      \
    /* $1: [{"delivery_id", "due"}]: each delivery's target due by then. */  \
    X(TARGETS_LOWER_OF, "UPDATE targets t SET next_due = x.due FROM"              \
                        " (SELECT d.target_id, min(j.due) AS due FROM"            \
                        " json_to_recordset($1::json) AS j (delivery_id text,"    \
                        " due bigint) JOIN deliveries d ON d.id = j.delivery_id"  \
                        " GROUP BY d.target_id) x"                                \
                        " WHERE t.id = x.target_id AND t.next_due > x.due")       \
    X(TARGETS_WAKE_RELEASED, "UPDATE targets SET next_due = 0 WHERE id IN"        \
                             " (SELECT target_id FROM deliveries WHERE state = 0" \
                             " AND lease_expire_time > 0"                         \
                             " AND starts_with(lease_owner, $1))")                \
    X(TARGETS_NEXT_DUE, "SELECT min(next_due) FROM targets")                     \
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
    X(DELIVERY_PENDING_COUNT, "SELECT count(*) FROM deliveries WHERE state = 0")  \
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

#endif
