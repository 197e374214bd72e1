/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_keys.c - the "kabar keys" command group: the server-wide RS256 keys
 * that sign dynamic webhooks (their public halves are at
 * /.well-known/jwks.json).
 *
 *   kabar keys rotate    POST /v1/signingKeys:rotate: a new key, published
 *                        now and signing from its activate time; the
 *                        current key is retired then.
 */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/cli_client.h"
#include "cli/cli_output.h"

static int
keys_rotate(struct cli_ctx *ctx, const struct cmd_entry *entry,
            const struct cmd_args *args)
{
    json_t *body, *resp = NULL;
    int rc;

    (void)entry;
    (void)args;
    if ((body = json_object()) == NULL) {
        fprintf(stderr, "kabar: out of memory\n");
        return CLI_EXIT_FAIL;
    }
    rc = cli_output_call(ctx, "POST", "/v1/signingKeys:rotate", body, &resp);
    if (rc == CLI_EXIT_OK && !ctx->json) {
        cli_output_field("kid:", cli_output_str(resp, "kid"));
        cli_output_field("active:", cli_output_str(resp, "activate_time"));
        printf("The new key is published now; the current key signs until then.\n");
    }
    json_decref(resp);
    json_decref(body);
    return rc;
}

const struct cmd_entry cmd_keys_rotate_entry = {
    .group = "keys",
    .name = "rotate",
    .usage = "",
    .help = "Make a new signing key for dynamic webhooks: published now, "
            "signing once JWKS caches have it.",
    .arg_name = "",
    .min_args = 0,
    .max_args = 0,
    .exec = keys_rotate,
};
