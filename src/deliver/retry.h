/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retry.h - when to try a failed delivery again.
 *
 * A schedule of delays (seconds after the previous attempt; the default is
 * 0, 5s, 30s, 2m, 10m, 30m, 1h, 2h, 4h, 8h, then 8h again) with +-20%
 * jitter, bounded by a window measured from the event's creation (24h by
 * default): an attempt that would fall after the window is not made, and
 * the delivery fails. A receiver's Retry-After (on 429 and 503) replaces the
 * scheduled delay, capped.
 */
#ifndef KABAR_RETRY_H
#define KABAR_RETRY_H

#include <stddef.h>
#include <stdint.h>

#define RETRY_SCHEDULE_MAX 32
#define RETRY_JITTER_PCT 20
#define RETRY_AFTER_CAP_US (INT64_C(3600) * 1000000)

struct retry_policy {
    int64_t delay_us[RETRY_SCHEDULE_MAX];   /* delay_us[i]: before attempt i+1 */
    size_t n;
    int64_t window_us;                      /* from the event's creation */
};

/* The default schedule and a 24h window. */
void retry_policy_default(struct retry_policy *p);

/* Parse a comma-separated list of seconds ("0,1,2") into p's schedule
 * (the window is left as it is). Returns 0, or -1 with a message in err. */
int retry_policy_parse(const char *spec, struct retry_policy *p, char *err, size_t errlen);

/*
 * The due time of the next attempt after attempts failed ones (attempts >=
 * 1), for an event created at event_us, now being now_us. retry_after_us >=
 * 0 is the receiver's Retry-After delay (capped at RETRY_AFTER_CAP_US),
 * -1 for none. rnd is a uniformly random 32-bit value (for jitter). Returns
 * -1 when the next attempt would fall outside the window.
 */
int64_t retry_next(const struct retry_policy *p, int attempts, int64_t event_us, int64_t now_us,
                   int64_t retry_after_us, uint32_t rnd);

/* Parse a Retry-After header value: delta-seconds, or an HTTP-date (RFC
 * 9110 IMF-fixdate) relative to now_us. Returns 0 and sets *delay_us
 * (never negative), or -1 when the value is neither. */
int retry_after_parse(const char *value, int64_t now_us, int64_t *delay_us);

#endif
