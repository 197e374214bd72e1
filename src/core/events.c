/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.c - names of the event catalog.
 *
 * Both directions are generated from EVENTS_MAP so that adding an event is
 * a one-line change in events.h. The catalog is small enough that a linear
 * scan beats any table setup.
 */
#include "core/events.h"

#include <stddef.h>
#include <string.h>

static const char *const events_names[EVENT_COUNT] = {
#define X(name, bit, str) [EVENT_##name] = str,
    EVENTS_MAP(X)
#undef X
};

const char *events_name(enum event_type type)
{
    if ((unsigned)type >= EVENT_COUNT)
        return NULL;
    return events_names[type];
}

int events_is_operator(enum event_type type)
{
    return type == EVENT_KABAR_WEBHOOK_DISABLED || type == EVENT_KABAR_WEBHOOK_ENABLED ||
           type == EVENT_KABAR_DELIVERY_EXHAUSTED;
}

int events_lookup(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < EVENT_COUNT; i++) {
        if (events_names[i] != NULL && strcmp(events_names[i], name) == 0)
            return i;
    }
    return -1;
}
