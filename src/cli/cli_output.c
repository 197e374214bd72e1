/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_output.c - what the kabar commands print for people: blocks of
 * labelled fields and padded table cells, and the page walk of the "list"
 * commands, shared by the command groups. Values from the server go through
 * cli_print_safe().
 */
#include "cli/cli_output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_client.h"
#include "cli/cli_print.h"

const char *
cli_output_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s != NULL ? s : "";
}

void
cli_output_label(const char *label)
{
    printf("%-10s", label);
}

void
cli_output_field(const char *label, const char *value)
{
    cli_output_label(label);
    cli_print_safe(value, stdout);
    putchar('\n');
}

void
cli_output_excerpt(const char *s, size_t max)
{
    size_t len = strlen(s);
    char *shown;

    if (len <= max) {
        cli_print_safe(s, stdout);
        return;
    }
    len = max;
    /* 10xxxxxx is the continuation of the character before it. */
    while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
        len--;
    if ((shown = strndup(s, len)) != NULL) {
        cli_print_safe(shown, stdout);
        free(shown);
    }
    fputs("...", stdout);
}

void
cli_output_cell(const char *value, size_t width)
{
    size_t len = strlen(value);

    cli_print_safe(value, stdout);
    while (width > 0 && len++ < width + 2)
        putchar(' ');
}

int
cli_output_call(struct cli_ctx *ctx, const char *method, const char *path,
                const json_t *body, json_t **out)
{
    int rc = cli_call(ctx, method, path, body, out);

    if (rc == CLI_EXIT_OK && ctx->json)
        rc = cli_print_json(*out);
    return rc;
}

int
cli_output_query_add(char *out, size_t cap, const char *key, const char *value)
{
    size_t len = strlen(out);
    char *escaped = cli_client_escape(value);
    int n;

    if (escaped == NULL)
        return -1;
    n = snprintf(out + len, cap - len, "%c%s=%s",
                 strchr(out, '?') != NULL ? '&' : '?', key, escaped);
    free(escaped);
    return n < 0 || (size_t)n >= cap - len ? -2 : 0;
}

int
cli_output_list_path(const struct cmd_entry *entry, const char *base,
                     const struct cli_output_param *params, size_t n,
                     const char *token, char *out, size_t cap)
{
    size_t i;
    int rc = 0;

    if ((size_t)snprintf(out, cap, "%s", base) >= cap)
        return cli_usage_error(entry, "the URL is too long");
    for (i = 0; i < n && rc == 0; i++) {
        if (params[i].value != NULL)
            rc = cli_output_query_add(out, cap, params[i].key, params[i].value);
    }
    if (rc == 0 && token != NULL)
        rc = cli_output_query_add(out, cap, "page_token", token);
    if (rc == -1) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    if (rc != 0)
        return cli_usage_error(entry, "the options make a URL longer than %zu bytes",
                               cap - 1);
    return 0;
}

/* Stops "list --all" against a server that never stops paginating. */
#define CLI_OUTPUT_LIST_MAX_PAGES 100000

/* 1..4 digits, at most 1000: what is not even a number ("--page-size ten")
 * is a usage error here rather than a 400 from the server. */
static bool
cli_output_page_size_ok(const char *s)
{
    size_t len = strlen(s), i;

    if (len == 0 || len > 4)
        return false;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return atoi(s) <= 1000;
}

int
cli_output_page_size_check(const struct cmd_entry *entry,
                           const char *page_size)
{
    if (page_size != NULL && !cli_output_page_size_ok(page_size))
        return cli_usage_error(entry, "--page-size must be a number from 1 "
                               "to 1000");
    return 0;
}

/* Check the shape of one page: the collection (absent when empty, as
 * Google's APIs do) is an array, "next_page_token" a string when present. */
static bool
cli_output_list_page_ok(const struct cli_output_list *list,
                        const json_t *page)
{
    const json_t *items = json_object_get(page, list->collection);
    const json_t *token = json_object_get(page, "next_page_token");

    return (items == NULL || json_is_array(items)) &&
           (token == NULL || json_is_string(token));
}

/*
 * Fetch pages from token on into all (one array of items), following
 * next_page_token when follow is set. *next is left holding the token of
 * the page after the last one fetched (NULL when there is none); the
 * caller frees it. Returns 0 or an exit code after printing why.
 */
static int
cli_output_list_fetch(struct cli_ctx *ctx, const struct cli_output_list *list,
                      const char *token, bool follow, json_t *all,
                      char **next)
{
    char path[CLI_OUTPUT_PATH_MAX];
    char *current = token != NULL ? strdup(token) : NULL;
    json_t *page = NULL, *items;
    const char *t;
    long pages;
    int rc = 0;

    *next = NULL;
    if (token != NULL && current == NULL)
        goto nomem;
    for (pages = 0; pages < CLI_OUTPUT_LIST_MAX_PAGES; pages++) {
        if ((rc = list->path(list->arg, current, path, sizeof(path))) != 0)
            goto out;
        if ((rc = cli_call(ctx, "GET", path, NULL, &page)) != 0)
            goto out;
        if (!cli_output_list_page_ok(list, page)) {
            fprintf(stderr, "kabar: %s sent a list page of an unexpected "
                    "shape\n", ctx->server);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        items = json_object_get(page, list->collection);
        if (items != NULL && json_array_extend(all, items) != 0)
            goto nomem;
        t = json_string_value(json_object_get(page, "next_page_token"));
        if (t == NULL || t[0] == '\0')
            goto out;
        if (current != NULL && strcmp(current, t) == 0) {
            /* The same page again would loop forever. */
            fprintf(stderr, "kabar: %s returned the same page token twice\n",
                    ctx->server);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        free(current);
        if ((current = strdup(t)) == NULL)
            goto nomem;
        json_decref(page);
        page = NULL;
        if (!follow) {
            *next = current;
            current = NULL;
            goto out;
        }
    }
    fprintf(stderr, "kabar: stopped after %d pages\n",
            CLI_OUTPUT_LIST_MAX_PAGES);
    rc = CLI_EXIT_FAIL;
    goto out;

nomem:
    fprintf(stderr, "kabar: out of memory\n");
    rc = CLI_EXIT_FAIL;
out:
    json_decref(page);
    free(current);
    return rc;
}

int
cli_output_list(struct cli_ctx *ctx, const struct cli_output_list *list,
                const char *token, bool all)
{
    json_t *items = NULL, *out = NULL;
    char *next = NULL;
    int rc;

    if (token != NULL && token[0] == '\0')
        token = NULL;
    if (ctx->json && !all) {
        /* One page goes out exactly as the server sent it. */
        char path[CLI_OUTPUT_PATH_MAX];

        if ((rc = list->path(list->arg, token, path, sizeof(path))) != 0)
            return rc;
        rc = cli_output_call(ctx, "GET", path, NULL, &out);
        json_decref(out);
        return rc;
    }
    if ((items = json_array()) == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    if ((rc = cli_output_list_fetch(ctx, list, token, all, items,
                                    &next)) != 0)
        goto out;

    if (ctx->json) {
        /* --all prints one page holding every item, with no token since
         * none is left. */
        out = json_object();
        if (out == NULL || json_object_set(out, list->collection, items) != 0) {
            fprintf(stderr, "kabar: out of memory\n");
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        rc = cli_print_json(out);
        goto out;
    }
    list->print(list->arg, items, next);

out:
    free(next);
    json_decref(out);
    json_decref(items);
    return rc;
}
