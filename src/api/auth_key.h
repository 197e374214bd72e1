/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth_key.h - API keys: their shape, their hash, a new one.
 *
 * A key is "kbr_" + base64url of 32 random bytes. The store keeps only its
 * SHA-256: keys are long random strings, so a plain hash is as good as a
 * slow password hash here, and looking a request's key up by its hash means
 * no stored key is ever compared byte by byte with the one presented.
 */
#ifndef KABAR_AUTH_KEY_H
#define KABAR_AUTH_KEY_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_PREFIX "kbr_"
#define AUTH_KEY_MAX 128

/* out receives SHA-256(key). */
void auth_key_hash(const char *key, size_t len, uint8_t out[32]);

/* Write a new key into out. Returns 0, or -1 if the random source failed. */
int auth_key_generate(char *out, size_t cap);

#endif
