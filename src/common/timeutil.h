/* SPDX-License-Identifier: Apache-2.0 */
/*
 * timeutil.h - wall-clock time in microseconds and RFC 3339 text.
 *
 * The store keeps times as int64 microseconds since the Unix epoch (UTC);
 * the API shows them as RFC 3339 "2026-01-22T12:00:00.123456Z".
 */
#ifndef KABAR_TIMEUTIL_H
#define KABAR_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define TIMEUTIL_RFC3339_MAX 40
#define TIMEUTIL_US_PER_S INT64_C(1000000)

int64_t timeutil_now_us(void);
int64_t timeutil_mono_us(void);

/* Format us as RFC 3339 UTC. With frac, six fractional digits are written
 * (resource timestamps); without, whole seconds (event envelopes).
 * Returns 0, or -1 if the buffer is too small or the time is out of range. */
int timeutil_format(int64_t us, int frac, char *out, size_t cap);

/* Parse an RFC 3339 timestamp with 'Z' or a numeric offset and up to nine
 * fractional digits. Returns 0 and sets *us, or -1 if s is not one. */
int timeutil_parse(const char *s, int64_t *us);

#endif
