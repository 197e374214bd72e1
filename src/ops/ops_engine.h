/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_engine.h - the operation engine: creates operations, moves them
 * through the transitions of ops_state.h with their events committed in the
 * same transaction, and runs one thread that expires overdue batches and
 * gives the executor (ops_executor.h) its ticks.
 *
 * Events: a transition's catalog event goes to the operation's
 * webhook_config uris when it has some (dynamic webhooks; user_metadata
 * rides along as a top-level envelope member), else to the project's
 * subscribed, enabled webhooks. It is committed with the state change
 * (store_operation_transition), so it is emitted exactly once: a crash
 * before the commit loses both, after it keeps both for the dispatcher.
 */
#ifndef KABAR_OPS_ENGINE_H
#define KABAR_OPS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ops/ops_executor.h"
#include "ops/ops_state.h"
#include "store/store_operations.h"

struct store;
struct dispatch;

#define OPS_DEFAULT_SIM_DELAY_MS 2000
#define OPS_DEFAULT_BATCH_EXPIRY_S 86400
#define OPS_URL_MAX 1100

struct ops_config {
    const struct ops_executor *executor;
    int64_t sim_delay_us;           /* KABAR_SIM_DELAY_MS */
    int64_t batch_expiry_us;        /* KABAR_BATCH_EXPIRY_S */
    const char *data_dir;           /* result files go to DATA_DIR/files */
    const char *public_url;         /* base of the output_file_uri */
};

struct ops_engine;

/* Start the engine's thread. st and d must outlive it; cfg's strings are
 * copied. Returns NULL with a message in err. */
struct ops_engine *ops_engine_start(struct store *st, struct dispatch *d,
                                    const struct ops_config *cfg, char *err, size_t errlen);
/* Stop the thread (a tick in progress finishes) and free eng. NULL is a
 * no-op. */
void ops_engine_stop(struct ops_engine *eng);

struct store *ops_engine_store(const struct ops_engine *eng);
const struct ops_executor *ops_engine_executor(const struct ops_engine *eng);
const char *ops_engine_data_dir(const struct ops_engine *eng);
int64_t ops_engine_sim_delay_us(const struct ops_engine *eng);

/* The download URL of result file name: PUBLIC_URL/v1/files/NAME:download?alt=media.
 * Returns 0, or -1 when it does not fit. */
int ops_engine_file_uri(const struct ops_engine *eng, const char *name, char *out, size_t cap);

/* Commit op as a new PENDING operation: sets its state, times and due time
 * (the executor's), then wakes the thread. op->id, project, kind, model,
 * request and webhook_config are the caller's. Returns the store's result. */
enum store_rc ops_engine_submit(struct ops_engine *eng, struct store_operation *op,
                                bool background);

/* Move op (as last read) to state to, if ops_state_allowed permits and op
 * is still in op->state (and, with owner, leased by owner); result (may be
 * NULL: keep) becomes its result and supplies the event's output_file_uri
 * ("file"), error_code and error_message. Emits the transition's event in
 * the same transaction and wakes the dispatcher. Returns STORE_OK;
 * STORE_CONFLICT when refused or when op moved meanwhile; other store
 * errors. */
enum store_rc ops_engine_finish(struct ops_engine *eng, const struct store_operation *op,
                                enum store_op_state to, const char *owner, json_t *result);

/* Cancel operation id of project from whatever non-final state it is in.
 * out (may be NULL) gets the operation afterwards (the caller clears it).
 * Returns STORE_OK, NOT_FOUND, CONFLICT (already final) or an error. */
enum store_rc ops_engine_cancel(struct ops_engine *eng, const char *project, const char *id,
                                struct store_operation *out);

/* Wait until operation id is final or timeout_us has passed; out gets it
 * as it is then (the caller clears it). */
enum store_rc ops_engine_wait(struct ops_engine *eng, const char *project, const char *id,
                              int64_t timeout_us, struct store_operation *out);

/* Wake the thread now (new work may be due). */
void ops_engine_wake(struct ops_engine *eng);

#endif
