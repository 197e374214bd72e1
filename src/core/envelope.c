/* SPDX-License-Identifier: Apache-2.0 */
/*
 * envelope.c - build the thin event envelope (see envelope.h).
 */
#include <string.h>

#include "common/timeutil.h"
#include "core/envelope.h"

char *envelope_build(const char *type, int64_t time_us, json_t *data, json_t *user_metadata,
                     size_t *len)
{
    char ts[TIMEUTIL_RFC3339_MAX];
    json_t *env;
    char *out;

    if (timeutil_format(time_us, 0, ts, sizeof(ts)) != 0)
        return NULL;
    env = json_pack("{s:s,s:s,s:s,s:O}", "type", type, "version", ENVELOPE_VERSION,
                    "timestamp", ts, "data", data);
    if (env == NULL)
        return NULL;
    if (user_metadata && json_object_set(env, "user_metadata", user_metadata) != 0) {
        json_decref(env);
        return NULL;
    }
    out = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(env);
    if (out)
        *len = strlen(out);
    return out;
}
