/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.h - API keys.
 *
 * A key is "kbr_" + base64url of 32 random bytes. The store keeps only its
 * SHA-256: keys are long random strings, so a plain hash is as good as a
 * slow password hash here, and looking a request's key up by its hash means
 * no stored key is ever compared byte by byte with the one presented.
 */
#ifndef KABAR_AUTH_H
#define KABAR_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

#define AUTH_KEY_PREFIX "kbr_"
#define AUTH_KEY_MAX 128

/* out receives SHA-256(key). */
void auth_hash_key(const char *key, size_t len, uint8_t out[32]);

/* Write a new key into out. Returns 0, or -1 if the random source failed. */
int auth_generate_key(char *out, size_t cap);

/* Authenticate req from its x-goog-api-key header or ?key= parameter, or
 * else from a web UI session cookie (api_session.h), and set req->project. Returns true, or false after filling resp with the
 * error (401, or 503 when the store is away). */
bool auth_request(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp);

/*
 * Authenticate req for a server-wide action (one that acts on every
 * project, such as rotating the signing key). An operator may do it: the
 * holder of KABAR_ADMIN_KEY when one is configured; otherwise a key (or a
 * web UI session) of the project "default", whose first-start key thus
 * stays the operator's key on a one-user setup. Any other key or session:
 * false with 403 PERMISSION_DENIED in resp (401 without a key, as
 * auth_request). Routes using it are routed without needs_auth.
 */
bool auth_admin(const struct api_ctx *ctx, struct api_request *req, struct api_response *resp);

#endif
