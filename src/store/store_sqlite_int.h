/*
 * store_sqlite_int.h - what the files of the SQLite backend share: the
 * connection pool, the statement cache, the binding helpers and each file's
 * op functions (collected into store_sqlite_ops in store_sqlite.c). Nothing
 * outside src/store/store_sqlite*.c includes this.
 *
 *   store_sqlite.c           pool, migrations, meta, API keys, the ops table
 *   store_sqlite_webhooks.c  webhooks and their signing secrets
 *   store_sqlite_deliver.c   messages, deliveries, attempts, the delivery log
 *   store_sqlite_ops.c       long-running operations (store_operations.h)
 *   store_sqlite_keys.c      JWT signing keys (store_keys.h)
 */
#ifndef KABAR_STORE_SQLITE_INT_H
#define KABAR_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "store/store_sqlite_sql.h"
#include "store/store_keys.h"
#include "store/store_operations.h"

#define STORE_SQLITE_POOL_MAX 8
#define STORE_SQLITE_BUSY_MS 5000
/* Rows per webhook_list page are bound as an SQL integer; no caller needs
 * more than this in one call. */
#define STORE_SQLITE_LIST_MAX ((size_t)INT32_MAX - 1)
/* Deliveries leased by one claim at most. */
#define STORE_SQLITE_CLAIM_MAX ((size_t)1 << 16)

enum store_sql {
#define X(name, text) SQL_##name,
    STORE_SQL_MAP(X)
    STORE_SQL_OPERATIONS_MAP(X)
    STORE_SQL_KEYS_MAP(X)
#undef X
    SQL_COUNT
};

extern const char *const store_sqlite_sql_text[SQL_COUNT];

/* One SQLite connection with its statement cache. Used by one thread at a
 * time: between store_sqlite_conn_get and store_sqlite_conn_put it belongs
 * to the caller alone. */
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

/* One parameter of store_sqlite_write, made with the macros below. Text is
 * bound SQLITE_STATIC, as by store_sqlite_bind_text: it must live for the
 * call. */
enum store_sqlite_arg_type {
    STORE_SQLITE_ARG_TEXT,
    STORE_SQLITE_ARG_TEXT_OPT,          /* NULL or empty: SQL NULL */
    STORE_SQLITE_ARG_INT64,
};

struct store_sqlite_arg {
    enum store_sqlite_arg_type type;
    const char *text;
    int64_t int64;
};

#define STORE_SQLITE_TEXT(v) { .type = STORE_SQLITE_ARG_TEXT, .text = (v) }
#define STORE_SQLITE_TEXT_OPT(v) { .type = STORE_SQLITE_ARG_TEXT_OPT, .text = (v) }
#define STORE_SQLITE_INT64(v) { .type = STORE_SQLITE_ARG_INT64, .int64 = (v) }

/* What store_sqlite_write makes of a statement that changed no row. */
enum store_sqlite_none {
    STORE_SQLITE_NONE_OK,               /* commit, STORE_OK */
    STORE_SQLITE_NONE_NOT_FOUND,        /* roll back, STORE_NOT_FOUND */
};

/* Shared helpers (store_sqlite.c). */
int64_t store_sqlite_now_us(void);
enum store_rc store_sqlite_sql_error(struct store_conn *c, int rc, const char *op);
enum store_rc store_sqlite_row_error(const char *op, const char *what);
int store_sqlite_stmt_get(struct store_conn *c, enum store_sql id, sqlite3_stmt **q);
int store_sqlite_stmt_done(sqlite3_stmt *q);
int store_sqlite_stmt_exec(struct store_conn *c, enum store_sql id);
void store_sqlite_bind_text(sqlite3_stmt *q, int i, const char *v, int *rc);
void store_sqlite_bind_int64(sqlite3_stmt *q, int i, int64_t v, int *rc);
void store_sqlite_bind_blob(sqlite3_stmt *q, int i, const void *v, size_t len, int *rc);
void store_sqlite_bind_text_opt(sqlite3_stmt *q, int i, const char *v, int *rc);
int store_sqlite_col_text(sqlite3_stmt *q, int i, char *dst, size_t cap);
enum store_rc store_sqlite_conn_get(struct store_sqlite *s, struct store_conn **out);
void store_sqlite_conn_put(struct store_sqlite *s, struct store_conn *c);
enum store_rc store_sqlite_write(struct store_sqlite *s, enum store_sql id,
                                 const struct store_sqlite_arg *args, size_t nargs,
                                 enum store_sqlite_none none, size_t *changes, const char *op);

/* Webhooks and secrets (store_sqlite_webhooks.c). */
enum store_rc store_sqlite_webhook_create(struct store *st, const struct webhook *wh,
                                           const struct store_secret *secret);
enum store_rc store_sqlite_webhook_get(struct store *st, const char *project, const char *id,
                                        int64_t now_us, struct webhook *out);
enum store_rc store_sqlite_webhook_list(struct store *st, const char *project,
                                         const char *after_id, size_t limit, int64_t now_us,
                                         struct webhook *out, size_t *n, bool *more);
enum store_rc store_sqlite_webhook_update(struct store *st, const struct webhook *wh);
enum store_rc store_sqlite_webhook_delete(struct store *st, const char *project, const char *id);
enum store_rc store_sqlite_secret_rotate(struct store *st, const char *project,
                                          const char *webhook_id,
                                          const struct store_secret *secret,
                                          int64_t prev_expire_us, size_t max_live,
                                          int64_t now_us);
enum store_rc store_sqlite_secrets_live(struct store *st, const char *webhook_id,
                                         int64_t now_us, struct store_secret *out, size_t cap,
                                         size_t *n);

/* Messages and deliveries (store_sqlite_deliver.c). */
int store_sqlite_message_insert(struct store_conn *c, struct store_message *m,
                                int64_t idem_since_us);
enum store_rc store_sqlite_messages_insert(struct store *st, struct store_message *msgs,
                                            size_t n, int64_t idem_since_us);
enum store_rc store_sqlite_deliveries_claim(struct store *st, const char *owner, int64_t now_us,
                                             int64_t lease_until_us, size_t limit,
                                             size_t per_target, const char *const *busy,
                                             const size_t *inflight, size_t nbusy,
                                             struct store_job *out, size_t *n);
enum store_rc store_sqlite_attempts_record(struct store *st, const struct store_attempt *attempts,
                                            size_t n, int64_t now_us, int64_t disable_after_us);
enum store_rc store_sqlite_deliveries_pending_count(struct store *st, size_t *n);
enum store_rc store_sqlite_deliveries_next_due(struct store *st, int64_t *due_us);
enum store_rc store_sqlite_deliveries_list(struct store *st, const char *project,
                                            const char *webhook_id, int state,
                                            const char *before_id, size_t limit,
                                            struct store_delivery *out, size_t *n, bool *more);
enum store_rc store_sqlite_delivery_get(struct store *st, const char *project, const char *id,
                                         struct store_delivery *out,
                                         struct store_attempt_info *attempts, size_t cap,
                                         size_t *nattempts);
enum store_rc store_sqlite_delivery_retry(struct store *st, const char *project, const char *id,
                                           int64_t now_us);
enum store_rc store_sqlite_deliveries_release(struct store *st, const char *owner_prefix,
                                              size_t *n);
enum store_rc store_sqlite_webhook_recover(struct store *st, const char *project,
                                            const char *webhook_id, int64_t since_us,
                                            int64_t now_us, size_t *n);

/* The sub-tables of the other concepts. */
extern const struct store_operations_ops store_sqlite_operations_ops;
extern const struct store_keys_ops store_sqlite_keys_ops;

#endif
