/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stdwh.h - Standard Webhooks signatures (scheme v1).
 *
 *   webhook-signature: v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
 *
 * The key is the base64-decoded secret, with or without its "whsec_" prefix.
 * Used by kabard to sign and by libkabar to verify.
 */
#ifndef KABAR_STDWH_H
#define KABAR_STDWH_H

#include <stddef.h>
#include <stdint.h>

#define STDWH_KEY_MAX 64
#define STDWH_SIG_LEN 48        /* "v1," + 44 base64 characters + NUL */

/* Decode secret ("whsec_..." or bare base64) into key. Returns the key
 * length (Standard Webhooks allows 24-64 bytes), or -1. The caller wipes
 * key after use. */
int stdwh_key_decode(const char *secret, uint8_t *key, size_t cap);

/* Write "v1,<signature>" for this message into out (STDWH_SIG_LEN bytes).
 * Returns 0, or -1 on failure. */
int stdwh_sign(const uint8_t *key, size_t keylen, const char *msg_id, int64_t timestamp,
               const uint8_t *body, size_t len, char *out, size_t cap);

#endif
