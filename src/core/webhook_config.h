/* SPDX-License-Identifier: Apache-2.0 */
/*
 * webhook_config.h - the webhook_config of an event or a long-running
 * operation: the URIs its events go to (dynamic webhooks, signed with RS256
 * JWTs) and the user_metadata that rides in their envelopes.
 *
 * It is parsed and validated once, where it comes in (the API's
 * api_ops_webhook_config); everything after that uses this struct. The
 * store keeps it as JSON text in its column and turns it back into the
 * struct when it reads a row (webhook_config_dump, webhook_config_load):
 * that text is its own, already validated, so loading decodes and does not
 * validate again.
 */
#ifndef KABAR_WEBHOOK_CONFIG_H
#define KABAR_WEBHOOK_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#define WEBHOOK_CONFIG_URIS_MAX 10
#define WEBHOOK_CONFIG_USER_METADATA_MAX (16 * 1024)   /* bytes of compact JSON */

struct webhook_config {
    size_t nuris;
    char *uris[WEBHOOK_CONFIG_URIS_MAX];    /* malloc'd, each a valid target URL */
    json_t *user_metadata;                  /* an object (owned), or NULL: none */
};

/* A new, empty config; NULL when out of memory. */
struct webhook_config *webhook_config_new(void);

/* Append uri (copied). Returns 0, or -1 when full or out of memory. */
int webhook_config_add_uri(struct webhook_config *wc, const char *uri);

/* Free wc and what it holds (NULL is fine). */
void webhook_config_free(struct webhook_config *wc);

/* wc as JSON {"uris": [...], "user_metadata": {...}} (user_metadata only
 * when set), a new reference; NULL when out of memory. */
json_t *webhook_config_json(const struct webhook_config *wc);

/* wc as compact JSON text (the store's column), malloc'd; NULL when out of
 * memory. */
char *webhook_config_dump(const struct webhook_config *wc);

/* The config of a text written by webhook_config_dump, or NULL when text
 * is not one (or out of memory). */
struct webhook_config *webhook_config_load(const char *text);

#endif
