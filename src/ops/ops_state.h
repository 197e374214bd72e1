/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_state.h - the operation model: the kinds of long-running operation,
 * their states, and the one table of allowed transitions with the catalog
 * event each emits.
 *
 * Every executor (ops_executor.h) and every API handler moves operations
 * only through transitions this table allows, so the state machine is the
 * same whoever does the work:
 *
 *   PENDING --claim--> RUNNING --(lease runs out: claimable again)
 *      |                  |
 *      +------------------+--> SUCCEEDED | FAILED | CANCELLED
 *                              | EXPIRED (batches) | REQUIRES_ACTION (interactions)
 *
 * The five states on the right are final. The states are store_operations.h's
 * durable numbers.
 */
#ifndef KABAR_OPS_STATE_H
#define KABAR_OPS_STATE_H

#include <stdbool.h>

#include "store/store_operations.h"

/* kind, wire name, id prefix */
#define OPS_KIND_MAP(X)                          \
    X(INTERACTION, "interaction", "int_")        \
    X(BATCH, "batch", "batch_")                  \
    X(VIDEO, "video", "vid_")

enum ops_kind {
#define X(name, str, prefix) OPS_KIND_##name,
    OPS_KIND_MAP(X)
#undef X
    OPS_KIND_COUNT
};

/* The wire name of a kind ("batch"), or NULL when out of range. */
const char *ops_kind_name(enum ops_kind kind);
/* The kind of a wire name; -1 when there is none. */
int ops_kind_lookup(const char *name);
/* The id prefix of a kind ("batch_"). */
const char *ops_kind_prefix(enum ops_kind kind);
/* The kind whose prefix id carries and that is a valid id; -1 otherwise. */
int ops_kind_of_id(const char *id);

/* The generic state name ("pending", "succeeded", ...), or NULL. */
const char *ops_state_name(enum store_op_state state);
/* The state of a generic name; -1 when there is none. */
int ops_state_lookup(const char *name);
/* The state as the kind's own resource spells it: an interaction's status
 * ("in_progress", "completed", ...) or a batch's state ("BATCH_STATE_…");
 * videos use the generic name. */
const char *ops_state_wire(enum ops_kind kind, enum store_op_state state);
bool ops_state_final(enum store_op_state state);

/* No event for a transition (a claim; a failed video: the catalog has no
 * video.failed). */
#define OPS_EVENT_NONE (-1)

/* Whether an operation of kind may move from one state to another. Returns
 * true and sets *event to the enum event_type it emits (or OPS_EVENT_NONE);
 * false when the table refuses it. */
bool ops_state_allowed(enum ops_kind kind, enum store_op_state from, enum store_op_state to,
                       int *event);

#endif
