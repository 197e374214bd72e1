/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - logfmt records on stderr.
 *
 * Each record is built in a stack buffer and written with one write(2):
 * POSIX makes a single write to a pipe of up to PIPE_BUF bytes atomic, and
 * in practice one write per line keeps threads from interleaving on files
 * and terminals too. The level is an atomic so that it can be changed (for
 * example on SIGHUP) while other threads log.
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"

#define LOG_LINE_MAX 4096
#define LOG_TRUNCATED " truncated=true\n"

static _Atomic int log_level = LOG_INFO;

static const char *const log_level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
};

void log_set_level(enum log_level level)
{
    atomic_store(&log_level, (int)level);
}

/* logfmt needs quotes around values with spaces, quotes, '=' or controls. */
static bool log_needs_quotes(const char *s)
{
    if (*s == '\0')
        return true;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
            return true;
    }
    return false;
}

/* Append s to buf at *off, quoted and escaped when needed. Stops at cap. */
static void log_put_value(char *buf, size_t cap, size_t *off, const char *s)
{
    bool quote = log_needs_quotes(s);

    if (quote && *off < cap)
        buf[(*off)++] = '"';
    for (; *s && *off < cap; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = NULL;

        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        if (esc != NULL) {
            for (; *esc && *off < cap; esc++)
                buf[(*off)++] = *esc;
        } else if (c < 0x20 || c == 0x7f) {
            buf[(*off)++] = '?';        /* never let a control byte reach a terminal */
        } else {
            buf[(*off)++] = (char)c;
        }
    }
    if (quote && *off < cap)
        buf[(*off)++] = '"';
}

void log_msg(enum log_level level, const char *msg, const char *fields, ...)
{
    char line[LOG_LINE_MAX];
    char ts[TIMEUTIL_RFC3339_MAX];
    size_t off, room = sizeof(line) - sizeof(LOG_TRUNCATED);
    int n;
    bool truncated = false;

    if ((int)level < atomic_load(&log_level))
        return;
    if ((unsigned)level > LOG_ERROR)
        level = LOG_ERROR;

    if (timeutil_format(timeutil_now_us(), 1, ts, sizeof(ts)) != 0)
        snprintf(ts, sizeof(ts), "unknown");
    n = snprintf(line, room, "ts=%s level=%s msg=", ts, log_level_names[level]);
    off = n < 0 ? 0 : (size_t)n;
    log_put_value(line, room, &off, msg != NULL ? msg : "");

    if (fields != NULL && *fields != '\0' && off + 1 < room) {
        va_list ap;

        line[off++] = ' ';
        va_start(ap, fields);
        n = vsnprintf(line + off, room - off, fields, ap);
        va_end(ap);
        if (n < 0)
            n = 0;
        if ((size_t)n >= room - off) {
            truncated = true;
            off = room - 1;
        } else {
            off += (size_t)n;
        }
    }
    if (off >= room) {
        truncated = true;
        off = room;
    }

    /* Callers' fields must not break the one-line-per-record rule. */
    for (size_t i = 0; i < off; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    if (truncated) {
        memcpy(line + off, LOG_TRUNCATED, sizeof(LOG_TRUNCATED) - 1);
        off += sizeof(LOG_TRUNCATED) - 1;
    } else {
        line[off++] = '\n';
    }

    /* One write; retried only if a signal arrived before anything was written. */
    while (write(STDERR_FILENO, line, off) < 0 && errno == EINTR)
        ;
}
