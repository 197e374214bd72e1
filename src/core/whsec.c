/* SPDX-License-Identifier: Apache-2.0 */
/*
 * whsec.c - generation and display of Standard Webhooks signing secrets.
 *
 * The random key only exists on the stack long enough to be encoded, and is
 * wiped before returning on every path.
 */
#include "core/whsec.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/b64.h"

#define WHSEC_SHOWN 4           /* trailing characters kept by truncation */

int whsec_generate(char *out, size_t cap)
{
    uint8_t key[WHSEC_KEY_LEN];
    size_t plen = strlen(WHSEC_PREFIX);
    int rc = -1;

    if (out == NULL || cap < plen + B64_ENCODED_SIZE(WHSEC_KEY_LEN))
        return -1;
    if (RAND_bytes(key, sizeof(key)) != 1)
        goto done;
    memcpy(out, WHSEC_PREFIX, plen);
    if (b64_encode(key, sizeof(key), out + plen, cap - plen) < 0)
        goto done;
    rc = 0;

done:
    OPENSSL_cleanse(key, sizeof(key));
    if (rc < 0)
        OPENSSL_cleanse(out, cap);
    return rc;
}

int whsec_truncate(const char *secret, char *out, size_t cap)
{
    size_t len;
    int n;

    if (secret == NULL || out == NULL || cap == 0)
        return -1;
    len = strlen(secret);
    /* A secret with fewer than four characters after the prefix would be
     * shown whole; such a thing is not a secret we made, so refuse it. */
    if (len < strlen(WHSEC_PREFIX) + WHSEC_SHOWN) {
        out[0] = '\0';
        return -1;
    }
    n = snprintf(out, cap, WHSEC_PREFIX "...%s", secret + len - WHSEC_SHOWN);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
