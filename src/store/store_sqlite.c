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
#include "store/store_sqlite_int.h"


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
    /* 2: an operation's events are looked up by its id (GET /v1/operations/{id}). */
    "CREATE INDEX messages_operation ON messages (operation_id);",
    /* 3: per-target queues. A target is a webhook (its id) or a dynamic
     * target ("project uri"); next_due is the earliest time one of its
     * deliveries may be claimable (9223372036854775807: none pending, or its
     * webhook is not enabled). The claim walks targets_next_due, then each
     * chosen target's deliveries through deliveries_target_due, so its cost
     * follows what it claims, not the backlog. Editing or deleting a webhook
     * wakes or drops its target (the triggers). */
    "CREATE TABLE targets ("
    "  id TEXT PRIMARY KEY,"
    "  project TEXT NOT NULL,"
    "  webhook_id TEXT,"
    "  uri TEXT NOT NULL,"
    "  next_due INTEGER NOT NULL"
    ");"
    "CREATE INDEX targets_next_due ON targets (next_due);"
    "ALTER TABLE deliveries ADD COLUMN target_id TEXT NOT NULL DEFAULT '';"
    "UPDATE deliveries SET target_id = coalesce(webhook_id, project || ' ' || target_uri);"
    "INSERT INTO targets (id, project, webhook_id, uri, next_due)"
    "  SELECT target_id, min(project), min(webhook_id), min(target_uri), 0"
    "  FROM deliveries GROUP BY target_id;"
    "DROP INDEX deliveries_state_due;"
    "CREATE INDEX deliveries_target_due ON deliveries (target_id, due_time) WHERE state = 0;"
    "CREATE TRIGGER webhooks_wake_target AFTER UPDATE OF state, uri ON webhooks"
    "  WHEN NEW.state = 0 AND (OLD.state != 0 OR OLD.uri != NEW.uri) BEGIN"
    "  UPDATE targets SET next_due = coalesce((SELECT min(due_time) FROM deliveries"
    "    WHERE target_id = NEW.id AND state = 0), 9223372036854775807) WHERE id = NEW.id;"
    "END;"
    "CREATE TRIGGER webhooks_park_target AFTER UPDATE OF state ON webhooks"
    "  WHEN NEW.state != 0 AND OLD.state = 0 BEGIN"
    "  UPDATE targets SET next_due = 9223372036854775807 WHERE id = NEW.id;"
    "END;"
    "CREATE TRIGGER webhooks_drop_target AFTER DELETE ON webhooks BEGIN"
    "  DELETE FROM targets WHERE id = OLD.id;"
    "END;",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof store_migrations / sizeof store_migrations[0]))

const char *const store_sqlite_sql_text[SQL_COUNT] = {
#define X(name, text) [SQL_##name] = text,
    STORE_SQL_MAP(X)
    STORE_SQL_OPERATIONS_MAP(X)
    STORE_SQL_KEYS_MAP(X)
#undef X
};

int64_t store_sqlite_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Map a failed SQLite result code to the store's, logging what is worth
 * logging. Unique and primary key violations are the caller's CONFLICT. */
enum store_rc store_sqlite_sql_error(struct store_conn *c, int rc, const char *op)
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
enum store_rc store_sqlite_row_error(const char *op, const char *what)
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
int store_sqlite_stmt_get(struct store_conn *c, enum store_sql id, sqlite3_stmt **q)
{
    int rc;

    if (!c->stmts[id]) {
        rc = sqlite3_prepare_v3(c->db, store_sqlite_sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
                                &c->stmts[id], NULL);
        if (rc != SQLITE_OK)
            return rc;
    }
    *q = c->stmts[id];
    return SQLITE_OK;
}

/* Step q to completion and reset it. Returns SQLITE_OK, or the failing code
 * with q left as it is so that the error message can still be read (store_sqlite_conn_put
 * resets it). */
int store_sqlite_stmt_done(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);

    if (rc != SQLITE_DONE)
        return rc == SQLITE_ROW ? SQLITE_MISUSE : rc;
    sqlite3_reset(q);
    return SQLITE_OK;
}

/* Run a statement without parameters or rows (BEGIN, COMMIT, ROLLBACK).
 * BEGIN IMMEDIATE takes the store's write lock first; a COMMIT that
 * succeeds, or the ROLLBACK in store_sqlite_conn_put, gives it back. */
int store_sqlite_stmt_exec(struct store_conn *c, enum store_sql id)
{
    sqlite3_stmt *q = NULL;
    int rc = store_sqlite_stmt_get(c, id, &q);

    if (rc != SQLITE_OK)
        return rc;
    if (id == SQL_BEGIN_WRITE && !c->writing) {
        pthread_mutex_lock(c->write_lock);
        c->writing = true;
    }
    rc = store_sqlite_stmt_done(q);
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
 * are the caller's and live for the whole call, and store_sqlite_conn_put clears every
 * binding before the connection goes back to the pool.
 */
void store_sqlite_bind_text(sqlite3_stmt *q, int i, const char *v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

void store_sqlite_bind_int64(sqlite3_stmt *q, int i, int64_t v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(q, i, v);
}

/* Text bound as given, or NULL for NULL and "" (nullable columns). */
void store_sqlite_bind_text_opt(sqlite3_stmt *q, int i, const char *v, int *rc)
{
    if (*rc == SQLITE_OK && (!v || !v[0]))
        *rc = sqlite3_bind_null(q, i);
    else
        store_sqlite_bind_text(q, i, v, rc);
}

void store_sqlite_bind_blob(sqlite3_stmt *q, int i, const void *v, size_t len, int *rc)
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
int store_sqlite_col_text(sqlite3_stmt *q, int i, char *dst, size_t cap)
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
enum store_rc store_sqlite_conn_get(struct store_sqlite *s, struct store_conn **out)
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
void store_sqlite_conn_put(struct store_sqlite *s, struct store_conn *c)
{
    bool broken = false;

    for (size_t i = 0; i < SQL_COUNT; i++) {
        if (c->stmts[i]) {
            sqlite3_reset(c->stmts[i]);
            sqlite3_clear_bindings(c->stmts[i]);
        }
    }
    if (!sqlite3_get_autocommit(c->db) && store_sqlite_stmt_exec(c, SQL_ROLLBACK) != SQLITE_OK) {
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

/* Run statement id with args[0..nargs) as a write transaction of its own:
 * the whole body of the ops that change rows with one statement. Returns
 * STORE_OK once committed. When the statement changed no row and none is
 * STORE_SQLITE_NONE_NOT_FOUND, returns STORE_NOT_FOUND and commits nothing.
 * Otherwise the SQLite error mapped by store_sqlite_sql_error and logged
 * under op. *changes, when not NULL, gets the rows the statement changed
 * (0 until it has run; set before the COMMIT, which may still fail). */
enum store_rc store_sqlite_write(struct store_sqlite *s, enum store_sql id,
                                 const struct store_sqlite_arg *args, size_t nargs,
                                 enum store_sqlite_none none, size_t *changes, const char *op)
{
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    enum store_rc ret;
    int rc;

    if (changes)
        *changes = 0;
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, id, &q);
    for (size_t i = 0; i < nargs && rc == SQLITE_OK; i++) {
        int col = (int)i + 1;

        switch (args[i].type) {
        case STORE_SQLITE_ARG_TEXT:
            store_sqlite_bind_text(q, col, args[i].text, &rc);
            break;
        case STORE_SQLITE_ARG_TEXT_OPT:
            store_sqlite_bind_text_opt(q, col, args[i].text, &rc);
            break;
        case STORE_SQLITE_ARG_INT64:
            store_sqlite_bind_int64(q, col, args[i].int64, &rc);
            break;
        }
    }
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    if (rc == SQLITE_OK && sqlite3_changes(c->db) == 0 && none == STORE_SQLITE_NONE_NOT_FOUND) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc == SQLITE_OK && changes)
        *changes = (size_t)sqlite3_changes(c->db);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, op);
out:
    store_sqlite_conn_put(s, c);             /* rolls back when not committed */
    return ret;
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
        store_sqlite_bind_int64(q, 1, v, &rc);
        store_sqlite_bind_int64(q, 2, store_sqlite_now_us(), &rc);
        if (rc == SQLITE_OK)
            rc = store_sqlite_stmt_done(q);
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

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_META_GET, &q);
    store_sqlite_bind_text(q, 1, key, &rc);
    if (rc != SQLITE_OK)
        goto fail_sql;
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
        goto out;
    }
    if (rc != SQLITE_ROW)
        goto fail_sql;
    ret = store_sqlite_col_text(q, 0, val, cap) == 0 ? STORE_OK : store_sqlite_row_error(__func__, "value");
    goto out;

fail_sql:
    ret = store_sqlite_sql_error(c, rc, __func__);
out:
    store_sqlite_conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_meta_put(struct store *st, const char *key, const char *val)
{
    const struct store_sqlite_arg args[] = {STORE_SQLITE_TEXT(key), STORE_SQLITE_TEXT(val)};

    /* meta_get promises values below STORE_META_MAX; keep that true here. */
    if (strlen(val) >= STORE_META_MAX) {
        log_error("meta value too long", "key=%s", key);
        return STORE_ERROR;
    }
    return store_sqlite_write((struct store_sqlite *)st, SQL_META_PUT, args, 2,
                              STORE_SQLITE_NONE_OK, NULL, __func__);
}

/* ---- API keys ----------------------------------------------------------- */

/* Insert the projects row of project unless it exists. */
static int project_ensure(struct store_conn *c, const char *project, int64_t now_us)
{
    sqlite3_stmt *q = NULL;
    int rc = store_sqlite_stmt_get(c, SQL_PROJECT_ENSURE, &q);

    store_sqlite_bind_text(q, 1, project, &rc);
    store_sqlite_bind_int64(q, 2, now_us, &rc);
    return rc == SQLITE_OK ? store_sqlite_stmt_done(q) : rc;
}

/* Write one key with statement id (APIKEY_INSERT or APIKEY_UPSERT), its
 * project row first. */
static int apikey_write(struct store_conn *c, enum store_sql id, const struct store_apikey *key,
                        int64_t now_us)
{
    sqlite3_stmt *q = NULL;
    int rc = project_ensure(c, key->project, now_us);

    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, id, &q);
    store_sqlite_bind_blob(q, 1, key->hash, STORE_KEY_HASH_LEN, &rc);
    store_sqlite_bind_text(q, 2, key->project, &rc);
    store_sqlite_bind_int64(q, 3, key->source, &rc);
    store_sqlite_bind_int64(q, 4, now_us, &rc);
    return rc == SQLITE_OK ? store_sqlite_stmt_done(q) : rc;
}

static enum store_rc sqlite_apikeys_sync_config(struct store *st, const struct store_apikey *keys,
                                                size_t n)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    sqlite3_stmt *q = NULL;
    int64_t now_us = store_sqlite_now_us();
    enum store_rc ret;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_get(c, SQL_APIKEY_DELETE_SOURCE, &q);
    store_sqlite_bind_int64(q, 1, STORE_KEY_CONFIG, &rc);
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_done(q);
    /* Upsert, not insert: the same key listed twice in the configuration, or
     * a generated key pasted into it, becomes one configured key rather than
     * a failed start. */
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        assert(keys[i].source == STORE_KEY_CONFIG);
        rc = apikey_write(c, SQL_APIKEY_UPSERT, &keys[i], now_us);
    }
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
    return ret;
}

static enum store_rc sqlite_apikey_insert(struct store *st, const struct store_apikey *key)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_conn *c;
    enum store_rc ret;
    int rc;

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_exec(c, SQL_BEGIN_WRITE);
    if (rc == SQLITE_OK)
        rc = apikey_write(c, SQL_APIKEY_INSERT, key, store_sqlite_now_us());
    if (rc == SQLITE_OK)
        rc = store_sqlite_stmt_exec(c, SQL_COMMIT);
    ret = rc == SQLITE_OK ? STORE_OK : store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
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
    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_APIKEY_COUNT, &q);
    store_sqlite_bind_int64(q, 1, source, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *n = (size_t)sqlite3_column_int64(q, 0);
        ret = STORE_OK;
    } else {
        ret = store_sqlite_sql_error(c, rc, __func__);
    }
    store_sqlite_conn_put(s, c);
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

    ret = store_sqlite_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    rc = store_sqlite_stmt_get(c, SQL_APIKEY_LOOKUP, &q);
    store_sqlite_bind_blob(q, 1, hash, STORE_KEY_HASH_LEN, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        ret = store_sqlite_col_text(q, 0, project, cap) == 0 ? STORE_OK : store_sqlite_row_error(__func__, "project");
    else if (rc == SQLITE_DONE)
        ret = STORE_NOT_FOUND;
    else
        ret = store_sqlite_sql_error(c, rc, __func__);
    store_sqlite_conn_put(s, c);
    return ret;
}

const struct store_ops store_sqlite_ops = {
    .version = STORE_OPS_VERSION,
    .name = "sqlite",
    .operations = &store_sqlite_operations_ops,
    .keys = &store_sqlite_keys_ops,
    .open = sqlite_open,
    .close = sqlite_close,
    .meta_get = sqlite_meta_get,
    .meta_put = sqlite_meta_put,
    .apikeys_sync_config = sqlite_apikeys_sync_config,
    .apikey_insert = sqlite_apikey_insert,
    .apikey_count = sqlite_apikey_count,
    .apikey_lookup = sqlite_apikey_lookup,
    .webhook_create = store_sqlite_webhook_create,
    .webhook_get = store_sqlite_webhook_get,
    .webhook_list = store_sqlite_webhook_list,
    .webhook_update = store_sqlite_webhook_update,
    .webhook_delete = store_sqlite_webhook_delete,
    .secret_rotate = store_sqlite_secret_rotate,
    .secrets_live = store_sqlite_secrets_live,
    .messages_insert = store_sqlite_messages_insert,
    .deliveries_claim = store_sqlite_deliveries_claim,
    .attempts_record = store_sqlite_attempts_record,
    .deliveries_pending_count = store_sqlite_deliveries_pending_count,
    .deliveries_next_due = store_sqlite_deliveries_next_due,
    .deliveries_list = store_sqlite_deliveries_list,
    .delivery_get = store_sqlite_delivery_get,
    .delivery_retry = store_sqlite_delivery_retry,
    .webhook_recover = store_sqlite_webhook_recover,
    .deliveries_release = store_sqlite_deliveries_release,
};
