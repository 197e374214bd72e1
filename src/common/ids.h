/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ids.h - resource identifiers.
 *
 * An id is a short type prefix ("wh_", "msg_", "key_") followed by 26
 * lowercase Crockford base32 characters: 48 bits of milliseconds since the
 * epoch, then 80 random bits. Ids therefore sort by creation time, which lets
 * list pagination walk a primary key index instead of an offset.
 */
#ifndef KABAR_IDS_H
#define KABAR_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDS_BODY_LEN 26
#define IDS_MAX 48          /* room for any prefix we use plus the body */

/* Write prefix + a new id into out. Returns 0, or -1 if out is too small
 * or the system random source failed. */
int ids_new(const char *prefix, char *out, size_t cap);

/* Write prefix + the smallest id of millisecond ms into out: every id made
 * at or after ms sorts at or above it. Returns 0, or -1 if out is too small. */
int ids_floor(const char *prefix, int64_t ms, char *out, size_t cap);

/* True when id is prefix followed by exactly IDS_BODY_LEN valid characters. */
bool ids_valid(const char *prefix, const char *id);

#endif
