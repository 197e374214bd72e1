/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - structured logs, one line per record on stderr, as logfmt
 *
 *   ts=2026-01-22T12:00:00.123456Z level=info msg=request method=GET ...
 *
 * or, with log_set_format(LOG_FORMAT_JSON), one JSON object per line with
 * the same fields:
 *
 *   {"ts":"2026-01-22T12:00:00.123456Z","level":"info","msg":"request","method":"GET",...}
 *
 * Callers pass the message and the key=value fields already formatted; they
 * must never pass a secret, an API key or a query string (which may carry
 * ?key=). Lines are written with a single write(2), so records from several
 * threads do not interleave.
 */
#ifndef KABAR_LOG_H
#define KABAR_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

enum log_format { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };

void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
/* "logfmt" or "json"; -1 for anything else. */
int log_format_parse(const char *s, enum log_format *out);

/* fields is a printf format for the key=value part; may be NULL. */
void log_msg(enum log_level level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

#define log_info(msg, ...)  log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)

#endif
