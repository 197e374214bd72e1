/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_opevents.h - kabar's operator events, as the store emits them.
 *
 * kabar.webhook.disabled, kabar.webhook.enabled and kabar.delivery.exhausted
 * report state changes the store itself makes (a webhook disabled by its
 * failures or a 410, enabled again by an update, a delivery out of
 * retries). Each is inserted as a message, fanned out to the project's
 * webhooks subscribed to its type, in the SAME transaction as the state
 * change: a crash either keeps both or neither, so an operator can never
 * miss one. store_deliver.c and store_webhooks.c collect the facts; this
 * file turns them into a message with its envelope and inserts it.
 */
#ifndef KABAR_STORE_OPEVENTS_H
#define KABAR_STORE_OPEVENTS_H

#include <stdint.h>

#include "store/store.h"

/* A webhook the store has just disabled. */
struct store_opevent_disabled {
    const char *project;
    const char *webhook_id;
    const char *uri;
    bool gone;                      /* an HTTP 410; else failing for too long */
    int64_t failing_since_us;       /* the first failure without a success since */
    int64_t time_us;                /* when it was disabled */
    int last_status;                /* of the attempt that disabled it; 0: none */
    const char *last_error;         /* "" when the endpoint answered */
};

/* A delivery that has just run out of retries. */
struct store_opevent_exhausted {
    const char *project;
    const char *delivery_id;
    const char *event_id;           /* the message it delivered */
    const char *event_type;
    const char *webhook_id;         /* "" or NULL for a dynamic target */
    const char *target_uri;
    int attempts;
    int64_t time_us;
    int last_status;
    const char *last_error;
};

/* Fill msg (which the caller zeroed) with the event: a fresh id, the project,
 * the type and its mask, the envelope as payload (malloc'd: release it with
 * store_opevents_done) and create_time. Returns 0, or -1 when out of memory
 * or out of ids (nothing to release then). */
int store_opevents_webhook_disabled(const struct store_opevent_disabled *ev,
                                    struct store_message *msg);
int store_opevents_webhook_enabled(const char *project, const char *webhook_id,
                                   const char *uri, enum webhook_state previous,
                                   int64_t time_us, struct store_message *msg);
int store_opevents_delivery_exhausted(const struct store_opevent_exhausted *ev,
                                      struct store_message *msg);

/* Whether a delivery of an event of this type reports its exhaustion: not
 * for operator events themselves (an operator webhook that fails would
 * otherwise feed itself events forever) nor for pings. */
bool store_opevents_reports_exhaustion(const char *event_type);

/* Free the payload of a message filled by the functions above. */
void store_opevents_done(struct store_message *msg);

struct store_conn;

/* Insert msg, filled by one of the functions above (made: what it
 * returned), inside c's open write transaction and release its payload.
 * *emitted is set when it has deliveries (the caller then notifies). A
 * message that cannot be made or inserted fails the transaction: never a
 * state change without its event. */
enum store_rc store_opevents_insert(struct store_conn *c, struct store_message *msg, int made,
                                    bool *emitted);

#endif
