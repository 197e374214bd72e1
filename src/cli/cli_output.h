/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_output.h - what the kabar commands print for people, shared by the
 * command groups (cli_webhooks.c, cli_deliveries.c, cli_events.c).
 *
 * A resource is shown as a block of "label:    value" lines and a list as
 * a table of padded columns. Every value that comes from the server goes
 * through cli_print_safe(), so none of these can write a control character
 * to the terminal. cli_output_list() is the one walk over the pages of a
 * collection that every "list" command shares, with what --json and --all
 * print.
 */
#ifndef KABAR_CLI_OUTPUT_H
#define KABAR_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cli/cli.h"

/* A string member of obj, or "" when it is absent or not a string. The
 * result points into obj. */
const char *cli_output_str(const json_t *obj, const char *key);

/* The label column of a block, padded to 10 characters. */
void cli_output_label(const char *label);

/* One "label:    value" line of a block, the value from the server. */
void cli_output_field(const char *label, const char *value);

/* Print at most max bytes of s to stdout, on one line (cli_print_safe()):
 * a longer s is cut at the start of a UTF-8 character, so that no half
 * character reaches the terminal, and "..." marks the cut. */
void cli_output_excerpt(const char *s, size_t max);

/* A table cell: value, then padding up to width plus two spaces of gap
 * (no padding when width is 0, for the last column). */
void cli_output_cell(const char *value, size_t width);

/* Send one request (cli_call()); with --json print the answer, else leave
 * it in *out for the command to print. Returns a CLI_EXIT_* code; *out is
 * the caller's to json_decref() either way. */
int cli_output_call(struct cli_ctx *ctx, const char *method, const char *path,
                    const json_t *body, json_t **out);

/*
 * Append "?key=value" (or "&key=value" after the first) to the path in out,
 * the value percent-encoded. Returns 0, -1 when out of memory, -2 when the
 * path would not fit in cap (out is then cut; do not send it).
 */
int cli_output_query_add(char *out, size_t cap, const char *key, const char *value);

/* One query parameter of a list page; a NULL value is not sent. */
struct cli_output_param {
    const char *key;
    const char *value;
};

/*
 * The path of one list page: base, then each of the n params that has a
 * value and, when token is not NULL, page_token=token, in that order
 * (cli_output_query_add()). Returns 0, or an exit code after printing why:
 * out of memory, or the usage error of entry when it does not fit in cap.
 */
int cli_output_list_path(const struct cmd_entry *entry, const char *base,
                         const struct cli_output_param *params, size_t n,
                         const char *token, char *out, size_t cap);

/* Room for the path of one list page, query included. */
#define CLI_OUTPUT_PATH_MAX 4096

/*
 * A paginated collection as a "list" command walks it: GET path answers a
 * page {"<collection>": [...], "next_page_token": "..."}, the array absent
 * when empty and the token absent on the last page. The command says how
 * to build the path of a page and how to print what it gathered; the walk
 * and the --json and --all rules are cli_output_list()'s.
 */
struct cli_output_list {
    const char *collection;         /* the array member: "webhooks" */
    /* Write the path of the page at token (NULL: the first) into out.
     * Returns 0, or an exit code after printing why. */
    int (*path)(const void *arg, const char *token, char *out, size_t cap);
    /* Print items for people; next is the token of the page after them, or
     * NULL when they were the last. Not called with --json. */
    void (*print)(const void *arg, const json_t *items, const char *next);
    const void *arg;                /* the command's query, for both */
};

/* The --page-size value, when given, must be 1..4 digits up to 1000 (0 asks
 * for the server's default); the server checks the range again. Returns 0,
 * or CLI_EXIT_USAGE after printing the usage error of entry. */
int cli_output_page_size_check(const struct cmd_entry *entry,
                               const char *page_size);

/*
 * Run a "list" command over list from token (NULL or "": the first page).
 * With --json and without all, one page goes out exactly as the server sent
 * it. Otherwise pages are fetched into one array, following next_page_token
 * to the end when all is set: --json then prints one page holding every
 * item and no token, and without --json list->print() shows them. Returns a
 * CLI_EXIT_* code after printing any error.
 */
int cli_output_list(struct cli_ctx *ctx, const struct cli_output_list *list,
                    const char *token, bool all);

#endif
