/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secretbox.h - authenticated encryption of secrets at rest.
 *
 * AES-256-GCM under the master key. A sealed blob is
 *
 *     version(1) = 1 | nonce(12) | ciphertext(n) | tag(16)
 *
 * The caller's associated data (for webhook secrets: the webhook id) is
 * authenticated but not stored, so a blob copied to another row fails to
 * open. The key lives in an OPENSSL_secure_malloc'd region and is wiped by
 * secretbox_free.
 */
#ifndef KABAR_SECRETBOX_H
#define KABAR_SECRETBOX_H

#include <stddef.h>
#include <stdint.h>

#define SECRETBOX_KEY_LEN 32
#define SECRETBOX_OVERHEAD (1 + 12 + 16)

struct secretbox;

/* Make a box holding a copy of key (SECRETBOX_KEY_LEN bytes). The caller
 * keeps ownership of key and should wipe it. Returns NULL on allocation
 * failure. */
struct secretbox *secretbox_new(const uint8_t *key);
void secretbox_free(struct secretbox *box);

/* Encrypt. out must hold len + SECRETBOX_OVERHEAD bytes. Returns the blob
 * length, or -1 on failure (out is then wiped). */
int secretbox_seal(const struct secretbox *box, const char *aad,
                   const uint8_t *pt, size_t len, uint8_t *out, size_t cap);

/* Decrypt and authenticate. out must hold len - SECRETBOX_OVERHEAD bytes.
 * Returns the plaintext length, or -1 when the blob is malformed, was made
 * under another key or aad, or was tampered with (out is then wiped). */
int secretbox_open(const struct secretbox *box, const char *aad,
                   const uint8_t *blob, size_t len, uint8_t *out, size_t cap);

#endif
