/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_operations.h - long-running operations in the store (interactions,
 * batches, videos): the durable half of their state machine.
 *
 * The store keeps one row per operation and knows nothing of what the
 * states mean beyond what its queries need (which states are claimable or
 * due); the transitions allowed and the event each emits are decided above
 * it, in ops/ops_state.h. What it does guarantee is the atomicity that makes
 * events exactly-once: store_operation_transition() changes the state only
 * if it is still the one the caller saw (compare and set) and inserts the
 * transition's event in the same transaction, so a crash leaves either both
 * or neither.
 *
 * Request and result are JSON texts the store only keeps; webhook_config
 * is kept as JSON text too (webhook_config_dump) and handed back as the
 * struct (webhook_config_load).
 * store_operations.c implements it once over the driver (store_driver.h).
 */
#ifndef KABAR_STORE_OPERATIONS_H
#define KABAR_STORE_OPERATIONS_H

#include "store/store.h"

/* The states, as stored: the numbers are on disk and never change. */
#define STORE_OP_STATE_MAP(X)               \
    X(PENDING, 0)                           \
    X(RUNNING, 1)                           \
    X(SUCCEEDED, 2)                         \
    X(FAILED, 3)                            \
    X(CANCELLED, 4)                         \
    X(EXPIRED, 5)                           \
    X(REQUIRES_ACTION, 6)

enum store_op_state {
#define X(name, n) STORE_OP_##name = (n),
    STORE_OP_STATE_MAP(X)
#undef X
    STORE_OP_STATE_COUNT
};

#define STORE_OP_KIND_MAX 16        /* "interaction", "batch", "video" */
#define STORE_OP_MODEL_MAX 128
#define STORE_OP_OWNER_MAX 128      /* an external worker's name */
#define STORE_OP_TEXT_MAX (8 * 1024 * 1024)  /* request/result JSON, each */

/*
 * One operation. The two texts are malloc'd, NUL-terminated JSON (NULL:
 * none), webhook_config a malloc'd struct (NULL: none); a struct filled in
 * by the store owns them, and store_operation_clear() frees them. A struct
 * passed in is only read.
 */
struct store_operation {
    char id[IDS_MAX];
    char project[WEBHOOK_PROJECT_MAX + 1];
    char kind[STORE_OP_KIND_MAX];
    char model[STORE_OP_MODEL_MAX];
    enum store_op_state state;
    char *request;
    char *result;
    struct webhook_config *webhook_config;
    int64_t create_time_us;
    int64_t update_time_us;
    int64_t due_time_us;            /* when the simulator finishes it; 0: never */
    char lease_owner[STORE_OP_OWNER_MAX];   /* "" when not leased */
    int64_t lease_expire_time_us;
};

/* A compare-and-set state change: the operation (project, id) moves from
 * from_state (and, when owner is set, only if owner holds its lease) to
 * to_state. result, when not NULL, replaces the stored result. The lease is
 * cleared and due_time set to 0 (nothing more to simulate). */
struct store_op_transition {
    const char *project;
    const char *id;
    enum store_op_state from_state;
    const char *owner;              /* NULL: any */
    enum store_op_state to_state;
    const char *result;             /* NULL: keep */
    int64_t now_us;
};

/* One delivery of one event of an operation, as GET /v1/operations/{id}
 * shows it (so a caller can follow dynamic deliveries, which no webhook's
 * delivery log lists). */
struct store_op_delivery {
    char message_id[IDS_MAX];
    char type[STORE_TYPE_MAX];
    char delivery_id[IDS_MAX];
    char webhook_id[IDS_MAX];       /* "" for a dynamic target */
    char target_uri[WEBHOOK_URI_MAX + 1];
    enum store_delivery_state state;
    int attempts;
    int64_t create_time_us;
};

/* Free the texts and webhook_config of op and zero them (safe on a zeroed struct). */
void store_operation_clear(struct store_operation *op);
/* store_operation_clear on out[0..n). */
void store_operations_clear(struct store_operation *ops, size_t n);

/* Insert op (state, times and all). CONFLICT when the id exists. */
enum store_rc store_operation_create(struct store *st, const struct store_operation *op);
/* The operation id of project into out. NOT_FOUND when there is none. */
enum store_rc store_operation_get(struct store *st, const char *project, const char *id,
                                  struct store_operation *out);
/* Up to limit operations of project with id > after_id (NULL or "" for the
 * first page), in id order, into out[0..*n); kind NULL for every kind,
 * state -1 for every state. *more is set when more follow. */
enum store_rc store_operation_list(struct store *st, const char *project, const char *kind,
                                   int state, const char *after_id, size_t limit,
                                   struct store_operation *out, size_t *n, bool *more);
/* Delete the operation. NOT_FOUND when it does not exist. Its events and
 * their deliveries stay (the delivery log outlives the job). */
enum store_rc store_operation_delete(struct store *st, const char *project, const char *id);
/* Apply t and, when msg is not NULL, insert msg (an event, see struct
 * store_message) in the same transaction. NOT_FOUND when the operation does
 * not exist; CONFLICT when its state (or lease owner) is no longer what t
 * expects - then nothing is written. msg->rc etc. are filled in as by
 * store_messages_insert. */
enum store_rc store_operation_transition(struct store *st, const struct store_op_transition *t,
                                         struct store_message *msg);
/* Lease to owner until lease_until_us the oldest operation of project (one
 * of kinds[0..nkinds), or any kind when nkinds is 0) that is PENDING, or
 * RUNNING with a lease expired at now_us; it becomes RUNNING. NOT_FOUND when
 * there is none. */
enum store_rc store_operation_claim(struct store *st, const char *project,
                                    const char *const *kinds, size_t nkinds, const char *owner,
                                    int64_t now_us, int64_t lease_until_us,
                                    struct store_operation *out);
/* Extend the lease of a RUNNING operation held by owner. NOT_FOUND when it
 * does not exist; CONFLICT when it is not running or owner does not hold
 * it. */
enum store_rc store_operation_heartbeat(struct store *st, const char *project, const char *id,
                                        const char *owner, int64_t lease_until_us,
                                        int64_t now_us);
/* Up to limit PENDING operations (any project) with 0 < due_time <= now_us,
 * earliest first, into out[0..*n): work the simulator owes. */
enum store_rc store_operation_due(struct store *st, int64_t now_us, size_t limit,
                                  struct store_operation *out, size_t *n);
/* Up to limit operations (any project) of kind that are PENDING or RUNNING
 * and were created at or before created_before_us, oldest first: the ones
 * past their deadline. */
enum store_rc store_operation_stale(struct store *st, const char *kind,
                                    int64_t created_before_us, size_t limit,
                                    struct store_operation *out, size_t *n);
/* Up to cap deliveries of the events of operation id of project, oldest
 * first, into out[0..*n). */
enum store_rc store_operation_deliveries(struct store *st, const char *project, const char *id,
                                         struct store_op_delivery *out, size_t cap, size_t *n);

#endif
