/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_config.c - where kabar finds its server and its API key: the
 * --server and --api-key options, then KABAR_SERVER and KABAR_API_KEY, then
 * the key file ($KABAR_DATA_DIR/api-key, default ./data/api-key), then the
 * default server (cli_config.h).
 *
 * The key is copied into one buffer, struct cli_ctx.api_key, which main()
 * wipes on every path out; the copy in argv and every buffer the key passes
 * through here are overwritten with OPENSSL_cleanse(). The key is never
 * printed, not even in an error about the key itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "cli/cli_config.h"
#include "cli/cli_print.h"

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
int
cli_config_api_key(struct cli_ctx *ctx)
{
    const char *env = getenv("KABAR_API_KEY");
    const unsigned char *p;
    int rc;

    if (ctx->api_key_opt) {
        /* cli_config_take_api_key() copied it already. */
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
int
cli_config_server(struct cli_ctx *ctx)
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
        cli_print_safe(ctx->server, stderr);
        fputs("'\n", stderr);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* Take the key given with --api-key into ctx, and overwrite it in argv so
 * that ps(1) does not show it for the life of the process. */
int
cli_config_take_api_key(struct cli_ctx *ctx, char *arg)
{
    int rc;

    if (arg == NULL)
        return 0;
    rc = cli_copy_key(arg, "--api-key", ctx->api_key, sizeof(ctx->api_key));
    OPENSSL_cleanse(arg, strlen(arg));
    ctx->api_key_opt = rc == 0;
    return rc;
}

