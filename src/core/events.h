/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.h - the event catalog.
 *
 * Every event type kabar knows is one bit of a 32-bit mask; webhooks store
 * their subscriptions as such a mask so that fan-out is a single AND in the
 * store. The order of EVENTS_MAP is the order in which subscriptions are
 * shown, and must never be reordered (the bits are on disk).
 */
#ifndef KABAR_EVENTS_H
#define KABAR_EVENTS_H

#include <stdint.h>

#define EVENTS_MAP(X)                                      \
    X(BATCH_SUCCEEDED, 0, "batch.succeeded")               \
    X(BATCH_CANCELLED, 1, "batch.cancelled")               \
    X(BATCH_EXPIRED, 2, "batch.expired")                   \
    X(BATCH_FAILED, 3, "batch.failed")                     \
    X(INTERACTION_REQUIRES_ACTION, 4, "interaction.requires_action") \
    X(INTERACTION_COMPLETED, 5, "interaction.completed")   \
    X(INTERACTION_FAILED, 6, "interaction.failed")         \
    X(INTERACTION_CANCELLED, 7, "interaction.cancelled")   \
    X(VIDEO_GENERATED, 8, "video.generated")

enum event_type {
#define X(name, bit, str) EVENT_##name = (bit),
    EVENTS_MAP(X)
#undef X
    EVENT_COUNT
};

#define EVENTS_ALL_MASK ((UINT32_C(1) << EVENT_COUNT) - 1)

/* The wire name of an event type, or NULL when out of range. */
const char *events_name(enum event_type type);

/* The event type of a wire name. Returns -1 when name is not in the catalog. */
int events_lookup(const char *name);

#endif
