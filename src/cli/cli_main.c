/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_main.c - entry point of kabar, the command-line tool for kabard.
 *
 * It reads the command line against cmd_table[] (global options such as
 * --server and --json may appear before, between or after the command
 * words), finds the server and the API key, and runs one command. Exit
 * codes: 0 success, 1 the request failed (or the server said no), 2 the
 * command line or the configuration cannot be used; and for the "wait"
 * commands, 3 the job was still running when the time ran out.
 *
 * The server and the key are only looked for when a command first sends a
 * request (cli_connect()), so that --help and usage errors need neither.
 * The API key is copied into one buffer, struct cli_ctx.api_key, and the
 * copy in argv is overwritten so that ps(1) does not show it for the life
 * of the process. Every path out of main() goes through one exit that wipes
 * that buffer with OPENSSL_cleanse(). The key is never printed, not even in
 * an error about the key itself.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "cli/cli_client.h"

const struct cmd_entry *const cmd_table[] = {
    &cmd_webhooks_create_entry,
    &cmd_webhooks_get_entry,
    &cmd_webhooks_list_entry,
    &cmd_webhooks_update_entry,
    &cmd_webhooks_delete_entry,
    &cmd_webhooks_rotate_secret_entry,
    &cmd_webhooks_ping_entry,
    &cmd_events_publish_entry,
    &cmd_deliveries_list_entry,
    &cmd_deliveries_get_entry,
    &cmd_deliveries_retry_entry,
    &cmd_webhooks_recover_entry,
    &cmd_interactions_list_entry,
    &cmd_interactions_get_entry,
    &cmd_interactions_cancel_entry,
    &cmd_interactions_wait_entry,
    &cmd_batches_list_entry,
    &cmd_batches_get_entry,
    &cmd_batches_cancel_entry,
    &cmd_batches_wait_entry,
    &cmd_operations_list_entry,
    &cmd_operations_get_entry,
    &cmd_operations_cancel_entry,
    &cmd_operations_wait_entry,
    &cmd_keys_rotate_entry,
    &cmd_verify_entry,
    &cmd_listen_entry,
    &cmd_help_entry,
    &cmd_completion_entry,
};
#define CMD_TABLE_LEN (sizeof(cmd_table) / sizeof(cmd_table[0]))
const size_t cmd_table_len = CMD_TABLE_LEN;

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

void
cli_fputs_safe(const char *s, FILE *f)
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
static void
cli_print_help(const char *group)
{
    size_t i;

    if (group != NULL)
        printf("usage: kabar %s COMMAND [ARGS] [--server URL] [--api-key KEY] "
               "[--json]\n", group);
    else
        cli_print_usage_line(stdout);
    printf("\nCommands:\n");
    for (i = 0; i < CMD_TABLE_LEN; i++) {
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

static void
cli_print_entry_help(const struct cmd_entry *entry)
{
    cli_print_entry_usage(entry, stdout);
    printf("\n%s\n\nGlobal options: --server URL, --api-key KEY, --json, "
           "--help (see kabar --help).\n", entry->help);
}

/* Print a usage error: about the command when entry is known, else about
 * kabar as a whole. */
static void
cli_vusage_error(const struct cmd_entry *entry, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
cli_vusage_error(const struct cmd_entry *entry, const char *fmt, va_list ap)
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
    cli_vusage_error(entry, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

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
    cli_vusage_error(p->entry, fmt, ap);
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

static bool
cli_group_exists(const char *group)
{
    size_t i;

    for (i = 0; i < CMD_TABLE_LEN; i++) {
        if (strcmp(cmd_table[i]->group, group) == 0)
            return true;
    }
    return false;
}

static const struct cmd_entry *
cli_find_entry(const char *group, const char *name)
{
    size_t i;

    for (i = 0; i < CMD_TABLE_LEN; i++) {
        if (strcmp(cmd_table[i]->group, group) == 0 &&
            (name == NULL ? cmd_table[i]->name == NULL
                          : cmd_table[i]->name != NULL &&
                            strcmp(cmd_table[i]->name, name) == 0))
            return cmd_table[i];
    }
    return NULL;
}

/* A word that is not an option: the group, the command, or an argument. */
static int
cli_parse_word(struct cli_parse *p, const char *word)
{
    if (p->group == NULL) {
        if (!cli_group_exists(word))
            return cli_parse_error(p, "unknown command '%s'", word);
        p->group = word;
        /* A single-word command is complete with its group word. */
        p->entry = cli_find_entry(word, NULL);
        return 0;
    }
    if (p->entry == NULL) {
        p->entry = cli_find_entry(p->group, word);
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

/* Trim ASCII white space from both ends of s, in place. */
static void
cli_trim(char *s)
{
    size_t len = strlen(s), start = 0;

    while (len > 0 && strchr(" \t\r\n\v\f", s[len - 1]) != NULL)
        s[--len] = '\0';
    while (s[start] != '\0' && strchr(" \t\r\n\v\f", s[start]) != NULL)
        start++;
    memmove(s, s + start, len - start + 1);
}

/*
 * Read the key file into out (cap bytes). Returns 1 when a key was read,
 * 0 when the file does not exist, CLI_EXIT_USAGE after printing why when it
 * cannot be used. The file's bytes pass through one stack buffer, wiped.
 */
static int
cli_read_key_file(char *out, size_t cap)
{
    const char *dir = getenv("KABAR_DATA_DIR");
    char path[4096];
    char buf[CLI_API_KEY_MAX + 64];
    size_t n;
    FILE *f;
    int rc = CLI_EXIT_USAGE, len;

    if (dir == NULL || dir[0] == '\0')
        dir = "./data";
    len = snprintf(path, sizeof(path), "%s/api-key", dir);
    if (len < 0 || (size_t)len >= sizeof(path)) {
        fprintf(stderr, "kabar: KABAR_DATA_DIR is too long\n");
        return CLI_EXIT_USAGE;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "kabar: cannot read %s: %s\n", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    if (ferror(f)) {
        fprintf(stderr, "kabar: cannot read %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (n == sizeof(buf) - 1 && fgetc(f) != EOF) {
        fprintf(stderr, "kabar: %s is too long to hold an API key\n", path);
        goto out;
    }
    buf[n] = '\0';
    cli_trim(buf);
    if (strlen(buf) >= cap) {
        fprintf(stderr, "kabar: %s is too long to hold an API key\n", path);
        goto out;
    }
    memcpy(out, buf, strlen(buf) + 1);
    rc = out[0] != '\0' ? 1 : 0;

out:
    OPENSSL_cleanse(buf, sizeof(buf));
    fclose(f);
    return rc;
}

/* Copy a key from the command line or the environment into out, trimmed. */
static int
cli_copy_key(const char *key, const char *source, char *out, size_t cap)
{
    if (strlen(key) >= cap) {
        fprintf(stderr, "kabar: the API key from %s is too long\n", source);
        return CLI_EXIT_USAGE;
    }
    memcpy(out, key, strlen(key) + 1);
    cli_trim(out);
    return 0;
}

/*
 * Fill ctx->api_key, unless --api-key already did, from KABAR_API_KEY or
 * the key file, and check it. Returns 0 or CLI_EXIT_USAGE after printing
 * why.
 */
static int
cli_load_api_key(struct cli_ctx *ctx)
{
    const char *env = getenv("KABAR_API_KEY");
    const unsigned char *p;
    int rc;

    if (ctx->api_key_opt) {
        /* main() copied it already. */
    } else if (env != NULL && env[0] != '\0') {
        if ((rc = cli_copy_key(env, "KABAR_API_KEY", ctx->api_key,
                               sizeof(ctx->api_key))) != 0)
            return rc;
    } else if ((rc = cli_read_key_file(ctx->api_key,
                                       sizeof(ctx->api_key))) != 1) {
        if (rc != 0)
            return rc;
    }
    if (ctx->api_key[0] == '\0') {
        fprintf(stderr, "kabar: no API key: pass --api-key, set "
                "KABAR_API_KEY, or put it in $KABAR_DATA_DIR/api-key "
                "(default ./data/api-key)\n");
        return CLI_EXIT_USAGE;
    }
    /* A control character would let the key end the header line and start
     * another one. */
    for (p = (const unsigned char *)ctx->api_key; *p != '\0'; p++) {
        if (*p < 0x21 || *p == 0x7f) {
            fprintf(stderr, "kabar: the API key contains a space or a "
                    "control character\n");
            return CLI_EXIT_USAGE;
        }
    }
    return 0;
}

/* Decide the server URL. Returns 0 or CLI_EXIT_USAGE after printing why. */
static int
cli_load_server(struct cli_ctx *ctx)
{
    const char *env = getenv("KABAR_SERVER");

    if (ctx->server_opt != NULL)
        ctx->server = ctx->server_opt;
    else if (env != NULL && env[0] != '\0')
        ctx->server = env;
    else
        ctx->server = CLI_DEFAULT_SERVER;
    if (strncasecmp(ctx->server, "http://", 7) != 0 &&
        strncasecmp(ctx->server, "https://", 8) != 0) {
        fputs("kabar: the server must be an http:// or https:// URL, not '",
              stderr);
        cli_fputs_safe(ctx->server, stderr);
        fputs("'\n", stderr);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int
cli_connect(struct cli_ctx *ctx)
{
    int rc;

    if (ctx->client != NULL)
        return 0;
    if ((rc = cli_load_server(ctx)) != 0)
        return rc;
    if ((rc = cli_load_api_key(ctx)) != 0)
        return rc;
    /* libcurl's global state is made in main(); this only adds a handle. */
    ctx->client = cli_client_new(ctx->server, ctx->api_key);
    if (ctx->client == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
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

/* Take the key given with --api-key into ctx, and overwrite it in argv so
 * that ps(1) does not show it for the life of the process. */
static int
cli_take_api_key(struct cli_ctx *ctx, char *arg)
{
    int rc;

    if (arg == NULL)
        return 0;
    rc = cli_copy_key(arg, "--api-key", ctx->api_key, sizeof(ctx->api_key));
    OPENSSL_cleanse(arg, strlen(arg));
    ctx->api_key_opt = rc == 0;
    return rc;
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
        cli_print_help(NULL);
        return CLI_EXIT_OK;
    }
    if (!cli_group_exists(args->arg[0]))
        return cli_usage_error(entry, "unknown command '%s'", args->arg[0]);
    if (args->nargs == 1) {
        /* A single-word command ("verify") has its own help. */
        if ((e = cli_find_entry(args->arg[0], NULL)) != NULL)
            cli_print_entry_help(e);
        else
            cli_print_help(args->arg[0]);
        return CLI_EXIT_OK;
    }
    if ((e = cli_find_entry(args->arg[0], args->arg[1])) == NULL)
        return cli_usage_error(entry, "unknown command '%s %s'", args->arg[0], args->arg[1]);
    cli_print_entry_help(e);
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
            cli_print_entry_help(p.entry);
        else
            cli_print_help(p.group);
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
    if ((rc = cli_take_api_key(&ctx, g.api_key)) != 0)
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
