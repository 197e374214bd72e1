/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_log.c - log records as a log reader sees them: every conversion the
 * callers use formatted as printf would, string values escaped so that no
 * value can end its field or start another, in logfmt and in JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"

/* Run fn with stderr on a pipe; return what it wrote (static buffer). */
static const char *capture(void (*fn)(void))
{
    static char out[8192];
    int p[2], saved;
    ssize_t n;

    assert_int_equal(pipe(p), 0);
    saved = dup(STDERR_FILENO);
    dup2(p[1], STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    n = read(p[0], out, sizeof out - 1);
    close(p[0]);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

/* The fields part of a logfmt record: after "msg=m ". */
static const char *fields_of(const char *line)
{
    const char *f = strstr(line, " msg=m ");

    assert_non_null(f);
    return f + strlen(" msg=m ");
}

static void log_conversions(void)
{
    log_info("m", "n=%d z=%zu f=%.3f ll=%lld ull=%llu x=%02x w=%*d pct=%% s5=%.5s l=%ld c=%c",
             -5, (size_t)7, 1.5, -9LL, 18446744073709551615ULL, 10, 4, 42, "abcdefgh", 123456789L,
             'q');
}

static void test_conversions(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_LOGFMT);
    assert_string_equal(fields_of(capture(log_conversions)),
                        "n=-5 z=7 f=1.500 ll=-9 ull=18446744073709551615 x=0a w=  42 pct=% "
                        "s5=abcde l=123456789 c=q\n");
}

static const char *const hostile = "/v1/x\" status=200 project=admin forged=\"\nnext=1\x1b[31m\\";

static void log_hostile(void)
{
    log_info("m", "path=\"%.300s\" bare=%s status=%d", hostile, hostile, 404);
}

static void test_logfmt_escapes_strings(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_LOGFMT);
    assert_string_equal(fields_of(capture(log_hostile)),
                        "path=\"/v1/x\\\" status=200 project=admin forged=\\\"\\nnext=1?[31m\\\\\" "
                        "bare=\"/v1/x\\\" status=200 project=admin forged=\\\"\\nnext=1?[31m\\\\\" "
                        "status=404\n");
}

static void log_plain(void)
{
    log_info("m", "a=%s b=\"%s\" c=%s", "plain", "two words", "");
}

static void test_logfmt_quotes_only_when_needed(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_LOGFMT);
    assert_string_equal(fields_of(capture(log_plain)), "a=plain b=\"two words\" c=\"\"\n");
}

static void test_json_keeps_values_whole(void **state)
{
    json_t *obj;
    json_error_t jerr;
    const char *line;

    (void)state;
    log_set_format(LOG_FORMAT_JSON);
    line = capture(log_hostile);
    log_set_format(LOG_FORMAT_LOGFMT);
    obj = json_loads(line, 0, &jerr);
    assert_non_null(obj);
    /* The control byte shows as '?'; everything else comes back as sent. */
    assert_string_equal(json_string_value(json_object_get(obj, "path")),
                        "/v1/x\" status=200 project=admin forged=\"\nnext=1?[31m\\");
    assert_string_equal(json_string_value(json_object_get(obj, "bare")),
                        json_string_value(json_object_get(obj, "path")));
    assert_int_equal(json_integer_value(json_object_get(obj, "status")), 404);
    assert_null(json_object_get(obj, "forged"));
    assert_null(json_object_get(obj, "next"));
    assert_null(json_object_get(obj, "project"));
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_logfmt_escapes_strings),
        cmocka_unit_test(test_logfmt_quotes_only_when_needed),
        cmocka_unit_test(test_json_keeps_values_whole),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
