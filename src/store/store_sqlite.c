/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_sqlite.c - the embedded SQLite backend of store.h.
 *
 * One database file in WAL mode with synchronous=FULL, so that a write that
 * returned STORE_OK survives a crash or power loss. A struct store is shared
 * by many threads; SQLite connections are not, so the handle keeps a small
 * pool of connections (store_pool.h; opened lazily, up to
 * STORE_SQLITE_POOL_MAX), each used by one thread at a time and opened
 * without SQLite's own mutexes. Every
 * connection caches its prepared statements (store_sql_text below) for its
 * whole life.
 *
 * Every write runs in a BEGIN IMMEDIATE transaction, which takes the write
 * lock up front and so waits in the busy handler instead of failing half way
 * with SQLITE_BUSY. A lock still held after STORE_SQLITE_BUSY_MS becomes
 * STORE_UNAVAILABLE, and so does a full disk, an I/O error or a lack of
 * memory; any other SQLite failure is logged and becomes STORE_ERROR. Bound values are never logged, so sealed secrets and key
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
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/log.h"
#include "store/store_driver.h"
#include "store/store_pool.h"

#define STORE_SQLITE_POOL_MAX 8
#define STORE_SQLITE_BUSY_MS 5000

/* The transaction statements, cached per connection beside store_sql.h's. */
enum txn_stmt { TXN_BEGIN_READ, TXN_BEGIN_WRITE, TXN_COMMIT, TXN_ROLLBACK, TXN_COUNT };

static const char *const txn_sql[TXN_COUNT] = {
    "BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK",
};

/* One SQLite connection with its statement cache. Used by one thread at a
 * time: between conn_get and conn_put it belongs to the caller alone. */
struct store_sqlite_conn {
    struct store_conn base;             /* first: the driver's view */
    sqlite3 *db;
    sqlite3_stmt *q[STORE_SQL_COUNT];   /* store_sql.h, prepared on first use */
    sqlite3_stmt *txn[TXN_COUNT];
    sqlite3_stmt *cur;                  /* the statement store_run ran last */
    enum { CUR_ROW_PENDING, CUR_ROW, CUR_DONE } cur_state;
    pthread_mutex_t *write_lock;        /* the store's; held while writing */
    bool writing;                       /* holds *write_lock */
};

struct store_sqlite {
    struct store base;                  /* first: struct store * converts back */
    char *path;
    struct store_pool pool;             /* of struct store_sqlite_conn */
    /* One writer at a time within this process. SQLite allows one anyway;
     * queueing on a mutex instead of in SQLite's busy handler (which sleeps
     * and polls) turns contention between the API's event writer and the
     * delivery thread into a plain hand-over. Other processes on the same
     * file still meet the busy handler. */
    pthread_mutex_t write_lock;
};

static const struct store_driver store_sqlite_driver;


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
    /* 3: the project-wide delivery log (GET /v1/deliveries) walks a
     * project's deliveries newest first. */
    "CREATE INDEX deliveries_project_id ON deliveries (project, id);",
    /* 4: the customer portal: a webhook's tenant, and web UI sessions
     * (store_sessions.h). */
    "ALTER TABLE webhooks ADD COLUMN tenant TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX webhooks_project_tenant ON webhooks (project, tenant, id);"
    "CREATE TABLE ui_sessions ("
    "  hash BLOB PRIMARY KEY,"
    "  kind INTEGER NOT NULL,"
    "  project TEXT NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  events INTEGER NOT NULL,"
    "  create_time INTEGER NOT NULL,"
    "  expire_time INTEGER NOT NULL"
    ");"
    "CREATE INDEX ui_sessions_expire ON ui_sessions (expire_time);",
    /* 5: per-target queues. A target is a webhook (its id) or a dynamic
     * target ("project uri"); next_due is the earliest time one of its
     * deliveries may be claimable (9223372036854775807: none pending, or its
     * webhook is not enabled). The claim walks targets_next_due, then each
     * chosen target's deliveries through deliveries_target_due, so its cost
     * follows what it claims, not the backlog. Enabling a webhook or
     * changing its uri wakes its target, deleting it drops the target (the
     * triggers); a claim parks the target of a webhook it finds not
     * enabled. */
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
    "CREATE TRIGGER webhooks_drop_target AFTER DELETE ON webhooks BEGIN"
    "  DELETE FROM targets WHERE id = OLD.id;"
    "END;",
};

#define STORE_SCHEMA_VERSION ((int)(sizeof store_migrations / sizeof store_migrations[0]))
/* Map a failed SQLite result code to the store's, logging what is worth
 * logging. Unique and primary key violations are the caller's CONFLICT. */
static enum store_rc sql_error(struct store_sqlite_conn *c, int rc, const char *op)
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
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
        /* A resource ran out (disk, memory, file descriptors) or the file
         * system failed: nothing was written, and the same call may work
         * once it is back; the API answers 503. */
        log_error("database unavailable", "op=%s rc=%d error=\"%s\"", op, rc,
                  sqlite3_errmsg(c->db));
        return STORE_UNAVAILABLE;
    default:
        break;
    }
    log_error("database error", "op=%s rc=%d error=\"%s\"", op, rc, sqlite3_errmsg(c->db));
    return STORE_ERROR;
}

/* Close a connection and free it. Every statement is finalized first, so
 * sqlite3_close can release the handle. */
static void conn_close(struct store_sqlite_conn *c)
{
    int rc;

    if (!c)
        return;
    for (size_t i = 0; i < TXN_COUNT; i++)
        sqlite3_finalize(c->txn[i]);
    for (size_t i = 0; i < STORE_SQL_COUNT; i++)
        sqlite3_finalize(c->q[i]);
    rc = sqlite3_close(c->db);
    if (rc != SQLITE_OK)
        log_error("cannot close database connection", "rc=%d", rc);
    free(c);
}

static void pool_conn_close(struct store_conn *c)
{
    conn_close((struct store_sqlite_conn *)c);
}

/* Open one connection to path and set its per-connection PRAGMAs. Returns
 * STORE_OK with *out set, or an error with a message in err. */
static enum store_rc conn_open(const char *path, struct store_sqlite_conn **out, char *err,
                               size_t errlen)
{
    /* NOMUTEX: the pool guarantees one thread per connection at a time, so
     * SQLite's per-connection mutex would only cost. */
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    struct store_sqlite_conn *c;
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

/* Run transaction statement id. BEGIN IMMEDIATE takes the store's write
 * lock first; a COMMIT that succeeds, or the ROLLBACK in conn_put, gives it
 * back. Returns an SQLite result code. */
static int txn_exec(struct store_sqlite_conn *c, enum txn_stmt id)
{
    int rc = SQLITE_OK;

    if (!c->txn[id])
        rc = sqlite3_prepare_v3(c->db, txn_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->txn[id],
                                NULL);
    if (rc != SQLITE_OK)
        return rc;
    if (id == TXN_BEGIN_WRITE && !c->writing) {
        pthread_mutex_lock(c->write_lock);
        c->writing = true;
    }
    rc = sqlite3_step(c->txn[id]);
    sqlite3_reset(c->txn[id]);
    if (c->writing && sqlite3_get_autocommit(c->db)) {
        /* No transaction is open (committed, or BEGIN failed): release. */
        c->writing = false;
        pthread_mutex_unlock(c->write_lock);
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Take a connection from the pool, opening one if the pool is not full, and
 * otherwise waiting for one to come back. */
static enum store_rc conn_get(struct store *st, struct store_conn **out)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct store_sqlite_conn *c = (struct store_sqlite_conn *)store_pool_take(&s->pool);
    char err[256];
    enum store_rc ret;

    if (c) {
        *out = &c->base;
        return STORE_OK;
    }

    ret = conn_open(s->path, &c, err, sizeof err);
    if (ret == STORE_OK) {
        c->write_lock = &s->write_lock;
        c->base.driver = &store_sqlite_driver;
        c->base.st = &s->base;
    }
    if (ret != STORE_OK) {
        log_error("cannot open database connection", "error=\"%s\"", err);
        store_pool_drop(&s->pool);
        return ret;
    }
    *out = &c->base;
    return STORE_OK;
}

/* Give c back to the pool. This is every op's single exit: it resets every
 * statement, clears the caller's bindings, and rolls back a transaction an
 * error path left open, so no op needs its own cleanup for those. */
static void conn_put(struct store_conn *base)
{
    struct store_sqlite *s = (struct store_sqlite *)base->st;
    struct store_sqlite_conn *c = (struct store_sqlite_conn *)base;
    bool broken = false;

    if (c->cur) {
        sqlite3_reset(c->cur);
        sqlite3_clear_bindings(c->cur);
        c->cur = NULL;
    }
    if (!sqlite3_get_autocommit(c->db) && txn_exec(c, TXN_ROLLBACK) != SQLITE_OK) {
        log_error("cannot roll back; dropping connection", "error=\"%s\"",
                  sqlite3_errmsg(c->db));
        broken = true;
    }
    if (c->writing) {
        c->writing = false;
        pthread_mutex_unlock(c->write_lock);
    }

    if (broken) {
        store_pool_drop(&s->pool);
        conn_close(c);
    } else {
        store_pool_put(&s->pool, &c->base);
    }
}

/* Bring the schema of c's database to STORE_SCHEMA_VERSION in one
 * transaction. Returns STORE_OK, or an error with a message in err (the
 * transaction is then rolled back). */
static enum store_rc store_migrate(struct store_sqlite_conn *c, char *err, size_t errlen)
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
        rc = sqlite3_bind_int64(q, 1, v);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(q, 2, store_now_us());
        if (rc == SQLITE_OK)
            rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
        sqlite3_reset(q);
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
static enum store_rc store_set_wal(struct store_sqlite_conn *c, char *err, size_t errlen)
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

static void store_sqlite_close(struct store *st)
{
    struct store_sqlite *s = (struct store_sqlite *)st;

    if (!s)
        return;
    store_pool_destroy(&s->pool, pool_conn_close);
    pthread_mutex_destroy(&s->write_lock);
    free(s->path);
    free(s);
}

/* The database and its -wal and -shm files (SQLite gives those the mode of
 * the database file) are the owner's alone, whatever the directory or an
 * older file allowed: 0600. A file kabard cannot change is left as it is. */
static void store_sqlite_private(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char name[PATH_MAX + 8];
    struct stat sb;

    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffix[i]);
        if (stat(name, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 077) != 0)
            (void)chmod(name, 0600);
    }
}

enum store_rc store_sqlite_open(const char *url, struct store **out, char *err, size_t errlen)
{
    struct store_sqlite *s;
    struct store_sqlite_conn *c;
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
    s->base.driver = &store_sqlite_driver;
    s->path = strdup(path);
    if (!s->path) {
        snprintf(err, errlen, "out of memory");
        goto fail_path;
    }
    if (pthread_mutex_init(&s->write_lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create mutex");
        goto fail_write_lock;
    }

    ret = conn_open(s->path, &c, err, errlen);
    if (ret != STORE_OK)
        goto fail_conn;
    store_sqlite_private(s->path);
    /* Pages freed by pruning go back to the file system in small steps
     * (drv_compact). The mode only takes on a file without tables, so a new
     * database gets it; one made before keeps reusing its free pages
     * without shrinking (docs/running.md says how to convert it once,
     * offline). */
    if (sqlite3_exec(c->db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set auto_vacuum: %s", sqlite3_errmsg(c->db));
        ret = STORE_ERROR;
        goto fail_setup;
    }
    ret = store_set_wal(c, err, errlen);
    if (ret != STORE_OK)
        goto fail_setup;
    ret = store_migrate(c, err, errlen);
    if (ret != STORE_OK)
        goto fail_setup;

    c->write_lock = &s->write_lock;
    c->base.driver = &store_sqlite_driver;
    c->base.st = &s->base;
    if (store_pool_init(&s->pool, STORE_SQLITE_POOL_MAX, &c->base) != 0) {
        snprintf(err, errlen, "cannot create mutex");
        ret = STORE_ERROR;
        goto fail_setup;
    }
    *out = &s->base;
    return STORE_OK;

fail_setup:
    conn_close(c);
fail_conn:
    pthread_mutex_destroy(&s->write_lock);
fail_write_lock:
    free(s->path);
fail_path:
    free(s);
    return ret;
}

/* ---- the driver (store_driver.h) ------------------------------------------ */

static const char *const sqlite_sql[STORE_SQL_COUNT] = {
#define S(name, text) [STORE_SQL_##name] = text,
#define D(name, sqlite, pg) [STORE_SQL_##name] = sqlite,
    STORE_SQL_LIST(S, D)
#undef S
#undef D
};

static struct store_sqlite_conn *sqlite_conn(struct store_conn *c)
{
    return (struct store_sqlite_conn *)c;
}

/* BEGIN IMMEDIATE for writes takes the store's writer mutex first
 * (txn_exec): see struct store_sqlite. */
static enum store_rc drv_begin(struct store_conn *base, enum store_txn txn)
{
    struct store_sqlite_conn *c = sqlite_conn(base);
    int rc = txn_exec(c, txn == STORE_TXN_WRITE ? TXN_BEGIN_WRITE : TXN_BEGIN_READ);

    return rc == SQLITE_OK ? STORE_OK : sql_error(c, rc, "begin");
}

static enum store_rc drv_commit(struct store_conn *base)
{
    struct store_sqlite_conn *c = sqlite_conn(base);
    int rc = txn_exec(c, TXN_COMMIT);

    return rc == SQLITE_OK ? STORE_OK : sql_error(c, rc, "commit");
}

static int bind_arg(sqlite3_stmt *q, int col, const struct store_arg *a)
{
    switch (a->type) {
    case STORE_ARG_TEXT:
        return sqlite3_bind_text(q, col, a->text, -1, SQLITE_STATIC);
    case STORE_ARG_INT:
        return sqlite3_bind_int64(q, col, a->i);
    case STORE_ARG_BLOB:
        if (a->len > INT_MAX)
            return SQLITE_TOOBIG;
        /* "" for an empty blob: a NULL pointer would bind SQL NULL. */
        return sqlite3_bind_blob(q, col, a->len ? a->blob : "", (int)a->len, SQLITE_STATIC);
    case STORE_ARG_NULL:
        break;
    }
    return sqlite3_bind_null(q, col);
}

/* Arguments beyond the statement's highest parameter are not bound: the
 * dialects of one statement take one argument list, and the SQLite text may
 * leave the last ones to PostgreSQL (TARGET_TAKE's lease). */
static enum store_rc drv_run(struct store_conn *base, enum store_sql id,
                             const struct store_arg *args, size_t nargs, size_t *changes)
{
    struct store_sqlite_conn *c = sqlite_conn(base);
    sqlite3_stmt *q;
    int rc = SQLITE_OK;
    int nparams;

    if (c->cur) {
        sqlite3_reset(c->cur);
        sqlite3_clear_bindings(c->cur);
        c->cur = NULL;
    }
    if (!c->q[id])
        rc = sqlite3_prepare_v3(c->db, sqlite_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->q[id],
                                NULL);
    if (rc != SQLITE_OK)
        return sql_error(c, rc, store_sql_name(id));
    q = c->q[id];
    nparams = sqlite3_bind_parameter_count(q);
    for (size_t i = 0; i < nargs && (int)i < nparams && rc == SQLITE_OK; i++)
        rc = bind_arg(q, (int)i + 1, &args[i]);
    if (rc == SQLITE_OK) {
        c->cur = q;
        rc = sqlite3_step(q);
    }
    if (rc == SQLITE_ROW) {
        c->cur_state = CUR_ROW_PENDING;
        return STORE_OK;
    }
    if (rc == SQLITE_DONE) {
        c->cur_state = CUR_DONE;
        if (changes)
            *changes = (size_t)sqlite3_changes(c->db);
        return STORE_OK;
    }
    return sql_error(c, rc, store_sql_name(id));
}

static enum store_rc drv_next(struct store_conn *base)
{
    struct store_sqlite_conn *c = sqlite_conn(base);
    int rc;

    if (!c->cur || c->cur_state == CUR_DONE)
        return STORE_NOT_FOUND;
    if (c->cur_state == CUR_ROW_PENDING) {
        c->cur_state = CUR_ROW;
        return STORE_OK;
    }
    rc = sqlite3_step(c->cur);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    c->cur_state = CUR_DONE;
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : sql_error(c, rc, "next");
}

static bool drv_col_null(struct store_conn *c, int col)
{
    return sqlite3_column_type(sqlite_conn(c)->cur, col) == SQLITE_NULL;
}

static int64_t drv_col_int(struct store_conn *c, int col)
{
    return sqlite3_column_int64(sqlite_conn(c)->cur, col);
}

static const char *drv_col_text(struct store_conn *c, int col, size_t *len)
{
    sqlite3_stmt *q = sqlite_conn(c)->cur;
    const char *t = (const char *)sqlite3_column_text(q, col);
    int n = sqlite3_column_bytes(q, col);

    *len = t && n > 0 ? (size_t)n : 0;
    return t;
}

static const void *drv_col_blob(struct store_conn *c, int col, size_t *len)
{
    sqlite3_stmt *q = sqlite_conn(c)->cur;
    const void *b = sqlite3_column_blob(q, col);
    int n = sqlite3_column_bytes(q, col);

    *len = b && n > 0 ? (size_t)n : 0;
    return b;
}

/* The free pages of the file, or -1. */
static int64_t freelist_count(struct store_sqlite_conn *c)
{
    sqlite3_stmt *q = NULL;
    int64_t n = -1;

    if (sqlite3_prepare_v2(c->db, "PRAGMA freelist_count", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

/* A few pages at a time, under the write lock like every write: the vacuum
 * moves pages at the end of the file into free ones and cuts the file; a
 * file without auto_vacuum = INCREMENTAL does nothing. */
static enum store_rc drv_compact(struct store_conn *base, size_t max_pages, size_t *pages)
{
    struct store_sqlite_conn *c = sqlite_conn(base);
    char sql[64];
    int64_t before, after;
    int rc;

    *pages = 0;
    snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%zu)", max_pages);
    rc = txn_exec(c, TXN_BEGIN_WRITE);
    before = freelist_count(c);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    after = freelist_count(c);
    if (rc == SQLITE_OK)
        rc = txn_exec(c, TXN_COMMIT);
    if (rc != SQLITE_OK)
        return sql_error(c, rc, "compact");
    if (before > after && after >= 0)
        *pages = (size_t)(before - after);
    return STORE_OK;
}

static const struct store_driver store_sqlite_driver = {
    .name = "sqlite",
    .conn_get = conn_get,
    .conn_put = conn_put,
    .begin = drv_begin,
    .commit = drv_commit,
    .run = drv_run,
    .next = drv_next,
    .col_null = drv_col_null,
    .col_int = drv_col_int,
    .col_text = drv_col_text,
    .col_blob = drv_col_blob,
    .close = store_sqlite_close,
    .notify = NULL,
    .compact = drv_compact,
    .claim_leases = false,
    .batch_rows = false,
};
