/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_usage.c - how to use kabar: the help (--help, "kabar help"), each
 * command's usage line, and usage errors, all read from the command table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_usage.h"

static void
cli_print_usage_line(FILE *f)
{
    fprintf(f, "usage: kabar [--server URL] [--api-key KEY] [--json] "
               "COMMAND [ARGS]\n");
}

static void
cli_print_entry_usage(const struct cmd_entry *entry, FILE *f)
{
    /* A single-word command ("kabar verify") has no name. */
    fprintf(f, "usage: kabar %s%s%s%s%s\n", entry->group, entry->name ? " " : "",
            entry->name ? entry->name : "", entry->usage[0] != '\0' ? " " : "", entry->usage);
}

/* Help for everything, or for one group when group is not NULL. */
void
cli_usage_help(const char *group)
{
    size_t i;

    if (group != NULL)
        printf("usage: kabar %s COMMAND [ARGS] [--server URL] [--api-key KEY] "
               "[--json]\n", group);
    else
        cli_print_usage_line(stdout);
    printf("\nCommands:\n");
    for (i = 0; i < cmd_table_len; i++) {
        const struct cmd_entry *e = cmd_table[i];

        if (group != NULL && strcmp(group, e->group) != 0)
            continue;
        printf("  %s%s%s%s%s\n      %s\n", e->group, e->name ? " " : "",
               e->name ? e->name : "", e->usage[0] != '\0' ? " " : "", e->usage, e->help);
    }
    printf("\nGlobal options (anywhere on the line):\n"
           "  --server URL   kabard's base URL (env KABAR_SERVER, default "
           CLI_DEFAULT_SERVER ")\n"
           "  --api-key KEY  API key (env KABAR_API_KEY, else the file "
           "$KABAR_DATA_DIR/api-key,\n"
           "                 else ./data/api-key)\n"
           "  --json         print the server's JSON response, for scripts\n"
           "  -h, --help     show this help\n"
           "  --version      show kabar's version\n"
           "\nExit status: 0 success, 1 request failed, 2 usage error; the wait\n"
           "commands: 0 the job succeeded, 1 it ended otherwise, 3 it was still\n"
           "running at --timeout.\n");
}

void
cli_usage_entry_help(const struct cmd_entry *entry)
{
    cli_print_entry_usage(entry, stdout);
    printf("\n%s\n\nGlobal options: --server URL, --api-key KEY, --json, "
           "--help (see kabar --help).\n", entry->help);
}

/* Print a usage error: about the command when entry is known, else about
 * kabar as a whole. */
void
cli_usage_verror(const struct cmd_entry *entry, const char *fmt, va_list ap)
{
    if (entry != NULL)
        fprintf(stderr, "kabar: %s%s%s: ", entry->group, entry->name ? " " : "",
                entry->name ? entry->name : "");
    else
        fputs("kabar: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    if (entry != NULL) {
        cli_print_entry_usage(entry, stderr);
    } else {
        cli_print_usage_line(stderr);
        fprintf(stderr, "Run 'kabar --help' for the list of commands.\n");
    }
}

int
cli_usage_error(const struct cmd_entry *entry, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cli_usage_verror(entry, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

/* "kabar help [GROUP [COMMAND]]": what --help prints, as a command, since
 * that is where people look first. */
static int
cli_help_exec(struct cli_ctx *ctx, const struct cmd_entry *entry,
              const struct cmd_args *args)
{
    const struct cmd_entry *e;

    (void)ctx;
    if (args->nargs == 0) {
        cli_usage_help(NULL);
        return CLI_EXIT_OK;
    }
    if (!cli_table_group_exists(args->arg[0]))
        return cli_usage_error(entry, "unknown command '%s'", args->arg[0]);
    if (args->nargs == 1) {
        /* A single-word command ("verify") has its own help. */
        if ((e = cli_table_find(args->arg[0], NULL)) != NULL)
            cli_usage_entry_help(e);
        else
            cli_usage_help(args->arg[0]);
        return CLI_EXIT_OK;
    }
    if ((e = cli_table_find(args->arg[0], args->arg[1])) == NULL)
        return cli_usage_error(entry, "unknown command '%s %s'", args->arg[0], args->arg[1]);
    cli_usage_entry_help(e);
    return CLI_EXIT_OK;
}

const struct cmd_entry cmd_help_entry = {
    .group = "help",
    .name = NULL,
    .usage = "[COMMAND [SUBCOMMAND]]",
    .help = "Show the commands, or what one command or group takes.",
    .arg_name = "",
    .min_args = 0,
    .max_args = 2,
    .exec = cli_help_exec,
};

