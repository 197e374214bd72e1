/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagetoken.c - opaque list page tokens.
 *
 * The "p1." version tag lets the format change later without old tokens
 * being misread, and repeating the kind inside the token stops a token
 * made for one list from being replayed against another.
 */
#include "core/pagetoken.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/b64.h"
#include "common/ids.h"

#define PAGETOKEN_VERSION "p1."

/* Largest decoded token: any longer text cannot fit PAGETOKEN_MAX chars. */
#define PAGETOKEN_RAW_MAX (PAGETOKEN_MAX / 4 * 3)

int pagetoken_encode(const char *kind, const char *last_id, char *out, size_t cap)
{
    char raw[PAGETOKEN_RAW_MAX + 1];
    int n;

    if (kind == NULL || last_id == NULL || out == NULL)
        return -1;
    n = snprintf(raw, sizeof(raw), PAGETOKEN_VERSION "%s.%s", kind, last_id);
    if (n < 0 || (size_t)n >= sizeof(raw))
        return -1;
    /* Keep every token we hand out within what pagetoken_decode accepts. */
    if (cap > PAGETOKEN_MAX)
        cap = PAGETOKEN_MAX;
    return b64url_encode((const uint8_t *)raw, (size_t)n, out, cap) < 0 ? -1 : 0;
}

int pagetoken_decode(const char *kind, const char *token, char *out, size_t cap)
{
    uint8_t raw[PAGETOKEN_RAW_MAX + 1];
    size_t tlen, klen, hlen;
    const char *id;
    int n;

    if (kind == NULL || token == NULL || out == NULL || cap == 0)
        return -1;
    tlen = strlen(token);
    if (tlen == 0 || tlen >= PAGETOKEN_MAX)
        return -1;
    n = b64url_decode(token, tlen, raw, sizeof(raw) - 1);
    if (n < 0)
        return -1;
    raw[n] = '\0';

    klen = strlen(kind);
    hlen = strlen(PAGETOKEN_VERSION) + klen + 1;
    if ((size_t)n < hlen || memcmp(raw, PAGETOKEN_VERSION, strlen(PAGETOKEN_VERSION)) != 0
        || memcmp(raw + strlen(PAGETOKEN_VERSION), kind, klen) != 0
        || raw[hlen - 1] != '.')
        return -1;
    id = (const char *)raw + hlen;
    /* An embedded NUL would let bytes after it ride along unchecked. */
    if (strlen(id) != (size_t)n - hlen || !ids_valid(kind, id))
        return -1;
    if (strlen(id) >= cap)
        return -1;
    memcpy(out, id, strlen(id) + 1);
    return 0;
}
