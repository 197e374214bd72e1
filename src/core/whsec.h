/* SPDX-License-Identifier: Apache-2.0 */
/*
 * whsec.h - Standard Webhooks signing secrets.
 *
 * A secret is "whsec_" + base64 of WHSEC_KEY_LEN random bytes. It is shown
 * to the user once (on create and on rotation) and otherwise only in its
 * truncated form "whsec_...abcd".
 */
#ifndef KABAR_WHSEC_H
#define KABAR_WHSEC_H

#include <stddef.h>
#include <stdint.h>

#define WHSEC_KEY_LEN 32
#define WHSEC_PREFIX "whsec_"
#define WHSEC_MAX 96            /* "whsec_" + base64 of up to 64 bytes */
#define WHSEC_TRUNCATED_MAX 24

/* Write a new secret into out. Returns 0, or -1 if the random source failed
 * or out is too small. The caller wipes out after use. */
int whsec_generate(char *out, size_t cap);

/* Write the display form of secret ("whsec_..." + its last four
 * characters). Returns 0, or -1 if out is too small. */
int whsec_truncate(const char *secret, char *out, size_t cap);

#endif
