/* SPDX-License-Identifier: Apache-2.0 */
/*
 * envelope.h - the bytes of an event, exactly as signed and sent.
 *
 *   {"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z",
 *    "data":{...}[,"user_metadata":{...}]}
 *
 * Built once, when the event is accepted, and stored; every attempt sends
 * the stored bytes, so a retry is byte-for-byte the first try.
 */
#ifndef KABAR_CORE_ENVELOPE_H
#define KABAR_CORE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ENVELOPE_VERSION "v1"

/* Serialize the envelope. data must be an object; user_metadata may be NULL.
 * Returns a malloc'd NUL-terminated string (the caller frees it) and its
 * length in *len, or NULL when out of memory. */
char *envelope_build(const char *type, int64_t time_us, json_t *data, json_t *user_metadata,
                     size_t *len);

#endif
