/* SPDX-License-Identifier: Apache-2.0 */
/*
 * webhook_config.c - the webhook_config struct and its stored JSON form
 * (see webhook_config.h).
 */
#include "core/webhook_config.h"

#include <stdlib.h>
#include <string.h>


struct webhook_config *webhook_config_new(void)
{
    return calloc(1, sizeof(struct webhook_config));
}

int webhook_config_add_uri(struct webhook_config *wc, const char *uri)
{
    if (wc->nuris == WEBHOOK_CONFIG_URIS_MAX)
        return -1;
    wc->uris[wc->nuris] = strdup(uri);
    if (wc->uris[wc->nuris] == NULL)
        return -1;
    wc->nuris++;
    return 0;
}

void webhook_config_free(struct webhook_config *wc)
{
    if (wc == NULL)
        return;
    for (size_t i = 0; i < wc->nuris; i++)
        free(wc->uris[i]);
    json_decref(wc->user_metadata);
    free(wc);
}

json_t *webhook_config_json(const struct webhook_config *wc)
{
    json_t *o = json_object(), *arr = json_array();

    if (o == NULL || arr == NULL) {
        json_decref(o);
        json_decref(arr);
        return NULL;
    }
    if (json_object_set_new(o, "uris", arr) != 0) {     /* arr is freed then */
        json_decref(o);
        return NULL;
    }
    for (size_t i = 0; i < wc->nuris; i++) {
        if (json_array_append_new(arr, json_string(wc->uris[i])) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    if (wc->user_metadata != NULL &&
        json_object_set(o, "user_metadata", wc->user_metadata) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *webhook_config_dump(const struct webhook_config *wc)
{
    json_t *o = webhook_config_json(wc);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(o);
    return text;
}

struct webhook_config *webhook_config_load(const char *text)
{
    json_t *o = json_loads(text, 0, NULL), *uris, *meta, *u;
    struct webhook_config *wc = webhook_config_new();
    size_t i;

    if (o == NULL || wc == NULL || !json_is_object(o))
        goto fail;
    uris = json_object_get(o, "uris");
    meta = json_object_get(o, "user_metadata");
    if ((uris != NULL && !json_is_array(uris)) ||
        json_array_size(uris) > WEBHOOK_CONFIG_URIS_MAX ||
        (meta != NULL && !json_is_object(meta)))
        goto fail;
    json_array_foreach(uris, i, u) {
        if (!json_is_string(u) || webhook_config_add_uri(wc, json_string_value(u)) != 0)
            goto fail;
    }
    if (meta != NULL)
        wc->user_metadata = json_incref(meta);
    json_decref(o);
    return wc;
fail:
    json_decref(o);
    webhook_config_free(wc);
    return NULL;
}
