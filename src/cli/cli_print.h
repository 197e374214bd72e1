/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_print.h - writing what the server (or a sender, or a file) said:
 * text made safe for a terminal, and JSON for --json.
 */
#ifndef KABAR_CLI_PRINT_H
#define KABAR_CLI_PRINT_H

#include <stdio.h>

#include <jansson.h>

#include "cli/cli.h"

/* Write s to f with control characters shown visibly, as C escapes ("\n",
 * "\r", "\t", "\x1b", "\u0085" for a C1 control) and a backslash as "\\":
 * strings from the server go to a terminal and must not be able to drive
 * it, and what was sent should still be readable. */
void cli_print_safe(const char *s, FILE *f);

/* Print json to stdout with a 2-space indent and a newline, as --json
 * promises. Returns CLI_EXIT_OK, or CLI_EXIT_FAIL when out of memory. */
int cli_print_json(const json_t *json);

#endif
