/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_pg.c - the PostgreSQL backend of store.h, for several kabard
 * processes (on several machines) sharing one database.
 *
 * A struct store keeps a small pool of libpq connections (store_pool.h;
 * opened lazily, up to STORE_PG_POOL_MAX), each used by one thread at a time
 * and each with its own prepared statements. Nothing is kept in the process
 * that another process needs: deliveries are leased in the database (see
 * DELIVERY_CLAIM in store_sql.h), so any process may claim, deliver and record any of them.
 *
 * When the server goes away (restart, failover, network) every op fails
 * with STORE_UNAVAILABLE - the API answers 503 - and the broken connection
 * is dropped. New connects back off exponentially (STORE_PG_BACKOFF_*) so a
 * dead server costs a failed op no connect timeout; the first op after the
 * server is back opens a fresh connection. An idle connection whose server
 * said goodbye (its socket is readable while idle) is noticed before use, so
 * the first request after a restart does not fail on a stale connection.
 *
 * The schema is versioned by the schema_version table and migrated by open
 * in one transaction under a transaction-scoped advisory lock, so that when
 * several processes start at once one migrates and the others wait, then
 * find nothing to do.
 *
 * Wake-ups across processes: writes that make deliveries due now NOTIFY
 * STORE_PG_CHANNEL in their transaction (delivered at commit); listen()
 * starts a thread with a connection of its own that LISTENs and calls the
 * caller's wake function on each notification (and after each reconnect,
 * since notifications sent meanwhile are lost). Polling stays the fallback.
 */
#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <stdatomic.h>

#include "common/log.h"
#include "store/store_driver.h"
#include "store/store_pool.h"

/* Connections per process. The HTTP threads hold one only for the length of
 * one op; the event writer and the delivery thread each hold one at a time. */
#define STORE_PG_POOL_MAX 16
/* Reconnect backoff after a failed connect: the first retry waits _MIN, each
 * failure doubles it up to _MAX. Meanwhile ops fail fast with
 * STORE_UNAVAILABLE (the API answers 503) instead of each waiting on a
 * connect that is bound to fail. */
#define STORE_PG_BACKOFF_MIN_US (INT64_C(50) * 1000)
#define STORE_PG_BACKOFF_MAX_US (INT64_C(2) * 1000 * 1000)
#define STORE_PG_CONNECT_TIMEOUT_S "5"
#define STORE_PG_PARAMS_MAX 14

/* The NOTIFY channel: deliveries may be due now. */
#define STORE_PG_CHANNEL "kabar_deliveries"

/* One server connection and which statements it has prepared. Between
 * conn_get and conn_put it belongs to one thread. */
struct store_pg_conn {
    struct store_conn base;             /* first: the driver's view */
    PGconn *pg;
    bool prep[STORE_SQL_COUNT];         /* store_sql.h statements prepared */
    PGresult *res;                      /* the result of store_run's last statement */
    int row;                            /* its current row */
};

struct store_pg {
    struct store base;                  /* first: struct store * converts back */
    char *url;
    struct store_pool pool;             /* of struct store_pg_conn */
    pthread_mutex_t lock;               /* guards the backoff fields */
    int64_t retry_at_mono_us;           /* no connect attempt before this */
    int64_t backoff_us;                 /* 0: the last connect worked */

    /* LISTEN thread (store_pg_listen). */
    pthread_mutex_t wake_lock;          /* held while calling wake */
    void (*wake)(void *arg);
    void *wake_arg;
    pthread_t listener;
    bool listening;                     /* the thread was started */
    atomic_bool stopping;
};

/* Parameters of one statement. Values are the caller's (text, bytea) or
 * formatted into ints[] (integers); they must live until the statement has
 * run. */
struct store_pg_params {
    int n;
    const char *vals[STORE_PG_PARAMS_MAX];
    int lens[STORE_PG_PARAMS_MAX];
    int fmts[STORE_PG_PARAMS_MAX];
    char ints[STORE_PG_PARAMS_MAX][24];
};

static const struct store_driver store_pg_driver;


/*
 * The migrations, in order: migrations[i] brings the schema from version i
 * to version i + 1. Never edit one that has shipped; add a new one instead.
 * They mirror store_sqlite.c's: times are BIGINT microseconds (0: never),
 * blobs BYTEA. Every text key is COLLATE "C" so that ids compare byte by
 * byte (they sort by creation time that way, and list pagination relies on
 * it) whatever the database's collation. Pending deliveries and operations
 * have partial indexes, so claims stay fast however much history piles up.
 */
static const char *const store_pg_migrations[] = {
    /* 1 */
    "CREATE TABLE meta ("
    "  key TEXT COLLATE \"C\" PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ");"
    "CREATE TABLE projects ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  create_time BIGINT NOT NULL"
    ");"
    "CREATE TABLE api_keys ("
    "  hash BYTEA PRIMARY KEY,"
    "  project TEXT COLLATE \"C\" NOT NULL REFERENCES projects (id),"
    "  source INTEGER NOT NULL,"
    "  create_time BIGINT NOT NULL"
    ");"
    "CREATE INDEX api_keys_project ON api_keys (project);"
    "CREATE TABLE webhooks ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  project TEXT COLLATE \"C\" NOT NULL,"
    "  name TEXT NOT NULL,"
    "  uri TEXT COLLATE \"C\" NOT NULL,"
    "  events BIGINT NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  create_time BIGINT NOT NULL,"
    "  update_time BIGINT NOT NULL,"
    "  last_success_time BIGINT NOT NULL DEFAULT 0,"
    "  failing_since BIGINT NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX webhooks_project_id ON webhooks (project, id);"
    "CREATE TABLE webhook_secrets ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  webhook_id TEXT COLLATE \"C\" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,"
    "  blob BYTEA NOT NULL,"
    "  truncated TEXT NOT NULL,"
    "  create_time BIGINT NOT NULL,"
    "  expire_time BIGINT NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX webhook_secrets_webhook ON webhook_secrets (webhook_id);"
    "CREATE TABLE messages ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  project TEXT COLLATE \"C\" NOT NULL,"
    "  type TEXT NOT NULL,"
    "  payload BYTEA NOT NULL,"
    "  create_time BIGINT NOT NULL,"
    "  operation_id TEXT COLLATE \"C\","
    "  idempotency_key TEXT COLLATE \"C\","
    "  UNIQUE (project, idempotency_key)"
    ");"
    "CREATE INDEX messages_project_id ON messages (project, id);"
    "CREATE TABLE deliveries ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  message_id TEXT COLLATE \"C\" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    "  project TEXT COLLATE \"C\" NOT NULL,"
    "  webhook_id TEXT COLLATE \"C\","
    "  target_uri TEXT COLLATE \"C\" NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  due_time BIGINT NOT NULL,"
    "  lease_owner TEXT,"
    "  lease_expire_time BIGINT NOT NULL DEFAULT 0,"
    "  create_time BIGINT NOT NULL,"
    "  last_attempt_time BIGINT NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX deliveries_pending_due ON deliveries (due_time) WHERE state = 0;"
    /* The claim walks deliveries_pending_due only when the statistics say
     * the table is big; a backlog that grows fast must not wait for the
     * default 10% change before autovacuum analyzes it. */
    "ALTER TABLE deliveries SET (autovacuum_analyze_scale_factor = 0.01,"
    "  autovacuum_analyze_threshold = 1000);"
    "CREATE INDEX deliveries_webhook_id ON deliveries (webhook_id, id);"
    "CREATE INDEX deliveries_message ON deliveries (message_id);"
    "CREATE TABLE attempts ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  delivery_id TEXT COLLATE \"C\" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,"
    "  time BIGINT NOT NULL,"
    "  latency_us BIGINT NOT NULL,"
    "  response_status INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  response_excerpt BYTEA"
    ");"
    "CREATE INDEX attempts_delivery ON attempts (delivery_id, id);"
    "CREATE TABLE operations ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  project TEXT COLLATE \"C\" NOT NULL,"
    "  kind TEXT COLLATE \"C\" NOT NULL,"
    "  model TEXT,"
    "  state INTEGER NOT NULL,"
    "  request TEXT,"
    "  result TEXT,"
    "  webhook_config TEXT,"
    "  create_time BIGINT NOT NULL,"
    "  update_time BIGINT NOT NULL,"
    "  due_time BIGINT NOT NULL DEFAULT 0,"
    "  lease_owner TEXT,"
    "  lease_expire_time BIGINT NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX operations_state_due ON operations (state, due_time);"
    "CREATE INDEX operations_project_id ON operations (project, id);"
    "CREATE TABLE signing_keys ("
    "  kid TEXT COLLATE \"C\" PRIMARY KEY,"
    "  private_blob BYTEA NOT NULL,"
    "  public_jwk TEXT NOT NULL,"
    "  create_time BIGINT NOT NULL,"
    "  activate_time BIGINT NOT NULL,"
    "  retire_time BIGINT NOT NULL DEFAULT 0"
    ");",
    /* 2: an operation's events are looked up by its id (GET /v1/operations/{id}). */
    "CREATE INDEX messages_operation ON messages (operation_id);",
    /* 3: the project-wide delivery log (GET /v1/deliveries) walks a
     * project's deliveries newest first. */
    "CREATE INDEX deliveries_project_id ON deliveries (project, id);",
    /* 4: the customer portal: a webhook's tenant, and web UI sessions
     * (store_sessions.h). */
    "ALTER TABLE webhooks ADD COLUMN tenant TEXT COLLATE \"C\" NOT NULL DEFAULT '';"
    "CREATE INDEX webhooks_project_tenant ON webhooks (project, tenant, id);"
    "CREATE TABLE ui_sessions ("
    "  hash BYTEA PRIMARY KEY,"
    "  kind INTEGER NOT NULL,"
    "  project TEXT COLLATE \"C\" NOT NULL,"
    "  tenant TEXT COLLATE \"C\" NOT NULL,"
    "  events BIGINT NOT NULL,"
    "  create_time BIGINT NOT NULL,"
    "  expire_time BIGINT NOT NULL"
    ");"
    "CREATE INDEX ui_sessions_expire ON ui_sessions (expire_time);",
    /* 5: per-target queues, as in store_sqlite.c's migration 5. */
    "CREATE TABLE targets ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  project TEXT COLLATE \"C\" NOT NULL,"
    "  webhook_id TEXT COLLATE \"C\","
    "  uri TEXT NOT NULL,"
    "  next_due BIGINT NOT NULL"
    ");"
    "CREATE INDEX targets_next_due ON targets (next_due);"
    "ALTER TABLE deliveries ADD COLUMN target_id TEXT COLLATE \"C\" NOT NULL DEFAULT '';"
    "UPDATE deliveries SET target_id = coalesce(webhook_id, project || ' ' || target_uri);"
    "INSERT INTO targets (id, project, webhook_id, uri, next_due)"
    "  SELECT target_id, min(project), min(webhook_id), min(target_uri), 0"
    "  FROM deliveries GROUP BY target_id;"
    "DROP INDEX deliveries_pending_due;"
    "CREATE INDEX deliveries_target_due ON deliveries (target_id, due_time) WHERE state = 0;"
    /* The triggers wake or drop a target, never park one (the claim
     * does): a webhook disabled by attempts_record's health update would
     * otherwise lock a target row after that transaction's one ordered
     * pass over targets (see TARGETS_UPSERT in store_sql.h). */
    "CREATE FUNCTION kabar_webhook_target() RETURNS trigger LANGUAGE plpgsql AS $f$"
    "BEGIN"
    "  IF TG_OP = 'DELETE' THEN"
    "    DELETE FROM targets WHERE id = OLD.id;"
    "  ELSE"
    "    UPDATE targets SET next_due = coalesce((SELECT min(due_time) FROM deliveries"
    "      WHERE target_id = NEW.id AND state = 0), 9223372036854775807) WHERE id = NEW.id;"
    "  END IF;"
    "  RETURN NULL;"
    "END $f$;"
    "CREATE TRIGGER webhooks_wake_target AFTER UPDATE OF state, uri ON webhooks FOR EACH ROW"
    "  WHEN (NEW.state = 0 AND (OLD.state <> 0 OR OLD.uri IS DISTINCT FROM NEW.uri))"
    "  EXECUTE FUNCTION kabar_webhook_target();"
    "CREATE TRIGGER webhooks_drop_target AFTER DELETE ON webhooks FOR EACH ROW"
    "  EXECUTE FUNCTION kabar_webhook_target();",
};

#define STORE_PG_SCHEMA_VERSION \
    ((int)(sizeof store_pg_migrations / sizeof store_pg_migrations[0]))

/* The advisory lock of the migration (the few writes that must not run
 * twice at once across processes take theirs in store_sql.h), per schema so
 * that tests on separate schemas of one database do not wait for each
 * other. */
#define STORE_PG_LOCK_MIGRATE "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 1)"

static int64_t store_pg_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- parameters ----------------------------------------------- */

static void store_pg_text(struct store_pg_params *p, const char *v)
{
    assert(p->n < STORE_PG_PARAMS_MAX);
    p->vals[p->n] = v;
    p->lens[p->n] = 0;
    p->fmts[p->n] = 0;
    p->n++;
}

static void store_pg_int(struct store_pg_params *p, int64_t v)
{
    assert(p->n < STORE_PG_PARAMS_MAX);
    snprintf(p->ints[p->n], sizeof p->ints[p->n], "%" PRId64, v);
    p->vals[p->n] = p->ints[p->n];
    p->lens[p->n] = 0;
    p->fmts[p->n] = 0;
    p->n++;
}

/* Bytea goes binary: no escaping, no doubling. An empty value is an empty
 * bytea, not NULL, so v may be NULL only when len is 0 and NULL is meant. */
static void store_pg_bytea(struct store_pg_params *p, const void *v, size_t len)
{
    assert(p->n < STORE_PG_PARAMS_MAX);
    assert(len <= INT_MAX);
    p->vals[p->n] = v;
    p->lens[p->n] = (int)len;
    p->fmts[p->n] = 1;
    p->n++;
}

/* Read a binary integer column of any width (int2, int4, int8, bool). */
static int64_t store_pg_col_int(const PGresult *r, int row, int col)
{
    const unsigned char *v;
    int len;
    uint64_t u = 0;

    if (PQgetisnull(r, row, col))
        return 0;
    v = (const unsigned char *)PQgetvalue(r, row, col);
    len = PQgetlength(r, row, col);
    for (int i = 0; i < len && i < 8; i++)
        u = (u << 8) | v[i];
    switch (len) {
    case 1: return (int64_t)(int8_t)u;
    case 2: return (int64_t)(int16_t)u;
    case 4: return (int64_t)(int32_t)u;
    default: return (int64_t)u;
    }
}
/* ---- errors --------------------------------------------------------------- */

/* Map a failed result (or NULL: no result at all) on c to the store's code,
 * logging what is worth logging. Unique violations are the caller's
 * CONFLICT; anything that says the server or the connection is gone, or
 * that retrying may work (serialization, deadlock, too many connections),
 * is UNAVAILABLE; the rest is a bug or a damaged database: ERROR. */
static enum store_rc store_pg_result_error(struct store_pg_conn *c, const PGresult *r,
                                           const char *op)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg);
    char line[256];
    size_t len;

    snprintf(line, sizeof line, "%s", msg ? msg : "");
    len = strcspn(line, "\n");
    line[len] = '\0';
    if (state && strcmp(state, "23505") == 0)
        return STORE_CONFLICT;
    if (PQstatus(c->pg) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0 ||
        strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        strcmp(state, "55P03") == 0) {
        log_warn("database unavailable", "op=%s sqlstate=%s error=\"%s\"", op,
                 state ? state : "-", line);
        return STORE_UNAVAILABLE;
    }
    log_error("database error", "op=%s sqlstate=%s error=\"%s\"", op, state, line);
    return STORE_ERROR;
}

static enum store_rc store_pg_exec(struct store_pg_conn *c, const char *sql, const char *op)
{
    PGresult *r = PQexec(c->pg, sql);
    enum store_rc ret = STORE_OK;

    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        break;
    default:
        ret = store_pg_result_error(c, r, op);
        break;
    }
    PQclear(r);
    return ret;
}
/* ---- connections ---------------------------------------------------------- */

static void conn_close(struct store_pg_conn *c)
{
    if (!c)
        return;
    PQclear(c->res);
    PQfinish(c->pg);
    free(c);
}

static void pool_conn_close(struct store_conn *c)
{
    conn_close((struct store_pg_conn *)c);
}

/* Silence libpq's NOTICE messages (CREATE TABLE IF NOT EXISTS and the like);
 * they are not errors and would go to stderr unformatted. */
static void conn_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Connect to url. Returns the connection (PQstatus OK) or NULL with a
 * message in err. */
static PGconn *store_pg_connect(const char *url, char *err, size_t errlen)
{
    /* The URL comes last, so anything it says overrides these defaults. */
    static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {STORE_PG_CONNECT_TIMEOUT_S, "kabard", url, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    char line[256];

    if (!pg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        snprintf(line, sizeof line, "%s", PQerrorMessage(pg));
        line[strcspn(line, "\n")] = '\0';
        snprintf(err, errlen, "cannot connect to the database: %s", line);
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, conn_notice, NULL);
    return pg;
}

static enum store_rc conn_open(struct store_pg *s, struct store_pg_conn **out, char *err,
                               size_t errlen)
{
    struct store_pg_conn *c = calloc(1, sizeof *c);

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    c->pg = store_pg_connect(s->url, err, errlen);
    if (!c->pg) {
        free(c);
        return STORE_UNAVAILABLE;
    }
    c->base.driver = &store_pg_driver;
    c->base.st = &s->base;
    *out = c;
    return STORE_OK;
}

/* An idle connection is usable unless its server has closed it: a server
 * that shuts down or restarts, or an administrator's pg_terminate_backend,
 * sends the connection a FATAL message and closes it, which makes the idle
 * socket readable. Pool connections never LISTEN, so nothing else is
 * expected on an idle one (at worst an asynchronous parameter report, and
 * dropping that connection costs one reconnect). Checking costs one poll()
 * with no wait. */
static bool conn_alive(struct store_pg_conn *c)
{
    struct pollfd pfd;

    if (PQstatus(c->pg) != CONNECTION_OK)
        return false;
    pfd.fd = PQsocket(c->pg);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (pfd.fd < 0)
        return false;
    return poll(&pfd, 1, 0) == 0;
}

/* Take a connection from the pool, opening one if the pool is not full, and
 * otherwise waiting for one to come back. STORE_UNAVAILABLE when the server
 * cannot be reached (now, or recently: see the backoff above). */
static enum store_rc conn_get(struct store *st, struct store_conn **out)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_conn *c = NULL;
    char err[320];
    enum store_rc ret;
    bool waiting;

    *out = NULL;
    /* An idle connection that still works, or a slot to connect in. */
    while ((c = (struct store_pg_conn *)store_pool_take(&s->pool)) != NULL) {
        if (conn_alive(c)) {
            *out = &c->base;
            return STORE_OK;
        }
        log_warn("database connection lost; reconnecting", NULL);
        conn_close(c);
        store_pool_drop(&s->pool);
    }
    pthread_mutex_lock(&s->lock);
    waiting = store_pg_mono_us() < s->retry_at_mono_us;
    pthread_mutex_unlock(&s->lock);
    if (waiting) {
        store_pool_drop(&s->pool);
        return STORE_UNAVAILABLE;
    }

    ret = conn_open(s, &c, err, sizeof err);
    if (ret != STORE_OK)
        store_pool_drop(&s->pool);
    pthread_mutex_lock(&s->lock);
    if (ret != STORE_OK) {
        s->backoff_us = s->backoff_us ? s->backoff_us * 2 : STORE_PG_BACKOFF_MIN_US;
        if (s->backoff_us > STORE_PG_BACKOFF_MAX_US)
            s->backoff_us = STORE_PG_BACKOFF_MAX_US;
        s->retry_at_mono_us = store_pg_mono_us() + s->backoff_us;
        pthread_mutex_unlock(&s->lock);
        log_warn("database unavailable", "error=\"%s\" retry_in_ms=%" PRId64, err,
                 s->backoff_us / 1000);
        return ret;
    }
    if (s->backoff_us) {
        s->backoff_us = 0;
        s->retry_at_mono_us = 0;
        pthread_mutex_unlock(&s->lock);
        log_info("database connection restored", NULL);
    } else {
        pthread_mutex_unlock(&s->lock);
    }
    *out = &c->base;
    return STORE_OK;
}

/* Give c back to the pool. This is every op's single exit: it rolls back a
 * transaction an error path left open, and drops a connection that broke,
 * so no op needs its own cleanup for those. */
static void conn_put(struct store_conn *base)
{
    struct store_pg *s = (struct store_pg *)base->st;
    struct store_pg_conn *c = (struct store_pg_conn *)base;
    bool broken = PQstatus(c->pg) != CONNECTION_OK;

    PQclear(c->res);
    c->res = NULL;

    if (!broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            broken = true;
        PQclear(r);
    }
    if (!broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        broken = true;

    if (broken) {
        store_pool_drop(&s->pool);
        conn_close(c);
    } else {
        store_pool_put(&s->pool, &c->base);
    }
}

/* ---- migrations ----------------------------------------------------------- */

static enum store_rc store_pg_migrate(struct store_pg_conn *c, char *err, size_t errlen)
{
    PGresult *r = NULL;
    enum store_rc ret;
    int version;
    char sql[128];

    ret = store_pg_exec(c, "BEGIN", __func__);
    if (ret == STORE_OK)
        ret = store_pg_exec(c, STORE_PG_LOCK_MIGRATE, __func__);
    if (ret == STORE_OK)
        ret = store_pg_exec(c, "CREATE TABLE IF NOT EXISTS schema_version ("
                               "  version INTEGER PRIMARY KEY,"
                               "  apply_time BIGINT NOT NULL)", __func__);
    if (ret != STORE_OK)
        goto fail;
    r = PQexec(c->pg, "SELECT coalesce(max(version), 0) FROM schema_version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        ret = store_pg_result_error(c, r, __func__);
        goto fail;
    }
    version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if (version > STORE_PG_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this kabar knows (%d); "
                 "run a newer kabar or restore a matching backup",
                 version, STORE_PG_SCHEMA_VERSION);
        return STORE_ERROR;
    }
    for (int v = version + 1; v <= STORE_PG_SCHEMA_VERSION; v++) {
        ret = store_pg_exec(c, store_pg_migrations[v - 1], __func__);
        if (ret != STORE_OK)
            goto fail;
        snprintf(sql, sizeof sql,
                 "INSERT INTO schema_version (version, apply_time) VALUES (%d, %" PRId64 ")",
                 v, store_now_us());
        ret = store_pg_exec(c, sql, __func__);
        if (ret != STORE_OK)
            goto fail;
        log_info("database schema migrated", "version=%d", v);
    }
    ret = store_pg_exec(c, "COMMIT", __func__);
    if (ret == STORE_OK)
        return STORE_OK;
fail:
    PQclear(r);
    snprintf(err, errlen, "cannot migrate database schema to version %d: %s",
             STORE_PG_SCHEMA_VERSION, store_strerror(ret));
    return ret;
}

/* ---- LISTEN --------------------------------------------------------------- */

static void store_pg_call_wake(struct store_pg *s)
{
    pthread_mutex_lock(&s->wake_lock);
    if (s->wake)
        s->wake(s->wake_arg);
    pthread_mutex_unlock(&s->wake_lock);
}

/* The listener: one connection of its own, LISTENing; reconnects with the
 * same backoff as the pool. Wakes once after every (re)connect, because a
 * notification sent while it was away is lost. */
static void *store_pg_listener(void *arg)
{
    struct store_pg *s = arg;
    int64_t backoff = 0;
    PGconn *pg = NULL;
    char err[320];

    while (!atomic_load(&s->stopping)) {
        struct pollfd pfd;
        int rc;

        if (!pg) {
            pg = store_pg_connect(s->url, err, sizeof err);
            if (pg) {
                PGresult *r = PQexec(pg, "LISTEN " STORE_PG_CHANNEL);
                if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                    snprintf(err, sizeof err, "LISTEN failed");
                    PQfinish(pg);
                    pg = NULL;
                }
                PQclear(r);
            }
            if (!pg) {
                backoff = backoff ? backoff * 2 : STORE_PG_BACKOFF_MIN_US;
                if (backoff > STORE_PG_BACKOFF_MAX_US)
                    backoff = STORE_PG_BACKOFF_MAX_US;
                /* Sleep in short steps so that close() is not held up. */
                for (int64_t t = 0; t < backoff && !atomic_load(&s->stopping); t += 50000) {
                    struct timespec ts = {0, 50 * 1000 * 1000};
                    nanosleep(&ts, NULL);
                }
                continue;
            }
            if (backoff)
                log_info("database listener reconnected", NULL);
            backoff = 0;
            store_pg_call_wake(s);
        }
        pfd.fd = PQsocket(pg);
        pfd.events = POLLIN;
        pfd.revents = 0;
        rc = poll(&pfd, 1, 200);
        if (rc <= 0)
            continue;
        if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
            log_warn("database listener lost its connection", NULL);
            PQfinish(pg);
            pg = NULL;
            backoff = STORE_PG_BACKOFF_MIN_US;
            continue;
        }
        bool any = false;
        for (PGnotify *n; (n = PQnotifies(pg)) != NULL;) {
            any = true;
            PQfreemem(n);
        }
        if (any)
            store_pg_call_wake(s);
    }
    PQfinish(pg);
    return NULL;
}

static enum store_rc pg_listen(struct store *st, void (*wake)(void *arg), void *arg)
{
    struct store_pg *s = (struct store_pg *)st;

    pthread_mutex_lock(&s->wake_lock);
    s->wake = wake;
    s->wake_arg = arg;
    pthread_mutex_unlock(&s->wake_lock);
    if (!wake || s->listening)
        return STORE_OK;
    if (pthread_create(&s->listener, NULL, store_pg_listener, s) != 0) {
        log_error("cannot start the database listener", NULL);
        return STORE_ERROR;
    }
    s->listening = true;
    return STORE_OK;
}

/* ---- open and close ------------------------------------------------------- */

static void pg_close(struct store *st)
{
    struct store_pg *s = (struct store_pg *)st;

    if (!s)
        return;
    if (s->listening) {
        atomic_store(&s->stopping, true);
        pthread_join(s->listener, NULL);
    }
    store_pool_destroy(&s->pool, pool_conn_close);
    pthread_mutex_destroy(&s->wake_lock);
    pthread_mutex_destroy(&s->lock);
    free(s->url);
    free(s);
}

enum store_rc store_pg_open(const char *url, struct store **out, char *err, size_t errlen)
{
    struct store_pg *s;
    struct store_pg_conn *c = NULL;
    enum store_rc ret = STORE_ERROR;

    *out = NULL;
    if (!PQisthreadsafe()) {
        snprintf(err, errlen, "libpq was built without thread support");
        return STORE_ERROR;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    s->base.driver = &store_pg_driver;
    atomic_init(&s->stopping, false);
    s->url = strdup(url);
    if (!s->url) {
        snprintf(err, errlen, "out of memory");
        goto fail_url;
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create mutex");
        goto fail_lock;
    }
    if (pthread_mutex_init(&s->wake_lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create mutex");
        goto fail_wake_lock;
    }
    ret = conn_open(s, &c, err, errlen);
    if (ret != STORE_OK)
        goto fail_conn;
    ret = store_pg_migrate(c, err, errlen);
    if (ret != STORE_OK)
        goto fail_migrate;
    if (store_pool_init(&s->pool, STORE_PG_POOL_MAX, &c->base) != 0) {
        snprintf(err, errlen, "cannot create mutex");
        ret = STORE_ERROR;
        goto fail_migrate;
    }
    *out = &s->base;
    return STORE_OK;

fail_migrate:
    conn_close(c);
fail_conn:
    pthread_mutex_destroy(&s->wake_lock);
fail_wake_lock:
    pthread_mutex_destroy(&s->lock);
fail_lock:
    free(s->url);
fail_url:
    free(s);
    return ret;
}

/* ---- the driver (store_driver.h) ------------------------------------------ */

static const char *const pg_sql[STORE_SQL_COUNT] = {
#define S(name, text) [STORE_SQL_##name] = text,
#define D(name, sqlite, pg) [STORE_SQL_##name] = pg,
    STORE_SQL_LIST(S, D)
#undef S
#undef D
};

static struct store_pg_conn *pg_conn(struct store_conn *c)
{
    return (struct store_pg_conn *)c;
}

/* Reads that need one view of several statements get a snapshot. */
static enum store_rc drv_begin(struct store_conn *c, enum store_txn txn)
{
    return store_pg_exec(pg_conn(c), txn == STORE_TXN_WRITE ? "BEGIN" :
                         "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin");
}

static enum store_rc drv_commit(struct store_conn *c)
{
    return store_pg_exec(pg_conn(c), "COMMIT", "commit");
}

static enum store_rc drv_notify(struct store_conn *c)
{
    return store_pg_exec(pg_conn(c), "NOTIFY " STORE_PG_CHANNEL, "notify");
}

/* Prepare statement id on c, its ?n parameters written $n. */
static enum store_rc prepare(struct store_pg_conn *c, enum store_sql id, const char *name)
{
    size_t len = strlen(pg_sql[id]);
    char *text = malloc(len + 1);
    PGresult *r;
    enum store_rc ret = STORE_OK;

    if (!text)
        return store_oom("prepare");
    for (size_t i = 0; i <= len; i++) {
        char ch = pg_sql[id][i];

        text[i] = ch == '?' && pg_sql[id][i + 1] >= '0' && pg_sql[id][i + 1] <= '9' ? '$' : ch;
    }
    /* Parameter types are left to the server, which infers them from the
     * statement; the SQL casts where that would be ambiguous. */
    r = PQprepare(c->pg, name, text, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        ret = store_pg_result_error(c, r, store_sql_name(id));
    else
        c->prep[id] = true;
    PQclear(r);
    free(text);
    return ret;
}

/* Text parameters, bytea binary; binary results (store_pg_col_int). */
static enum store_rc drv_run(struct store_conn *base, enum store_sql id,
                             const struct store_arg *args, size_t nargs, size_t *changes)
{
    struct store_pg_conn *c = pg_conn(base);
    struct store_pg_params p = {0};
    char name[16];
    PGresult *r;
    enum store_rc ret;

    PQclear(c->res);
    c->res = NULL;
    snprintf(name, sizeof name, "s%d", (int)id);
    if (!c->prep[id]) {
        ret = prepare(c, id, name);
        if (ret != STORE_OK)
            return ret;
    }
    assert(nargs <= STORE_PG_PARAMS_MAX);
    for (size_t i = 0; i < nargs; i++) {
        switch (args[i].type) {
        case STORE_ARG_NULL:
            store_pg_text(&p, NULL);
            break;
        case STORE_ARG_TEXT:
            store_pg_text(&p, args[i].text);
            break;
        case STORE_ARG_INT:
            store_pg_int(&p, args[i].i);
            break;
        case STORE_ARG_BLOB:
            /* An empty value is an empty bytea, not NULL. */
            store_pg_bytea(&p, args[i].len ? args[i].blob : "", args[i].len);
            break;
        }
    }
    r = PQexecPrepared(c->pg, name, p.n, p.vals, p.lens, p.fmts, 1);
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        break;
    default:
        ret = store_pg_result_error(c, r, store_sql_name(id));
        PQclear(r);
        return ret;
    }
    if (changes) {
        const char *t = PQcmdTuples(r);
        *changes = t && *t ? (size_t)strtoull(t, NULL, 10) : 0;
    }
    c->res = r;
    c->row = -1;
    return STORE_OK;
}

static enum store_rc drv_next(struct store_conn *base)
{
    struct store_pg_conn *c = pg_conn(base);

    if (!c->res || c->row + 1 >= PQntuples(c->res))
        return STORE_NOT_FOUND;
    c->row++;
    return STORE_OK;
}

static bool drv_col_null(struct store_conn *base, int col)
{
    struct store_pg_conn *c = pg_conn(base);

    return PQgetisnull(c->res, c->row, col);
}

static int64_t drv_col_int(struct store_conn *base, int col)
{
    struct store_pg_conn *c = pg_conn(base);

    return store_pg_col_int(c->res, c->row, col);
}

/* libpq ends every value with a NUL, binary ones too. */
static const char *drv_col_text(struct store_conn *base, int col, size_t *len)
{
    struct store_pg_conn *c = pg_conn(base);

    *len = 0;
    if (PQgetisnull(c->res, c->row, col))
        return NULL;
    *len = (size_t)PQgetlength(c->res, c->row, col);
    return PQgetvalue(c->res, c->row, col);
}

static const void *drv_col_blob(struct store_conn *c, int col, size_t *len)
{
    return drv_col_text(c, col, len);
}

static const struct store_driver store_pg_driver = {
    .name = "postgresql",
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
    .notify = drv_notify,
    .listen = pg_listen,
    .close = pg_close,
    .claim_leases = true,
    .batch_rows = true,
};
