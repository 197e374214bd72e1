/* SPDX-License-Identifier: Apache-2.0 */
/*
 * b64.h - base64 and base64url encoding on top of OpenSSL's EVP encoder.
 *
 * Standard base64 (with padding) is what Standard Webhooks uses for secrets
 * and signatures; base64url without padding is what JOSE and our opaque page
 * tokens use. Both encoders write a NUL-terminated string and fail, rather
 * than truncate, when the output buffer is too small.
 */
#ifndef KABAR_B64_H
#define KABAR_B64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode n bytes, including the NUL. */
#define B64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* Encode len bytes of in as standard base64 with padding.
 * Returns the string length, or -1 if out (cap bytes) is too small. */
int b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Decode standard base64 (padding required). Returns the number of bytes
 * written to out, or -1 on malformed input or when cap is too small. */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* base64url without padding (RFC 4648 §5). Same return conventions. */
int b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
