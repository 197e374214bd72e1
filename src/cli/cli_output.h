/*
 * cli_output.h - what the kabar commands print for people, shared by the
 * command groups (cli_webhooks.c, cli_deliveries.c, cli_events.c).
 *
 * A resource is shown as a block of "label:    value" lines and a list as
 * a table of padded columns. Every value that comes from the server goes
 * through cli_fputs_safe(), so none of these can write a control character
 * to the terminal.
 */
#ifndef KABAR_CLI_OUTPUT_H
#define KABAR_CLI_OUTPUT_H

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

/* A table cell: value, then padding up to width plus two spaces of gap
 * (no padding when width is 0, for the last column). */
void cli_output_cell(const char *value, size_t width);

/* Send one request (cli_call()); with --json print the answer, else leave
 * it in *out for the command to print. Returns a CLI_EXIT_* code; *out is
 * the caller's to json_decref() either way. */
int cli_output_call(struct cli_ctx *ctx, const char *method, const char *path,
                    const json_t *body, json_t **out);

#endif
