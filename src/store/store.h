/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.h - the storage interface.
 *
 * Everything above this header talks to storage only through the store_*
 * functions below; which backend runs (embedded SQLite or PostgreSQL) is
 * decided once, by store_open(), from the database URL. Each concept is
 * written once, in SQL, over a thin driver that each backend implements
 * (store_driver.h); a backend's handle begins with a struct store.
 *
 * Threading: a struct store may be used from any number of threads at once;
 * each backend brings its own connection handling.
 *
 * Ownership: every struct passed in is only read during the call; every
 * struct filled in is the caller's (no pointers into backend memory).
 * Secret blobs are sealed by the caller (common/secretbox.h): the store never
 * sees a secret in clear.
 */
#ifndef KABAR_STORE_H
#define KABAR_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/secretbox.h"
#include "core/webhook.h"
#include "core/webhook_config.h"

#define STORE_ERRNO_MAP(X)                                              \
    X(OK, "ok")                                                         \
    X(NOT_FOUND, "not found")                                           \
    X(CONFLICT, "conflict")                                             \
    X(UNAVAILABLE, "database unavailable")                              \
    X(ERROR, "database error")

enum store_rc {
#define X(name, str) STORE_##name,
    STORE_ERRNO_MAP(X)
#undef X
};

const char *store_strerror(enum store_rc rc);

#define STORE_KEY_HASH_LEN 32
#define STORE_SECRET_BLOB_MAX (WHSEC_MAX + SECRETBOX_OVERHEAD)
#define STORE_META_MAX 512

/* A signing secret as stored: sealed, with its display form. */
struct store_secret {
    char id[IDS_MAX];
    uint8_t blob[STORE_SECRET_BLOB_MAX];
    size_t blob_len;
    char truncated[WHSEC_TRUNCATED_MAX];
    int64_t create_time_us;
    int64_t expire_time_us;         /* 0: does not expire */
};

enum store_key_source { STORE_KEY_GENERATED = 0, STORE_KEY_CONFIG = 1 };

/* An API key as stored: only its SHA-256. */
struct store_apikey {
    uint8_t hash[STORE_KEY_HASH_LEN];
    char project[WEBHOOK_PROJECT_MAX + 1];
    enum store_key_source source;
};


/* ---- messages and deliveries ---------------------------------------------- */

#define STORE_DELIVERY_STATE_MAP(X)     \
    X(PENDING, "pending")               \
    X(SUCCEEDED, "succeeded")           \
    X(FAILED, "failed")

enum store_delivery_state {
#define X(name, str) STORE_DELIVERY_##name,
    STORE_DELIVERY_STATE_MAP(X)
#undef X
    STORE_DELIVERY_STATE_COUNT
};

#define STORE_TYPE_MAX 64
#define STORE_IDEMPOTENCY_KEY_MAX 256
#define STORE_ERROR_MAX 256
#define STORE_EXCERPT_MAX 1024
#define STORE_URIS_MAX WEBHOOK_CONFIG_URIS_MAX

/*
 * One event to commit: the message (its exact envelope bytes) and its
 * deliveries. Targets, in order of precedence:
 *   - nuris > 0: one delivery per uri (dynamic webhooks; webhook_id NULL);
 *   - webhook_id set: one delivery to that webhook of project, if it exists
 *     (a ping); NOT_FOUND otherwise;
 *   - else: one delivery per webhook of project that is enabled and whose
 *     subscription mask has type_mask.
 * All deliveries are due at create_time_us.
 */
struct store_message {
    /* in */
    char id[IDS_MAX];
    char project[WEBHOOK_PROJECT_MAX + 1];
    char type[STORE_TYPE_MAX];
    uint32_t type_mask;             /* events.h bit of type; 0 for a ping */
    const uint8_t *payload;
    size_t payload_len;
    int64_t create_time_us;
    const char *idempotency_key;    /* NULL: none */
    const char *webhook_id;         /* ping target, or NULL */
    const char *operation_id;       /* NULL: none */
    const char *const *uris;
    size_t nuris;
    /* out */
    enum store_rc rc;               /* this message's result */
    bool duplicate;                 /* idempotency key seen: id is the earlier one */
    size_t ndeliveries;             /* deliveries created (0 on duplicate) */
};

/*
 * Deliveries queue per target: a webhook, or a dynamic target (one uri of
 * one project). A target's id is the webhook's id, or "project uri".
 */
#define STORE_TARGET_ID_MAX (WEBHOOK_PROJECT_MAX + 1 + WEBHOOK_URI_MAX + 1)

/* The target id of a delivery of project to webhook_id (NULL or "" for a
 * dynamic target) at uri, into out (STORE_TARGET_ID_MAX bytes). */
void store_target_id(const char *project, const char *webhook_id, const char *uri, char *out);

/* A delivery claimed for sending, with what is needed to send it. */
struct store_job {
    char id[IDS_MAX];
    char message_id[IDS_MAX];
    char project[WEBHOOK_PROJECT_MAX + 1];
    char webhook_id[IDS_MAX];       /* "" for a dynamic target */
    char target_uri[WEBHOOK_URI_MAX + 1];
    char operation_id[IDS_MAX];     /* "" when the event is not an operation's */
    int attempts;                   /* attempts made before this one */
    int64_t message_time_us;        /* the event's create time */
    uint8_t *payload;               /* malloc'd; the caller frees */
    size_t payload_len;
};

enum store_outcome {
    STORE_OUTCOME_SUCCEEDED,        /* 2xx */
    STORE_OUTCOME_RETRY,            /* failed; due again at next_due_us */
    STORE_OUTCOME_FAILED,           /* failed; out of time: no more retries */
    STORE_OUTCOME_GONE,             /* 410: failed, and the webhook is disabled */
    STORE_OUTCOME_RELEASED,         /* not attempted (shutdown): back to the queue */
};

/* The result of one attempt, to record. */
struct store_attempt {
    char id[IDS_MAX];
    char delivery_id[IDS_MAX];
    char webhook_id[IDS_MAX];       /* "" for a dynamic target */
    enum store_outcome outcome;
    int64_t time_us;                /* when the attempt started */
    int64_t latency_us;
    int response_status;            /* 0: no HTTP response */
    char error[STORE_ERROR_MAX];    /* why the exchange was not complete, or "" */
    uint8_t excerpt[STORE_EXCERPT_MAX];
    size_t excerpt_len;
    int64_t next_due_us;            /* STORE_OUTCOME_RETRY */
};

/* A delivery as the delivery log shows it. */
struct store_delivery {
    char id[IDS_MAX];
    char message_id[IDS_MAX];
    char webhook_id[IDS_MAX];
    char target_uri[WEBHOOK_URI_MAX + 1];
    char type[STORE_TYPE_MAX];
    enum store_delivery_state state;
    int attempts;
    int64_t create_time_us;
    int64_t due_time_us;            /* next attempt, when pending */
    int64_t last_attempt_time_us;
    int last_response_status;       /* of the newest attempt; 0: none or no response */
    /* delivery_get only: the event's exact bytes, malloc'd, the caller's to
     * free; NULL from the lists. */
    uint8_t *payload;
    size_t payload_len;
};

/* Response status classes a delivery search filters on: the newest
 * attempt's HTTP status / 100 (2..5), or NONE: attempted, but no HTTP
 * response came back (connection error, timeout). */
#define STORE_STATUS_CLASS_ANY 0
#define STORE_STATUS_CLASS_NONE 1

/* What a project-wide delivery search matches; each field's "any" value
 * leaves it out. */
struct store_delivery_filter {
    const char *project;            /* required */
    const char *webhook_id;         /* NULL or "": any; STORE_WEBHOOK_DYNAMIC: dynamic only */
    const char *tenant;             /* NULL or "": any; else that tenant's webhooks only */
    const char *type;               /* NULL or "": any */
    int state;                      /* -1: any */
    int status_class;               /* STORE_STATUS_CLASS_* or 2..5 */
    int64_t since_us;               /* created at or after; 0: no bound */
    int64_t until_us;               /* created before; 0: no bound */
};

/* One attempt, for the statistics of the web UI. */
struct store_attempt_sample {
    char webhook_id[IDS_MAX];       /* "" for a dynamic target */
    int64_t time_us;
    int64_t latency_us;
    int response_status;            /* 0: no HTTP response */
};

/* The webhook_id filter that matches deliveries to a job's own URIs. */
#define STORE_WEBHOOK_DYNAMIC "dynamic"

/* An attempt as the delivery log shows it. */
struct store_attempt_info {
    char id[IDS_MAX];
    int64_t time_us;
    int64_t latency_us;
    int response_status;
    char error[STORE_ERROR_MAX];
    uint8_t excerpt[STORE_EXCERPT_MAX];
    size_t excerpt_len;
};

struct store;
struct store_driver;

/* Every backend's handle begins with this. */
struct store {
    const struct store_driver *driver;  /* store_driver.h */
    /* Set when a statement or commit failed with STORE_UNAVAILABLE (disk
     * full, I/O error, database away), cleared when a commit succeeds. */
    _Atomic bool write_failing;
};

/* Open the store named by url: "sqlite:PATH" or a plain file path selects
 * the embedded SQLite backend, "postgres://..." or "postgresql://..." the
 * PostgreSQL one (store_pg.c; a libpq connection URI). Creates and migrates
 * the schema. On failure
 * returns an error code and a message in err; *out is left NULL. */
enum store_rc store_open(const char *url, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);

/* Whether the store is failing for want of a resource: true from a
 * statement or commit that failed with STORE_UNAVAILABLE (disk full, I/O
 * error, database away) until a transaction commits again. /readyz reports
 * it, and tries a small write then, so that the flag clears by itself. */
bool store_write_failing(struct store *st);

/* The backend's name ("sqlite", "postgresql"), for logs. */
const char *store_backend_name(const struct store *st);

/* Small named values (e.g. the master-key check). get: NOT_FOUND when unset;
 * the value is NUL-terminated and at most STORE_META_MAX-1 bytes. */
enum store_rc store_meta_get(struct store *st, const char *key, char *val, size_t cap);
enum store_rc store_meta_put(struct store *st, const char *key, const char *val);
/* ---- API keys (store_apikeys.c) ---- */

/* Replace every STORE_KEY_CONFIG key with keys[0..n) (all of source
 * STORE_KEY_CONFIG), in one transaction. */
enum store_rc store_apikeys_sync_config(struct store *st, const struct store_apikey *keys, size_t n);
enum store_rc store_apikey_insert(struct store *st, const struct store_apikey *key);
/* Number of keys of the given source. */
enum store_rc store_apikey_count(struct store *st, enum store_key_source source, size_t *n);
/* The project of the key with this hash; NOT_FOUND when there is none. */
enum store_rc store_apikey_lookup(struct store *st, const uint8_t *hash, char *project, size_t cap);
/* ---- webhooks and secrets (store_webhooks.c) ---- */

/* Insert wh and its first secret in one transaction. CONFLICT if the id
 * exists. wh->nsecrets and wh->secrets are ignored. */
enum store_rc store_webhook_create(struct store *st, const struct webhook *wh,
                                   const struct store_secret *secret);
/* Fill out with the webhook and its secrets that are live at now_us
 * (expire_time 0 or > now_us), newest first. NOT_FOUND when the id does not
 * exist in project. */
enum store_rc store_webhook_get(struct store *st, const char *project, const char *id,
                                int64_t now_us, struct webhook *out);
/* Up to limit webhooks of project (of that tenant only, unless tenant is
 * NULL or "") with id > after_id (after_id NULL or "" for the first page),
 * in id order, into out[0..*n). *more is set when further webhooks exist. */
enum store_rc store_webhook_list(struct store *st, const char *project, const char *tenant,
                                 const char *after_id,
                                 size_t limit, int64_t now_us, struct webhook *out,
                                 size_t *n, bool *more);
/* Write name, uri, events, state, tenant and update_time of wh (matched by
 * wh->project and wh->id). Changing the state to ENABLED from another state
 * also clears the failure record (failing_since), so a re-enabled webhook
 * gets a fresh window; and it emits kabar.webhook.enabled in the same
 * transaction (store_opevents.h). NOT_FOUND when it does not exist. */
enum store_rc store_webhook_update(struct store *st, const struct webhook *wh);
/* Delete the webhook, its secrets, and its deliveries with their attempts.
 * NOT_FOUND when it does not exist. */
enum store_rc store_webhook_delete(struct store *st, const char *project, const char *id);
/* In one transaction: give every secret of the webhook that is live at
 * now_us and expires later than prev_expire_us (or never) the expiry
 * prev_expire_us; insert secret; then, if more than max_live secrets are
 * live at now_us, expire the oldest of them at now_us. Also sets the
 * webhook's update_time to now_us. NOT_FOUND when the webhook does not exist
 * in project. */
enum store_rc store_secret_rotate(struct store *st, const char *project, const char *webhook_id,
                                  const struct store_secret *secret, int64_t prev_expire_us,
                                  size_t max_live, int64_t now_us);
/* The secrets of a webhook live at now_us, newest first, into out[0..*n)
 * (at most cap). */
enum store_rc store_secrets_live(struct store *st, const char *webhook_id, int64_t now_us,
                                 struct store_secret *out, size_t cap, size_t *n);

/* ---- messages and deliveries (store_deliver.c) ---- */

/* Commit msgs[0..n) in ONE transaction (group commit): for each, the
 * message row and its deliveries. A message whose idempotency key was
 * used in its project by a message created at or after idem_since_us is
 * not inserted: it gets duplicate = true and the earlier message's id.
 * Per-message failures (NOT_FOUND ping target) are in msgs[i].rc and do
 * not fail the others; the return value is for the transaction. */
enum store_rc store_messages_insert(struct store *st, struct store_message *msgs, size_t n,
                                    int64_t idem_since_us);
/* The fast path of store_messages_insert_fast: each new delivery whose
 * target uri reserve(arg, uri) accepts (a free slot of this process there)
 * is inserted leased to owner until lease_until_us, its target made due by
 * the lease's end only, and appended to jobs[0..n) (at most cap) with a
 * malloc'd copy of its payload, ready to send without a claim. The caller
 * owns the jobs and their reserved slots whatever the result: to send them
 * after STORE_OK, to give them back otherwise (nothing was committed). */
struct store_fast {
    const char *owner;
    int64_t lease_until_us;
    bool (*reserve)(void *arg, const char *uri);
    void (*unreserve)(void *arg, const char *uri);  /* a slot reserve gave */
    void *arg;
    struct store_job *jobs;
    size_t cap, n;
};
/* store_messages_insert, with the fast path when fast is not NULL. */
enum store_rc store_messages_insert_fast(struct store *st, struct store_message *msgs,
                                         size_t n, int64_t idem_since_us,
                                         struct store_fast *fast);
/* Lease up to limit due deliveries (state pending, due_time <= now_us,
 * lease_expire_time <= now_us, and for static ones a webhook that still
 * exists and is enabled - or, for a ping, exists in any state) to owner until lease_until_us, oldest due
 * first, into out[0..*n). Per target_uri at most per_target minus the
 * number already in flight there: busy[i] has inflight[i] in flight
 * (i < nbusy), so a target at its cap is skipped entirely and cannot
 * starve the others. */
enum store_rc store_deliveries_claim(struct store *st, const char *owner, int64_t now_us,
                                     int64_t lease_until_us, size_t limit, size_t per_target,
                                     const char *const *busy, const size_t *inflight,
                                     size_t nbusy, struct store_job *out, size_t *n);
/* Record attempts[0..n) in one transaction: insert each attempt (except
 * RELEASED), update its delivery (state, attempts, due time, lease
 * cleared) and, for static webhooks, the webhook's health: a success
 * sets last_success_time and clears failing_since; a failure sets
 * failing_since if unset, and a webhook whose failing_since is at least
 * disable_after_us old becomes DISABLED_DUE_TO_FAILED_DELIVERIES; GONE
 * disables it at once. In the same transaction, operator events
 * (store_opevents.h): kabar.webhook.disabled for each webhook disabled,
 * kabar.delivery.exhausted for each FAILED outcome. */
enum store_rc store_attempts_record(struct store *st, const struct store_attempt *attempts,
                                    size_t n, int64_t now_us, int64_t disable_after_us);
/* Pending deliveries not yet delivered (queue depth). */
enum store_rc store_deliveries_pending_count(struct store *st, size_t *n);
/* The earliest due_time of a pending, claimable delivery; NOT_FOUND when
 * none is pending. */
enum store_rc store_deliveries_next_due(struct store *st, int64_t *due_us);

/* The delivery log. list: deliveries of a webhook of project, newest
 * first, with id < before_id (NULL/"" for the first page), state
 * filter -1 for all. */
enum store_rc store_deliveries_list(struct store *st, const char *project,
                                    const char *webhook_id, int state, const char *before_id,
                                    size_t limit, struct store_delivery *out, size_t *n,
                                    bool *more);
/* The project-wide delivery log: deliveries matching f, newest first,
 * with id < before_id (NULL/"" for the first page). */
enum store_rc store_deliveries_search(struct store *st, const struct store_delivery_filter *f,
                                      const char *before_id, size_t limit,
                                      struct store_delivery *out, size_t *n, bool *more);
/* The attempts on project's deliveries made at or after since_us,
 * newest first, at most cap, into out[0..*n). */
enum store_rc store_attempts_since(struct store *st, const char *project, int64_t since_us,
                                   struct store_attempt_sample *out, size_t cap, size_t *n);
/* Pending deliveries of project (its queue depth). */
enum store_rc store_deliveries_pending_project(struct store *st, const char *project,
                                               size_t *n);
/* One delivery of project (with the event's payload, the caller's to free)
 * and up to cap of its attempts, oldest first. */
enum store_rc store_delivery_get(struct store *st, const char *project, const char *id,
                                 struct store_delivery *out, struct store_attempt_info *attempts,
                                 size_t cap, size_t *nattempts);
/* Make a delivery of project pending and due at now_us (a manual retry).
 * NOT_FOUND when it does not exist; CONFLICT when it is pending. */
enum store_rc store_delivery_retry(struct store *st, const char *project, const char *id,
                                   int64_t now_us);
/* Make every failed delivery of the webhook created at or after
 * since_us pending and due at now_us; *n says how many. NOT_FOUND when
 * the webhook does not exist in project. */
enum store_rc store_webhook_recover(struct store *st, const char *project,
                                    const char *webhook_id, int64_t since_us, int64_t now_us,
                                    size_t *n);
/* Clear the leases of pending deliveries whose lease_owner starts with
 * owner_prefix (a restarted process releasing what its previous life
 * held, so it is sent again now rather than when the leases expire);
 * *n says how many. */
enum store_rc store_deliveries_release(struct store *st, const char *owner_prefix, size_t *n);
const char *store_delivery_state_name(enum store_delivery_state state);
/*
 * Several processes on one database. Call wake(arg), from a thread of the
 * backend, whenever any process (this one included) has committed
 * deliveries that are due now - new events, retries, recoveries, released
 * leases - so that delivery threads everywhere claim at once instead of at
 * their next poll. Also called after the backend lost and regained its
 * listening connection, since wake-ups may have been missed meanwhile.
 * Calling listen again replaces wake; wake NULL stops the calls (when it
 * returns, wake is not running and will not be called again), so the caller
 * may then free arg. The listener itself ends at close. STORE_OK doing
 * nothing on a backend that one process has to itself (SQLite).
 */
enum store_rc store_listen(struct store *st, void (*wake)(void *arg), void *arg);

#endif
