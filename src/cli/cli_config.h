/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_config.h - kabar's configuration: the server URL and the API key
 * (cli_config.c). Each function returns 0, or a CLI_EXIT_* code after
 * printing why.
 */
#ifndef KABAR_CLI_CONFIG_H
#define KABAR_CLI_CONFIG_H

#include "cli/cli.h"

/* Take the key given with --api-key (arg, in argv; NULL when none) into
 * ctx->api_key and overwrite it in argv, so that ps(1) does not show it for
 * the life of the process. */
int cli_config_take_api_key(struct cli_ctx *ctx, char *arg);

/* Set ctx->server: --server, else KABAR_SERVER, else CLI_DEFAULT_SERVER;
 * it must be an http:// or https:// URL. */
int cli_config_server(struct cli_ctx *ctx);

/* Fill ctx->api_key, unless --api-key already did, from KABAR_API_KEY or
 * the key file, and check it: not empty, no space or control character. */
int cli_config_api_key(struct cli_ctx *ctx);

#endif
