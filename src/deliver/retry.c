/* SPDX-License-Identifier: Apache-2.0 */
/*
 * retry.c - the retry schedule, its jitter and window, and Retry-After.
 *
 * All arithmetic is in int64 microseconds and integers only: delays from a
 * schedule are bounded at parse time and Retry-After values are capped, so
 * no sum or product here can overflow, and jitter needs no floating point.
 * The HTTP-date parser is written out by hand rather than with strptime and
 * timegm, which depend on the locale and the TZ environment.
 */
#include "deliver/retry.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define RETRY_US_PER_S INT64_C(1000000)

/* The largest delay a schedule may hold: a year is already far beyond any
 * sensible window, and the bound keeps delay * (100 + jitter) well inside
 * int64. */
#define RETRY_DELAY_MAX_S INT64_C(31536000)

/* RFC 9110 §1.2.2: a delta-seconds too large to represent is taken as 2^31.
 * Retry-After is capped far below that anyway (RETRY_AFTER_CAP_US). */
#define RETRY_AFTER_MAX_S INT64_C(2147483648)

static const int64_t retry_default_s[] = {0, 5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800};

void retry_policy_default(struct retry_policy *p)
{
    size_t n = sizeof(retry_default_s) / sizeof(retry_default_s[0]);

    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < n; i++)
        p->delay_us[i] = retry_default_s[i] * RETRY_US_PER_S;
    p->n = n;
    p->window_us = INT64_C(24) * 3600 * RETRY_US_PER_S;
}

static bool retry_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Parse one schedule entry, s[0..len), blanks around it allowed, into
 * seconds. Returns 0, or -1 with a message naming the entry (1-based).
 */
static int retry_parse_entry(const char *s, size_t len, size_t index, int64_t *secs, char *err,
                             size_t errlen)
{
    int64_t v = 0;

    while (len > 0 && retry_is_blank(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && retry_is_blank(s[len - 1]))
        len--;
    if (len == 0) {
        snprintf(err, errlen, "retry schedule entry %zu is empty", index);
        return -1;
    }
    if (s[0] == '-') {
        snprintf(err, errlen, "retry schedule entry %zu (\"%.*s\") is negative", index,
                 (int)len, s);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            snprintf(err, errlen,
                     "retry schedule entry %zu (\"%.*s\") is not a whole number of seconds",
                     index, (int)len, s);
            return -1;
        }
        v = v * 10 + (s[i] - '0');
        if (v > RETRY_DELAY_MAX_S) {
            snprintf(err, errlen,
                     "retry schedule entry %zu (\"%.*s\") is too large (at most %lld seconds)",
                     index, (int)len, s, (long long)RETRY_DELAY_MAX_S);
            return -1;
        }
    }
    *secs = v;
    return 0;
}

int retry_policy_parse(const char *spec, struct retry_policy *p, char *err, size_t errlen)
{
    int64_t delay_us[RETRY_SCHEDULE_MAX];
    const char *s = spec;
    size_t n = 0;

    if (errlen > 0)
        err[0] = '\0';
    if (spec == NULL || spec[0] == '\0') {
        snprintf(err, errlen, "retry schedule is empty");
        return -1;
    }
    /* Parse into a copy so that a bad spec leaves p as it was. */
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        int64_t secs;

        if (n == RETRY_SCHEDULE_MAX) {
            snprintf(err, errlen, "retry schedule has more than %d entries", RETRY_SCHEDULE_MAX);
            return -1;
        }
        if (retry_parse_entry(s, len, n + 1, &secs, err, errlen) != 0)
            return -1;
        delay_us[n++] = secs * RETRY_US_PER_S;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    memcpy(p->delay_us, delay_us, n * sizeof(delay_us[0]));
    p->n = n;
    return 0;
}

/*
 * delay scaled by a factor in [1 - J, 1 + J) (J = RETRY_JITTER_PCT %),
 * uniform in rnd. The span is multiplied by rnd / 2^32 in two halves, so
 * that the 64-bit product cannot overflow.
 */
static int64_t retry_jitter(int64_t delay, uint32_t rnd)
{
    uint64_t span = (uint64_t)(delay / 100 * 2 * RETRY_JITTER_PCT +
                               delay % 100 * 2 * RETRY_JITTER_PCT / 100);
    uint64_t lo = span & UINT32_MAX, hi = span >> 32;
    uint64_t add = hi * rnd + ((lo * rnd) >> 32);
    int64_t base = delay - (delay / 100 * RETRY_JITTER_PCT +
                            delay % 100 * RETRY_JITTER_PCT / 100);

    return base + (int64_t)add;
}

int64_t retry_next(const struct retry_policy *p, int attempts, int64_t event_us, int64_t now_us,
                   int64_t retry_after_us, uint32_t rnd)
{
    int64_t delay, deadline;
    size_t i;

    if (p->n == 0)
        return -1;
    if (retry_after_us >= 0) {
        /* The receiver said when: honour it exactly, but not for too long. */
        delay = retry_after_us < RETRY_AFTER_CAP_US ? retry_after_us : RETRY_AFTER_CAP_US;
    } else {
        /* delay_us[i] comes before attempt i + 1, so after `attempts`
         * failures the next one waits delay_us[attempts]; past the end of
         * the schedule the last delay repeats. */
        i = attempts <= 0 ? 0 : (size_t)attempts;
        if (i > p->n - 1)
            i = p->n - 1;
        delay = p->delay_us[i];
        /* The struct is public: a schedule filled in by hand gets the same
         * bounds as a parsed one, which keeps the jitter from overflowing. */
        if (delay < 0)
            delay = 0;
        if (delay > RETRY_DELAY_MAX_S * RETRY_US_PER_S)
            delay = RETRY_DELAY_MAX_S * RETRY_US_PER_S;
        delay = retry_jitter(delay, rnd);
    }
    /* Saturate rather than wrap: a window near INT64_MAX means "none". */
    if (p->window_us > 0 && event_us > INT64_MAX - p->window_us)
        deadline = INT64_MAX;
    else if (p->window_us < 0 && event_us < INT64_MIN - p->window_us)
        return -1;
    else
        deadline = event_us + p->window_us;
    if (now_us > INT64_MAX - delay || now_us + delay > deadline)
        return -1;
    return now_us + delay;
}

/* Read exactly n decimal digits at s into *v. */
static bool retry_digits(const char *s, int n, int *v)
{
    int x = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

/* Index of the n-character name at s in names (n characters each), or -1. */
static int retry_name(const char *s, const char *names, int count, int n)
{
    for (int i = 0; i < count; i++)
        if (memcmp(s, names + i * n, (size_t)n) == 0)
            return i;
    return -1;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil). */
static int64_t retry_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool retry_is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * Parse an IMF-fixdate, exactly "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110
 * §5.6.7), into seconds since the epoch. The day name must be one, but is
 * not checked against the date: it carries no information of its own.
 */
static bool retry_parse_imf_fixdate(const char *s, size_t len, int64_t *secs)
{
    static const char days[] = "MonTueWedThuFriSatSun";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int day, mon, year, hour, min, sec, dim;

    if (len != 29)
        return false;
    if (retry_name(s, days, 7, 3) < 0 || memcmp(s + 3, ", ", 2) != 0)
        return false;
    if (!retry_digits(s + 5, 2, &day) || s[7] != ' ')
        return false;
    if ((mon = retry_name(s + 8, months, 12, 3)) < 0 || s[11] != ' ')
        return false;
    if (!retry_digits(s + 12, 4, &year) || s[16] != ' ')
        return false;
    if (!retry_digits(s + 17, 2, &hour) || s[19] != ':' || !retry_digits(s + 20, 2, &min) ||
        s[22] != ':' || !retry_digits(s + 23, 2, &sec))
        return false;
    if (memcmp(s + 25, " GMT", 4) != 0)
        return false;
    dim = mdays[mon] + (mon == 1 && retry_is_leap(year));
    /* sec 60 is a leap second; it counts as the next second. */
    if (day < 1 || day > dim || hour > 23 || min > 59 || sec > 60)
        return false;
    *secs = retry_days_from_civil(year, mon + 1, day) * 86400 + hour * 3600 + min * 60 + sec;
    return true;
}

int retry_after_parse(const char *value, int64_t now_us, int64_t *delay_us)
{
    size_t len;
    int64_t secs = 0;

    if (value == NULL)
        return -1;
    /* Field values come without surrounding whitespace in principle; a raw
     * header line may still carry it, and its CRLF. */
    while (*value == ' ' || *value == '\t')
        value++;
    len = strlen(value);
    while (len > 0 && strchr(" \t\r\n", value[len - 1]) != NULL)
        len--;
    if (len == 0)
        return -1;

    if (value[0] >= '0' && value[0] <= '9') {
        for (size_t i = 0; i < len; i++) {
            if (value[i] < '0' || value[i] > '9')
                return -1;
            if (secs < RETRY_AFTER_MAX_S)
                secs = secs * 10 + (value[i] - '0');
        }
        if (secs > RETRY_AFTER_MAX_S)
            secs = RETRY_AFTER_MAX_S;
        *delay_us = secs * RETRY_US_PER_S;
        return 0;
    }

    if (!retry_parse_imf_fixdate(value, len, &secs))
        return -1;
    /* Compare in seconds first: a far-away date must not overflow. */
    if (secs - now_us / RETRY_US_PER_S > RETRY_AFTER_MAX_S)
        *delay_us = RETRY_AFTER_MAX_S * RETRY_US_PER_S;
    else if (secs * RETRY_US_PER_S <= now_us)
        *delay_us = 0;    /* a date in the past means "now" */
    else
        *delay_us = secs * RETRY_US_PER_S - now_us;
    return 0;
}
