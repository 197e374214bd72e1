/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_executor.h - who does the work of long-running operations.
 *
 * An executor is a table of functions (like the store's backends). The
 * engine (ops_engine.h) owns the state machine, the events and the thread;
 * an executor only decides when a new operation is due and does, on each
 * tick of the engine's thread, the work it owes. Both move operations only
 * through ops_engine_finish(), so every executor gets the same transitions,
 * the same events and the same expiry.
 *
 *   sim       finishes operations itself after KABAR_SIM_DELAY_MS with
 *             deterministic echo output; the model name steers the outcome
 *             (ops_sim.c).
 *   external  leaves operations to the user's own workers, which lease them
 *             with POST /v1/operations:claim and report :complete, :fail or
 *             :requireAction (ops_external.c, api_operations.c).
 */
#ifndef KABAR_OPS_EXECUTOR_H
#define KABAR_OPS_EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store_operations.h"

struct ops_engine;

struct ops_executor {
    const char *name;
    /* Operations wait for workers that claim them (the claim API is on). */
    bool workers;
    /* When a new operation op is due for tick (0: never, e.g. left to
     * workers). background is false for a call that waits for the result. */
    int64_t (*due_time)(const struct ops_engine *eng, const struct store_operation *op,
                        bool background, int64_t now_us);
    /* Called on the engine's thread at every tick: finish what is due. */
    void (*tick)(struct ops_engine *eng, int64_t now_us);
};

extern const struct ops_executor ops_executor_sim;
extern const struct ops_executor ops_executor_external;

/* The executor called name ("sim", "external"), or NULL. */
const struct ops_executor *ops_executor_lookup(const char *name);

/* The model names that steer the simulator (documented in docs/operations.md). */
#define OPS_SIM_MODEL_FAIL "kabar-sim-fail"
#define OPS_SIM_MODEL_REQUIRES_ACTION "kabar-sim-requires-action"
#define OPS_SIM_MODEL_NEVER "kabar-sim-never"

#endif
