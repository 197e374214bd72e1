/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_print.c - the two ways the kabar tool writes what came from
 * elsewhere: text made safe for a terminal, and JSON as --json promises it
 * (cli_print.h). Every command, the client and the listener print through
 * these, so none of them can write a control character to a terminal.
 */
#include "cli/cli_print.h"

#include <stdio.h>
#include <stdlib.h>

void
cli_print_safe(const char *s, FILE *f)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '\n') {
            fputs("\\n", f);
        } else if (*p == '\r') {
            fputs("\\r", f);
        } else if (*p == '\t') {
            fputs("\\t", f);
        } else if (*p == '\\') {
            fputs("\\\\", f);
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\x%02x", *p);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            /* U+0080..U+009F, the C1 controls some terminals obey. */
            fprintf(f, "\\u%04x", p[1]);
            p++;
        } else {
            fputc(*p, f);
        }
    }
}

int
cli_print_json(const json_t *json)
{
    char *text = json_dumps(json, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                  JSON_ENCODE_ANY);

    if (text == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    printf("%s\n", text);
    free(text);
    return CLI_EXIT_OK;
}
