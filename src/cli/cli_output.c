/*
 * cli_output.c - what the kabar commands print for people: blocks of
 * labelled fields and padded table cells, shared by the command groups.
 * Values from the server go through cli_fputs_safe().
 */
#include "cli/cli_output.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli_client.h"

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
    cli_fputs_safe(value, stdout);
    putchar('\n');
}

void
cli_output_cell(const char *value, size_t width)
{
    size_t len = strlen(value);

    cli_fputs_safe(value, stdout);
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
