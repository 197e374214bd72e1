/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_sql.h - every SQL statement of the store, in one list.
 *
 * S(name, text) is one statement both backends run as written; D(name,
 * sqlite, postgresql) one whose dialects differ, the two texts side by
 * side. Parameters are written ?1, ?2 ...; the PostgreSQL driver turns them
 * into $1, $2 when it prepares a statement. Where PostgreSQL cannot infer a
 * parameter's type the text says CAST(?n AS type), which SQLite reads as
 * the same value.
 *
 * Times are INTEGER microseconds since the epoch (0: not set); delivery
 * states are enum store_delivery_state's (0 pending, 1 succeeded, 2
 * failed), webhook states enum webhook_state's (0 enabled), operation
 * states enum store_op_state's (0 pending, 1 running).
 */
#ifndef KABAR_STORE_SQL_H
#define KABAR_STORE_SQL_H

/* "Live at now" for a secret, with the parameter of now. */
#define SECRET_IS_LIVE(now) "(expire_time = 0 OR expire_time > " now ")"

/* The deliveries of the claim and next-due queries, each with its webhook
 * (none for a dynamic target, which has no webhook_id). */
#define DELIVERY_WEBHOOK_JOIN "deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id"

/* Where a delivery goes: its webhook's uri as it is now (an edited uri
 * applies to pending retries too), or the dynamic target's. The per-target
 * caps of the claim count this uri. */
#define DELIVERY_TARGET_URI "coalesce(w.uri, d.target_uri)"

/* A webhook's failing_since after a failure at ?2 (set unless already
 * set), and whether that failure disables it: an enabled webhook that is
 * gone (?4) or has failed without a success for ?3 microseconds. In an
 * UPDATE every column on the right-hand side is the old value. */
#define WEBHOOK_FAILING_SINCE \
    "CASE WHEN failing_since = 0 THEN CAST(?2 AS BIGINT) ELSE failing_since END"
#define WEBHOOK_DISABLES                                                      \
    "(state = 0 AND (CAST(?4 AS INTEGER) <> 0"                                \
    " OR CAST(?2 AS BIGINT) - " WEBHOOK_FAILING_SINCE " >= CAST(?3 AS BIGINT)))"

/* The response status of a delivery's newest attempt (0: none yet, or no
 * HTTP response). */
#define DELIVERY_LAST_STATUS                                                \
    "coalesce((SELECT a.response_status FROM attempts a"                    \
    " WHERE a.delivery_id = d.id ORDER BY a.id DESC LIMIT 1), 0)"

/* A delivery as the delivery log shows it (row_delivery reads these);
 * DELIVERY_GET adds the event's payload as column 11. */
#define DELIVERY_LOG_FIELDS                                                 \
    "d.id, d.message_id, d.webhook_id, d.target_uri, m.type, d.state,"      \
    " d.attempts, d.create_time, d.due_time, d.last_attempt_time, "         \
    DELIVERY_LAST_STATUS
#define DELIVERY_LOG_FROM " FROM deliveries d JOIN messages m ON m.id = d.message_id"
#define DELIVERY_LOG_COLUMNS DELIVERY_LOG_FIELDS DELIVERY_LOG_FROM

/* A webhook as row_webhook reads it. */
#define WEBHOOK_ROW_COLUMNS \
    "id, project, name, uri, events, state, create_time, update_time, tenant"

/* An operation as row_operation reads it. */
#define OPERATION_ROW_COLUMNS                                                 \
    "id, project, kind, model, state, request, result, webhook_config,"       \
    " create_time, update_time, due_time, lease_owner, lease_expire_time"

/* A pending delivery of a target (deliveries_target_due) that may be
 * claimed at ?2: due, and not leased. */
#define TARGET_DELIVERY_READY                                                 \
    "d.target_id = ?1 AND d.state = 0 AND d.due_time <= ?2"                   \
    " AND d.lease_expire_time <= ?2"

/* The earliest time one of target ?1's pending deliveries may be claimed,
 * seen at ?2 with leases running until ?3 (see TARGET_SETTLE): ?2 when one
 * is ready now, else its next future due time or - while some are leased -
 * ?3, whichever is first; 9223372036854775807 when none is pending. Each
 * probe stops at its first row of deliveries_target_due, past at most the
 * target's leased ones. */
#define TARGET_NEXT_DUE(least)                                                \
    "CASE WHEN EXISTS (SELECT 1 FROM deliveries d WHERE "                      \
    TARGET_DELIVERY_READY ") THEN CAST(?2 AS BIGINT) ELSE " least "("         \
    "coalesce((SELECT min(due_time) FROM deliveries WHERE target_id = ?1"     \
    " AND state = 0 AND due_time > ?2), 9223372036854775807),"                \
    " CASE WHEN EXISTS (SELECT 1 FROM deliveries WHERE target_id = ?1"        \
    " AND state = 0 AND due_time <= ?2 AND lease_expire_time > ?2)"           \
    " THEN CAST(?3 AS BIGINT) ELSE 9223372036854775807 END) END"

/* A lowered next due time that is applied to the newest row version: the
 * WHERE of a PostgreSQL UPDATE is first tested on the statement's snapshot,
 * and a row that fails it there is skipped without waiting for the claim
 * that holds it - which may be about to raise next_due past the delivery
 * just made due. Testing in SET instead makes the update wait for that
 * claim's commit and re-read the row. */
#define TARGET_LOWERED(due) \
    "CASE WHEN next_due > " due " THEN " due " ELSE next_due END"

/* Retention: the messages of one prune batch, ?1 a JSON array of their
 * ids, as a subquery of each dialect. */
#define PRUNE_PICKED_SQLITE "(SELECT value FROM json_each(?1))"
#define PRUNE_PICKED_PG "(SELECT json_array_elements_text(CAST(?1 AS json)))"

/* Retention: messages created before the cutoff (?2) none of whose
 * deliveries is still pending, oldest first, at most ?3. ?1 is the
 * smallest message id of the cutoff's millisecond (ids sort by creation),
 * so the pick walks the primary key from the oldest message and stops at
 * the cutoff instead of scanning every message. */
#define PRUNE_PICK_SQL                                                      \
    "SELECT m.id FROM messages m WHERE m.id < ?1 AND m.create_time < ?2"    \
    " AND NOT EXISTS (SELECT 1 FROM deliveries p"                           \
    " WHERE p.message_id = m.id AND p.state = 0) ORDER BY m.id LIMIT ?3"

/* Retention: operations in a final state (succeeded, failed, cancelled,
 * expired) last updated before ?1, at most ?2. */
#define PRUNE_OPERATIONS_SQL                                                \
    "DELETE FROM operations WHERE id IN (SELECT id FROM operations"         \
    " WHERE state IN (2, 3, 4, 5) AND update_time < ?1 ORDER BY id LIMIT ?2"


#define STORE_SQL_LIST(S, D)                                                      \
    /* ---- meta and API keys ---- */                                            \
    S(META_GET, "SELECT value FROM meta WHERE key = ?1")                          \
    S(META_PUT, "INSERT INTO meta (key, value) VALUES (?1, ?2)"                   \
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value")        \
    S(PROJECT_ENSURE, "INSERT INTO projects (id, create_time) VALUES (?1, ?2)"    \
                      " ON CONFLICT (id) DO NOTHING")                             \
    /* Several processes syncing the configured keys at once would each      \
     * delete the others' inserts; SQLite's BEGIN IMMEDIATE already lets one \
     * writer in at a time. */                                                \
    D(APIKEYS_LOCK, "SELECT 1",                                                   \
      "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 2)")              \
    S(APIKEY_DELETE_SOURCE, "DELETE FROM api_keys WHERE source = ?1")             \
    S(APIKEY_UPSERT, "INSERT INTO api_keys (hash, project, source, create_time)"  \
                     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hash) DO UPDATE"      \
                     " SET project = excluded.project, source = excluded.source") \
    S(APIKEY_INSERT, "INSERT INTO api_keys (hash, project, source, create_time)"  \
                     " VALUES (?1, ?2, ?3, ?4)")                                  \
    S(APIKEY_COUNT, "SELECT count(*) FROM api_keys WHERE source = ?1")            \
    S(APIKEY_LOOKUP, "SELECT project FROM api_keys WHERE hash = ?1")              \
    /* ---- webhooks and secrets ---- */                                         \
    S(WEBHOOK_INSERT, "INSERT INTO webhooks (id, project, name, uri, events,"     \
                      " state, create_time, update_time, tenant)"                 \
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")             \
    S(WEBHOOK_GET, "SELECT " WEBHOOK_ROW_COLUMNS " FROM webhooks"                 \
                   " WHERE project = ?1 AND id = ?2")                             \
    /* ?4: one tenant's webhooks only, or "" for all. */                     \
    S(WEBHOOK_LIST, "SELECT " WEBHOOK_ROW_COLUMNS " FROM webhooks"                \
                    " WHERE project = ?1 AND id > ?2"                             \
                    " AND (CAST(?4 AS TEXT) = '' OR tenant = ?4)"                 \
                    " ORDER BY id LIMIT ?3")                                      \
    S(WEBHOOK_UPDATE, "UPDATE webhooks SET name = ?3, uri = ?4, events = ?5,"     \
                      " state = CAST(?6 AS INTEGER), update_time = ?7,"           \
                      " tenant = ?8,"                                             \
                      " failing_since = CASE WHEN CAST(?6 AS INTEGER) = 0"        \
                      " AND state <> 0 THEN 0 ELSE failing_since END"             \
                      " WHERE project = ?1 AND id = ?2")                          \
    S(WEBHOOK_DELETE, "DELETE FROM webhooks WHERE project = ?1 AND id = ?2")      \
    S(WEBHOOK_DELIVERIES_DELETE, "DELETE FROM deliveries"                         \
                                 " WHERE project = ?1 AND webhook_id = ?2")       \
    S(WEBHOOK_TOUCH, "UPDATE webhooks SET update_time = ?3"                       \
                     " WHERE project = ?1 AND id = ?2")                           \
    S(SECRET_INSERT, "INSERT INTO webhook_secrets (id, webhook_id, blob,"         \
                     " truncated, create_time, expire_time)"                      \
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                          \
    S(SECRET_EXPIRE_LIVE, "UPDATE webhook_secrets SET expire_time = ?3"           \
                          " WHERE webhook_id = ?1 AND " SECRET_IS_LIVE("?2")      \
                          " AND " SECRET_IS_LIVE("?3"))                           \
    S(SECRET_EXPIRE_EXCESS, "UPDATE webhook_secrets SET expire_time = ?2"         \
                            " WHERE id IN (SELECT id FROM webhook_secrets"        \
                            " WHERE webhook_id = ?1 AND " SECRET_IS_LIVE("?2")    \
                            " ORDER BY create_time DESC, id DESC"                 \
                            " LIMIT 9223372036854775807 OFFSET ?3)")              \
    S(SECRET_INFO_LIVE, "SELECT id, truncated, expire_time FROM webhook_secrets"  \
                        " WHERE webhook_id = ?1 AND " SECRET_IS_LIVE("?2")        \
                        " ORDER BY create_time DESC, id DESC LIMIT ?3")           \
    S(SECRET_LIVE, "SELECT id, blob, truncated, create_time, expire_time"         \
                   " FROM webhook_secrets"                                        \
                   " WHERE webhook_id = ?1 AND " SECRET_IS_LIVE("?2")             \
                   " ORDER BY create_time DESC, id DESC LIMIT ?3")                \
    /* ---- messages ---- */                                                     \
    S(MESSAGE_IDEM_FIND, "SELECT id, create_time FROM messages"                   \
                         " WHERE project = ?1 AND idempotency_key = ?2")          \
    S(MESSAGE_IDEM_RELEASE, "UPDATE messages SET idempotency_key = NULL"          \
                            " WHERE project = ?1 AND idempotency_key = ?2")       \
    /* DO NOTHING instead of an error: another process may commit the same   \
     * idempotency key meanwhile, and an error would abort the whole batch's  \
     * transaction on PostgreSQL. No row inserted: the caller finds out why. */ \
    S(MESSAGE_INSERT, "INSERT INTO messages (id, project, type, payload,"         \
                      " create_time, operation_id, idempotency_key)"              \
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"                      \
                      " ON CONFLICT DO NOTHING")                                  \
    S(WEBHOOK_URI, "SELECT uri FROM webhooks WHERE project = ?1 AND id = ?2")     \
    /* FOR KEY SHARE (in WEBHOOK_SUBSCRIBED too): a webhook_delete running   \
     * meanwhile waits for this event's commit and then deletes its new      \
     * deliveries with the others; or, when it came first, the webhook is    \
     * skipped. SQLite has one writer at a time anyway. */                   \
    D(WEBHOOK_TARGET, "SELECT uri FROM webhooks WHERE project = ?1 AND id = ?2",  \
      "SELECT uri FROM webhooks WHERE project = $1 AND id = $2 FOR KEY SHARE")    \
    D(WEBHOOK_SUBSCRIBED, "SELECT id, uri FROM webhooks"                          \
                          " WHERE project = ?1 AND state = 0"                     \
                          " AND (events & ?2) != 0 ORDER BY id",                  \
      "SELECT id, uri FROM webhooks WHERE project = $1 AND state = 0"             \
      " AND (events & $2::bigint) <> 0 ORDER BY id FOR KEY SHARE")                \
    /* ---- deliveries ---- */                                                   \
    /* All deliveries of one message in one statement: ?1 is a JSON array of \
     * {"id", "webhook_id", "uri", "target"} and, for one leased to this     \
     * process in the insert (the fast path), "owner" and "until". */        \
    D(DELIVERY_INSERT, "INSERT INTO deliveries (id, message_id, project,"         \
                       " webhook_id, target_uri, state, attempts, due_time,"      \
                       " lease_owner, lease_expire_time, create_time, target_id)" \
                       " SELECT json_extract(value, '$.id'), ?2, ?3,"             \
                       " json_extract(value, '$.webhook_id'),"                    \
                       " json_extract(value, '$.uri'), 0, 0, ?4,"                 \
                       " json_extract(value, '$.owner'),"                         \
                       " coalesce(json_extract(value, '$.until'), 0), ?4,"        \
                       " json_extract(value, '$.target') FROM json_each(?1)",     \
      "INSERT INTO deliveries (id, message_id, project, webhook_id, target_uri,"  \
      " state, attempts, due_time, lease_owner, lease_expire_time, create_time,"  \
      " target_id) SELECT t.id, $2, $3, t.webhook_id, t.uri, 0, 0, $4, t.owner,"  \
      " coalesce(t.until, 0), $4, t.target FROM json_to_recordset($1::json)"      \
      " AS t (id text, webhook_id text, uri text, target text, owner text,"       \
      " until bigint)")                                                           \
    /* ---- per-target queues (docs/architecture.md, "Delivery") ---- */         \
    /* The targets of a batch's new deliveries, due by then: ?1 a JSON array \
     * of {"target", "project", "webhook_id", "uri", "due"}. One statement   \
     * per transaction, in id order, so that writers lock target rows in one \
     * order. ON CONFLICT DO UPDATE locks every existing row (waiting for a  \
     * claim that holds it) and tests its WHERE on the newest version; it    \
     * writes only when next_due goes down. (SQLite: "WHERE true" parses the \
     * upsert of a SELECT.) */                                                \
    D(TARGETS_UPSERT, "INSERT INTO targets (id, project, webhook_id, uri,"        \
                      " next_due) SELECT json_extract(value, '$.target'),"        \
                      " min(json_extract(value, '$.project')),"                   \
                      " min(json_extract(value, '$.webhook_id')),"                \
                      " min(json_extract(value, '$.uri')),"                       \
                      " min(json_extract(value, '$.due')) FROM json_each(?1)"     \
                      " WHERE true GROUP BY 1 ORDER BY 1"                         \
                      " ON CONFLICT (id) DO UPDATE SET next_due = excluded.next_due" \
                      " WHERE targets.next_due > excluded.next_due",              \
      "INSERT INTO targets (id, project, webhook_id, uri, next_due)"              \
      " SELECT j.target, min(j.project), min(j.webhook_id), min(j.uri), min(j.due)" \
      " FROM json_to_recordset($1::json)"                                         \
      " AS j (target text, project text, webhook_id text, uri text, due bigint)"  \
      " GROUP BY j.target ORDER BY j.target"                                      \
      " ON CONFLICT (id) DO UPDATE SET next_due = excluded.next_due"              \
      " WHERE targets.next_due > excluded.next_due")                              \
    /* The targets due at ?1, oldest first, at most ?2, with their webhook's \
     * uri and state now. PostgreSQL locks each FOR UPDATE SKIP LOCKED, so   \
     * that claimers of several processes take different targets instead of  \
     * queueing on the same rows; a claim never waits for a lock, which keeps \
     * it out of every lock cycle. SQLite claims under its write lock. */    \
    D(TARGETS_DUE, "SELECT t.id, t.project, t.webhook_id,"                        \
                   " coalesce(w.uri, t.uri), w.state, t.next_due"                 \
                   " FROM targets t LEFT JOIN webhooks w ON w.id = t.webhook_id"  \
                   " WHERE t.next_due <= ?1 ORDER BY t.next_due LIMIT ?2",        \
      "SELECT t.id, t.project, t.webhook_id, coalesce(w.uri, t.uri), w.state,"    \
      " t.next_due FROM targets t LEFT JOIN webhooks w ON w.id = t.webhook_id"    \
      " WHERE t.next_due <= $1 ORDER BY t.next_due LIMIT $2"                      \
      " FOR UPDATE OF t SKIP LOCKED")                                             \
    /* Up to ?3 ready deliveries of target ?1 at ?2, oldest due first.       \
     * SQLite chooses under the write lock and the caller leases them with   \
     * DELIVERY_LEASE; PostgreSQL locks them FOR UPDATE SKIP LOCKED and      \
     * leases them (?4 owner, ?5 until) in the same statement. */            \
    D(TARGET_TAKE, "SELECT d.id, d.message_id, d.webhook_id, d.attempts,"         \
                   " d.due_time, m.create_time, m.payload, m.operation_id"        \
                   " FROM deliveries d JOIN messages m ON m.id = d.message_id"    \
                   " WHERE " TARGET_DELIVERY_READY                                \
                   " ORDER BY d.due_time LIMIT ?3",                               \
      "WITH picked AS (SELECT d.id FROM deliveries d WHERE " TARGET_DELIVERY_READY \
      " ORDER BY d.due_time LIMIT ?3 FOR UPDATE SKIP LOCKED),"                    \
      " leased AS (UPDATE deliveries d SET lease_owner = ?4,"                     \
      " lease_expire_time = ?5 FROM picked WHERE d.id = picked.id"                \
      " RETURNING d.id, d.message_id, d.webhook_id, d.attempts, d.due_time)"      \
      " SELECT l.id, l.message_id, l.webhook_id, l.attempts, l.due_time,"         \
      " m.create_time, m.payload, m.operation_id"                                 \
      " FROM leased l JOIN messages m ON m.id = l.message_id")                    \
    /* After a claim took from target ?1 (under its lock): its next due     \
     * time. Ready deliveries left make it due now, behind the targets      \
     * waiting since earlier: round robin. */                                \
    D(TARGET_SETTLE, "UPDATE targets SET next_due = " TARGET_NEXT_DUE("min")      \
                     " WHERE id = ?1",                                            \
      "UPDATE targets SET next_due = " TARGET_NEXT_DUE("least") " WHERE id = ?1") \
    /* A target whose webhook is gone or not enabled, out of the claims'    \
     * way until the webhook is enabled again (webhooks_wake_target). */     \
    S(TARGET_PARK, "UPDATE targets SET next_due = 9223372036854775807"            \
                   " WHERE id = ?1")                                              \
    /* Target ?1 (webhook_recover: the webhook's id) due by ?2. */           \
    S(TARGET_LOWER, "UPDATE targets SET next_due = "                              \
                    TARGET_LOWERED("CAST(?2 AS BIGINT)") " WHERE id = ?1")        \
    /* The target of delivery ?1 due by ?2 (delivery_retry). */              \
    S(TARGET_LOWER_OF, "UPDATE targets SET next_due = "                           \
                       TARGET_LOWERED("CAST(?2 AS BIGINT)") " WHERE id ="         \
                       " (SELECT target_id FROM deliveries WHERE id = ?1)")       \
    /* The targets of a batch's retried and released deliveries due by      \
     * then: ?1 a JSON array of {"delivery_id", "due"}. PostgreSQL locks     \
     * them first, in id order (see TARGETS_UPSERT). */                      \
    D(TARGETS_LOWER_OF, "UPDATE targets SET next_due = CASE WHEN next_due > x.due" \
                        " THEN x.due ELSE next_due END FROM"                      \
                        " (SELECT d.target_id, min(json_extract(j.value, '$.due'))" \
                        " AS due FROM json_each(?1) j JOIN deliveries d"          \
                        " ON d.id = json_extract(j.value, '$.delivery_id')"       \
                        " GROUP BY d.target_id) x WHERE targets.id = x.target_id", \
      "UPDATE targets t SET next_due = CASE WHEN t.next_due > x.due THEN x.due"   \
      " ELSE t.next_due END FROM (SELECT d.target_id, min(j.due) AS due"          \
      " FROM json_to_recordset($1::json) AS j (delivery_id text, due bigint)"     \
      " JOIN deliveries d ON d.id = j.delivery_id GROUP BY d.target_id) x,"       \
      " (SELECT id FROM targets WHERE id IN (SELECT d.target_id"                  \
      " FROM json_to_recordset($1::json) AS j (delivery_id text, due bigint)"     \
      " JOIN deliveries d ON d.id = j.delivery_id)"                               \
      " ORDER BY id FOR NO KEY UPDATE) l"                                         \
      " WHERE t.id = x.target_id AND l.id = x.target_id")                         \
    /* The targets of the deliveries a previous life of this process held    \
     * (?1 the owner prefix) due now, while the leases still say which they  \
     * are (deliveries_release). */                                          \
    D(TARGETS_WAKE_RELEASED, "UPDATE targets SET next_due = 0 WHERE id IN"        \
                             " (SELECT target_id FROM deliveries WHERE state = 0" \
                             " AND lease_expire_time > 0"                         \
                             " AND substr(lease_owner, 1, length(?1)) = ?1)",     \
      "UPDATE targets SET next_due = 0 WHERE id IN (SELECT id FROM targets"       \
      " WHERE id IN (SELECT target_id FROM deliveries WHERE state = 0"            \
      " AND lease_expire_time > 0 AND starts_with(lease_owner, $1))"              \
      " ORDER BY id FOR NO KEY UPDATE)")                                          \
    /* The earliest time a delivery may be claimable: the first target due   \
     * whose webhook (if any) is enabled - one step of targets_next_due per   \
     * disabled one before it. It may be early (a target whose deliveries    \
     * are all leased says "at the first expiry"), never late. */            \
    S(TARGETS_NEXT_DUE, "SELECT t.next_due FROM targets t"                        \
                        " LEFT JOIN webhooks w ON w.id = t.webhook_id"            \
                        " WHERE t.next_due < 9223372036854775807"                 \
                        " AND (t.webhook_id IS NULL OR w.state = 0)"              \
                        " ORDER BY t.next_due LIMIT 1")                           \
    S(DELIVERY_LEASE, "UPDATE deliveries SET lease_owner = ?2,"                   \
                      " lease_expire_time = ?3 WHERE id = ?1")                    \
    /* Taken first by attempts_record, in id order: webhook_delete locks the \
     * webhook, then its deliveries; recording locks deliveries, then        \
     * (health) the webhook. Taking the webhooks first puts both in one      \
     * order, so they cannot deadlock. (SQLite: one writer, nothing to do.) */ \
    D(WEBHOOKS_LOCK, "SELECT 1",                                                  \
      "SELECT 1 FROM webhooks WHERE id IN"                                        \
      " (SELECT json_array_elements_text($1::json)) ORDER BY id FOR KEY SHARE")   \
    S(DELIVERY_RESULT, "UPDATE deliveries SET state = CAST(?2 AS INTEGER),"       \
                       " due_time = CASE WHEN CAST(?2 AS INTEGER) = 0 THEN ?3"    \
                       " ELSE due_time END,"                                      \
                       " attempts = attempts + 1, last_attempt_time = ?4,"        \
                       " lease_owner = NULL, lease_expire_time = 0"               \
                       " WHERE id = ?1")                                          \
    S(DELIVERY_RELEASE, "UPDATE deliveries SET lease_owner = NULL,"               \
                        " lease_expire_time = 0 WHERE id = ?1")                   \
    /* The outcomes of a batch in one statement: ?1 a JSON array of {"id",  \
     * "state", "due", "time"}; returns the ids of the deliveries that are   \
     * still there (a webhook deleted meanwhile takes its deliveries).       \
     * SQLite walks the array and finds each row by its key. */              \
    D(DELIVERIES_RESULT, "UPDATE deliveries SET state = x.nstate,"                \
                         " due_time = CASE WHEN x.nstate = 0 THEN x.ndue"         \
                         " ELSE due_time END, attempts = attempts + 1,"           \
                         " last_attempt_time = x.ntime, lease_owner = NULL,"      \
                         " lease_expire_time = 0 FROM (SELECT"                    \
                         " json_extract(value, '$.id') AS nid,"                   \
                         " json_extract(value, '$.state') AS nstate,"             \
                         " json_extract(value, '$.due') AS ndue,"                 \
                         " json_extract(value, '$.time') AS ntime"                \
                         " FROM json_each(?1)) AS x WHERE deliveries.id = x.nid"  \
                         " RETURNING id",                                         \
      "UPDATE deliveries d SET state = x.state, due_time = CASE WHEN x.state = 0" \
      " THEN x.due ELSE d.due_time END, attempts = d.attempts + 1,"               \
      " last_attempt_time = x.time, lease_owner = NULL, lease_expire_time = 0"    \
      " FROM json_to_recordset($1::json)"                                         \
      " AS x (id text, state integer, due bigint, time bigint)"                   \
      " WHERE d.id = x.id RETURNING d.id")                                        \
    /* The attempts of a batch in one statement: ?1 a JSON array of {"id",  \
     * "delivery_id", "time", "latency", "status", "error", "excerpt"}, the  \
     * excerpt as text (ATTEMPT_INSERT takes one that is not UTF-8). */      \
    D(ATTEMPTS_INSERT, "INSERT INTO attempts (id, delivery_id, time,"             \
                       " latency_us, response_status, error, response_excerpt)"   \
                       " SELECT json_extract(value, '$.id'),"                     \
                       " json_extract(value, '$.delivery_id'),"                   \
                       " json_extract(value, '$.time'),"                          \
                       " json_extract(value, '$.latency'),"                       \
                       " json_extract(value, '$.status'),"                        \
                       " json_extract(value, '$.error'),"                         \
                       " CAST(json_extract(value, '$.excerpt') AS BLOB)"          \
                       " FROM json_each(?1)",                                     \
      "INSERT INTO attempts (id, delivery_id, time, latency_us, response_status," \
      " error, response_excerpt) SELECT x.id, x.delivery_id, x.time, x.latency,"  \
      " x.status, x.error, convert_to(x.excerpt, 'UTF8')"                         \
      " FROM json_to_recordset($1::json) AS x (id text, delivery_id text,"        \
      " time bigint, latency bigint, status integer, error text, excerpt text)")  \
    S(ATTEMPT_INSERT, "INSERT INTO attempts (id, delivery_id, time,"              \
                      " latency_us, response_status, error, response_excerpt)"    \
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                     \
    /* At most one write a second for a healthy webhook: the health record  \
     * needs no finer grain, and it saves a row write per attempt. */        \
    S(WEBHOOK_SUCCEEDED, "UPDATE webhooks SET last_success_time = ?2,"            \
                         " failing_since = 0 WHERE id = ?1 AND (failing_since"    \
                         " <> 0 OR last_success_time <= CAST(?2 AS BIGINT)"       \
                         " - 1000000)")                                           \
    S(WEBHOOK_FAILED, "UPDATE webhooks SET"                                       \
                      " state = CASE WHEN " WEBHOOK_DISABLES " THEN 2"            \
                      " ELSE state END,"                                          \
                      " update_time = CASE WHEN " WEBHOOK_DISABLES                \
                      " THEN CAST(?2 AS BIGINT) ELSE update_time END,"            \
                      " failing_since = " WEBHOOK_FAILING_SINCE " WHERE id = ?1") \
    /* ---- operator events (store_opevents.h) ---- */                        \
    /* Disable the webhook when its failure at ?2 does it, returning what    \
     * kabar.webhook.disabled reports. */                                    \
    S(WEBHOOK_DISABLE_NOW, "UPDATE webhooks SET state = 2,"                       \
                           " update_time = CAST(?2 AS BIGINT),"                   \
                           " failing_since = " WEBHOOK_FAILING_SINCE              \
                           " WHERE id = ?1 AND " WEBHOOK_DISABLES                 \
                           " RETURNING project, uri, failing_since")              \
    /* What kabar.delivery.exhausted reports of a delivery. */               \
    S(DELIVERY_EXHAUSTED, "SELECT d.project, d.message_id, m.type,"              \
                          " d.webhook_id, " DELIVERY_TARGET_URI ", d.attempts"    \
                          " FROM " DELIVERY_WEBHOOK_JOIN                          \
                          " JOIN messages m ON m.id = d.message_id"               \
                          " WHERE d.id = ?1")                                     \
    /* The state before an update, the row locked until the commit. */       \
    D(WEBHOOK_STATE, "SELECT state FROM webhooks WHERE project = ?1 AND id = ?2", \
      "SELECT state FROM webhooks WHERE project = ?1 AND id = ?2 FOR UPDATE")     \
    S(DELIVERY_PENDING_COUNT, "SELECT count(*) FROM deliveries WHERE state = 0")  \
    S(DELIVERY_LIST, "SELECT " DELIVERY_LOG_COLUMNS                               \
                     " WHERE d.project = ?1 AND d.webhook_id = ?2"                \
                     " AND (CAST(?3 AS INTEGER) < 0"                              \
                     " OR d.state = CAST(?3 AS INTEGER)) AND d.id < ?4"           \
                     " ORDER BY d.id DESC LIMIT ?5")                              \
    S(DELIVERY_GET, "SELECT " DELIVERY_LOG_FIELDS ", m.payload" DELIVERY_LOG_FROM \
                    " WHERE d.project = ?1 AND d.id = ?2")                        \
    /* The project-wide delivery log: ?2 a webhook id, "dynamic" for the    \
     * deliveries to a job's own URIs, or "" for any; ?3 event type or "";   \
     * ?4 state or -1; created in [?5, ?6); id < ?7; ?8 the newest          \
     * attempt's status class (0 any, 1 attempted without an HTTP response, \
     * 2..5 status / 100); ?9 the limit; ?10 a tenant's webhooks only, or "". \
     * It walks the (project, id) index newest first. */                     \
    S(DELIVERY_SEARCH, "SELECT " DELIVERY_LOG_COLUMNS " WHERE d.project = ?1"     \
                       " AND (CAST(?2 AS TEXT) = '' OR d.webhook_id = ?2"         \
                       " OR (?2 = 'dynamic' AND d.webhook_id IS NULL))"           \
                       " AND (CAST(?3 AS TEXT) = '' OR m.type = ?3)"              \
                       " AND (CAST(?4 AS INTEGER) < 0"                            \
                       " OR d.state = CAST(?4 AS INTEGER))"                       \
                       " AND d.create_time >= CAST(?5 AS BIGINT)"                 \
                       " AND d.create_time < CAST(?6 AS BIGINT) AND d.id < ?7"    \
                       " AND (CAST(?8 AS INTEGER) = 0"                            \
                       " OR (CAST(?8 AS INTEGER) = 1 AND d.attempts > 0"          \
                       " AND " DELIVERY_LAST_STATUS " = 0)"                       \
                       " OR (CAST(?8 AS INTEGER) > 1"                             \
                       " AND " DELIVERY_LAST_STATUS " / 100 = CAST(?8 AS INTEGER)))" \
                       " AND (CAST(?10 AS TEXT) = '' OR d.webhook_id IN"          \
                       " (SELECT id FROM webhooks WHERE project = ?1"             \
                       " AND tenant = ?10))"                                      \
                       " ORDER BY d.id DESC LIMIT ?9")                            \
    /* The attempts of a project from attempt id ?2 on (ids sort by time),  \
     * for the web UI's statistics. */                                       \
    S(ATTEMPTS_SINCE, "SELECT d.webhook_id, a.time, a.latency_us,"                \
                      " a.response_status FROM attempts a"                        \
                      " JOIN deliveries d ON d.id = a.delivery_id"                \
                      " WHERE a.id >= ?2 AND d.project = ?1"                      \
                      " ORDER BY a.id DESC LIMIT ?3")                             \
    S(DELIVERY_PENDING_PROJECT, "SELECT count(*) FROM deliveries"                 \
                                " WHERE state = 0 AND project = ?1")              \
    S(ATTEMPT_LIST, "SELECT id, time, latency_us, response_status, error,"        \
                    " response_excerpt FROM attempts WHERE delivery_id = ?1"      \
                    " ORDER BY id LIMIT ?2")                                      \
    /* FOR UPDATE: the state read and the update that depends on it are one  \
     * step against another process's attempts_record. */                    \
    D(DELIVERY_STATE, "SELECT state FROM deliveries WHERE project = ?1 AND id = ?2", \
      "SELECT state FROM deliveries WHERE project = $1 AND id = $2 FOR UPDATE")   \
    S(DELIVERIES_RELEASE, "UPDATE deliveries SET lease_owner = NULL,"             \
                          " lease_expire_time = 0 WHERE state = 0"                \
                          " AND lease_expire_time > 0"                            \
                          " AND substr(lease_owner, 1, length(?1)) = ?1")         \
    S(DELIVERY_RETRY, "UPDATE deliveries SET state = 0, due_time = ?3,"           \
                      " lease_owner = NULL, lease_expire_time = 0"                \
                      " WHERE project = ?1 AND id = ?2")                          \
    /* SQLite: "+state" keeps the planner on the webhook index. */           \
    D(WEBHOOK_RECOVER, "UPDATE deliveries SET state = 0, due_time = ?4,"          \
                       " lease_owner = NULL, lease_expire_time = 0"               \
                       " WHERE project = ?1 AND webhook_id = ?2 AND +state = 2"   \
                       " AND create_time >= ?3",                                  \
      "UPDATE deliveries SET state = 0, due_time = $4, lease_owner = NULL,"       \
      " lease_expire_time = 0 WHERE project = $1 AND webhook_id = $2"             \
      " AND state = 2 AND create_time >= $3")                                     \
    /* ---- operations ---- */                                                   \
    S(OP_INSERT, "INSERT INTO operations (id, project, kind, model, state,"       \
                 " request, result, webhook_config, create_time, update_time,"    \
                 " due_time, lease_owner, lease_expire_time) VALUES (?1, ?2, ?3," \
                 " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")                  \
    S(OP_GET, "SELECT " OPERATION_ROW_COLUMNS " FROM operations"                  \
              " WHERE project = ?1 AND id = ?2")                                  \
    S(OP_LIST, "SELECT " OPERATION_ROW_COLUMNS " FROM operations"                 \
               " WHERE project = ?1 AND (CAST(?2 AS TEXT) IS NULL"                \
               " OR kind = CAST(?2 AS TEXT))"                                     \
               " AND (CAST(?3 AS INTEGER) < 0 OR state = CAST(?3 AS INTEGER))"    \
               " AND id > ?4 ORDER BY id LIMIT ?5")                               \
    S(OP_DELETE, "DELETE FROM operations WHERE project = ?1 AND id = ?2")         \
    S(OP_STATE, "SELECT state FROM operations WHERE project = ?1 AND id = ?2")    \
    S(OP_TRANSITION, "UPDATE operations SET state = ?5,"                          \
                     " result = coalesce(?6, result), update_time = ?7,"          \
                     " due_time = 0, lease_owner = NULL, lease_expire_time = 0"   \
                     " WHERE project = ?1 AND id = ?2 AND state = ?3"             \
                     " AND (CAST(?4 AS TEXT) IS NULL"                             \
                     " OR lease_owner = CAST(?4 AS TEXT))")                       \
    /* ?1 project, ?2 kinds (a JSON array, or NULL for any), ?3 owner, ?4   \
     * lease until, ?5 now. SQLite finds the id (the caller leases it with   \
     * OP_LEASE under the write lock); PostgreSQL finds and leases in one    \
     * statement, SKIP LOCKED, so workers of several processes claim at once \
     * without waiting on each other's rows. */                              \
    D(OP_CLAIM, "SELECT id FROM operations WHERE project = ?1"                    \
                " AND (?2 IS NULL OR kind IN (SELECT value FROM json_each(?2)))"  \
                " AND (state = 0 OR (state = 1 AND lease_expire_time <= ?5))"     \
                " ORDER BY create_time, id LIMIT 1",                              \
      "UPDATE operations SET state = 1, lease_owner = $3,"                        \
      " lease_expire_time = $4, update_time = $5"                                 \
      " WHERE id = (SELECT id FROM operations WHERE project = $1"                 \
      " AND ($2::text IS NULL OR kind IN"                                         \
      " (SELECT json_array_elements_text($2::json)))"                             \
      " AND (state = 0 OR (state = 1 AND lease_expire_time <= $5))"               \
      " ORDER BY create_time, id LIMIT 1 FOR UPDATE SKIP LOCKED)"                 \
      " RETURNING " OPERATION_ROW_COLUMNS)                                        \
    S(OP_LEASE, "UPDATE operations SET state = 1, lease_owner = ?3,"              \
                " lease_expire_time = ?4, update_time = ?5"                       \
                " WHERE project = ?1 AND id = ?2")                                \
    S(OP_HEARTBEAT, "UPDATE operations SET lease_expire_time = ?4"                \
                    " WHERE project = ?1 AND id = ?2 AND state = 1"               \
                    " AND lease_owner = ?3")                                      \
    S(OP_DUE, "SELECT " OPERATION_ROW_COLUMNS " FROM operations"                  \
              " WHERE state = 0 AND due_time > 0"                                 \
              " AND due_time <= ?1 ORDER BY due_time, id LIMIT ?2")               \
    S(OP_STALE, "SELECT " OPERATION_ROW_COLUMNS " FROM operations"                \
                " WHERE kind = ?1 AND state IN (0, 1)"                            \
                " AND create_time <= ?2 ORDER BY create_time, id LIMIT ?3")       \
    S(OP_DELIVERIES, "SELECT m.id, m.type, d.id, d.webhook_id, d.target_uri,"   \
                     " d.state, d.attempts, d.create_time FROM messages m"        \
                     " JOIN deliveries d ON d.message_id = m.id"                  \
                     " WHERE m.operation_id = ?2 AND m.project = ?1"              \
                     " ORDER BY d.create_time, d.id LIMIT ?3")                    \
    /* ---- JWT signing keys; "not retired at t": retire_time 0 or later ---- */ \
    D(KEYS_LOCK, "SELECT 1",                                                      \
      "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 3)")              \
    S(KEYS_LIST, "SELECT kid, private_blob, public_jwk, create_time,"             \
                 " activate_time, retire_time FROM signing_keys"                  \
                 " WHERE retire_time = 0 OR retire_time > ?1"                     \
                 " ORDER BY activate_time DESC, kid DESC LIMIT ?2")               \
    S(KEYS_ANY, "SELECT 1 FROM signing_keys LIMIT 1")                             \
    S(KEYS_RETIRE_LIVE, "UPDATE signing_keys SET retire_time = ?1"                \
                        " WHERE retire_time = 0 OR retire_time > ?1")             \
    S(KEY_INSERT, "INSERT INTO signing_keys (kid, private_blob, public_jwk,"      \
                  " create_time, activate_time, retire_time)"                     \
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                             \
    /* ---- web UI sessions and portal links, by the SHA-256 of the token;  \
     * kind 0 a portal link, 1 a session ---- */                              \
    S(SESSION_PURGE, "DELETE FROM ui_sessions WHERE expire_time <= ?1")           \
    S(SESSION_INSERT, "INSERT INTO ui_sessions (hash, kind, project, tenant,"     \
                      " events, create_time, expire_time)"                        \
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                     \
    S(SESSION_LOOKUP, "SELECT project, tenant, events, create_time, expire_time"  \
                      " FROM ui_sessions WHERE hash = ?1 AND kind = 1"            \
                      " AND expire_time > ?2")                                    \
    S(SESSION_EXCHANGE, "UPDATE ui_sessions SET hash = ?2, kind = 1"              \
                        " WHERE hash = ?1 AND kind = 0 AND expire_time > ?3")     \
    S(SESSION_DELETE, "DELETE FROM ui_sessions WHERE hash = ?1")                  \
    /* ---- retention (store_retention.c) ---- */                            \
    /* One batch's messages are picked, then their attempts, deliveries and  \
     * the messages go, children first so that each statement counts its    \
     * own rows. PostgreSQL: FOR UPDATE SKIP LOCKED, so that several        \
     * processes prune side by side without waiting on each other. */       \
    D(PRUNE_PICK, PRUNE_PICK_SQL, PRUNE_PICK_SQL " FOR UPDATE SKIP LOCKED")       \
    D(PRUNE_ATTEMPTS, "DELETE FROM attempts WHERE delivery_id IN"                 \
                      " (SELECT id FROM deliveries WHERE message_id IN "          \
                      PRUNE_PICKED_SQLITE ")",                                    \
      "DELETE FROM attempts WHERE delivery_id IN"                                 \
      " (SELECT id FROM deliveries WHERE message_id IN " PRUNE_PICKED_PG ")")     \
    D(PRUNE_DELIVERIES, "DELETE FROM deliveries WHERE message_id IN "             \
                        PRUNE_PICKED_SQLITE,                                      \
      "DELETE FROM deliveries WHERE message_id IN " PRUNE_PICKED_PG)              \
    D(PRUNE_MESSAGES, "DELETE FROM messages WHERE id IN " PRUNE_PICKED_SQLITE,    \
      "DELETE FROM messages WHERE id IN " PRUNE_PICKED_PG)                        \
    /* Returns the ids: the caller removes the operations' result files. */  \
    D(PRUNE_OPERATIONS, PRUNE_OPERATIONS_SQL ") RETURNING id",                    \
      PRUNE_OPERATIONS_SQL " FOR UPDATE SKIP LOCKED) RETURNING id")


enum store_sql {
#define S(name, text) STORE_SQL_##name,
#define D(name, sqlite, pg) STORE_SQL_##name,
    STORE_SQL_LIST(S, D)
#undef S
#undef D
    STORE_SQL_COUNT
};

#endif
