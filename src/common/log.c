/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - structured records on stderr, as logfmt or as JSON lines.
 *
 * Callers write their fields as logfmt (key=value, values with spaces in
 * quotes). In JSON mode the same fields are read back from that text and
 * written as one JSON object per line, numbers as numbers and the rest as
 * strings, with jansson doing the escaping; so both formats carry exactly
 * the same fields and no caller knows which one is on.
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

#include <stdlib.h>

#include <jansson.h>

#include "common/timeutil.h"

#define LOG_LINE_MAX 4096
#define LOG_TRUNCATED " truncated=true\n"

static _Atomic int log_level = LOG_INFO;
static _Atomic int log_format = LOG_FORMAT_LOGFMT;

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

void log_set_format(enum log_format format)
{
    atomic_store(&log_format, (int)format);
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = LOG_FORMAT_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

/* A JSON string of s; bytes that are not UTF-8 become '?' (jansson refuses
 * invalid UTF-8, and a log line must never be lost for one bad byte). */
static json_t *log_json_string(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    char *copy;

    if (v != NULL)
        return v;
    copy = malloc(n + 1);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] >= 0x80 || s[i] == '\0' ? '?' : s[i];
    copy[n] = '\0';
    v = json_stringn(copy, n);
    free(copy);
    return v;
}

/* A value as JSON: an integer or a decimal number when the whole text is
 * one, otherwise the text. */
static json_t *log_json_value(const char *s, size_t n, bool quoted)
{
    char buf[32];
    char *end;

    if (!quoted && n > 0 && n < sizeof(buf)) {
        bool digits = true, dot = false;

        for (size_t i = (s[0] == '-'); i < n; i++) {
            if (s[i] == '.' && !dot && i > 0)
                dot = true;
            else if (s[i] < '0' || s[i] > '9')
                digits = false;
        }
        if (digits && n > (size_t)(s[0] == '-') && s[n - 1] != '.') {
            memcpy(buf, s, n);
            buf[n] = '\0';
            if (!dot) {
                long long v = strtoll(buf, &end, 10);
                if (*end == '\0' && n < 19)
                    return json_integer(v);
            } else {
                double d = strtod(buf, &end);
                if (*end == '\0')
                    return json_real(d);
            }
        }
    }
    return log_json_string(s, n);
}

/*
 * Read the logfmt fields text back into obj. Values are escaped as they
 * are formatted (log_format_fields), so a quoted value ends at its first
 * unescaped quote. A bare word becomes a key with an empty value.
 */
static void log_fields_to_json(const char *f, json_t *obj)
{
    while (*f) {
        const char *key, *val;
        size_t klen, vlen;
        bool quoted = false;
        char *unesc = NULL;
        json_t *v;

        while (*f == ' ')
            f++;
        if (*f == '\0')
            break;
        key = f;
        while (*f && *f != '=' && *f != ' ')
            f++;
        klen = (size_t)(f - key);
        if (*f != '=') {
            val = f;
            vlen = 0;
        } else if (*++f == '"') {
            size_t o = 0;

            quoted = true;
            val = ++f;
            while (*f && *f != '"')
                f += f[0] == '\\' && f[1] != '\0' ? 2 : 1;
            vlen = (size_t)(f - val);
            if (*f == '"')
                f++;
            /* Undo log_put_value's escapes. */
            unesc = malloc(vlen + 1);
            if (unesc != NULL) {
                for (size_t i = 0; i < vlen; i++) {
                    char c = val[i];
                    if (c == '\\' && i + 1 < vlen) {
                        c = val[++i];
                        c = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
                    }
                    unesc[o++] = c;
                }
                val = unesc;
                vlen = o;
            }
        } else {
            val = f;
            while (*f && *f != ' ')
                f++;
            vlen = (size_t)(f - val);
        }
        if (klen > 0) {
            char k[128];

            if (klen >= sizeof(k))
                klen = sizeof(k) - 1;
            memcpy(k, key, klen);
            k[klen] = '\0';
            /* A key that is not UTF-8 is refused (and v freed): that one
             * field is dropped, the record is still written. */
            v = log_json_value(val, vlen, quoted);
            if (v != NULL)
                json_object_set_new(obj, k, v);
        }
        free(unesc);
    }
}

/* Write one record as a JSON line. fields is the logfmt text of the
 * caller's fields (possibly cut at the line cap: then truncated). */
static void log_write_json(const char *ts, enum log_level level, const char *msg,
                           const char *fields, bool truncated)
{
    json_t *obj = json_object();
    char *line;
    size_t len;

    if (obj == NULL)
        return;
    json_object_set_new(obj, "ts", json_string(ts));
    json_object_set_new(obj, "level", json_string(log_level_names[level]));
    json_object_set_new(obj, "msg", log_json_string(msg, strlen(msg)));
    log_fields_to_json(fields, obj);
    /* The record's own members win over a caller's field of that name. */
    json_object_set_new(obj, "ts", json_string(ts));
    json_object_set_new(obj, "level", json_string(log_level_names[level]));
    if (truncated)
        json_object_set_new(obj, "truncated", json_true());
    line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (line == NULL)
        return;
    len = strlen(line);
    line[len] = '\n';          /* overwrites the NUL: written by length */
    while (write(STDERR_FILENO, line, len + 1) < 0 && errno == EINTR)
        ;
    free(line);
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

/* Append the bytes s[0..n) to buf at *off as the inside of a quoted logfmt
 * value: quotes and backslashes escaped, line breaks and tabs as \n \r \t,
 * any other control byte as '?'. Stops at cap. */
static void log_put_escaped(char *buf, size_t cap, size_t *off, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *off < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;

        if (esc != NULL) {
            for (; *esc && *off < cap; esc++)
                buf[(*off)++] = *esc;
        } else {
            /* never let a control byte reach a terminal */
            buf[(*off)++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
        }
    }
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/*
 * printf for the fields, with every string argument escaped: a caller's
 * "path=\"%s\"" or "detail=%s" can never hold a value that closes its quotes
 * or starts a field of its own. A %s (or %c) between quotes of the format is
 * escaped as the inside of a quoted value; a bare one is quoted when it
 * needs to be. Other conversions are formatted by snprintf, one at a time.
 * Returns false when buf was too small (the text is then cut).
 */
static bool log_format_fields(char *buf, size_t cap, size_t *off, const char *fmt, va_list ap)
{
    bool inq = false;

    while (*fmt && *off < cap) {
        char spec[32], tmp[LOG_LINE_MAX];
        size_t sl = 0;
        char len = 0, len2 = 0, conv;
        int n;

        if (*fmt != '%') {
            if (*fmt == '"')
                inq = !inq;
            buf[(*off)++] = *fmt++;
            continue;
        }
        spec[sl++] = *fmt++;
        while (*fmt && strchr("-+ #0", *fmt) && sl < 8)
            spec[sl++] = *fmt++;
        for (int part = 0; part < 2; part++) {
            if (part == 1) {
                if (*fmt != '.')
                    break;
                spec[sl++] = *fmt++;
            }
            if (*fmt == '*') {
                sl += (size_t)snprintf(spec + sl, sizeof spec - sl - 4, "%d", va_arg(ap, int));
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9' && sl < 20)
                    spec[sl++] = *fmt++;
            }
        }
        if (*fmt && strchr("hlzjtL", *fmt)) {
            len = *fmt;
            spec[sl++] = *fmt++;
            if ((len == 'h' || len == 'l') && *fmt == len) {
                len2 = len;
                spec[sl++] = *fmt++;
            }
        }
        conv = *fmt;
        if (conv == '\0')
            break;
        fmt++;
        spec[sl++] = conv;
        spec[sl] = '\0';
        tmp[0] = '\0';
        switch (conv) {
        case '%':
            buf[(*off)++] = '%';
            continue;
        case 's':
        case 'c':
            if (conv == 's') {
                const char *v = va_arg(ap, const char *);
                n = snprintf(tmp, sizeof tmp, spec, v != NULL ? v : "(null)");
            } else {
                n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, int));
            }
            if (n < 0)
                n = 0;
            if ((size_t)n >= sizeof tmp)
                n = (int)sizeof tmp - 1;
            if (inq) {
                log_put_escaped(buf, cap, off, tmp, (size_t)n);
            } else {
                bool quote = log_needs_quotes(tmp);

                if (quote && *off < cap)
                    buf[(*off)++] = '"';
                log_put_escaped(buf, cap, off, tmp, (size_t)n);
                if (quote && *off < cap)
                    buf[(*off)++] = '"';
            }
            continue;
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o':
            if (len == 'z')
                n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, size_t));
            else if (len == 'j')
                n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, intmax_t));
            else if (len == 't')
                n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, ptrdiff_t));
            else if (len == 'l' && len2 == 'l')
                n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, long long));
            else if (len == 'l')
                n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, long));
            else
                n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, int));
            break;
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A':
            if (len == 'L')
                n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, long double));
            else
                n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, double));
            break;
        case 'p':
            n = snprintf(tmp, sizeof tmp, spec, va_arg(ap, void *));
            break;
        default:
            /* Not a conversion log formats use: written as it is. */
            n = snprintf(tmp, sizeof tmp, "%s", spec);
            break;
        }
        for (int i = 0; i < n && tmp[i] && *off < cap; i++)
            buf[(*off)++] = tmp[i];
    }
    return *fmt == '\0' && *off < cap;
}
#pragma GCC diagnostic pop

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
    if (atomic_load(&log_format) == LOG_FORMAT_JSON) {
        off = 0;
        line[0] = '\0';
        if (fields != NULL && *fields != '\0') {
            va_list ap;

            va_start(ap, fields);
            truncated = !log_format_fields(line, room - 1, &off, fields, ap);
            va_end(ap);
            line[off] = '\0';
        }
        log_write_json(ts, level, msg != NULL ? msg : "", line, truncated);
        return;
    }
    n = snprintf(line, room, "ts=%s level=%s msg=", ts, log_level_names[level]);
    off = n < 0 ? 0 : (size_t)n;
    log_put_value(line, room, &off, msg != NULL ? msg : "");

    if (fields != NULL && *fields != '\0' && off + 1 < room) {
        va_list ap;

        line[off++] = ' ';
        va_start(ap, fields);
        truncated = !log_format_fields(line, room - 1, &off, fields, ap);
        va_end(ap);
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
