/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_usage.h - the help and the usage errors of kabar (cli_usage.c).
 * cli_usage_error(), which every command may return, is in cli.h.
 */
#ifndef KABAR_CLI_USAGE_H
#define KABAR_CLI_USAGE_H

#include <stdarg.h>

#include "cli/cli.h"

/* Help for everything, or for one group when group is not NULL, to stdout. */
void cli_usage_help(const char *group);

/* One command's usage line and help, to stdout. */
void cli_usage_entry_help(const struct cmd_entry *entry);

/* Print a usage error to stderr: about the command when entry is not NULL,
 * else about kabar as a whole. */
void cli_usage_verror(const struct cmd_entry *entry, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
