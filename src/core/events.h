/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.h - the event catalog.
 *
 * Every event type kabar knows is one bit of a 32-bit mask; webhooks store
 * their subscriptions as such a mask so that fan-out is a single AND in the
 * store. The order of EVENTS_MAP is the order in which subscriptions are
 * shown, and must never be reordered (the bits are on disk).
 *
 * The kabar.* types are operator events: kabar emits them itself (a webhook
 * disabled or enabled, a delivery out of retries); webhooks subscribe to
 * them like to any other type, but no producer may publish them.
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
    X(VIDEO_GENERATED, 8, "video.generated")               \
    X(KABAR_WEBHOOK_DISABLED, 9, "kabar.webhook.disabled") \
    X(KABAR_WEBHOOK_ENABLED, 10, "kabar.webhook.enabled")  \
    X(KABAR_DELIVERY_EXHAUSTED, 11, "kabar.delivery.exhausted")

enum event_type {
#define X(name, bit, str) EVENT_##name = (bit),
    EVENTS_MAP(X)
#undef X
    EVENT_COUNT
};

#define EVENTS_ALL_MASK ((UINT32_C(1) << EVENT_COUNT) - 1)
/* The operator events (kabar.*), and every other type. */
#define EVENTS_OPERATOR_MASK                                                   \
    ((UINT32_C(1) << EVENT_KABAR_WEBHOOK_DISABLED) |                           \
     (UINT32_C(1) << EVENT_KABAR_WEBHOOK_ENABLED) |                            \
     (UINT32_C(1) << EVENT_KABAR_DELIVERY_EXHAUSTED))
#define EVENTS_JOB_MASK (EVENTS_ALL_MASK & ~EVENTS_OPERATOR_MASK)

/* The wire name of an event type, or NULL when out of range. */
const char *events_name(enum event_type type);

/* Whether type is one of kabar's own operator events (kabar.*). */
int events_is_operator(enum event_type type);

/* The event type of a wire name. Returns -1 when name is not in the catalog. */
int events_lookup(const char *name);

#endif
