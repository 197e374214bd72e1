/* SPDX-License-Identifier: Apache-2.0 */
/*
 * timeutil.c - clocks in microseconds and strict RFC 3339 text.
 *
 * Formatting covers years 0000 to 9999, the range RFC 3339's four-digit
 * year can show. Parsing accepts exactly the RFC 3339 date-time production
 * (with 't' and 'z' allowed in lower case, as §5.6 permits) and nothing
 * more: no missing seconds, no spaces, no trailing characters.
 */
#include "common/timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* Seconds from the epoch to 0000-01-01 and to 10000-01-01, both UTC. */
#define TIMEUTIL_MIN_S INT64_C(-62167219200)
#define TIMEUTIL_MAX_S INT64_C(253402300800)

static int64_t timeutil_clock_us(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * TIMEUTIL_US_PER_S + ts.tv_nsec / 1000;
}

int64_t timeutil_now_us(void)
{
    return timeutil_clock_us(CLOCK_REALTIME);
}

int64_t timeutil_mono_us(void)
{
    return timeutil_clock_us(CLOCK_MONOTONIC);
}

int timeutil_format(int64_t us, int frac, char *out, size_t cap)
{
    int64_t s = us / TIMEUTIL_US_PER_S, sub = us % TIMEUTIL_US_PER_S;
    struct tm tm;
    time_t t;
    int n;

    if (out == NULL || cap == 0)
        return -1;
    /* Round down, so that times before 1970 keep a positive fraction. */
    if (sub < 0) {
        sub += TIMEUTIL_US_PER_S;
        s--;
    }
    if (s < TIMEUTIL_MIN_S || s >= TIMEUTIL_MAX_S)
        goto fail;
    t = (time_t)s;
    if (gmtime_r(&t, &tm) == NULL)
        goto fail;
    if (frac)
        n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)sub);
    else
        n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n < 0 || (size_t)n >= cap)
        goto fail;
    return 0;

fail:
    out[0] = '\0';
    return -1;
}

/* Read exactly n decimal digits at *p into *v and advance *p. */
static bool timeutil_digits(const char **p, int n, int *v)
{
    int x = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

static bool timeutil_expect(const char **p, char a, char b)
{
    if (**p != a && **p != b)
        return false;
    (*p)++;
    return true;
}

static int timeutil_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

int timeutil_parse(const char *s, int64_t *us)
{
    const char *p = s;
    int year, mon, mday, hour, min, sec, oh = 0, om = 0, sign = 0;
    int64_t sub = 0, secs;
    struct tm tm = {0};
    time_t t;

    if (s == NULL || us == NULL)
        return -1;
    if (!timeutil_digits(&p, 4, &year) || !timeutil_expect(&p, '-', '-')
        || !timeutil_digits(&p, 2, &mon) || !timeutil_expect(&p, '-', '-')
        || !timeutil_digits(&p, 2, &mday) || !timeutil_expect(&p, 'T', 't')
        || !timeutil_digits(&p, 2, &hour) || !timeutil_expect(&p, ':', ':')
        || !timeutil_digits(&p, 2, &min) || !timeutil_expect(&p, ':', ':')
        || !timeutil_digits(&p, 2, &sec))
        return -1;

    if (*p == '.') {
        int ndig = 0;
        int64_t scale = 100000;

        p++;
        /* Up to nine digits (nanoseconds); those below a microsecond are
         * checked but dropped. */
        while (*p >= '0' && *p <= '9') {
            if (++ndig > 9)
                return -1;
            sub += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
        if (ndig == 0)
            return -1;
    }

    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (!timeutil_digits(&p, 2, &oh) || !timeutil_expect(&p, ':', ':')
            || !timeutil_digits(&p, 2, &om))
            return -1;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;

    /* Second 60 is a leap second; timegm folds it into the next minute. */
    if (mon < 1 || mon > 12 || mday < 1 || mday > timeutil_days_in_month(year, mon)
        || hour > 23 || min > 59 || sec > 60 || oh > 23 || om > 59)
        return -1;

    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm);
    secs = (int64_t)t - sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
    *us = secs * TIMEUTIL_US_PER_S + sub;
    return 0;
}
