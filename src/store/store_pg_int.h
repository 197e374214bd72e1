/*
 * store_pg_int.h - what the files of the PostgreSQL backend share: the
 * connection pool, prepared statements, parameter and column helpers, and
 * each file's op functions (collected into store_pg_ops in store_pg.c).
 * Nothing outside src/store/store_pg*.c includes this.
 *
 *   store_pg.c           pool, reconnects, migrations, meta, API keys,
 *                        LISTEN/NOTIFY, the ops table
 *   store_pg_webhooks.c  webhooks and their signing secrets
 *   store_pg_deliver.c   messages, deliveries, attempts, the delivery log
 *   store_pg_ops.c       long-running operations (store_operations.h)
 *   store_pg_keys.c      JWT signing keys (store_keys.h)
 *
 * Every statement is prepared once per connection and run with text
 * parameters (bytea ones binary) and binary results, so integers and blobs
 * come back without text conversions (store_pg_col_* read them).
 */
#ifndef KABAR_STORE_PG_INT_H
#define KABAR_STORE_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_keys.h"
#include "store/store_operations.h"
#include "store/store_pg_sql.h"

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
#define STORE_PG_LIST_MAX ((size_t)INT32_MAX - 1)
#define STORE_PG_CLAIM_MAX ((size_t)1 << 16)



/* The NOTIFY channel: deliveries may be due now. */
#define STORE_PG_CHANNEL "kabar_deliveries"

enum store_pg_sql {
#define X(name, text) PGSQL_##name,
    STORE_PG_SQL_MAP(X)
    STORE_PG_SQL_OPERATIONS_MAP(X)
    STORE_PG_SQL_KEYS_MAP(X)
#undef X
    PGSQL_COUNT
};

extern const char *const store_pg_sql_text[PGSQL_COUNT];

/* One server connection and which statements it has prepared. Between
 * store_pg_conn_get and store_pg_conn_put it belongs to one thread. */
struct store_pg_conn {
    PGconn *pg;
    bool prepared[PGSQL_COUNT];
};

struct store_pg {
    struct store base;                  /* first: struct store * converts back */
    char *url;
    pthread_mutex_t lock;               /* guards the pool and backoff fields */
    pthread_cond_t idle_cond;
    size_t nconns;                      /* open or being opened */
    size_t nidle;
    struct store_pg_conn *idle[STORE_PG_POOL_MAX];
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

/* Shared helpers (store_pg.c). */
int64_t store_pg_now_us(void);
void store_pg_text(struct store_pg_params *p, const char *v);     /* NULL: SQL NULL */
void store_pg_int(struct store_pg_params *p, int64_t v);
void store_pg_bytea(struct store_pg_params *p, const void *v, size_t len);
/* Run statement id with p (NULL: none). STORE_OK with *res (the caller's to
 * PQclear; res NULL: cleared here) or the mapped error, logged. *changed,
 * when not NULL, gets the rows a command touched. */
enum store_rc store_pg_run(struct store_pg_conn *c, enum store_pg_sql id,
                           const struct store_pg_params *p, PGresult **res, size_t *changed,
                           const char *op);
/* A plain command without parameters (BEGIN, COMMIT, NOTIFY ...). */
enum store_rc store_pg_exec(struct store_pg_conn *c, const char *sql, const char *op);
enum store_rc store_pg_begin(struct store_pg_conn *c, const char *op);
enum store_rc store_pg_commit(struct store_pg_conn *c, const char *op);
enum store_rc store_pg_row_error(const char *op, const char *what);
/* Columns of a binary-format result. text: -1 when NULL or too long;
 * text_opt: NULL reads as ""; int: NULL reads as 0; bytea: -1 when too
 * long. */
int store_pg_col_text(const PGresult *r, int row, int col, char *dst, size_t cap);
int store_pg_col_text_opt(const PGresult *r, int row, int col, char *dst, size_t cap);
int64_t store_pg_col_int(const PGresult *r, int row, int col);
int store_pg_col_bytea(const PGresult *r, int row, int col, uint8_t *dst, size_t cap,
                       size_t *len);
/* A malloc'd NUL-terminated copy of a text column, NULL for SQL NULL; *err
 * set when out of memory. */
char *store_pg_col_strdup(const PGresult *r, int row, int col, bool *err);
enum store_rc store_pg_conn_get(struct store_pg *s, struct store_pg_conn **out);
void store_pg_conn_put(struct store_pg *s, struct store_pg_conn *c);

/* Webhooks and secrets (store_pg_webhooks.c). */
enum store_rc store_pg_webhook_create(struct store *st, const struct webhook *wh,
                                      const struct store_secret *secret);
enum store_rc store_pg_webhook_get(struct store *st, const char *project, const char *id,
                                   int64_t now_us, struct webhook *out);
enum store_rc store_pg_webhook_list(struct store *st, const char *project,
                                    const char *after_id, size_t limit, int64_t now_us,
                                    struct webhook *out, size_t *n, bool *more);
enum store_rc store_pg_webhook_update(struct store *st, const struct webhook *wh);
enum store_rc store_pg_webhook_delete(struct store *st, const char *project, const char *id);
enum store_rc store_pg_secret_rotate(struct store *st, const char *project,
                                     const char *webhook_id, const struct store_secret *secret,
                                     int64_t prev_expire_us, size_t max_live, int64_t now_us);
enum store_rc store_pg_secrets_live(struct store *st, const char *webhook_id, int64_t now_us,
                                    struct store_secret *out, size_t cap, size_t *n);

/* Messages and deliveries (store_pg_deliver.c). */
enum store_rc store_pg_message_insert(struct store_pg_conn *c, struct store_message *m,
                                      int64_t idem_since_us);
enum store_rc store_pg_messages_insert(struct store *st, struct store_message *msgs, size_t n,
                                       int64_t idem_since_us);
enum store_rc store_pg_deliveries_claim(struct store *st, const char *owner, int64_t now_us,
                                        int64_t lease_until_us, size_t limit, size_t per_target,
                                        const char *const *busy, const size_t *inflight,
                                        size_t nbusy, struct store_job *out, size_t *n);
enum store_rc store_pg_attempts_record(struct store *st, const struct store_attempt *attempts,
                                       size_t n, int64_t now_us, int64_t disable_after_us);
enum store_rc store_pg_deliveries_pending_count(struct store *st, size_t *n);
enum store_rc store_pg_deliveries_next_due(struct store *st, int64_t *due_us);
enum store_rc store_pg_deliveries_list(struct store *st, const char *project,
                                       const char *webhook_id, int state, const char *before_id,
                                       size_t limit, struct store_delivery *out, size_t *n,
                                       bool *more);
enum store_rc store_pg_delivery_get(struct store *st, const char *project, const char *id,
                                    struct store_delivery *out,
                                    struct store_attempt_info *attempts, size_t cap,
                                    size_t *nattempts);
enum store_rc store_pg_delivery_retry(struct store *st, const char *project, const char *id,
                                      int64_t now_us);
enum store_rc store_pg_webhook_recover(struct store *st, const char *project,
                                       const char *webhook_id, int64_t since_us, int64_t now_us,
                                       size_t *n);
enum store_rc store_pg_deliveries_release(struct store *st, const char *owner_prefix,
                                          size_t *n);

/* The sub-tables of the other concepts. */
extern const struct store_operations_ops store_pg_operations_ops;
extern const struct store_keys_ops store_pg_keys_ops;

#endif
