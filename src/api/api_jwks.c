/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_jwks.c - the signing keys of dynamic webhooks over HTTP:
 *
 *   GET  /.well-known/jwks.json   the public keys (RFC 7517), no API key, so
 *                                 that any receiver can fetch them; cacheable
 *                                 for KEYRING_JWKS_MAX_AGE_S.
 *   POST /v1/signingKeys:rotate   make a new key (an operator's key, see
 *                                 auth_admin): published now, signing from
 *                                 activate_time. The keys are server-wide,
 *                                 not per project.
 */
#include <stdlib.h>

#include "api/api.h"
#include "api/api_error.h"
#include "api/api_json.h"
#include "api/auth.h"
#include "common/log.h"
#include "sign/keyring.h"

#define API_JWKS_STR(x) #x
#define API_JWKS_XSTR(x) API_JWKS_STR(x)

void api_jwks_get(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp)
{
    char *jwks = ctx->keyring ? keyring_jwks(ctx->keyring) : NULL;

    if (jwks == NULL) {
        api_error(resp, API_INTERNAL, "the signing keys are not available");
        return;
    }
    resp->status = 200;
    resp->body = jwks;
    resp->content_type = "application/json";
    resp->cache_control = "public, max-age=" API_JWKS_XSTR(KEYRING_JWKS_MAX_AGE_S);
}

void api_signing_keys_rotate(const struct api_ctx *ctx, struct api_request *req,
                             struct api_response *resp)
{
    char kid[KEYRING_KID_MAX], err[256];

    if (ctx->health_only) {
        api_error(resp, API_NOT_FOUND, "this kabard runs --role worker; "
                  "the API is served by the api processes");
        return;
    }
    if (!auth_admin(ctx, req, resp))
        return;
    if (!api_json_no_body(req, resp))
        return;
    if (ctx->keyring == NULL) {
        api_error(resp, API_INTERNAL, "the signing keys are not available");
        return;
    }
    if (keyring_rotate(ctx->keyring, kid, sizeof kid, err, sizeof err) != 0) {
        log_error("signing key rotation failed", "error=\"%s\"", err);
        api_error(resp, API_UNAVAILABLE, "cannot rotate the signing key");
        return;
    }
    api_reply(resp, json_pack("{s:s,s:o}", "kid", kid, "activate_time",
                              api_json_time(keyring_activate_time(ctx->keyring, kid))));
}
