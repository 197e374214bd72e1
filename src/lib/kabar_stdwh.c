/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_stdwh.c - checking Standard Webhooks v1 signatures.
 *
 * The header is a space-separated list of "version,signature" entries (one
 * per live secret of the sender during a rotation). We compute our own
 * signature once, with the same stdwh_sign() kabard signs with, and compare
 * it with every v1 entry that decodes to 32 bytes, in constant time and
 * without stopping at the first match, so the time taken says nothing
 * about which entry matched or how much of one did. Other versions and
 * malformed entries are skipped, as the specification asks.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "common/b64.h"
#include "lib/kabar_int.h"

#define STDWH_DIGEST_LEN 32

/* Decode one entry (entry[0..len)) as "v1,<base64 of 32 bytes>" into
 * digest. Returns 0, or -1 when it is another version or malformed. */
static int stdwh_entry_decode(const char *entry, size_t len, uint8_t digest[STDWH_DIGEST_LEN])
{
    uint8_t buf[STDWH_DIGEST_LEN + 3];

    if (len < 3 || memcmp(entry, "v1,", 3) != 0)
        return -1;
    if (b64_decode(entry + 3, len - 3, buf, sizeof(buf)) != STDWH_DIGEST_LEN)
        return -1;
    memcpy(digest, buf, STDWH_DIGEST_LEN);
    return 0;
}

kabar_err kabar__stdwh_check(const kabar_verifier *v, const char *id, int64_t ts,
                             const char *signature, const void *body, size_t len)
{
    char ours_b64[STDWH_SIG_LEN];
    uint8_t ours[STDWH_DIGEST_LEN], theirs[STDWH_DIGEST_LEN];
    const char *p = signature;
    int matched = 0;
    kabar_err rc = KABAR_ENOMATCH;

    if (strlen(signature) > KABAR__SIG_HEADER_MAX)
        return KABAR_ENOMATCH;
    if (stdwh_sign(v->key, v->keylen, id, ts, body, len, ours_b64, sizeof(ours_b64)) != 0)
        return KABAR_ENOMEM;
    if (stdwh_entry_decode(ours_b64, strlen(ours_b64), ours) != 0)
        goto out;
    while (*p != '\0') {
        size_t n;

        while (*p == ' ')
            p++;
        n = strcspn(p, " ");
        if (n > 0 && stdwh_entry_decode(p, n, theirs) == 0)
            matched |= CRYPTO_memcmp(ours, theirs, sizeof(ours)) == 0;
        p += n;
    }
    if (matched)
        rc = KABAR_OK;
out:
    OPENSSL_cleanse(ours_b64, sizeof(ours_b64));
    OPENSSL_cleanse(ours, sizeof(ours));
    return rc;
}
