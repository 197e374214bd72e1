/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_health.c - the probes. Neither needs a key, so that load balancers,
 * orchestrators and systemd units can call them:
 *
 *   GET /healthz  liveness: the process answers HTTP. It touches nothing
 *                 else, so a database outage never gets a healthy process
 *                 restarted (restarting would not bring the database back).
 *   GET /readyz   readiness: the store answers a query on the migrated
 *                 schema, and - in processes that deliver - the delivery
 *                 thread is running. 503 with the failing check otherwise,
 *                 so a load balancer sends traffic elsewhere meanwhile.
 */
#include <jansson.h>

#include "api/api.h"
#include "api/api_json.h"
#include "deliver/dispatch.h"
#include "store/store.h"

void api_health_get(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp)
{
    api_reply(resp, json_pack("{s:s}", "status", "ok"));
}

void api_ready_get(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp)
{
    char val[STORE_META_MAX];
    /* The meta table exists only once the migrations ran: store_open()
     * applies them before the listener opens, and this read proves the
     * schema is there and the database answers. */
    enum store_rc rc = store_meta_get(ctx->store, "schema_check", val, sizeof(val));
    bool store_ok = rc == STORE_OK || rc == STORE_NOT_FOUND;
    const char *delivery = "not_run_here";      /* --role api: workers deliver */
    bool delivery_ok = true;
    json_t *obj;

    if (ctx->dispatch != NULL) {
        delivery_ok = dispatch_running(ctx->dispatch);
        delivery = delivery_ok ? "running" : "stopped";
    }
    obj = json_pack("{s:s,s:{s:s,s:s}}", "status", store_ok && delivery_ok ? "ready" : "not_ready",
                    "checks", "store", store_ok ? "ok" : store_strerror(rc),
                    "delivery", delivery);
    api_reply(resp, obj);
    if (!store_ok || !delivery_ok)
        resp->status = 503;
}
