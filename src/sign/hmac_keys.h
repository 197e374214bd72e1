/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hmac_keys.h - the HMAC keys of a static webhook, opened: its live
 * signing secrets read from the store, decrypted with the master key
 * (common/secretbox.h, the webhook id as associated data) and decoded for
 * Standard Webhooks signing (stdwh.h).
 *
 * sign/ opens every key kabard signs with: these, and the RS256 keys of
 * dynamic webhooks (keyring.h). The delivery engine opens a webhook's keys
 * once per claim batch, signs each attempt with them (hmac_keys_sign), and
 * wipes them (hmac_keys_wipe).
 */
#ifndef KABAR_HMAC_KEYS_H
#define KABAR_HMAC_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "core/webhook.h"
#include "sign/stdwh.h"

struct store;
struct secretbox;

struct hmac_keys {
    char webhook_id[IDS_MAX];
    size_t n;                                       /* usable keys, newest first */
    size_t len[WEBHOOK_SECRETS_MAX];
    uint8_t key[WEBHOOK_SECRETS_MAX][STDWH_KEY_MAX];
};

/* Open the secrets of webhook_id live at now (microseconds) into k. A
 * secret that does not decrypt is logged (never its bytes) and skipped.
 * Returns 0 when at least one key is usable, else -1 (k->n == 0, and
 * k->webhook_id set either way). */
int hmac_keys_open(struct store *st, const struct secretbox *box, const char *webhook_id,
                   int64_t now, struct hmac_keys *k);

/* The webhook-signature value of one message signed with every key of k:
 * "v1,<sig>" per key, separated by spaces (Standard Webhooks), newest key
 * first. Returns a malloc'd string, or NULL when k has no key or signing
 * fails. */
char *hmac_keys_sign(const struct hmac_keys *k, const char *msg_id, int64_t timestamp,
                     const uint8_t *body, size_t len);

/* Wipe n key sets. */
void hmac_keys_wipe(struct hmac_keys *k, size_t n);

#endif
