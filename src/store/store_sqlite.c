/*
 * store_sqlite.c - the embedded SQLite backend of store.h.
 *
 * One database file in WAL mode with synchronous=FULL, so that a write that
 * returned STORE_OK survives a crash or power loss. A struct store is shared
 * by many threads; SQLite connections are not, so the handle keeps a small
 * pool of connections (opened lazily, up to STORE_SQLITE_POOL_MAX), each used
 * by one thread at a time and opened without SQLite's own mutexes. Every
 * connection caches its prepared statements (store_sql_text below) for its
 * whole life.
 *
 * Every write runs in a BEGIN IMMEDIATE transaction, which takes the write
 * lock up front and so waits in the busy handler instead of failing half way
 * with SQLITE_BUSY. A lock still held after STORE_SQLITE_BUSY_MS becomes
 * STORE_UNAVAILABLE; any other SQLite failure is logged and becomes
 * STORE_ERROR. Bound values are never logged, so sealed secrets and key
 * hashes stay out of the logs.
 *
 * The schema is versioned by the schema_version table and migrated once, in
 * one transaction, by open.
 */
#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/log.h"
#include "store/store.h"

#define STORE_SQLITE_POOL_MAX 8
#define STORE_SQLITE_BUSY_MS 5000
/* Rows per webhook_list page are bound as an SQL integer; no caller needs
 * more than this in one call. */
#define STORE_SQLITE_LIST_MAX ((size_t)INT32_MAX - 1)
/* Deliveries leased by one claim at most, and how many candidate rows the
 * claim looks at per row it may return (at least _MIN): see
 * sqlite_deliveries_claim. */
#define STORE_SQLITE_CLAIM_MAX ((size_t)1 << 16)
#define STORE_SQLITE_CLAIM_SCAN 4
#define STORE_SQLITE_CLAIM_SCAN_MIN 64

/*
 * The migrations, in order: migrations[i] brings the schema from version i to
 * version i + 1. Never edit one that has shipped; add a new one instead.
 *
 * Migration 1 holds the tables of the webhook API and, already, those of the
 * delivery and operations work that comes next, so that it only adds code.
 * Times are INTEGER microseconds since the epoch (0: not set / never);
 * event subscriptions are the uint32 mask of core/events.h. Project columns
 * are plain labels except on api_keys, whose writers ensure the projects row.
 * Deliveries keep webhook_id without a foreign key so that delivery history
 * outlives a deleted webhook (and webhook_id is NULL for deliveries to an
 * operation's own webhook_config).
 */
static const char *const store_migrations[] = {
    /* 1 */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ");"
    "CREATE TABLE projects ("
    "  id TEXT PRIMARY KEY,"
    "  create_time INTEGER NOT NULL"
    ");"
    "CREATE TABLE api_keys ("
    "  hash BLOB PRIMARY KEY,"
    "  project TEXT NOT NULL REFERENCES projects (id),"
    "  source INTEGER NOT NULL,"
    "  create_time INTEGER NOT NULL"
    ");"
    "CREATE INDEX api_keys_project ON api_keys (project);"
    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY,"
    "  project TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  uri TEXT NOT NULL,"
    "  events INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  create_time INTEGER NOT NULL,"
    "  update_time INTEGER NOT NULL,"
    "  last_success_time INTEGER NOT NULL DEFAULT 0,"
    "  failing_since INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX webhooks_project_id ON webhooks (project, id);"
    "CREATE TABLE webhook_secrets ("
    "  id TEXT PRIMARY KEY,"
    "  webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,"
    "  blob BLOB NOT NULL,"
    "  truncated TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL,"
    "  expire_time INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX webhook_secrets_webhook ON webhook_secrets (webhook_id);"
    "CREATE TABLE messages ("
    "  id TEXT PRIMARY KEY,"
    "  project TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  payload BLOB NOT NULL,"
    "  create_time INTEGER NOT NULL,"
    "  operation_id TEXT,"
    "  idempotency_key TEXT,"
    "  UNIQUE (project, idempotency_key)"
    ");"
    "CREATE INDEX messages_project_id ON messages (project, id);"
    "CREATE TABLE deliveries ("
    "  id TEXT PRIMARY KEY,"
    "  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    "  project TEXT NOT NULL,"
    "  webhook_id TEXT,"
    "  target_uri TEXT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  due_time INTEGER NOT NULL,"
    "  lease_owner TEXT,"
    "  lease_expire_time INTEGER NOT NULL DEFAULT 0,"
    "  create_time INTEGER NOT NULL,"
    "  last_attempt_time INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX deliveries_state_due ON deliveries (state, due_time);"
    "CREATE INDEX deliveries_webhook_id ON deliveries (webhook_id, id);"
    "CREATE INDEX deliveries_message ON deliveries (message_id);"
    "CREATE TABLE attempts ("
    "  id TEXT PRIMARY KEY,"
    "  delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,"
    "  time INTEGER NOT NULL,"
    "  latency_us INTEGER NOT NULL,"
    "  response_status INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  response_excerpt BLOB"
    ");"
    "CREATE INDEX attempts_delivery ON attempts (delivery_id, id);"
    "CREATE TABLE operations ("
    "  id TEXT PRIMARY KEY,"
    "  project TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  model TEXT,"
    "  state INTEGER NOT NULL,"
    "  request BLOB,"
    "  result BLOB,"
    "  webhook_config BLOB,"
    "  create_time INTEGER NOT NULL,"
    "  update_time INTEGER NOT NULL,"
    "  due_time INTEGER NOT NULL DEFAULT 0,"
    "  lease_owner TEXT,"
    "  lease_expire_time INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX operations_state_due ON operations (state, due_time);"
    "CREATE INDEX operations_project_id ON operations (project, id);"
    "CREATE TABLE signing_keys ("
    "  kid TEXT PRIMARY KEY,"
    "  private_blob BLOB NOT NULL,"
    "  public_jwk TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL,"
    "  activate_time INTEGER NOT NULL,"
    "  retire_time INTEGER NOT NULL DEFAULT 0"
    ");",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof store_migrations / sizeof store_migrations[0]))

/* "Live at now" for a secret, with the parameter number of now. */
#define SECRET_LIVE(now) "(expire_time = 0 OR expire_time > " now ")"

/* The deliveries of the claim and next-due queries, each with its webhook
 * (none for a dynamic target, which has no webhook_id). */
#define DELIVERIES_WEBHOOKS "deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id"

/* A delivery of DELIVERIES_WEBHOOKS that may be sent: a dynamic one, or one
 * whose webhook still exists and is enabled. */
#define CLAIMABLE "(d.webhook_id IS NULL OR w.state = 0)"

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
                      " r.attempts, m.create_time, m.payload"                     \
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
    X(WEBHOOK_SUCCEEDED, "UPDATE webhooks SET last_success_time = ?2,"            \
                         " failing_since = 0 WHERE id = ?1")                      \
    X(WEBHOOK_FAILED, "UPDATE webhooks SET"                                       \
                      " state = CASE WHEN " WEBHOOK_DISABLE " THEN 2"             \
                      " ELSE state END,"                                          \
                      " update_time = CASE WHEN " WEBHOOK_DISABLE " THEN ?2"      \
                      " ELSE update_time END,"                                    \
                      " failing_since = " FAILING_SINCE " WHERE id = ?1")         \
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
    X(DELIVERY_RETRY, "UPDATE deliveries SET state = 0, due_time = ?3,"           \
                      " lease_owner = NULL, lease_expire_time = 0"                \
                      " WHERE project = ?1 AND id = ?2")                          \
    X(WEBHOOK_RECOVER, "UPDATE deliveries SET state = 0, due_time = ?4,"          \
                       " lease_owner = NULL, lease_expire_time = 0"               \
                       " WHERE project = ?1 AND webhook_id = ?2 AND +state = 2"   \
                       " AND create_time >= ?3")

enum store_sql {
#define X(name, text) SQL_##name,
    STORE_SQL_MAP(X)
#undef X
    SQL_COUNT
};

static const char *const store_sql_text[SQL_COUNT] = {
#define X(name, text) [SQL_##name] = text,
    STORE_SQL_MAP(X)
#undef X
};

/* One SQLite connection with its statement cache. Used by one thread at a
 * time: between conn_get and conn_put it belongs to the caller alone. */
struct store_conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[SQL_COUNT];     /* prepared on first use */
    pthread_mutex_t *write_lock;        /* the store's; held while writing */
    bool writing;                       /* holds *write_lock */
};

struct store_sqlite {
    struct store base;                  /* first: struct store * converts back */
    char *path;
    pthread_mutex_t lock;               /* guards the pool fields below */
    /* One writer at a time within this process. SQLite allows one anyway;
     * queueing on a mutex instead of in SQLite's busy handler (which sleeps
     * and polls) turns contention between the API's event writer and the
     * delivery thread into a plain hand-over. Other processes on the same
     * file still meet the busy handler. */
    pthread_mutex_t write_lock;
    pthread_cond_t idle_cond;           /* signalled when a connection is put back */
    size_t nconns;                      /* connections open or being opened */
    size_t nidle;
    struct store_conn *idle[STORE_SQLITE_POOL_MAX];
};

static int64_t store_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Map a failed SQLite result code to the store's, logging what is worth
 * logging. Unique and primary key violations are the caller's CONFLICT. */
static enum store_rc sql_error(struct store_conn *c, int rc, const char *op)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        log_warn("database busy", "op=%s rc=%d", op, rc);
        return STORE_UNAVAILABLE;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
            return STORE_CONFLICT;
        break;
    default:
        break;
    }
    log_error("database error", "op=%s rc=%d error=\"%s\"", op, rc, sqlite3_errmsg(c->db));
    return STORE_ERROR;
}

/* A row that does not fit what the store promises (a value too long for the
 * caller's buffer, an unknown state): a bug or a damaged database. */
static enum store_rc row_error(const char *op, const char *what)
{
    log_error("database row out of range", "op=%s field=%s", op, what);
    return STORE_ERROR;
}

/* Close a connection and free it. Every statement is finalized first, so
 * sqlite3_close can release the handle. */
static void conn_close(struct store_conn *c)
{
    int rc;

    if (!c)
        return;
    for (size_t i = 0; i < SQL_COUNT; i++)
        sqlite3_finalize(c->stmts[i]);
    rc = sqlite3_close(c->db);
    if (rc != SQLITE_OK)
        log_error("cannot close database connection", "rc=%d", rc);
    free(c);
}

/* Open one connection to path and set its per-connection PRAGMAs. Returns
 * STORE_OK with *out set, or an error with a message in err. */
static enum store_rc conn_open(const char *path, struct store_conn **out, char *err,
                               size_t errlen)
{
    /* NOMUTEX: the pool guarantees one thread per connection at a time, so
     * SQLite's per-connection mutex would only cost. */
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    struct store_conn *c;
    enum store_rc ret = STORE_ERROR;
    int rc;

    *out = NULL;
    c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail_db;
    }
    /* Extended codes tell a unique violation (CONFLICT) from, say, a NOT NULL
     * one (a bug). */
    sqlite3_extended_result_codes(c->db, 1);
    rc = sqlite3_busy_timeout(c->db, STORE_SQLITE_BUSY_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db,
                          "PRAGMA foreign_keys = ON;"
                          "PRAGMA synchronous = FULL;",
                          NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
            ret = STORE_UNAVAILABLE;
        snprintf(err, errlen, "cannot set up database %s: %s", path, sqlite3_errmsg(c->db));
        goto fail_db;
    }
    *out = c;
    return STORE_OK;

fail_db:
    /* sqlite3_open_v2 returns a handle even on failure; it must be closed. */
    sqlite3_close(c->db);
    free(c);
    return ret;
}

/* The cached statement id of c, prepared on first use. Returns an SQLite
 * result code. */
static int stmt_get(struct store_conn *c, enum store_sql id, sqlite3_stmt **q)
{
    int rc;

    if (!c->stmts[id]) {
        rc = sqlite3_prepare_v3(c->db, store_sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
                                &c->stmts[id], NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    *q = c->stmts[id];
    return SQLITE_OK;
}

/* Step q to completion and reset it. Returns SQLITE_OK, or the failing code
 * with q left as it is so that the error message can still be read (conn_put
 * resets it). */
static int stmt_done(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);

    if (rc != SQLITE_DONE)
        return rc == SQLITE_ROW ? SQLITE_MISUSE : rc;
    sqlite3_reset(q);
    return SQLITE_OK;
}

/* Run a statement without parameters or rows (BEGIN, COMMIT, ROLLBACK).
 * BEGIN IMMEDIATE takes the store's write lock first; a COMMIT that
 * succeeds, or the ROLLBACK in conn_put, gives it back. */
static int stmt_exec(struct store_conn *c, enum store_sql id)
{
    sqlite3_stmt *q = NULL;
    int rc = stmt_get(c, id, &q);

    if (rc != SQLITE_OK)
        return rc;
    if (id == SQL_BEGIN_WRITE && !c->writing) {
        pthread_mutex_lock(c->write_lock);
        c->writing = true;
    }
    rc = stmt_done(q);
    if (c->writing && sqlite3_get_autocommit(c->db)) {
        /* No transaction is open (committed, or BEGIN failed): release. */
        c->writing = false;
        pthread_mutex_unlock(c->write_lock);
    }
    return rc;
}

/*
 * Binding helpers. Each does nothing once *rc holds an error, so a run of
 * binds can be checked once. Text and blobs are bound SQLITE_STATIC: they
 * are the caller's and live for the whole call, and conn_put clears every
 * binding before the connection goes back to the pool.
 */
static void bind_text(sqlite3_stmt *q, int i, const char *v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

static void bind_int64(sqlite3_stmt *q, int i, int64_t v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(q, i, v);
}

static void bind_blob(sqlite3_stmt *q, int i, const void *v, size_t len, int *rc)
{
    if (*rc != SQLITE_OK)
        return;
    if (len > INT_MAX)
        *rc = SQLITE_TOOBIG;
    else
        *rc = sqlite3_bind_blob(q, i, v, (int)len, SQLITE_STATIC);
}

/* Copy text column i into dst (cap bytes with the NUL). Returns 0, or -1
 * when it is NULL or does not fit. */
static int col_text(sqlite3_stmt *q, int i, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    int len = sqlite3_column_bytes(q, i);

    if (!t || len < 0 || (size_t)len >= cap)
        return -1;
    memcpy(dst, t, (size_t)len);
    dst[len] = '\0';
    return 0;
}

/* Take a connection from the pool, opening one if the pool is not full, and
 * otherwise waiting for one to come back. */
static enum store_rc conn_get(struct store_sqlite *s, struct store_conn **out)
{
    struct store_conn *c = NULL;
    char err[256];
    enum store_rc ret;

    pthread_mutex_lock(&s->lock);
    while (s->nidle == 0 && s->nconns >= STORE_SQLITE_POOL_MAX)
        pthread_cond_wait(&s->idle_cond, &s->lock);
    if (s->nidle > 0)
        c = s->idle[--s->nidle];
    else
        s->nconns++;            /* reserve the slot; open outside the lock */
    pthread_mutex_unlock(&s->lock);
    if (c) {
        *out = c;
        return STORE_OK;
    }

    ret = conn_open(s->path, &c, err, sizeof err);
    if (ret == STORE_OK)
        c->write_lock = &s->write_lock;
    if (ret != STORE_OK) {
        log_error("cannot open database connection", "error=\"%s\"", err);
        pthread_mutex_lock(&s->lock);
        s->nconns--;
        pthread_cond_signal(&s->idle_cond);
        pthread_mutex_unlock(&s->lock);
        return ret;
    }
    *out = c;
    return STORE_OK;
}

/* Give c back to the pool. This is every op's single exit: it resets every
 * statement, clears the caller's bindings, and rolls back a transaction an
 * error path left open, so no op needs its own cleanup for those. */
static void conn_put(struct store_sqlite *s, struct store_conn *c)
{
    bool broken = false;

    for (size_t i = 0; i < SQL_COUNT; i++) {
        if (c->stmts[i]) {
            sqlite3_reset(c->stmts[i]);
            sqlite3_clear_bindings(c->stmts[i]);
        }
    }
    if (!sqlite3_get_autocommit(c->db) && stmt_exec(c, SQL_ROLLBACK) != SQLITE_OK) {
        log_error("cannot roll back; dropping connection", "error=\"%s\"",
                  sqlite3_errmsg(c->db));
        broken = true;
    }
    if (c->writing) {
        c->writing = false;
        pthread_mutex_unlock(c->write_lock);
    }

    pthread_mutex_lock(&s->lock);
    if (broken)
        s->nconns--;
    else
        s->idle[s->nidle++] = c;
    pthread_cond_signal(&s->idle_cond);
    pthread_mutex_unlock(&s->lock);
    if (broken)
        conn_close(c);
}

/* Bring the schema of c's database to STORE_SCHEMA_VERSION in one
 * transaction. Returns STORE_OK, or an error with a message in err (the
 * transaction is then rolled back). */
static enum store_rc store_migrate(struct store_conn *c, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_ERROR;
    int version = 0;
    int rc;

    rc = sqlite3_exec(c->db,
                      "BEGIN IMMEDIATE;"
                      "CREATE TABLE IF NOT EXISTS schema_version ("
                      "  version INTEGER PRIMARY KEY,"
                      "  apply_time INTEGER NOT NULL"
                      ");",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail_sql;

    rc = sqlite3_prepare_v2(c->db, "SELECT coalesce(max(version), 0) FROM schema_version",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        goto fail_sql;
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW)
        goto fail_sql;
    version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    q = NULL;

    if (version > STORE_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this kabar knows (%d); "
                 "run a newer kabar or restore a matching backup",
                 version, STORE_SCHEMA_VERSION);
        goto fail_rollback;
    }

    rc = sqlite3_prepare_v2(c->db,
                            "INSERT INTO schema_version (version, apply_time) VALUES (?1, ?2)",
                            -1, &q, NULL);
    if (rc != SQLITE_OK)
        goto fail_sql;
    for (int v = version + 1; v <= STORE_SCHEMA_VERSION; v++) {
        rc = sqlite3_exec(c->db, store_migrations[v - 1], NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail_sql;
        bind_int64(q, 1, v, &rc);
        bind_int64(q, 2, store_now_us(), &rc);
        if (rc == SQLITE_OK)
            rc = stmt_done(q);
        if (rc != SQLITE_OK)
            goto fail_sql;
        log_info("database schema migrated", "version=%d", v);
    }
    sqlite3_finalize(q);
    q = NULL;

    rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail_sql;
    return STORE_OK;

fail_sql:
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        ret = STORE_UNAVAILABLE;
    snprintf(err, errlen, "cannot migrate database schema to version %d: %s",
             STORE_SCHEMA_VERSION, sqlite3_errmsg(c->db));
fail_rollback:
    sqlite3_finalize(q);
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return ret;
}

/* Put the database in WAL mode. The mode is stored in the file, so doing it
 * once at open covers every later connection. */
static enum store_rc store_set_wal(struct store_conn *c, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_ERROR;
    const unsigned char *mode;
    int rc;

    rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
            ret = STORE_UNAVAILABLE;
        snprintf(err, errlen, "cannot set WAL journal mode: %s", sqlite3_errmsg(c->db));
        goto out;
    }
    /* An in-memory database or a file system without shared memory answers
     * with another mode; the pool's connections would not share one
     * database reliably there, so refuse it. */
    mode = sqlite3_column_text(q, 0);
    if (!mode || strcmp((const char *)mode, "wal") != 0) {
        snprintf(err, errlen, "database does not support WAL journal mode (got %s)",
                 mode ? (const char *)mode : "none");
        goto out;
    }
    ret = STORE_OK;
out:
    sqlite3_finalize(q);
    return ret;
}

static void sqlite_close(struct store *st)
{
    struct store_sqlite *s = (struct store_sqlite *)st;

    if (!s)
        return;
    /* Closing while another thread is inside an op is a caller bug. */
    assert(s->nidle == s->nconns);
    for (size_t i = 0; i < s->nidle; i++)
        conn_close(s->idle[i]);
    pthread_cond_destroy(&s->idle_cond);
    pthread_mutex_destroy(&s->write_lock);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

static enum store_rc sqlite_open(const char *url, struct store **out, char *err, size_t errlen)
{
    struct store_sqlite *s;
    struct store_conn *c;
    const char *path = url;
    enum store_rc ret = STORE_ERROR;

    *out = NULL;
    if (strncmp(path, "sqlite:", 7) == 0)
        path += 7;
    if (*path == '\0') {
        snprintf(err, errlen, "empty database path");
        return STORE_ERROR;
    }
    if (!sqlite3_threadsafe()) {
        /* NOMUTEX connections from several threads need at least SQLite's
         * multi-thread mode. */
        snprintf(err, errlen, "SQLite library was built without thread support");
        return STORE_ERROR;
    }

    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    s->base.ops = &store_sqlite_ops;
    s->path = strdup(path);
    if (!s->path) {
        snprintf(err, errlen, "out of memory");
        goto fail_path;
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create mutex");
        goto fail_mutex;
    }
    if (pthread_mutex_init(&s->write_lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create mutex");
        goto fail_write_lock;
    }
    if (pthread_cond_init(&s->idle_cond, NULL) != 0) {
        snprintf(err, errlen, "cannot create condition variable");
        goto fail_cond;
    }

    ret = conn_open(s->path, &c, err, errlen);
    if (ret != STORE_OK)
        goto fail_conn;
    ret = store_set_wal(c, err, errlen);
    if (ret != STORE_OK)
        goto fail_setup;
    ret = store_migrate(c, err, errlen);
    if (ret != STORE_OK)
        goto fail_setup;

    c->write_lock = &s->write_lock;
    s->idle[0] = c;
    s->nidle = 1;
    s->nconns = 1;
    *out = &s->base;
    return STORE_OK;

fail_setup:
    conn_close(c);
fail_conn:
    pthread_cond_destroy(&s->idle_cond);
fail_cond:
    pthread_mutex_destroy(&s->write_lock);
fail_write_lock:
    pthread_mutex_destroy(&s->lock);
fail_mutex:
    free(s->path);
fail_path:
    free(s);
    return ret;
}

/* ---- meta ------------------------------------------------------------- */

static enum store_rc sqlite_meta_get(struct store *st, const char *key, char *val, size_t cap)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_get(c, SQL_META_GET, &q);
    bind_text(q, 1, key, &rc);
    if (rc != SQLITE_OK)
        goto fail_sql;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto fail_sql;
    ret = col_text(q, 0, val, cap) == 0 ? STORE_OK : row_error(__func__, "value");
    goto out;

fail_sql:
    ret = sql_error(c, rc, __func__);
out:
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_meta_put(struct store *st, const char *key, const char *val)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    /* meta_get promises values below STORE_META_MAX; keep that true here. */
    if (strlen(val) >= STORE_META_MAX) {
        log_error("meta value too long", "key=%s", key);
        return STORE_ERROR;
    }
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_META_PUT, &q);
    bind_text(q, 1, key, &rc);
    bind_text(q, 2, val, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : sql_error(c, rc, __func__);
    conn_put(s, c);
    return ret;
}

/* ---- API keys ----------------------------------------------------------- */

/* Insert the projects row of project unless it exists. */
static int project_ensure(struct store_conn *c, const char *project, int64_t now_us)
{
    sqlite3_stmt *q = NULL;
    int rc = stmt_get(c, SQL_PROJECT_ENSURE, &q);

    bind_text(q, 1, project, &rc);
    bind_int64(q, 2, now_us, &rc);
    return rc == SQLITE_OK ? stmt_done(q) : rc;
}

/* Write one key with statement id (APIKEY_INSERT or APIKEY_UPSERT), its
 * project row first. */
static int apikey_write(struct store_conn *c, enum store_sql id, const struct store_apikey *key,
                        int64_t now_us)
{
    sqlite3_stmt *q = NULL;
    int rc = project_ensure(c, key->project, now_us);

    if (rc == SQLITE_OK)
        rc = stmt_get(c, id, &q);
    bind_blob(q, 1, key->hash, STORE_KEY_HASH_LEN, &rc);
    bind_text(q, 2, key->project, &rc);
    bind_int64(q, 3, key->source, &rc);
    bind_int64(q, 4, now_us, &rc);
    return rc == SQLITE_OK ? stmt_done(q) : rc;
}

static enum store_rc sqlite_apikeys_sync_config(struct store *st, const struct store_apikey *keys,
                                                size_t n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    int64_t now_us = store_now_us();
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_APIKEY_DELETE_SOURCE, &q);
    bind_int64(q, 1, STORE_KEY_CONFIG, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    /* Upsert, not insert: the same key listed twice in the configuration, or
     * a generated key pasted into it, becomes one configured key rather than
     * a failed start. */
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        assert(keys[i].source == STORE_KEY_CONFIG);
        rc = apikey_write(c, SQL_APIKEY_UPSERT, &keys[i], now_us);
    }
    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : sql_error(c, rc, __func__);
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_apikey_insert(struct store *st, const struct store_apikey *key)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = apikey_write(c, SQL_APIKEY_INSERT, key, store_now_us());
    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : sql_error(c, rc, __func__);
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_apikey_count(struct store *st, enum store_key_source source,
                                         size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_get(c, SQL_APIKEY_COUNT, &q);
    bind_int64(q, 1, source, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *n = (size_t)sqlite3_column_int64(q, 0);
        ret = STORE_OK;
    } else {
        ret = sql_error(c, rc, __func__);
    }
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_apikey_lookup(struct store *st, const uint8_t *hash, char *project,
                                          size_t cap)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_get(c, SQL_APIKEY_LOOKUP, &q);
    bind_blob(q, 1, hash, STORE_KEY_HASH_LEN, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        ret = col_text(q, 0, project, cap) == 0 ? STORE_OK : row_error(__func__, "project");
    else if (rc == SQLITE_DONE)
        ret = STORE_NOT_FOUND;
    else
        ret = sql_error(c, rc, __func__);
    conn_put(s, c);
    return ret;
}

/* ---- webhooks ----------------------------------------------------------- */

/* Fill wh (all but its secrets) from a WEBHOOK_GET or WEBHOOK_LIST row.
 * Returns 0, or -1 when a column does not fit. */
static int row_webhook(sqlite3_stmt *q, struct webhook *wh)
{
    int64_t events = sqlite3_column_int64(q, 4);
    int64_t state = sqlite3_column_int64(q, 5);

    memset(wh, 0, sizeof *wh);
    if (col_text(q, 0, wh->id, sizeof wh->id) != 0 ||
        col_text(q, 1, wh->project, sizeof wh->project) != 0 ||
        col_text(q, 2, wh->name, sizeof wh->name) != 0 ||
        col_text(q, 3, wh->uri, sizeof wh->uri) != 0)
        return -1;
    if (events < 0 || events > UINT32_MAX || state < 0 || state >= WEBHOOK_STATE_COUNT)
        return -1;
    wh->events = (uint32_t)events;
    wh->state = (enum webhook_state)state;
    wh->create_time_us = sqlite3_column_int64(q, 6);
    wh->update_time_us = sqlite3_column_int64(q, 7);
    return 0;
}

/* Fill wh->secrets with the webhook's secrets live at now_us, newest first. */
static enum store_rc load_secret_infos(struct store_conn *c, struct webhook *wh, int64_t now_us,
                                       const char *op)
{
    sqlite3_stmt *q = NULL;
    int rc = stmt_get(c, SQL_SECRET_INFO_LIVE, &q);

    bind_text(q, 1, wh->id, &rc);
    bind_int64(q, 2, now_us, &rc);
    bind_int64(q, 3, WEBHOOK_SECRETS_MAX, &rc);
    if (rc != SQLITE_OK)
        return sql_error(c, rc, op);
    wh->nsecrets = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct webhook_secret_info *si = &wh->secrets[wh->nsecrets];

        assert(wh->nsecrets < WEBHOOK_SECRETS_MAX);
        if (col_text(q, 0, si->id, sizeof si->id) != 0 ||
            col_text(q, 1, si->truncated, sizeof si->truncated) != 0)
            return row_error(op, "secret");
        si->expire_time_us = sqlite3_column_int64(q, 2);
        wh->nsecrets++;
    }
    if (rc != SQLITE_DONE)
        return sql_error(c, rc, op);
    sqlite3_reset(q);
    return STORE_OK;
}

static int secret_insert(struct store_conn *c, const char *webhook_id,
                         const struct store_secret *secret)
{
    sqlite3_stmt *q = NULL;
    int rc = stmt_get(c, SQL_SECRET_INSERT, &q);

    bind_text(q, 1, secret->id, &rc);
    bind_text(q, 2, webhook_id, &rc);
    bind_blob(q, 3, secret->blob, secret->blob_len, &rc);
    bind_text(q, 4, secret->truncated, &rc);
    bind_int64(q, 5, secret->create_time_us, &rc);
    bind_int64(q, 6, secret->expire_time_us, &rc);
    return rc == SQLITE_OK ? stmt_done(q) : rc;
}

static enum store_rc sqlite_webhook_create(struct store *st, const struct webhook *wh,
                                           const struct store_secret *secret)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_WEBHOOK_INSERT, &q);
    bind_text(q, 1, wh->id, &rc);
    bind_text(q, 2, wh->project, &rc);
    bind_text(q, 3, wh->name, &rc);
    bind_text(q, 4, wh->uri, &rc);
    bind_int64(q, 5, wh->events, &rc);
    bind_int64(q, 6, wh->state, &rc);
    bind_int64(q, 7, wh->create_time_us, &rc);
    bind_int64(q, 8, wh->update_time_us, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc == SQLITE_OK)
        rc = secret_insert(c, wh->id, secret);
    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : sql_error(c, rc, __func__);
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_webhook_get(struct store *st, const char *project, const char *id,
                                        int64_t now_us, struct webhook *out)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* One read transaction, so the webhook and its secrets are one
     * snapshot. */
    rc = stmt_exec(c, SQL_BEGIN_READ);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_WEBHOOK_GET, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = sql_error(c, rc, __func__);
        goto out;
    }
    if (row_webhook(q, out) != 0) {
        ret = row_error(__func__, "webhook");
        goto out;
    }
    ret = load_secret_infos(c, out, now_us, __func__);
    if (ret != STORE_OK)
        goto out;
    rc = stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK)
        ret = sql_error(c, rc, __func__);
out:
    conn_put(s, c);             /* ends the read transaction on every path */
    return ret;
}

static enum store_rc sqlite_webhook_list(struct store *st, const char *project,
                                         const char *after_id, size_t limit, int64_t now_us,
                                         struct webhook *out, size_t *n, bool *more)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    *more = false;
    if (limit > STORE_SQLITE_LIST_MAX)
        limit = STORE_SQLITE_LIST_MAX;
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_READ);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_WEBHOOK_LIST, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, after_id ? after_id : "", &rc);
    /* One row beyond the page tells whether there is a next one. */
    bind_int64(q, 3, (int64_t)limit + 1, &rc);
    if (rc != SQLITE_OK) {
        ret = sql_error(c, rc, __func__);
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == limit) {
            *more = true;
            break;
        }
        if (row_webhook(q, &out[*n]) != 0) {
            ret = row_error(__func__, "webhook");
            goto out;
        }
        ret = load_secret_infos(c, &out[*n], now_us, __func__);
        if (ret != STORE_OK)
            goto out;
        (*n)++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        ret = sql_error(c, rc, __func__);
        goto out;
    }
    sqlite3_reset(q);
    rc = stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK)
        ret = sql_error(c, rc, __func__);
out:
    if (ret != STORE_OK) {
        *n = 0;
        *more = false;
    }
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_webhook_update(struct store *st, const struct webhook *wh)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_WEBHOOK_UPDATE, &q);
    bind_text(q, 1, wh->project, &rc);
    bind_text(q, 2, wh->id, &rc);
    bind_text(q, 3, wh->name, &rc);
    bind_text(q, 4, wh->uri, &rc);
    bind_int64(q, 5, wh->events, &rc);
    bind_int64(q, 6, wh->state, &rc);
    bind_int64(q, 7, wh->update_time_us, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc != SQLITE_OK) {
        ret = sql_error(c, rc, __func__);
        goto out;
    }
    /* SQLite counts a row matched by the WHERE clause as changed even when
     * every value is the same, so zero means the webhook is not there. */
    if (sqlite3_changes(c->db) == 0) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    rc = stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK)
        ret = sql_error(c, rc, __func__);
out:
    conn_put(s, c);             /* rolls back when the commit was not reached */
    return ret;
}

static enum store_rc sqlite_webhook_delete(struct store *st, const char *project, const char *id)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_WEBHOOK_DELETE, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, id, &rc);
    /* The secrets go by ON DELETE CASCADE (foreign_keys is on for every
     * connection). */
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc != SQLITE_OK) {
        ret = sql_error(c, rc, __func__);
        goto out;
    }
    if (sqlite3_changes(c->db) == 0) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    /* Deliveries have no foreign key to their webhook (see the schema), so
     * they are deleted here; their attempts go by ON DELETE CASCADE. A
     * delivery in flight meanwhile is recorded as gone by attempts_record. */
    rc = stmt_get(c, SQL_WEBHOOK_DELIVERIES_DELETE, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    if (rc != SQLITE_OK)
        ret = sql_error(c, rc, __func__);
out:
    conn_put(s, c);
    return ret;
}

/* ---- secrets ------------------------------------------------------------ */

static enum store_rc sqlite_secret_rotate(struct store *st, const char *project,
                                          const char *webhook_id,
                                          const struct store_secret *secret,
                                          int64_t prev_expire_us, size_t max_live,
                                          int64_t now_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    if (max_live > INT32_MAX)
        max_live = INT32_MAX;
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);

    /* Touch the webhook first: it is the project check too (no row changed:
     * the webhook is not in this project). */
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_WEBHOOK_TOUCH, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, webhook_id, &rc);
    bind_int64(q, 3, now_us, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc == SQLITE_OK && sqlite3_changes(c->db) == 0) {
        ret = STORE_NOT_FOUND;
        goto out;
    }

    /* Shorten the lives of the current secrets to the grace period. */
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_SECRET_EXPIRE_LIVE, &q);
    bind_text(q, 1, webhook_id, &rc);
    bind_int64(q, 2, now_us, &rc);
    bind_int64(q, 3, prev_expire_us, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);

    if (rc == SQLITE_OK)
        rc = secret_insert(c, webhook_id, secret);

    /* Beyond max_live, the oldest live secrets end now. */
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_SECRET_EXPIRE_EXCESS, &q);
    bind_text(q, 1, webhook_id, &rc);
    bind_int64(q, 2, now_us, &rc);
    bind_int64(q, 3, (int64_t)max_live, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);

    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : sql_error(c, rc, __func__);
out:
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_secrets_live(struct store *st, const char *webhook_id,
                                         int64_t now_us, struct store_secret *out, size_t cap,
                                         size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    *n = 0;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_get(c, SQL_SECRET_LIVE, &q);
    bind_text(q, 1, webhook_id, &rc);
    bind_int64(q, 2, now_us, &rc);
    bind_int64(q, 3, (int64_t)cap, &rc);
    if (rc != SQLITE_OK) {
        ret = sql_error(c, rc, __func__);
        goto out;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_secret *sec = &out[*n];
        const void *blob = sqlite3_column_blob(q, 1);
        int len = sqlite3_column_bytes(q, 1);

        memset(sec, 0, sizeof *sec);
        if (!blob || len <= 0 || (size_t)len > sizeof sec->blob ||
            col_text(q, 0, sec->id, sizeof sec->id) != 0 ||
            col_text(q, 2, sec->truncated, sizeof sec->truncated) != 0) {
            ret = row_error(__func__, "secret");
            goto out;
        }
        memcpy(sec->blob, blob, (size_t)len);
        sec->blob_len = (size_t)len;
        sec->create_time_us = sqlite3_column_int64(q, 3);
        sec->expire_time_us = sqlite3_column_int64(q, 4);
        (*n)++;
    }
    if (rc != SQLITE_DONE)
        ret = sql_error(c, rc, __func__);
out:
    if (ret != STORE_OK) {
        /* Do not leave half a result, and no sealed copies, behind. */
        memset(out, 0, *n * sizeof *out);
        *n = 0;
    }
    conn_put(s, c);
    return ret;
}

/* ---- messages and deliveries -------------------------------------------- */

/* Reset every cached statement of c, keeping its bindings: after a failed
 * step inside a savepoint nothing may be left running when it is rolled
 * back. */
static void conn_reset_stmts(struct store_conn *c)
{
    for (size_t i = 0; i < SQL_COUNT; i++) {
        if (c->stmts[i])
            sqlite3_reset(c->stmts[i]);
    }
}

/* col_text for a nullable column: NULL becomes "". */
static int col_text_opt(sqlite3_stmt *q, int i, char *dst, size_t cap)
{
    if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        dst[0] = '\0';
        return 0;
    }
    return col_text(q, i, dst, cap);
}

/* Copy blob column i (NULL: empty) into dst, which holds cap bytes, and its
 * length into *len. Returns 0, or -1 when it does not fit. */
static int col_blob(sqlite3_stmt *q, int i, uint8_t *dst, size_t cap, size_t *len)
{
    const void *b = sqlite3_column_blob(q, i);
    int n = sqlite3_column_bytes(q, i);

    if (n < 0 || (size_t)n > cap)
        return -1;
    if (n > 0)
        memcpy(dst, b, (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* Insert one pending delivery of m to uri (webhook_id NULL for a dynamic
 * target), due when the message was created. Returns an SQLite result code;
 * when no id can be made it sets m->rc instead. The values are bound
 * SQLITE_TRANSIENT because the id is on this stack and the caller's uri may
 * be a column of a statement it steps next. */
static int delivery_insert(struct store_conn *c, struct store_message *m, const char *webhook_id,
                           const char *uri)
{
    sqlite3_stmt *q = NULL;
    char id[IDS_MAX];
    int rc;

    if (ids_new("dlv_", id, sizeof id) != 0) {
        log_error("cannot make a delivery id", "message=%s", m->id);
        m->rc = STORE_ERROR;
        return SQLITE_OK;
    }
    rc = stmt_get(c, SQL_DELIVERY_INSERT, &q);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    bind_text(q, 2, m->id, &rc);
    bind_text(q, 3, m->project, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 4, webhook_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 5, uri, -1, SQLITE_TRANSIENT);
    bind_int64(q, 6, m->create_time_us, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc == SQLITE_OK)
        m->ndeliveries++;
    return rc;
}

/* One delivery per enabled webhook of m's project subscribed to its type. */
static int deliveries_fan_out(struct store_conn *c, struct store_message *m)
{
    sqlite3_stmt *q = NULL;
    int rc;

    if (m->type_mask == 0)
        return SQLITE_OK;
    rc = stmt_get(c, SQL_WEBHOOK_SUBSCRIBED, &q);
    bind_text(q, 1, m->project, &rc);
    bind_int64(q, 2, m->type_mask, &rc);
    if (rc != SQLITE_OK)
        return rc;
    /* Inserting into deliveries while stepping over webhooks is safe: the
     * scan reads another table. */
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *webhook_id = (const char *)sqlite3_column_text(q, 0);
        const char *uri = (const char *)sqlite3_column_text(q, 1);

        if (!webhook_id || !uri) {
            m->rc = row_error(__func__, "webhook");
            return SQLITE_OK;
        }
        rc = delivery_insert(c, m, webhook_id, uri);
        if (rc != SQLITE_OK || m->rc != STORE_OK)
            return rc;
    }
    if (rc != SQLITE_DONE)
        return rc;
    sqlite3_reset(q);
    return SQLITE_OK;
}

/* Insert m and its deliveries, inside the caller's savepoint, and fill in
 * m's outputs. Returns an SQLite result code; a result of m's own that is no
 * SQL failure (its ping target not found, a damaged row) is in m->rc, and
 * the caller rolls the savepoint back when m->rc is not STORE_OK. */
static int message_insert(struct store_conn *c, struct store_message *m, int64_t idem_since_us)
{
    sqlite3_stmt *q = NULL;
    char target[WEBHOOK_URI_MAX + 1];
    bool release_key = false;
    int rc = SQLITE_OK;

    m->rc = STORE_OK;
    m->duplicate = false;
    m->ndeliveries = 0;

    /* Earlier messages of this batch are already rows of this transaction,
     * so a key used twice in one batch is found here too. */
    if (m->idempotency_key) {
        rc = stmt_get(c, SQL_MESSAGE_IDEM_FIND, &q);
        bind_text(q, 1, m->project, &rc);
        bind_text(q, 2, m->idempotency_key, &rc);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            if (sqlite3_column_int64(q, 1) >= idem_since_us) {
                if (col_text(q, 0, m->id, sizeof m->id) == 0)
                    m->duplicate = true;
                else
                    m->rc = row_error(__func__, "message id");
                sqlite3_reset(q);
                return SQLITE_OK;
            }
            /* Used, but before the window: the key is free again. The old
             * message keeps its row, without the key, so that the unique
             * (project, idempotency_key) index admits the new one. */
            release_key = true;
            rc = SQLITE_DONE;
        }
        if (rc != SQLITE_DONE)
            return rc;
        sqlite3_reset(q);
    }

    /* A ping's webhook is looked up before anything is written. */
    if (m->nuris == 0 && m->webhook_id) {
        rc = stmt_get(c, SQL_WEBHOOK_URI, &q);
        bind_text(q, 1, m->project, &rc);
        bind_text(q, 2, m->webhook_id, &rc);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(q);
        if (rc == SQLITE_DONE) {
            m->rc = STORE_NOT_FOUND;
            sqlite3_reset(q);
            return SQLITE_OK;
        }
        if (rc != SQLITE_ROW)
            return rc;
        if (col_text(q, 0, target, sizeof target) != 0) {
            m->rc = row_error(__func__, "uri");
            return SQLITE_OK;
        }
        sqlite3_reset(q);
    }

    rc = SQLITE_OK;
    if (release_key) {
        rc = stmt_get(c, SQL_MESSAGE_IDEM_RELEASE, &q);
        bind_text(q, 1, m->project, &rc);
        bind_text(q, 2, m->idempotency_key, &rc);
        if (rc == SQLITE_OK)
            rc = stmt_done(q);
    }

    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_MESSAGE_INSERT, &q);
    bind_text(q, 1, m->id, &rc);
    bind_text(q, 2, m->project, &rc);
    bind_text(q, 3, m->type, &rc);
    /* An empty payload is an empty blob, not NULL (the column is NOT NULL). */
    bind_blob(q, 4, m->payload ? (const void *)m->payload : "", m->payload_len, &rc);
    bind_int64(q, 5, m->create_time_us, &rc);
    bind_text(q, 6, m->operation_id, &rc);
    bind_text(q, 7, m->idempotency_key, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc != SQLITE_OK)
        return rc;

    if (m->nuris > 0) {
        for (size_t i = 0; i < m->nuris && rc == SQLITE_OK && m->rc == STORE_OK; i++)
            rc = delivery_insert(c, m, NULL, m->uris[i]);
    } else if (m->webhook_id) {
        rc = delivery_insert(c, m, m->webhook_id, target);
    } else {
        rc = deliveries_fan_out(c, m);
    }
    return rc;
}

static enum store_rc sqlite_messages_insert(struct store *st, struct store_message *msgs,
                                            size_t n, int64_t idem_since_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        goto fail_all;
    /* One transaction, so one fsync, for the whole batch; a savepoint per
     * message lets one message fail without the others. */
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        struct store_message *m = &msgs[i];

        rc = stmt_exec(c, SQL_SAVEPOINT);
        if (rc == SQLITE_OK)
            rc = message_insert(c, m, idem_since_us);
        if ((rc & 0xff) == SQLITE_CONSTRAINT) {
            /* A constraint (a message id used twice) is this message's
             * failure, not the batch's. */
            m->rc = sql_error(c, rc, __func__);
            rc = SQLITE_OK;
        }
        if (rc != SQLITE_OK)
            break;
        if (m->rc != STORE_OK) {
            m->duplicate = false;
            m->ndeliveries = 0;
            conn_reset_stmts(c);
            rc = stmt_exec(c, SQL_SAVEPOINT_ROLLBACK);
        }
        /* ROLLBACK TO keeps the savepoint open; RELEASE ends it either way. */
        if (rc == SQLITE_OK)
            rc = stmt_exec(c, SQL_SAVEPOINT_RELEASE);
    }
    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : sql_error(c, rc, __func__);
    conn_put(s, c);             /* rolls the whole batch back on failure */
    if (ret == STORE_OK)
        return STORE_OK;

fail_all:
    /* Nothing was committed: every message shares the failure. */
    for (size_t i = 0; i < n; i++) {
        msgs[i].rc = ret;
        msgs[i].duplicate = false;
        msgs[i].ndeliveries = 0;
    }
    return ret;
}

/* The in-flight counts as the JSON object {"uri": count, ...} that the claim
 * reads with json_each; jansson does the escaping. A uri listed twice counts
 * both. Returns a string for free(), or NULL when out of memory or a uri is
 * not UTF-8. */
static char *busy_json_new(const char *const *busy, const size_t *inflight, size_t nbusy)
{
    json_t *obj = json_object();
    char *text = NULL;

    if (!obj)
        return NULL;
    for (size_t i = 0; i < nbusy; i++) {
        json_t *prev = json_object_get(obj, busy[i]);
        json_int_t count = inflight[i] > INT32_MAX ? INT32_MAX : (json_int_t)inflight[i];

        if (prev)
            count += json_integer_value(prev);
        if (json_object_set_new(obj, busy[i], json_integer(count)) != 0)
            goto out;
    }
    text = json_dumps(obj, JSON_COMPACT);
out:
    json_decref(obj);
    return text;
}

/* Fill job from a DELIVERY_CLAIM row, with a malloc'd copy of the payload. */
static enum store_rc row_job(sqlite3_stmt *q, struct store_job *job)
{
    const void *payload;
    int64_t attempts = sqlite3_column_int64(q, 5);
    int len;

    memset(job, 0, sizeof *job);
    if (col_text(q, 0, job->id, sizeof job->id) != 0 ||
        col_text(q, 1, job->message_id, sizeof job->message_id) != 0 ||
        col_text(q, 2, job->project, sizeof job->project) != 0 ||
        col_text_opt(q, 3, job->webhook_id, sizeof job->webhook_id) != 0 ||
        col_text(q, 4, job->target_uri, sizeof job->target_uri) != 0 ||
        attempts < 0 || attempts > INT_MAX)
        return row_error("deliveries_claim", "delivery");
    job->attempts = (int)attempts;
    job->message_time_us = sqlite3_column_int64(q, 6);
    payload = sqlite3_column_blob(q, 7);
    len = sqlite3_column_bytes(q, 7);
    if (len < 0)
        return row_error("deliveries_claim", "payload");
    /* One byte at least, so that an empty payload is not a NULL that looks
     * like a failed malloc. */
    job->payload = malloc(len > 0 ? (size_t)len : 1);
    if (!job->payload) {
        log_error("out of memory", "op=deliveries_claim bytes=%d", len);
        return STORE_ERROR;
    }
    if (len > 0)
        memcpy(job->payload, payload, (size_t)len);
    job->payload_len = (size_t)len;
    return STORE_OK;
}

static enum store_rc sqlite_deliveries_claim(struct store *st, const char *owner, int64_t now_us,
                                             int64_t lease_until_us, size_t limit,
                                             size_t per_target, const char *const *busy,
                                             const size_t *inflight, size_t nbusy,
                                             struct store_job *out, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    char *busy_json;
    size_t scan;
    enum store_rc ret;
    int rc;

    *n = 0;
    if (limit == 0 || per_target == 0)
        return STORE_OK;
    if (limit > STORE_SQLITE_CLAIM_MAX)
        limit = STORE_SQLITE_CLAIM_MAX;
    if (per_target > INT32_MAX)
        per_target = INT32_MAX;
    /* The candidate scan stops after this many rows of targets below their
     * cap; the per-target limit is applied to those. A target with many due
     * rows may fill the scan and leave the others for the next claim, but
     * once it reaches its cap it is excluded before the scan, so it cannot
     * hold them back for longer. */
    scan = limit * STORE_SQLITE_CLAIM_SCAN;
    if (scan < STORE_SQLITE_CLAIM_SCAN_MIN)
        scan = STORE_SQLITE_CLAIM_SCAN_MIN;

    busy_json = busy_json_new(busy, inflight, nbusy);
    if (!busy_json) {
        log_error("cannot encode in-flight targets", "op=%s count=%zu", __func__, nbusy);
        return STORE_ERROR;
    }
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        goto out_json;

    /* The write lock is taken before choosing, so two claimers never lease
     * the same row. */
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_DELIVERY_CLAIM, &q);
    bind_int64(q, 1, now_us, &rc);
    bind_text(q, 2, busy_json, &rc);
    bind_int64(q, 3, (int64_t)per_target, &rc);
    bind_int64(q, 4, (int64_t)scan, &rc);
    bind_int64(q, 5, (int64_t)limit, &rc);
    if (rc != SQLITE_OK)
        goto fail_sql;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        assert(*n < limit);
        ret = row_job(q, &out[*n]);
        if (ret != STORE_OK)
            goto fail;
        (*n)++;
    }
    if (rc != SQLITE_DONE)
        goto fail_sql;
    sqlite3_reset(q);

    /* Lease after the query has finished, not while stepping it: the query
     * reads deliveries, and updating rows under a running scan of the same
     * table is what SQLite leaves undefined. */
    rc = stmt_get(c, SQL_DELIVERY_LEASE, &q);
    for (size_t i = 0; i < *n && rc == SQLITE_OK; i++) {
        bind_text(q, 1, out[i].id, &rc);
        bind_text(q, 2, owner, &rc);
        bind_int64(q, 3, lease_until_us, &rc);
        if (rc == SQLITE_OK)
            rc = stmt_done(q);
    }
    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    if (rc == SQLITE_OK)
        goto out;

fail_sql:
    ret = sql_error(c, rc, __func__);
fail:
    for (size_t i = 0; i < *n; i++) {
        free(out[i].payload);
        out[i].payload = NULL;
    }
    *n = 0;
out:
    conn_put(s, c);
out_json:
    free(busy_json);
    return ret;
}

/* Record one attempt: see attempts_record in store.h. */
static int attempt_record(struct store_conn *c, const struct store_attempt *a, int64_t now_us,
                          int64_t disable_after_us)
{
    sqlite3_stmt *q = NULL;
    size_t excerpt_len = a->excerpt_len;
    int state;
    int rc;

    if (a->outcome == STORE_OUTCOME_RELEASED) {
        rc = stmt_get(c, SQL_DELIVERY_RELEASE, &q);
        bind_text(q, 1, a->delivery_id, &rc);
        return rc == SQLITE_OK ? stmt_done(q) : rc;
    }
    switch (a->outcome) {
    case STORE_OUTCOME_SUCCEEDED:
        state = STORE_DELIVERY_SUCCEEDED;
        break;
    case STORE_OUTCOME_RETRY:
        state = STORE_DELIVERY_PENDING;
        break;
    default:
        assert(a->outcome == STORE_OUTCOME_FAILED || a->outcome == STORE_OUTCOME_GONE);
        state = STORE_DELIVERY_FAILED;
        break;
    }

    rc = stmt_get(c, SQL_DELIVERY_RESULT, &q);
    bind_text(q, 1, a->delivery_id, &rc);
    bind_int64(q, 2, state, &rc);
    bind_int64(q, 3, a->next_due_us, &rc);
    bind_int64(q, 4, a->time_us, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc != SQLITE_OK)
        return rc;
    if (sqlite3_changes(c->db) == 0) {
        /* Its webhook was deleted while it was in flight, and the delivery
         * with it: there is nothing left to record, and failing the batch
         * would only make the engine retry this forever. */
        log_info("attempt of a deleted delivery not recorded", "delivery=%s", a->delivery_id);
        return SQLITE_OK;
    }

    if (excerpt_len > sizeof a->excerpt) {
        assert(!"excerpt_len beyond the excerpt");
        excerpt_len = sizeof a->excerpt;
    }
    rc = stmt_get(c, SQL_ATTEMPT_INSERT, &q);
    bind_text(q, 1, a->id, &rc);
    bind_text(q, 2, a->delivery_id, &rc);
    bind_int64(q, 3, a->time_us, &rc);
    bind_int64(q, 4, a->latency_us, &rc);
    bind_int64(q, 5, a->response_status, &rc);
    /* NULL pointers bind NULL: no error, no response body. */
    bind_text(q, 6, a->error[0] ? a->error : NULL, &rc);
    bind_blob(q, 7, excerpt_len > 0 ? a->excerpt : NULL, excerpt_len, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc != SQLITE_OK || a->webhook_id[0] == '\0')
        return rc;

    /* The webhook's health. No row changes when the webhook is gone. */
    if (a->outcome == STORE_OUTCOME_SUCCEEDED) {
        rc = stmt_get(c, SQL_WEBHOOK_SUCCEEDED, &q);
        bind_text(q, 1, a->webhook_id, &rc);
        bind_int64(q, 2, now_us, &rc);
    } else {
        rc = stmt_get(c, SQL_WEBHOOK_FAILED, &q);
        bind_text(q, 1, a->webhook_id, &rc);
        bind_int64(q, 2, now_us, &rc);
        bind_int64(q, 3, disable_after_us, &rc);
        bind_int64(q, 4, a->outcome == STORE_OUTCOME_GONE, &rc);
    }
    return rc == SQLITE_OK ? stmt_done(q) : rc;
}

static enum store_rc sqlite_attempts_record(struct store *st, const struct store_attempt *attempts,
                                            size_t n, int64_t now_us, int64_t disable_after_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    enum store_rc ret;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
        rc = attempt_record(c, &attempts[i], now_us, disable_after_us);
    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : sql_error(c, rc, __func__);
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_deliveries_pending_count(struct store *st, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *n = 0;
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_get(c, SQL_DELIVERY_PENDING_COUNT, &q);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *n = (size_t)sqlite3_column_int64(q, 0);
        ret = STORE_OK;
    } else {
        ret = sql_error(c, rc, __func__);
    }
    conn_put(s, c);
    return ret;
}

/*
 * The earliest time a pending delivery can be claimed: max(due_time,
 * lease_expire_time) over the claimable ones. Rather than visit every pending
 * row, the query takes the earliest due time D of an unleased claimable row
 * (an index walk that stops at the first match) and only looks at rows due by
 * D, the leased ones among them (few: those in flight) being the only ones
 * that can be claimable earlier.
 */
static enum store_rc sqlite_deliveries_next_due(struct store *st, int64_t *due_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    *due_us = 0;
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_get(c, SQL_DELIVERY_NEXT_DUE, &q);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        ret = sql_error(c, rc, __func__);
    } else if (sqlite3_column_type(q, 0) == SQLITE_NULL) {
        ret = STORE_NOT_FOUND;
    } else {
        *due_us = sqlite3_column_int64(q, 0);
        ret = STORE_OK;
    }
    conn_put(s, c);
    return ret;
}

/* Fill d from a row of DELIVERY_COLUMNS. Returns 0, or -1 when a column does
 * not fit. */
static int row_delivery(sqlite3_stmt *q, struct store_delivery *d)
{
    int64_t state = sqlite3_column_int64(q, 5);
    int64_t attempts = sqlite3_column_int64(q, 6);

    memset(d, 0, sizeof *d);
    if (col_text(q, 0, d->id, sizeof d->id) != 0 ||
        col_text(q, 1, d->message_id, sizeof d->message_id) != 0 ||
        col_text_opt(q, 2, d->webhook_id, sizeof d->webhook_id) != 0 ||
        col_text(q, 3, d->target_uri, sizeof d->target_uri) != 0 ||
        col_text(q, 4, d->type, sizeof d->type) != 0)
        return -1;
    if (state < 0 || state >= STORE_DELIVERY_STATE_COUNT || attempts < 0 || attempts > INT_MAX)
        return -1;
    d->state = (enum store_delivery_state)state;
    d->attempts = (int)attempts;
    d->create_time_us = sqlite3_column_int64(q, 7);
    d->due_time_us = sqlite3_column_int64(q, 8);
    d->last_attempt_time_us = sqlite3_column_int64(q, 9);
    return 0;
}

static enum store_rc sqlite_deliveries_list(struct store *st, const char *project,
                                            const char *webhook_id, int state,
                                            const char *before_id, size_t limit,
                                            struct store_delivery *out, size_t *n, bool *more)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    *n = 0;
    *more = false;
    if (limit > STORE_SQLITE_LIST_MAX)
        limit = STORE_SQLITE_LIST_MAX;
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_get(c, SQL_DELIVERY_LIST, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, webhook_id, &rc);
    bind_int64(q, 3, state < 0 ? -1 : state, &rc);
    /* The first page starts below "~", which sorts after every id (ids are
     * lowercase letters, digits and '_'), so that one statement walks the
     * (webhook_id, id) index for every page. */
    bind_text(q, 4, before_id && *before_id ? before_id : "~", &rc);
    bind_int64(q, 5, (int64_t)limit + 1, &rc);
    if (rc != SQLITE_OK)
        goto fail_sql;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == limit) {
            *more = true;
            break;
        }
        if (row_delivery(q, &out[*n]) != 0) {
            ret = row_error(__func__, "delivery");
            goto out;
        }
        (*n)++;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        goto out;

fail_sql:
    ret = sql_error(c, rc, __func__);
out:
    if (ret != STORE_OK) {
        *n = 0;
        *more = false;
    }
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_delivery_get(struct store *st, const char *project, const char *id,
                                         struct store_delivery *out,
                                         struct store_attempt_info *attempts, size_t cap,
                                         size_t *nattempts)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    *nattempts = 0;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    /* One read transaction: the delivery and its attempts are one
     * snapshot. */
    rc = stmt_exec(c, SQL_BEGIN_READ);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_DELIVERY_GET, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto fail_sql;
    if (row_delivery(q, out) != 0) {
        ret = row_error(__func__, "delivery");
        goto out;
    }

    rc = stmt_get(c, SQL_ATTEMPT_LIST, &q);
    bind_text(q, 1, id, &rc);
    bind_int64(q, 2, (int64_t)cap, &rc);
    if (rc != SQLITE_OK)
        goto fail_sql;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_attempt_info *a = &attempts[*nattempts];

        memset(a, 0, sizeof *a);
        if (col_text(q, 0, a->id, sizeof a->id) != 0 ||
            col_text_opt(q, 4, a->error, sizeof a->error) != 0 ||
            col_blob(q, 5, a->excerpt, sizeof a->excerpt, &a->excerpt_len) != 0) {
            ret = row_error(__func__, "attempt");
            goto out;
        }
        a->time_us = sqlite3_column_int64(q, 1);
        a->latency_us = sqlite3_column_int64(q, 2);
        a->response_status = sqlite3_column_int(q, 3);
        (*nattempts)++;
    }
    if (rc != SQLITE_DONE)
        goto fail_sql;
    sqlite3_reset(q);
    rc = stmt_exec(c, SQL_COMMIT);
    if (rc == SQLITE_OK)
        goto out;

fail_sql:
    ret = sql_error(c, rc, __func__);
out:
    if (ret != STORE_OK)
        *nattempts = 0;
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_delivery_retry(struct store *st, const char *project, const char *id,
                                           int64_t now_us)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_DELIVERY_STATE, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto fail_sql;
    if (sqlite3_column_int64(q, 0) == STORE_DELIVERY_PENDING) {
        ret = STORE_CONFLICT;
        goto out;
    }
    sqlite3_reset(q);

    rc = stmt_get(c, SQL_DELIVERY_RETRY, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, id, &rc);
    bind_int64(q, 3, now_us, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc == SQLITE_OK)
        rc = stmt_exec(c, SQL_COMMIT);
    if (rc == SQLITE_OK)
        goto out;

fail_sql:
    ret = sql_error(c, rc, __func__);
out:
    conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_webhook_recover(struct store *st, const char *project,
                                            const char *webhook_id, int64_t since_us,
                                            int64_t now_us, size_t *n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret = STORE_OK;
    int rc;

    *n = 0;
    ret = conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = stmt_get(c, SQL_WEBHOOK_URI, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, webhook_id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto fail_sql;
    sqlite3_reset(q);

    /* WEBHOOK_RECOVER spells "+state" so that SQLite walks this webhook's
     * deliveries (deliveries_webhook_id) rather than every failed delivery
     * of every webhook (deliveries_state_due). */
    rc = stmt_get(c, SQL_WEBHOOK_RECOVER, &q);
    bind_text(q, 1, project, &rc);
    bind_text(q, 2, webhook_id, &rc);
    bind_int64(q, 3, since_us, &rc);
    bind_int64(q, 4, now_us, &rc);
    if (rc == SQLITE_OK)
        rc = stmt_done(q);
    if (rc == SQLITE_OK) {
        *n = (size_t)sqlite3_changes(c->db);
        rc = stmt_exec(c, SQL_COMMIT);
    }
    if (rc == SQLITE_OK)
        goto out;

fail_sql:
    *n = 0;
    ret = sql_error(c, rc, __func__);
out:
    conn_put(s, c);
    return ret;
}

const struct store_ops store_sqlite_ops = {
    .version = STORE_OPS_VERSION,
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .meta_get = sqlite_meta_get,
    .meta_put = sqlite_meta_put,
    .apikeys_sync_config = sqlite_apikeys_sync_config,
    .apikey_insert = sqlite_apikey_insert,
    .apikey_count = sqlite_apikey_count,
    .apikey_lookup = sqlite_apikey_lookup,
    .webhook_create = sqlite_webhook_create,
    .webhook_get = sqlite_webhook_get,
    .webhook_list = sqlite_webhook_list,
    .webhook_update = sqlite_webhook_update,
    .webhook_delete = sqlite_webhook_delete,
    .secret_rotate = sqlite_secret_rotate,
    .secrets_live = sqlite_secrets_live,
    .messages_insert = sqlite_messages_insert,
    .deliveries_claim = sqlite_deliveries_claim,
    .attempts_record = sqlite_attempts_record,
    .deliveries_pending_count = sqlite_deliveries_pending_count,
    .deliveries_next_due = sqlite_deliveries_next_due,
    .deliveries_list = sqlite_deliveries_list,
    .delivery_get = sqlite_delivery_get,
    .delivery_retry = sqlite_delivery_retry,
    .webhook_recover = sqlite_webhook_recover,
};
