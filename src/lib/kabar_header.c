/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_header.c - finding a header by name, in a framework's list of
 * pairs or in a raw HTTP header block.
 *
 * The raw parser reads bytes an attacker chose, so it never reads past len,
 * never trusts a NUL, and copies only into the caller's buffer, refusing
 * rather than cutting a value that does not fit: a cut signature would only
 * fail later with a misleading reason.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "kabar/kabar.h"

const char *kabar_header_get(const struct kabar_header *headers, size_t n, const char *name)
{
    size_t i;

    if (headers == NULL || name == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (headers[i].name != NULL && strcasecmp(headers[i].name, name) == 0)
            return headers[i].value;
    }
    return NULL;
}

/* RFC 9110 tchar. */
static bool header_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool header_is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Does line[0..llen) name the header name (nlen bytes)? If so, set *value
 * and *vlen to its value without surrounding white space. */
static bool header_line_match(const char *line, size_t llen, const char *name, size_t nlen,
                              const char **value, size_t *vlen)
{
    const char *colon = memchr(line, ':', llen);
    size_t i, start, end;

    if (colon == NULL || (size_t)(colon - line) != nlen || nlen == 0)
        return false;
    for (i = 0; i < nlen; i++) {
        if (!header_is_tchar((unsigned char)line[i]))
            return false;
    }
    if (strncasecmp(line, name, nlen) != 0)
        return false;
    start = nlen + 1;
    end = llen;
    while (start < end && header_is_ows((unsigned char)line[start]))
        start++;
    while (end > start && header_is_ows((unsigned char)line[end - 1]))
        end--;
    *value = line + start;
    *vlen = end - start;
    return true;
}

kabar_err kabar_header_find_raw(const char *raw, size_t len, const char *name, char *out,
                                size_t cap)
{
    size_t pos = 0, nlen;

    if (raw == NULL || name == NULL || out == NULL || cap == 0)
        return KABAR_EINVAL;
    out[0] = '\0';
    nlen = strlen(name);
    while (pos < len) {
        const char *line = raw + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl != NULL ? (size_t)(nl - line) : len - pos;
        const char *value;
        size_t vlen;

        pos += llen + (nl != NULL ? 1 : 0);
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (llen == 0)
            break;              /* the end of the headers */
        if (!header_line_match(line, llen, name, nlen, &value, &vlen))
            continue;
        if (vlen >= cap || memchr(value, '\0', vlen) != NULL)
            return vlen >= cap ? KABAR_ERANGE : KABAR_EINVAL;
        memcpy(out, value, vlen);
        out[vlen] = '\0';
        return KABAR_OK;
    }
    return KABAR_ENOTFOUND;
}
