/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hmac_keys.c - opening a static webhook's signing secrets (see
 * hmac_keys.h).
 */
#include "sign/hmac_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/secretbox.h"
#include "core/whsec.h"
#include "store/store.h"

int hmac_keys_open(struct store *st, const struct secretbox *box, const char *webhook_id,
                   int64_t now, struct hmac_keys *k)
{
    struct store_secret recs[WEBHOOK_SECRETS_MAX];
    char secret[WHSEC_MAX];
    size_t n = 0;
    enum store_rc rc = store_secrets_live(st, webhook_id, now, recs, WEBHOOK_SECRETS_MAX, &n);

    memset(k, 0, sizeof(*k));
    snprintf(k->webhook_id, sizeof(k->webhook_id), "%s", webhook_id);
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        int len = secretbox_open(box, webhook_id, recs[i].blob, recs[i].blob_len,
                                 (uint8_t *)secret, sizeof(secret) - 1);
        if (len < 0) {
            log_error("cannot decrypt a signing secret", "webhook=%s", webhook_id);
            continue;
        }
        secret[len] = '\0';
        len = stdwh_key_decode(secret, k->key[k->n], STDWH_KEY_MAX);
        OPENSSL_cleanse(secret, sizeof(secret));
        if (len > 0)
            k->len[k->n++] = (size_t)len;
    }
    OPENSSL_cleanse(recs, sizeof(recs));
    return k->n > 0 ? 0 : -1;
}

char *hmac_keys_sign(const struct hmac_keys *k, const char *msg_id, int64_t timestamp,
                     const uint8_t *body, size_t len)
{
    size_t cap = k->n * STDWH_SIG_LEN + 1, off = 0;
    char *out;

    if (k->n == 0 || (out = malloc(cap)) == NULL)
        return NULL;
    for (size_t i = 0; i < k->n; i++) {
        if (i > 0)
            out[off++] = ' ';
        if (stdwh_sign(k->key[i], k->len[i], msg_id, timestamp, body, len, out + off,
                       cap - off) != 0) {
            free(out);
            return NULL;
        }
        off += strlen(out + off);
    }
    return out;
}

void hmac_keys_wipe(struct hmac_keys *k, size_t n)
{
    OPENSSL_cleanse(k, n * sizeof(*k));
}
