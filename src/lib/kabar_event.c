/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_event.c - a verified event: its JSON text and the few members a
 * receiver routes on, read once when it is made so the accessors are plain
 * getters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/kabar_int.h"

struct kabar_event {
    char *json;             /* NUL-terminated */
    char *type;             /* NULL when there is none */
    char id[KABAR__ID_MAX + 1];
    int64_t timestamp;
    bool is_jwt;
};

json_t *kabar__json_parse(const char *text, size_t len)
{
    json_error_t err;
    size_t depth = 0, i;

    /* jansson's own cap on nesting is 2048; ours is lower, checked by a
     * scan that ignores brackets inside strings. */
    for (i = 0; i < len; i++) {
        if (text[i] == '"') {
            for (i++; i < len && text[i] != '"'; i++) {
                if (text[i] == '\\')
                    i++;
            }
        } else if (text[i] == '[' || text[i] == '{') {
            if (++depth > KABAR__JSON_DEPTH_MAX)
                return NULL;
        } else if ((text[i] == ']' || text[i] == '}') && depth > 0) {
            depth--;
        }
    }
    return json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
}

kabar_event *kabar__event_new(const char *id, int64_t ts, const char *json, size_t len,
                              bool is_jwt)
{
    kabar_event *e = calloc(1, sizeof(*e));
    json_t *root;

    if (e == NULL)
        return NULL;
    e->json = malloc(len + 1);
    if (e->json == NULL) {
        free(e);
        return NULL;
    }
    memcpy(e->json, json, len);
    e->json[len] = '\0';
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->timestamp = ts;
    e->is_jwt = is_jwt;
    root = kabar__json_parse(json, len);
    if (json_is_object(root) && json_is_string(json_object_get(root, "type"))) {
        e->type = strdup(json_string_value(json_object_get(root, "type")));
        if (e->type == NULL) {
            json_decref(root);
            kabar_event_free(e);
            return NULL;
        }
    }
    json_decref(root);
    return e;
}

const char *kabar_event_json(const kabar_event *event)
{
    return event != NULL ? event->json : NULL;
}

const char *kabar_event_type(const kabar_event *event)
{
    return event != NULL ? event->type : NULL;
}

const char *kabar_event_id(const kabar_event *event)
{
    return event != NULL ? event->id : NULL;
}

int64_t kabar_event_timestamp(const kabar_event *event)
{
    return event != NULL ? event->timestamp : 0;
}

int kabar_event_is_jwt(const kabar_event *event)
{
    return event != NULL && event->is_jwt;
}

void kabar_event_free(kabar_event *event)
{
    if (event == NULL)
        return;
    free(event->json);
    free(event->type);
    free(event);
}
