/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_health.c - GET /healthz: 200 when kabard can serve, 503 when its
 * database does not answer. Needs no key, so load balancers can call it.
 */
#include <jansson.h>

#include "api/api.h"
#include "api/api_error.h"
#include "store/store.h"

void api_health_get(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp)
{
    char val[STORE_META_MAX];
    enum store_rc rc = store_meta_get(ctx->store, "schema_check", val, sizeof(val));
    json_t *obj;

    if (rc != STORE_OK && rc != STORE_NOT_FOUND) {
        api_error(resp, API_UNAVAILABLE, "database unavailable");
        return;
    }
    obj = json_pack("{s:s}", "status", "ok");
    resp->status = 200;
    resp->body = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
}
