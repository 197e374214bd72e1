/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_webhook.c - webhook states and the validation of names and URIs,
 * including the exact user-facing messages the API returns; the stored
 * text of a webhook_config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/webhook.h"
#include "core/webhook_config.h"

#define MSG_ABSOLUTE "uri must be an absolute https:// URL"
#define MSG_ABSOLUTE_PRIVATE "uri must be an absolute http:// or https:// URL"
#define MSG_HTTP "uri must use https (http is allowed only with --allow-private-targets)"
#define MSG_CREDS "uri must not contain credentials"

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(webhook_state_name(WEBHOOK_STATE_ENABLED), "enabled");
    assert_string_equal(webhook_state_name(WEBHOOK_STATE_DISABLED), "disabled");
    assert_string_equal(webhook_state_name(WEBHOOK_STATE_DISABLED_DUE_TO_FAILED_DELIVERIES),
                        "disabled_due_to_failed_deliveries");
    assert_null(webhook_state_name(WEBHOOK_STATE_COUNT));
    assert_null(webhook_state_name((enum webhook_state)-1));
}

static void test_state_lookup_both_cases(void **state)
{
    (void)state;
    for (int i = 0; i < WEBHOOK_STATE_COUNT; i++) {
        const char *name = webhook_state_name((enum webhook_state)i);
        char upper[64];
        size_t n = strlen(name);

        assert_int_equal(webhook_state_lookup(name), i);
        for (size_t j = 0; j <= n; j++)
            upper[j] = (char)(name[j] >= 'a' && name[j] <= 'z' ? name[j] - 32 : name[j]);
        assert_int_equal(webhook_state_lookup(upper), i);
    }
    assert_int_equal(webhook_state_lookup("ENABLED"), WEBHOOK_STATE_ENABLED);
    assert_int_equal(webhook_state_lookup("DISABLED_DUE_TO_FAILED_DELIVERIES"),
                     WEBHOOK_STATE_DISABLED_DUE_TO_FAILED_DELIVERIES);
}

static void test_state_lookup_unknown(void **state)
{
    static const char *const bad[] = {
        "", "enable", "enabled ", " enabled", "disabled_due", "STATE_ENABLED",
        "disabled-due-to-failed-deliveries", "0",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (webhook_state_lookup(bad[i]) != -1)
            fail_msg("webhook_state_lookup accepted \"%s\"", bad[i]);
    }
    assert_int_equal(webhook_state_lookup(NULL), -1);
}

static void expect_name(const char *name, bool ok, const char *msg)
{
    char err[WEBHOOK_ERR_MAX] = "";
    int rc = webhook_validate_name(name, err, sizeof(err));

    if (ok && rc != 0)
        fail_msg("name \"%s\" refused: %s", name, err);
    if (!ok) {
        if (rc != -1)
            fail_msg("name \"%s\" accepted", name);
        assert_string_equal(err, msg);
    }
}

static void test_name_valid(void **state)
{
    (void)state;
    expect_name("", true, NULL);
    expect_name("Orders webhook", true, NULL);
    expect_name("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", true, NULL);  /* é € 😀 */
    expect_name("\xef\xbf\xbf", true, NULL);                              /* U+FFFF */
    expect_name("\xf4\x8f\xbf\xbf", true, NULL);                          /* U+10FFFF */
    expect_name("tab\x7f" "del", true, NULL);          /* only C0 controls are refused */
}

static void test_name_length(void **state)
{
    char name[WEBHOOK_NAME_MAX + 2];

    (void)state;
    memset(name, 'a', WEBHOOK_NAME_MAX);
    name[WEBHOOK_NAME_MAX] = '\0';
    expect_name(name, true, NULL);
    name[WEBHOOK_NAME_MAX] = 'a';
    name[WEBHOOK_NAME_MAX + 1] = '\0';
    expect_name(name, false, "name must be at most 256 bytes");

    /* The limit is in bytes: 128 two-byte characters fit, 129 do not. */
    for (int i = 0; i < 128; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    name[256] = '\0';
    expect_name(name, true, NULL);
    name[256] = 'a';
    name[257] = '\0';
    expect_name(name, false, "name must be at most 256 bytes");
}

static void test_name_control_chars(void **state)
{
    static const char *const bad[] = {
        "line\nbreak", "tab\there", "cr\r", "\x01", "bell\x07", "esc\x1b[31m", "\x1f",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_name(bad[i], false, "name must not contain control characters");
}

static void test_name_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "\x80",                 /* lone continuation byte */
        "abc\xbf",
        "\xc3",                 /* truncated sequences */
        "caf\xc3",
        "\xe2\x82",
        "\xf0\x9f\x98",
        "\xc3\x28",             /* bad continuation */
        "\xe2\x28\xa1",
        "\xc0\xaf",             /* overlong "/" */
        "\xc1\xbf",
        "\xe0\x80\xaf",
        "\xf0\x80\x80\xaf",
        "\xed\xa0\x80",         /* UTF-16 surrogate U+D800 */
        "\xed\xbf\xbf",
        "\xf4\x90\x80\x80",     /* U+110000 */
        "\xf5\x80\x80\x80",
        "\xfe",
        "\xff",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_name(bad[i], false, "name must be valid UTF-8");
}

struct uri_case {
    const char *uri;
    bool allow_private;
    const char *msg;            /* NULL: accepted */
};

static const struct uri_case uri_cases[] = {
    {"https://example.com/hook", false, NULL},
    {"https://example.com", false, NULL},
    {"https://example.com:8443/a/b?x=1&y=2", false, NULL},
    {"https://192.0.2.10/hook", false, NULL},
    {"https://[2001:db8::1]:443/hook", false, NULL},
    {"HTTPS://EXAMPLE.COM/hook", false, NULL},
    {"https://example.com/hook", true, NULL},
    {"http://localhost:8080/hook", true, NULL},
    {"http://10.0.0.1/hook", true, NULL},

    {"http://example.com/hook", false, MSG_HTTP},
    {"http://localhost:8080/hook", false, MSG_HTTP},
    {"HTTP://example.com/hook", false, MSG_HTTP},

    {"", false, "uri is required"},
    {"/hook", false, MSG_ABSOLUTE},
    {"hook", false, MSG_ABSOLUTE},
    {"example.com/hook", false, MSG_ABSOLUTE},
    {"//example.com/hook", false, MSG_ABSOLUTE},
    {"ftp://example.com/hook", false, MSG_ABSOLUTE},
    {"ftp://example.com/hook", true, MSG_ABSOLUTE_PRIVATE},
    {"gopher://example.com/", true, MSG_ABSOLUTE_PRIVATE},
    {"file:///etc/passwd", true, MSG_ABSOLUTE_PRIVATE},
    {"javascript:alert(1)", false, MSG_ABSOLUTE},
    {"https:example.com", false, MSG_ABSOLUTE},
    {"https://exa mple.com/", false, MSG_ABSOLUTE},
    {"https://example.com/a b", false, MSG_ABSOLUTE},
    {"https://example.com:99999/", false, MSG_ABSOLUTE},
    {"https://example.com:port/", false, MSG_ABSOLUTE},
    {"not a url", false, MSG_ABSOLUTE},
    {"https://", false, "uri must have a host"},
    {"https:///hook", false, "uri must have a host"},
    {"https:/hook", false, MSG_ABSOLUTE},      /* curl would read https://hook/ */
    {" https://example.com/", false, MSG_ABSOLUTE},
    {"https://example.com/\n", false, MSG_ABSOLUTE},

    {"https://user:pass@example.com/hook", false, MSG_CREDS},
    {"https://user@example.com/hook", false, MSG_CREDS},
    {"https://:pass@example.com/hook", false, MSG_CREDS},
    {"https://@example.com/hook", false, MSG_CREDS},
    {"http://user:pass@localhost/hook", true, MSG_CREDS},

    {"https://example.com/hook#frag", false, "uri must not contain a fragment"},
    {"https://example.com/hook#", false, "uri must not contain a fragment"},
};

static void test_uri_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(uri_cases) / sizeof(uri_cases[0]); i++) {
        const struct uri_case *c = &uri_cases[i];
        char err[WEBHOOK_ERR_MAX] = "";
        int rc = webhook_validate_uri(c->uri, c->allow_private, err, sizeof(err));

        if (c->msg == NULL && rc != 0)
            fail_msg("\"%s\" (allow_private=%d) refused: %s", c->uri, c->allow_private, err);
        if (c->msg != NULL && rc != -1)
            fail_msg("\"%s\" (allow_private=%d) accepted", c->uri, c->allow_private);
        if (c->msg != NULL && strcmp(err, c->msg) != 0)
            fail_msg("\"%s\": message \"%s\", expected \"%s\"", c->uri, err, c->msg);
    }
}

static void test_uri_length(void **state)
{
    static const char head[] = "https://example.com/";
    char *uri = malloc(WEBHOOK_URI_MAX + 2);
    char err[WEBHOOK_ERR_MAX];
    size_t hl = sizeof(head) - 1;

    (void)state;
    assert_non_null(uri);
    memcpy(uri, head, hl);
    memset(uri + hl, 'a', WEBHOOK_URI_MAX - hl);
    uri[WEBHOOK_URI_MAX] = '\0';
    assert_int_equal(webhook_validate_uri(uri, false, err, sizeof(err)), 0);
    uri[WEBHOOK_URI_MAX] = 'a';
    uri[WEBHOOK_URI_MAX + 1] = '\0';
    assert_int_equal(webhook_validate_uri(uri, false, err, sizeof(err)), -1);
    assert_string_equal(err, "uri must be at most 2048 bytes");
    free(uri);
}

/* Messages are cut to fit err, never written past it. */
static void test_err_buffer_small(void **state)
{
    char *err = malloc(8);

    (void)state;
    assert_non_null(err);
    assert_int_equal(webhook_validate_uri("ftp://x/", false, err, 8), -1);
    assert_string_equal(err, "uri mus");
    assert_int_equal(webhook_validate_name("\x01", err, 8), -1);
    assert_string_equal(err, "name mu");
    assert_int_equal(webhook_validate_uri("ftp://x/", false, NULL, 0), -1);
    free(err);
}

/* webhook_config as the store keeps it: dump and load give back the same
 * config; text that is not one is refused, not half-loaded. */
static void test_webhook_config_text(void **state)
{
    static const char *const bad[] = {
        "", "[]", "{\"uris\":\"https://a.example\"}", "{\"uris\":[1]}",
        "{\"user_metadata\":[]}",
        "{\"uris\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\","
        "\"11\"]}",
    };
    struct webhook_config *wc = webhook_config_new(), *back;
    char *text;

    (void)state;
    assert_non_null(wc);
    assert_int_equal(webhook_config_add_uri(wc, "https://a.example/h"), 0);
    assert_int_equal(webhook_config_add_uri(wc, "https://b.example/h?x=1"), 0);
    wc->user_metadata = json_pack("{s:[i,s]}", "k", 1, "\u00e9");
    text = webhook_config_dump(wc);
    assert_string_equal(text, "{\"uris\":[\"https://a.example/h\",\"https://b.example/h?x=1\"],"
                              "\"user_metadata\":{\"k\":[1,\"\u00e9\"]}}");
    back = webhook_config_load(text);
    assert_non_null(back);
    assert_int_equal(back->nuris, 2);
    assert_string_equal(back->uris[0], "https://a.example/h");
    assert_string_equal(back->uris[1], "https://b.example/h?x=1");
    assert_true(json_equal(back->user_metadata, wc->user_metadata));
    free(text);
    webhook_config_free(back);

    /* Full: an eleventh uri is refused. */
    for (int i = 2; i < WEBHOOK_CONFIG_URIS_MAX; i++)
        assert_int_equal(webhook_config_add_uri(wc, "https://c.example/"), 0);
    assert_int_equal(webhook_config_add_uri(wc, "https://d.example/"), -1);
    assert_int_equal(wc->nuris, WEBHOOK_CONFIG_URIS_MAX);
    webhook_config_free(wc);

    /* No uris, no metadata: {"uris":[]}. */
    wc = webhook_config_new();
    text = webhook_config_dump(wc);
    assert_string_equal(text, "{\"uris\":[]}");
    free(text);
    webhook_config_free(wc);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(webhook_config_load(bad[i]));
    webhook_config_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_state_lookup_both_cases),
        cmocka_unit_test(test_state_lookup_unknown),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_name_control_chars),
        cmocka_unit_test(test_name_invalid_utf8),
        cmocka_unit_test(test_uri_table),
        cmocka_unit_test(test_uri_length),
        cmocka_unit_test(test_err_buffer_small),
        cmocka_unit_test(test_webhook_config_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
