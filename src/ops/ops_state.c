/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops_state.c - the transition table of long-running operations (see
 * ops_state.h). A transition not listed here is refused, whoever asks.
 */
#include <stddef.h>
#include <string.h>

#include "common/ids.h"
#include "core/events.h"
#include "ops/ops_state.h"

static const struct {
    const char *name;
    const char *prefix;
} ops_kinds[OPS_KIND_COUNT] = {
#define X(name, str, prefix) [OPS_KIND_##name] = {str, prefix},
    OPS_KIND_MAP(X)
#undef X
};

const char *ops_kind_name(enum ops_kind kind)
{
    return (unsigned)kind < OPS_KIND_COUNT ? ops_kinds[kind].name : NULL;
}

int ops_kind_lookup(const char *name)
{
    for (int i = 0; name && i < OPS_KIND_COUNT; i++)
        if (strcmp(name, ops_kinds[i].name) == 0)
            return i;
    return -1;
}

const char *ops_kind_prefix(enum ops_kind kind)
{
    return (unsigned)kind < OPS_KIND_COUNT ? ops_kinds[kind].prefix : NULL;
}

int ops_kind_of_id(const char *id)
{
    for (int i = 0; id && i < OPS_KIND_COUNT; i++)
        if (ids_valid(ops_kinds[i].prefix, id))
            return i;
    return -1;
}

/* generic name, interaction status, batch state */
static const char *const ops_state_names[STORE_OP_STATE_COUNT][3] = {
    [STORE_OP_PENDING] = {"pending", "in_progress", "BATCH_STATE_PENDING"},
    [STORE_OP_RUNNING] = {"running", "in_progress", "BATCH_STATE_RUNNING"},
    [STORE_OP_SUCCEEDED] = {"succeeded", "completed", "BATCH_STATE_SUCCEEDED"},
    [STORE_OP_FAILED] = {"failed", "failed", "BATCH_STATE_FAILED"},
    [STORE_OP_CANCELLED] = {"cancelled", "cancelled", "BATCH_STATE_CANCELLED"},
    [STORE_OP_EXPIRED] = {"expired", "expired", "BATCH_STATE_EXPIRED"},
    [STORE_OP_REQUIRES_ACTION] = {"requires_action", "requires_action", "BATCH_STATE_RUNNING"},
};

const char *ops_state_name(enum store_op_state state)
{
    return (unsigned)state < STORE_OP_STATE_COUNT ? ops_state_names[state][0] : NULL;
}

int ops_state_lookup(const char *name)
{
    for (int i = 0; name && i < STORE_OP_STATE_COUNT; i++)
        if (strcmp(name, ops_state_names[i][0]) == 0)
            return i;
    return -1;
}

const char *ops_state_wire(enum ops_kind kind, enum store_op_state state)
{
    if ((unsigned)state >= STORE_OP_STATE_COUNT)
        return NULL;
    switch (kind) {
    case OPS_KIND_INTERACTION:
        return ops_state_names[state][1];
    case OPS_KIND_BATCH:
        return ops_state_names[state][2];
    default:
        return ops_state_names[state][0];
    }
}

bool ops_state_final(enum store_op_state state)
{
    return state != STORE_OP_PENDING && state != STORE_OP_RUNNING;
}

#define LIVE ((1u << STORE_OP_PENDING) | (1u << STORE_OP_RUNNING))

/*
 * The table: for each kind, the states it may enter, from which states, and
 * the event that entering it emits. RUNNING -> RUNNING is a claim of an
 * operation whose worker's lease ran out.
 */
static const struct ops_rule {
    enum ops_kind kind;
    unsigned from;                  /* mask of enum store_op_state bits */
    enum store_op_state to;
    int event;
} ops_rules[] = {
    {OPS_KIND_INTERACTION, LIVE, STORE_OP_RUNNING, OPS_EVENT_NONE},
    {OPS_KIND_INTERACTION, LIVE, STORE_OP_SUCCEEDED, EVENT_INTERACTION_COMPLETED},
    {OPS_KIND_INTERACTION, LIVE, STORE_OP_FAILED, EVENT_INTERACTION_FAILED},
    {OPS_KIND_INTERACTION, LIVE, STORE_OP_CANCELLED, EVENT_INTERACTION_CANCELLED},
    {OPS_KIND_INTERACTION, LIVE, STORE_OP_REQUIRES_ACTION, EVENT_INTERACTION_REQUIRES_ACTION},
    {OPS_KIND_BATCH, LIVE, STORE_OP_RUNNING, OPS_EVENT_NONE},
    {OPS_KIND_BATCH, LIVE, STORE_OP_SUCCEEDED, EVENT_BATCH_SUCCEEDED},
    {OPS_KIND_BATCH, LIVE, STORE_OP_FAILED, EVENT_BATCH_FAILED},
    {OPS_KIND_BATCH, LIVE, STORE_OP_CANCELLED, EVENT_BATCH_CANCELLED},
    {OPS_KIND_BATCH, LIVE, STORE_OP_EXPIRED, EVENT_BATCH_EXPIRED},
    {OPS_KIND_VIDEO, LIVE, STORE_OP_RUNNING, OPS_EVENT_NONE},
    {OPS_KIND_VIDEO, LIVE, STORE_OP_SUCCEEDED, EVENT_VIDEO_GENERATED},
    {OPS_KIND_VIDEO, LIVE, STORE_OP_FAILED, OPS_EVENT_NONE},
    {OPS_KIND_VIDEO, LIVE, STORE_OP_CANCELLED, OPS_EVENT_NONE},
};

bool ops_state_allowed(enum ops_kind kind, enum store_op_state from, enum store_op_state to,
                       int *event)
{
    if ((unsigned)from >= STORE_OP_STATE_COUNT)
        return false;
    for (size_t i = 0; i < sizeof ops_rules / sizeof ops_rules[0]; i++) {
        const struct ops_rule *r = &ops_rules[i];

        if (r->kind == kind && r->to == to && (r->from & (1u << from))) {
            *event = r->event;
            return true;
        }
    }
    return false;
}
