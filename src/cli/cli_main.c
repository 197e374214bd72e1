/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_main.c - entry point of kabar, the command-line tool for kabard.
 *
 * It reads the command line against the command table (cli_table.c;
 * global options such as --server and --json may appear before, between or
 * after the command words) and runs one command. Exit codes: 0 success, 1
 * the request failed (or the server said no), 2 the command line or the
 * configuration cannot be used; and for the "wait" commands, 3 the job was
 * still running when the time ran out.
 *
 * The help and usage errors are cli_usage.c's. The server and the key
 * (cli_config.c) are only looked for when a command first sends a request
 * (cli_client.c), so that --help and usage errors need neither. A key given
 * with --api-key is copied into struct cli_ctx.api_key at once and wiped
 * from argv; every path out of main() goes through one exit that wipes
 * that buffer with OPENSSL_cleanse().
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_config.h"
#include "cli/cli_usage.h"

/* The global options as given, before defaults and the environment. */
struct cli_globals {
    const char *server;
    char *api_key;          /* points into argv, wiped once copied */
    bool json;
    bool help;
    bool version;
};

/* Where the parse got to: which group and command the words named. */
struct cli_parse {
    const char *group;              /* a group that exists in cmd_table */
    const struct cmd_entry *entry;
    struct cmd_args args;
    bool end_of_options;            /* after "--" */
};

/* A usage error in the parse, about the command once one is known.
 * Returns CLI_EXIT_USAGE. */
static int
cli_parse_error(const struct cli_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
cli_parse_error(const struct cli_parse *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cli_usage_verror(p->entry, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

/*
 * If argv[*i] is "--NAME" or "--NAME=VALUE", store the value of an option
 * that takes one in *value (the next argument unless "=" gave it) and
 * advance *i past what was used. Returns 1 when the name matched, 0 when it
 * did not, -1 when the name matched but the value is missing or unwanted.
 */
static int
cli_match_option(int argc, char **argv, int *i, const char *name,
                 bool has_arg, char **value)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);

    if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, name, len) != 0)
        return 0;
    if (arg[2 + len] == '=') {
        if (!has_arg)
            return -1;
        *value = argv[*i] + 2 + len + 1;
        return 1;
    }
    if (arg[2 + len] != '\0')
        return 0;
    if (has_arg) {
        if (*i + 1 >= argc)
            return -1;
        *i += 1;
        *value = argv[*i];
    }
    return 1;
}

/* Take argv[*i] if it is a global option. Returns 1 when taken, 0 when it
 * is not one, CLI_EXIT_USAGE (after printing why) when it is malformed. */
static int
cli_parse_global(struct cli_parse *p, struct cli_globals *g, int argc,
                 char **argv, int *i)
{
    const char *arg = argv[*i];
    char *value = NULL;
    int m;

    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        g->help = true;
        return 1;
    }
    if (strcmp(arg, "--version") == 0) {
        g->version = true;
        return 1;
    }
    if (strcmp(arg, "--json") == 0) {
        g->json = true;
        return 1;
    }
    if ((m = cli_match_option(argc, argv, i, "server", true, &value)) != 0) {
        if (m < 0)
            return cli_parse_error(p, "option %s needs a URL", "--server");
        g->server = value;
        return 1;
    }
    if ((m = cli_match_option(argc, argv, i, "api-key", true, &value)) != 0) {
        if (m < 0)
            return cli_parse_error(p, "option %s needs a key", "--api-key");
        g->api_key = value;
        return 1;
    }
    return 0;
}

/* Take argv[*i] as an option of the command. Returns 0 or CLI_EXIT_USAGE. */
static int
cli_parse_command_option(struct cli_parse *p, int argc, char **argv, int *i)
{
    const struct cmd_opt *o;
    char *value = NULL;
    int m, k;

    for (k = 0, o = p->entry->opts; o != NULL && o->name != NULL; o++, k++) {
        assert(k < CMD_MAX_OPTS);
        m = cli_match_option(argc, argv, i, o->name, o->has_arg, &value);
        if (m == 0)
            continue;
        if (m < 0) {
            return cli_usage_error(p->entry, o->has_arg
                                   ? "option --%s needs a value"
                                   : "option --%s takes no value", o->name);
        }
        /* A repeated option: the last one wins, as with most tools. */
        p->args.opt[k] = o->has_arg ? value : "";
        p->args.argv_value[k] = o->has_arg ? value : NULL;
        return 0;
    }
    return cli_usage_error(p->entry, "unknown option %s", argv[*i]);
}

/* A word that is not an option: the group, the command, or an argument. */
static int
cli_parse_word(struct cli_parse *p, const char *word)
{
    if (p->group == NULL) {
        if (!cli_table_group_exists(word))
            return cli_parse_error(p, "unknown command '%s'", word);
        p->group = word;
        /* A single-word command is complete with its group word. */
        p->entry = cli_table_find(word, NULL);
        return 0;
    }
    if (p->entry == NULL) {
        p->entry = cli_table_find(p->group, word);
        if (p->entry == NULL) {
            fprintf(stderr, "kabar: %s: unknown command '%s'\n", p->group,
                    word);
            fprintf(stderr, "Run 'kabar %s --help' for its commands.\n",
                    p->group);
            return CLI_EXIT_USAGE;
        }
        return 0;
    }
    assert(p->entry->max_args <= CMD_MAX_ARGS);
    if (p->args.nargs >= p->entry->max_args)
        return cli_usage_error(p->entry, "unexpected argument '%s'", word);
    p->args.arg[p->args.nargs++] = word;
    return 0;
}

/* Read the whole command line. Returns 0 or CLI_EXIT_USAGE. */
static int
cli_parse_argv(struct cli_parse *p, struct cli_globals *g, int argc,
               char **argv)
{
    int i, rc;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (!p->end_of_options && arg[0] == '-' && arg[1] != '\0') {
            if (strcmp(arg, "--") == 0) {
                p->end_of_options = true;
                continue;
            }
            rc = cli_parse_global(p, g, argc, argv, &i);
            if (rc == 1)
                continue;
            if (rc != 0)
                return rc;
            if (p->entry == NULL)
                return cli_parse_error(p, "unknown option %s", arg);
            if ((rc = cli_parse_command_option(p, argc, argv, &i)) != 0)
                return rc;
            continue;
        }
        if ((rc = cli_parse_word(p, arg)) != 0)
            return rc;
    }
    return 0;
}

/* Check the command line against the entry before anything runs. */
static int
cli_check_args(const struct cli_parse *p)
{
    if (p->args.nargs < p->entry->min_args)
        return cli_usage_error(p->entry, "missing %s", p->entry->arg_name);
    return 0;
}

int
main(int argc, char **argv)
{
    struct cli_globals g = {0};
    struct cli_parse p = {0};
    struct cli_ctx ctx = {0};
    bool curl_ready = false;
    int rc;

    if ((rc = cli_parse_argv(&p, &g, argc, argv)) != 0)
        goto out;
    if (g.version) {
        printf("kabar %s\n", KABAR_VERSION);
        goto out;
    }
    if (g.help) {
        if (p.entry != NULL)
            cli_usage_entry_help(p.entry);
        else
            cli_usage_help(p.group);
        goto out;
    }
    if (p.group == NULL) {
        rc = cli_parse_error(&p, "no command given");
        goto out;
    }
    if (p.entry == NULL) {
        fprintf(stderr, "kabar: %s: missing command\n", p.group);
        fprintf(stderr, "Run 'kabar %s --help' for its commands.\n", p.group);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if ((rc = cli_check_args(&p)) != 0)
        goto out;
    if ((rc = cli_config_take_api_key(&ctx, g.api_key)) != 0)
        goto out;
    ctx.server_opt = g.server;
    ctx.json = g.json;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "kabar: cannot initialise libcurl\n");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    curl_ready = true;
    rc = p.entry->exec(&ctx, p.entry, &p.args);

out:
    if (g.api_key != NULL)
        OPENSSL_cleanse(g.api_key, strlen(g.api_key));
    cli_client_free(ctx.client);
    if (curl_ready)
        curl_global_cleanup();
    OPENSSL_cleanse(ctx.api_key, sizeof(ctx.api_key));
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        fprintf(stderr, "kabar: cannot write output: %s\n", strerror(errno));
        rc = CLI_EXIT_FAIL;
    }
    return rc;
}
