/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_health.c - the probes. Neither needs a key, so that load balancers,
 * orchestrators and systemd units can call them:
 *
 *   GET /healthz  liveness: the process answers HTTP. It touches nothing
 *                 else, so a database outage never gets a healthy process
 *                 restarted (restarting would not bring the database back).
 *   GET /readyz   readiness: the store answers a query on the migrated
 *                 schema, takes writes again if one failed for want of a
 *                 resource (a full disk), and - in processes that deliver -
 *                 the delivery thread is running. 503 with the failing check otherwise,
 *                 so a load balancer sends traffic elsewhere meanwhile.
 */
#include <stdio.h>

#include <jansson.h>

#include "api/api.h"
#include "api/api_json.h"
#include "common/timeutil.h"
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
    const char *store_check = store_ok ? "ok" : store_strerror(rc);
    const char *delivery = "not_run_here";      /* --role api: workers deliver */
    bool delivery_ok = true;
    json_t *obj;

    /* Reads may work while writes fail (a full disk): after a write failed
     * for want of a resource, ready only once a small write commits. */
    if (store_ok && store_write_failing(ctx->store)) {
        char now[32];

        snprintf(now, sizeof now, "%lld", (long long)timeutil_now_us());
        if (store_meta_put(ctx->store, "ready_probe", now) != STORE_OK ||
            store_write_failing(ctx->store)) {
            store_ok = false;
            store_check = "writes failing (disk full or database unavailable)";
        }
    }
    if (ctx->dispatch != NULL) {
        delivery_ok = dispatch_running(ctx->dispatch);
        delivery = delivery_ok ? "running" : "stopped";
    }
    obj = json_pack("{s:s,s:{s:s,s:s}}", "status", store_ok && delivery_ok ? "ready" : "not_ready",
                    "checks", "store", store_check,
                    "delivery", delivery);
    api_reply(resp, obj);
    if (!store_ok || !delivery_ok)
        resp->status = 503;
}
