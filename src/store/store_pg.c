/*
 * store_pg.c - the PostgreSQL backend of store.h, for several kabard
 * processes (on several machines) sharing one database.
 *
 * A struct store keeps a small pool of libpq connections (opened lazily, up
 * to STORE_PG_POOL_MAX), each used by one thread at a time and each with its
 * own prepared statements. Nothing is kept in the process that another
 * process needs: deliveries are leased in the database (see the claim in
 * store_pg_sql.h), so any process may claim, deliver and record any of them.
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

#include "common/log.h"
#include "store/store_pg_int.h"

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
    /* 3: per-target queues, as in store_sqlite.c's migration 3. */
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
    "CREATE FUNCTION kabar_webhook_target() RETURNS trigger LANGUAGE plpgsql AS $f$"
    "BEGIN"
    "  IF TG_OP = 'DELETE' THEN"
    "    DELETE FROM targets WHERE id = OLD.id;"
    "  ELSIF NEW.state = 0 THEN"
    "    UPDATE targets SET next_due = coalesce((SELECT min(due_time) FROM deliveries"
    "      WHERE target_id = NEW.id AND state = 0), 9223372036854775807) WHERE id = NEW.id;"
    "  ELSE"
    "    UPDATE targets SET next_due = 9223372036854775807 WHERE id = NEW.id;"
    "  END IF;"
    "  RETURN NULL;"
    "END $f$;"
    "CREATE TRIGGER webhooks_target AFTER UPDATE OF state, uri ON webhooks FOR EACH ROW"
    "  WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.uri IS DISTINCT FROM NEW.uri)"
    "  EXECUTE FUNCTION kabar_webhook_target();"
    "CREATE TRIGGER webhooks_drop_target AFTER DELETE ON webhooks FOR EACH ROW"
    "  EXECUTE FUNCTION kabar_webhook_target();",
};

#define STORE_PG_SCHEMA_VERSION \
    ((int)(sizeof store_pg_migrations / sizeof store_pg_migrations[0]))

/* The advisory lock of the migration, and of the few writes that must not
 * run twice at once across processes (see the callers), per schema so that
 * tests on separate schemas of one database do not wait for each other. */
#define STORE_PG_LOCK_MIGRATE "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 1)"
#define STORE_PG_LOCK_APIKEYS "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 2)"

const char *const store_pg_sql_text[PGSQL_COUNT] = {
#define X(name, text) [PGSQL_##name] = text,
    STORE_PG_SQL_MAP(X)
    STORE_PG_SQL_OPERATIONS_MAP(X)
    STORE_PG_SQL_KEYS_MAP(X)
#undef X
};

int64_t store_pg_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t store_pg_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- parameters and columns ----------------------------------------------- */

void store_pg_text(struct store_pg_params *p, const char *v)
{
    assert(p->n < STORE_PG_PARAMS_MAX);
    p->vals[p->n] = v;
    p->lens[p->n] = 0;
    p->fmts[p->n] = 0;
    p->n++;
}

void store_pg_int(struct store_pg_params *p, int64_t v)
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
void store_pg_bytea(struct store_pg_params *p, const void *v, size_t len)
{
    assert(p->n < STORE_PG_PARAMS_MAX);
    assert(len <= INT_MAX);
    p->vals[p->n] = v;
    p->lens[p->n] = (int)len;
    p->fmts[p->n] = 1;
    p->n++;
}

/* Read a binary integer column of any width (int2, int4, int8, bool). */
int64_t store_pg_col_int(const PGresult *r, int row, int col)
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

int store_pg_col_text(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    int len;

    if (PQgetisnull(r, row, col))
        return -1;
    len = PQgetlength(r, row, col);
    if (len < 0 || (size_t)len >= cap)
        return -1;
    memcpy(dst, PQgetvalue(r, row, col), (size_t)len);
    dst[len] = '\0';
    return 0;
}

int store_pg_col_text_opt(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    if (PQgetisnull(r, row, col)) {
        dst[0] = '\0';
        return 0;
    }
    return store_pg_col_text(r, row, col, dst, cap);
}

int store_pg_col_bytea(const PGresult *r, int row, int col, uint8_t *dst, size_t cap,
                       size_t *len)
{
    int n = PQgetisnull(r, row, col) ? 0 : PQgetlength(r, row, col);

    if (n < 0 || (size_t)n > cap)
        return -1;
    if (n > 0)
        memcpy(dst, PQgetvalue(r, row, col), (size_t)n);
    *len = (size_t)n;
    return 0;
}

char *store_pg_col_strdup(const PGresult *r, int row, int col, bool *err)
{
    char *s;
    int len;

    if (PQgetisnull(r, row, col))
        return NULL;
    len = PQgetlength(r, row, col);
    s = malloc((size_t)len + 1);
    if (!s) {
        *err = true;
        return NULL;
    }
    memcpy(s, PQgetvalue(r, row, col), (size_t)len);
    s[len] = '\0';
    return s;
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

enum store_rc store_pg_row_error(const char *op, const char *what)
{
    log_error("database row out of range", "op=%s field=%s", op, what);
    return STORE_ERROR;
}

/* ---- running statements --------------------------------------------------- */

enum store_rc store_pg_run(struct store_pg_conn *c, enum store_pg_sql id,
                           const struct store_pg_params *p, PGresult **res, size_t *changed,
                           const char *op)
{
    char name[16];
    PGresult *r;
    enum store_rc ret;

    if (res)
        *res = NULL;
    snprintf(name, sizeof name, "k%d", (int)id);
    if (!c->prepared[id]) {
        /* Parameter types are left to the server, which infers them from
         * the statement; the SQL casts where that would be ambiguous. */
        r = PQprepare(c->pg, name, store_pg_sql_text[id], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            ret = store_pg_result_error(c, r, op);
            PQclear(r);
            return ret;
        }
        PQclear(r);
        c->prepared[id] = true;
    }
    r = PQexecPrepared(c->pg, name, p ? p->n : 0, p ? p->vals : NULL, p ? p->lens : NULL,
                       p ? p->fmts : NULL, 1);
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        break;
    default:
        ret = store_pg_result_error(c, r, op);
        PQclear(r);
        return ret;
    }
    if (changed) {
        const char *t = PQcmdTuples(r);
        *changed = t && *t ? (size_t)strtoull(t, NULL, 10) : 0;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return STORE_OK;
}

enum store_rc store_pg_exec(struct store_pg_conn *c, const char *sql, const char *op)
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

enum store_rc store_pg_begin(struct store_pg_conn *c, const char *op)
{
    return store_pg_exec(c, "BEGIN", op);
}

enum store_rc store_pg_commit(struct store_pg_conn *c, const char *op)
{
    return store_pg_exec(c, "COMMIT", op);
}

/* ---- connections ---------------------------------------------------------- */

static void conn_close(struct store_pg_conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    free(c);
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

static enum store_rc conn_open(const char *url, struct store_pg_conn **out, char *err,
                               size_t errlen)
{
    struct store_pg_conn *c = calloc(1, sizeof *c);

    *out = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    c->pg = store_pg_connect(url, err, errlen);
    if (!c->pg) {
        free(c);
        return STORE_UNAVAILABLE;
    }
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
enum store_rc store_pg_conn_get(struct store_pg *s, struct store_pg_conn **out)
{
    struct store_pg_conn *c = NULL;
    char err[320];
    enum store_rc ret;
    int64_t now;

    *out = NULL;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (s->nidle == 0 && s->nconns >= STORE_PG_POOL_MAX)
            pthread_cond_wait(&s->idle_cond, &s->lock);
        if (s->nidle > 0) {
            c = s->idle[--s->nidle];
            pthread_mutex_unlock(&s->lock);
            if (conn_alive(c)) {
                *out = c;
                return STORE_OK;
            }
            log_warn("database connection lost; reconnecting", NULL);
            conn_close(c);
            c = NULL;
            pthread_mutex_lock(&s->lock);
            s->nconns--;
            pthread_cond_signal(&s->idle_cond);
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        now = store_pg_mono_us();
        if (now < s->retry_at_mono_us) {
            pthread_mutex_unlock(&s->lock);
            return STORE_UNAVAILABLE;
        }
        s->nconns++;            /* reserve the slot; connect outside the lock */
        pthread_mutex_unlock(&s->lock);
        break;
    }

    ret = conn_open(s->url, &c, err, sizeof err);
    pthread_mutex_lock(&s->lock);
    if (ret != STORE_OK) {
        s->nconns--;
        s->backoff_us = s->backoff_us ? s->backoff_us * 2 : STORE_PG_BACKOFF_MIN_US;
        if (s->backoff_us > STORE_PG_BACKOFF_MAX_US)
            s->backoff_us = STORE_PG_BACKOFF_MAX_US;
        s->retry_at_mono_us = store_pg_mono_us() + s->backoff_us;
        pthread_cond_signal(&s->idle_cond);
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
    *out = c;
    return STORE_OK;
}

/* Give c back to the pool. This is every op's single exit: it rolls back a
 * transaction an error path left open, and drops a connection that broke,
 * so no op needs its own cleanup for those. */
void store_pg_conn_put(struct store_pg *s, struct store_pg_conn *c)
{
    bool broken = PQstatus(c->pg) != CONNECTION_OK;

    if (!broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            broken = true;
        PQclear(r);
    }
    if (!broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        broken = true;

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

/* ---- migrations ----------------------------------------------------------- */

static enum store_rc store_pg_migrate(struct store_pg_conn *c, char *err, size_t errlen)
{
    PGresult *r = NULL;
    enum store_rc ret;
    int version;
    char sql[128];

    ret = store_pg_begin(c, __func__);
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
                 v, store_pg_now_us());
        ret = store_pg_exec(c, sql, __func__);
        if (ret != STORE_OK)
            goto fail;
        log_info("database schema migrated", "version=%d", v);
    }
    ret = store_pg_commit(c, __func__);
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
    /* Closing while another thread is inside an op is a caller bug. */
    assert(s->nidle == s->nconns);
    for (size_t i = 0; i < s->nidle; i++)
        conn_close(s->idle[i]);
    pthread_mutex_destroy(&s->wake_lock);
    pthread_cond_destroy(&s->idle_cond);
    pthread_mutex_destroy(&s->lock);
    free(s->url);
    free(s);
}

static enum store_rc pg_open(const char *url, struct store **out, char *err, size_t errlen)
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
    s->base.ops = &store_pg_ops;
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
    if (pthread_cond_init(&s->idle_cond, NULL) != 0) {
        snprintf(err, errlen, "cannot create condition variable");
        goto fail_cond;
    }
    if (pthread_mutex_init(&s->wake_lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create mutex");
        goto fail_wake_lock;
    }
    ret = conn_open(s->url, &c, err, errlen);
    if (ret != STORE_OK)
        goto fail_conn;
    ret = store_pg_migrate(c, err, errlen);
    if (ret != STORE_OK)
        goto fail_migrate;
    s->idle[0] = c;
    s->nidle = 1;
    s->nconns = 1;
    *out = &s->base;
    return STORE_OK;

fail_migrate:
    conn_close(c);
fail_conn:
    pthread_mutex_destroy(&s->wake_lock);
fail_wake_lock:
    pthread_cond_destroy(&s->idle_cond);
fail_cond:
    pthread_mutex_destroy(&s->lock);
fail_lock:
    free(s->url);
fail_url:
    free(s);
    return ret;
}

/* ---- meta ----------------------------------------------------------------- */

static enum store_rc pg_meta_get(struct store *st, const char *key, char *val, size_t cap)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, key);
    ret = store_pg_run(c, PGSQL_META_GET, &p, &r, NULL, __func__);
    if (ret == STORE_OK) {
        if (PQntuples(r) == 0)
            ret = STORE_NOT_FOUND;
        else if (store_pg_col_text(r, 0, 0, val, cap) != 0)
            ret = store_pg_row_error(__func__, "value");
        PQclear(r);
    }
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_meta_put(struct store *st, const char *key, const char *val)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    enum store_rc ret;

    if (strlen(val) >= STORE_META_MAX) {
        log_error("meta value too long", "key=%s", key);
        return STORE_ERROR;
    }
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_text(&p, key);
    store_pg_text(&p, val);
    ret = store_pg_run(c, PGSQL_META_PUT, &p, NULL, NULL, __func__);
    store_pg_conn_put(s, c);
    return ret;
}

/* ---- API keys ------------------------------------------------------------- */

static enum store_rc apikey_write(struct store_pg_conn *c, enum store_pg_sql id,
                                  const struct store_apikey *key, int64_t now_us)
{
    struct store_pg_params p = {0};
    enum store_rc ret;

    store_pg_text(&p, key->project);
    store_pg_int(&p, now_us);
    ret = store_pg_run(c, PGSQL_PROJECT_ENSURE, &p, NULL, NULL, "apikey_write");
    if (ret != STORE_OK)
        return ret;
    memset(&p, 0, sizeof p);
    store_pg_bytea(&p, key->hash, STORE_KEY_HASH_LEN);
    store_pg_text(&p, key->project);
    store_pg_int(&p, key->source);
    store_pg_int(&p, now_us);
    return store_pg_run(c, id, &p, NULL, NULL, "apikey_write");
}

static enum store_rc pg_apikeys_sync_config(struct store *st, const struct store_apikey *keys,
                                            size_t n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    int64_t now_us = store_pg_now_us();
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_begin(c, __func__);
    /* Several processes starting at once each replace the configured keys;
     * one at a time, or their deletes and upserts could deadlock. */
    if (ret == STORE_OK)
        ret = store_pg_exec(c, STORE_PG_LOCK_APIKEYS, __func__);
    store_pg_int(&p, STORE_KEY_CONFIG);
    if (ret == STORE_OK)
        ret = store_pg_run(c, PGSQL_APIKEY_DELETE_SOURCE, &p, NULL, NULL, __func__);
    for (size_t i = 0; i < n && ret == STORE_OK; i++) {
        assert(keys[i].source == STORE_KEY_CONFIG);
        ret = apikey_write(c, PGSQL_APIKEY_UPSERT, &keys[i], now_us);
    }
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_apikey_insert(struct store *st, const struct store_apikey *key)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_conn *c;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    ret = store_pg_begin(c, __func__);
    if (ret == STORE_OK)
        ret = apikey_write(c, PGSQL_APIKEY_INSERT, key, store_pg_now_us());
    if (ret == STORE_OK)
        ret = store_pg_commit(c, __func__);
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_apikey_count(struct store *st, enum store_key_source source, size_t *n)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r;
    enum store_rc ret;

    *n = 0;
    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_int(&p, source);
    ret = store_pg_run(c, PGSQL_APIKEY_COUNT, &p, &r, NULL, __func__);
    if (ret == STORE_OK) {
        *n = (size_t)store_pg_col_int(r, 0, 0);
        PQclear(r);
    }
    store_pg_conn_put(s, c);
    return ret;
}

static enum store_rc pg_apikey_lookup(struct store *st, const uint8_t *hash, char *project,
                                      size_t cap)
{
    struct store_pg *s = (struct store_pg *)st;
    struct store_pg_params p = {0};
    struct store_pg_conn *c;
    PGresult *r;
    enum store_rc ret;

    ret = store_pg_conn_get(s, &c);
    if (ret != STORE_OK)
        return ret;
    store_pg_bytea(&p, hash, STORE_KEY_HASH_LEN);
    ret = store_pg_run(c, PGSQL_APIKEY_LOOKUP, &p, &r, NULL, __func__);
    if (ret == STORE_OK) {
        if (PQntuples(r) == 0)
            ret = STORE_NOT_FOUND;
        else if (store_pg_col_text(r, 0, 0, project, cap) != 0)
            ret = store_pg_row_error(__func__, "project");
        PQclear(r);
    }
    store_pg_conn_put(s, c);
    return ret;
}

const struct store_ops store_pg_ops = {
    .version = STORE_OPS_VERSION,
    .name = "postgres",
    .operations = &store_pg_operations_ops,
    .keys = &store_pg_keys_ops,
    .open = pg_open,
    .close = pg_close,
    .meta_get = pg_meta_get,
    .meta_put = pg_meta_put,
    .apikeys_sync_config = pg_apikeys_sync_config,
    .apikey_insert = pg_apikey_insert,
    .apikey_count = pg_apikey_count,
    .apikey_lookup = pg_apikey_lookup,
    .webhook_create = store_pg_webhook_create,
    .webhook_get = store_pg_webhook_get,
    .webhook_list = store_pg_webhook_list,
    .webhook_update = store_pg_webhook_update,
    .webhook_delete = store_pg_webhook_delete,
    .secret_rotate = store_pg_secret_rotate,
    .secrets_live = store_pg_secrets_live,
    .messages_insert = store_pg_messages_insert,
    .deliveries_claim = store_pg_deliveries_claim,
    .attempts_record = store_pg_attempts_record,
    .deliveries_pending_count = store_pg_deliveries_pending_count,
    .deliveries_next_due = store_pg_deliveries_next_due,
    .deliveries_list = store_pg_deliveries_list,
    .delivery_get = store_pg_delivery_get,
    .delivery_retry = store_pg_delivery_retry,
    .webhook_recover = store_pg_webhook_recover,
    .deliveries_release = store_pg_deliveries_release,
    .listen = pg_listen,
};
