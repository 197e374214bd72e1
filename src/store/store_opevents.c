/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_opevents.c - the messages of kabar's operator events (see
 * store_opevents.h): their data and envelope, and their insert in the
 * transaction of the state change they report.
 */
#include "store/store_opevents.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "core/envelope.h"
#include "core/events.h"
#include "store/store_messages.h"

/* Set "key": time as RFC 3339, when time is set. */
static void opevents_time(json_t *obj, const char *key, int64_t time_us)
{
    char ts[TIMEUTIL_RFC3339_MAX];

    if (time_us > 0 && timeutil_format(time_us, 1, ts, sizeof ts) == 0)
        json_object_set_new(obj, key, json_string(ts));
}

/* The outcome of the last attempt: its HTTP status when there was one, and
 * the error text (the transport's, or what the endpoint answered). */
static void opevents_last(json_t *obj, int status, const char *error)
{
    char why[STORE_ERROR_MAX + 32];

    if (status > 0)
        json_object_set_new(obj, "last_status", json_integer(status));
    if (error != NULL && error[0] != '\0')
        snprintf(why, sizeof why, "%s", error);
    else
        snprintf(why, sizeof why, "endpoint answered HTTP %d", status);
    json_object_set_new(obj, "last_error", json_string(why));
}

/* Make msg from type and data (whose reference it takes). */
static int opevents_message(enum event_type type, const char *project, int64_t time_us,
                            json_t *data, struct store_message *msg)
{
    size_t len = 0;
    char *payload = NULL;

    if (data != NULL && ids_new("msg_", msg->id, sizeof msg->id) == 0)
        payload = envelope_build(events_name(type), time_us, data, NULL, &len);
    json_decref(data);
    if (payload == NULL)
        return -1;
    snprintf(msg->project, sizeof msg->project, "%s", project);
    snprintf(msg->type, sizeof msg->type, "%s", events_name(type));
    msg->type_mask = UINT32_C(1) << type;
    msg->payload = (const uint8_t *)payload;
    msg->payload_len = len;
    msg->create_time_us = time_us;
    return 0;
}

int store_opevents_webhook_disabled(const struct store_opevent_disabled *ev,
                                    struct store_message *msg)
{
    json_t *data = json_pack("{s:s,s:s,s:s,s:s}", "webhook_id", ev->webhook_id, "uri", ev->uri,
                             "state", "disabled_due_to_failed_deliveries",
                             "reason", ev->gone ? "gone" : "failing");

    if (data == NULL)
        return -1;
    opevents_time(data, "failing_since", ev->failing_since_us);
    opevents_time(data, "disable_time", ev->time_us);
    opevents_last(data, ev->last_status, ev->last_error);
    return opevents_message(EVENT_KABAR_WEBHOOK_DISABLED, ev->project, ev->time_us, data, msg);
}

int store_opevents_webhook_enabled(const char *project, const char *webhook_id,
                                   const char *uri, enum webhook_state previous,
                                   int64_t time_us, struct store_message *msg)
{
    json_t *data = json_pack("{s:s,s:s,s:s}", "webhook_id", webhook_id, "uri", uri,
                             "previous_state", webhook_state_name(previous));

    return opevents_message(EVENT_KABAR_WEBHOOK_ENABLED, project, time_us, data, msg);
}

int store_opevents_delivery_exhausted(const struct store_opevent_exhausted *ev,
                                      struct store_message *msg)
{
    json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:i}", "delivery_id", ev->delivery_id,
                             "event_id", ev->event_id, "event_type", ev->event_type,
                             "uri", ev->target_uri, "attempts", ev->attempts);

    if (data == NULL)
        return -1;
    if (ev->webhook_id != NULL && ev->webhook_id[0] != '\0')
        json_object_set_new(data, "webhook_id", json_string(ev->webhook_id));
    opevents_last(data, ev->last_status, ev->last_error);
    return opevents_message(EVENT_KABAR_DELIVERY_EXHAUSTED, ev->project, ev->time_us, data, msg);
}

bool store_opevents_reports_exhaustion(const char *event_type)
{
    return strncmp(event_type, "kabar.", 6) != 0 && strcmp(event_type, "webhook.ping") != 0;
}

void store_opevents_done(struct store_message *msg)
{
    /* The payload opevents_message allocated: ours to free. */
    free((void *)(uintptr_t)msg->payload);
    msg->payload = NULL;
}

enum store_rc store_opevents_insert(struct store_conn *c, struct store_message *msg, int made,
                                    bool *emitted)
{
    enum store_rc ret;

    if (made != 0) {
        log_error("cannot make an operator event", "type=%s", msg->type);
        return STORE_ERROR;
    }
    ret = store_message_insert_in(c, msg, 0);
    if (ret == STORE_OK && msg->rc != STORE_OK)
        ret = msg->rc;
    if (ret == STORE_OK && msg->ndeliveries > 0)
        *emitted = true;
    store_opevents_done(msg);
    return ret;
}
