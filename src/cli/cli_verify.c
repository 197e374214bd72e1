/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_verify.c - "kabar verify": check one webhook the way a receiver
 * would, with libkabar, from the three webhook-* header values on the
 * command line and the raw body on stdin.
 *
 *   kabar verify --secret whsec_... --id msg_... --timestamp 1769083200 \
 *       --signature 'v1,...' < body.json
 *   kabar verify --jwks https://kabar.example.com/.well-known/jwks.json \
 *       --audience https://me.example.com/hook --id ... < body.json
 *
 * Exit 0 and the event on stdout when it verifies (the body for a static
 * webhook, the token's claims for a dynamic one); exit 1 and the reason on
 * stderr when it does not. A missing --id/--timestamp/--signature is a
 * failed verification ("missing webhook-id header"), not a usage error,
 * since that is what a receiver would see. The secret given with --secret
 * is overwritten in argv once decoded, so that ps(1) stops showing it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli.h"
#include "cli/cli_print.h"
#include "common/capbuf.h"
#include "kabar/kabar.h"

/* A webhook body larger than this is not one kabard sends. */
#define VERIFY_MAX_BODY (16u << 20)

enum { OPT_SECRET, OPT_JWKS, OPT_AUDIENCE, OPT_ANY_AUDIENCE, OPT_ISSUER, OPT_ID, OPT_TIMESTAMP,
       OPT_SIGNATURE, OPT_NOW };

static const struct cmd_opt verify_opts[] = {
    [OPT_SECRET] = {"secret", true},
    [OPT_JWKS] = {"jwks", true},
    [OPT_AUDIENCE] = {"audience", true},
    [OPT_ANY_AUDIENCE] = {"any-audience", false},
    [OPT_ISSUER] = {"issuer", true},
    [OPT_ID] = {"id", true},
    [OPT_TIMESTAMP] = {"timestamp", true},
    [OPT_SIGNATURE] = {"signature", true},
    [OPT_NOW] = {"now", true},
    {NULL, false},
};

/* Read all of f into a new buffer (NUL-terminated, the caller's). Returns
 * NULL after printing why when it cannot or it is too large. */
static char *verify_read_all(FILE *f, size_t *len)
{
    struct capbuf body;
    char chunk[16384];
    const char *why = NULL;
    char *out;

    capbuf_init(&body, VERIFY_MAX_BODY);
    while (why == NULL) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);

        if (ferror(f)) {
            why = "cannot read the body from stdin";
        } else {
            switch (capbuf_add(&body, chunk, n)) {
            case CAPBUF_OK:
                break;
            case CAPBUF_TOO_BIG:
                why = "the body is larger than 16 MiB";
                break;
            default:
                why = "out of memory";
                break;
            }
        }
        if (why == NULL && feof(f)) {
            out = capbuf_take(&body, len);
            if (out != NULL)
                return out;
            why = "out of memory";
        }
    }
    capbuf_free(&body);
    fprintf(stderr, "kabar verify: %s\n", why);
    return NULL;
}

static int64_t verify_fixed_clock(void *arg)
{
    return *(const int64_t *)arg;
}

/*
 * Make the verifier the options ask for: --secret, or --jwks (an http(s)
 * URL, else a file). Returns 0, or an exit code after printing why. The
 * secret in argv is wiped here, whatever happens.
 */
static int verify_make_verifier(const struct cmd_entry *entry, const struct cmd_args *args,
                                kabar_verifier **out)
{
    const char *secret = args->opt[OPT_SECRET], *jwks_src = args->opt[OPT_JWKS];
    kabar_jwks *jwks = NULL;
    kabar_err rc;
    char err[256] = "";

    if ((secret == NULL) == (jwks_src == NULL))
        return cli_usage_error(entry, "give exactly one of --secret and --jwks");
    if (secret != NULL) {
        rc = kabar_verifier_new_secret(secret, out);
        if (args->argv_value[OPT_SECRET] != NULL)
            OPENSSL_cleanse(args->argv_value[OPT_SECRET], strlen(secret));
        if (rc != KABAR_OK)
            return cli_usage_error(entry, "--secret: %s", kabar_strerror(rc));
        return 0;
    }
    if (strncmp(jwks_src, "http://", 7) == 0 || strncmp(jwks_src, "https://", 8) == 0) {
        rc = kabar_jwks_new_url(jwks_src, &jwks);
        /* Fetch now, so that a failure is reported with its cause. */
        if (rc == KABAR_OK && (rc = kabar_jwks_refresh(jwks, err, sizeof(err))) != KABAR_OK) {
            fputs("kabar verify: cannot get the JWKS from ", stderr);
            cli_print_safe(jwks_src, stderr);
            fputs(": ", stderr);
            cli_print_safe(err, stderr);
            fputc('\n', stderr);
            kabar_jwks_free(jwks);
            return CLI_EXIT_FAIL;
        }
    } else {
        rc = kabar_jwks_new_file(jwks_src, &jwks);
    }
    if (rc != KABAR_OK)
        return cli_usage_error(entry, "--jwks: %s", kabar_strerror(rc));
    if ((rc = kabar_verifier_new_jwks(jwks, out)) != KABAR_OK) {
        kabar_jwks_free(jwks);
        fprintf(stderr, "kabar verify: %s\n", kabar_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    if ((rc = kabar_verifier_set_audience(*out, args->opt[OPT_AUDIENCE])) != KABAR_OK ||
        (rc = kabar_verifier_set_issuer(*out, args->opt[OPT_ISSUER])) != KABAR_OK) {
        kabar_verifier_free(*out);
        fprintf(stderr, "kabar verify: %s\n", kabar_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    return 0;
}

static int verify_exec(struct cli_ctx *ctx, const struct cmd_entry *entry,
                       const struct cmd_args *args)
{
    kabar_verifier *v = NULL;
    kabar_event *event = NULL;
    int64_t now = 0;
    char *body = NULL;
    size_t len = 0;
    kabar_err err;
    int rc;

    (void)ctx;
    if (args->opt[OPT_NOW] != NULL) {
        char *end;
        long long n = strtoll(args->opt[OPT_NOW], &end, 10);

        if (args->opt[OPT_NOW][0] < '0' || args->opt[OPT_NOW][0] > '9' || *end != '\0' ||
            n <= 0)
            return cli_usage_error(entry, "--now must be a unix time in seconds");
        now = (int64_t)n;
    }
    if (args->opt[OPT_SECRET] != NULL &&
        (args->opt[OPT_AUDIENCE] != NULL || args->opt[OPT_ANY_AUDIENCE] != NULL ||
         args->opt[OPT_ISSUER] != NULL))
        return cli_usage_error(entry, "--audience, --any-audience and --issuer go with --jwks");
    /* A token's aud says which receiver it is for; accepting any audience
     * accepts tokens meant for someone else, so it must be asked for. */
    if (args->opt[OPT_JWKS] != NULL &&
        (args->opt[OPT_AUDIENCE] == NULL) == (args->opt[OPT_ANY_AUDIENCE] == NULL))
        return cli_usage_error(entry, "with --jwks give --audience (your webhook's URI, or "
                               "the project's audience) or, to accept tokens meant for any "
                               "receiver, --any-audience");
    if ((rc = verify_make_verifier(entry, args, &v)) != 0)
        return rc;
    if (now != 0)
        kabar_verifier_set_clock(v, verify_fixed_clock, &now);
    body = verify_read_all(stdin, &len);
    if (body == NULL) {
        kabar_verifier_free(v);
        return CLI_EXIT_FAIL;
    }
    err = kabar_verify(v, args->opt[OPT_ID], args->opt[OPT_TIMESTAMP], args->opt[OPT_SIGNATURE],
                       body, len, &event);
    if (err == KABAR_OK) {
        fwrite(kabar_event_json(event), 1, strlen(kabar_event_json(event)), stdout);
        fputc('\n', stdout);
        rc = CLI_EXIT_OK;
    } else {
        fprintf(stderr, "kabar verify: %s\n", kabar_strerror(err));
        rc = CLI_EXIT_FAIL;
    }
    kabar_event_free(event);
    kabar_verifier_free(v);
    free(body);
    return rc;
}

const struct cmd_entry cmd_verify_entry = {
    .group = "verify",
    .name = NULL,
    .usage = "(--secret S | --jwks URL|FILE (--audience A | --any-audience) [--issuer I]) --id ID "
             "--timestamp T --signature SIG [--now UNIX] < BODY",
    .help = "Verify one webhook as a receiver would (Standard Webhooks signature, or the "
            "RS256 JWT of a dynamic webhook); print the event and exit 0 when it is valid, "
            "else print the reason and exit 1.",
    .opts = verify_opts,
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = verify_exec,
};
