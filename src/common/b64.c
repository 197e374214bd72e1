/* SPDX-License-Identifier: Apache-2.0 */
/*
 * b64.c - base64 (RFC 4648 §4) and base64url without padding (§5).
 *
 * OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do the conversion, but
 * EVP_DecodeBlock is lenient in ways we cannot accept for secrets and
 * tokens: it skips surrounding whitespace, counts padding as zero bytes in
 * its result and does not care about non-zero bits under the padding. So
 * every input is checked here first, character by character, and only then
 * handed to OpenSSL one 4-character group at a time. Working in groups also
 * means neither direction ever writes past the caller's exact-size buffer,
 * which EVP_* would do for the padding it adds or assumes.
 */
#include "common/b64.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Largest input we accept, so that every length fits an int result. */
#define B64_MAX_IN ((size_t)(INT_MAX / 4) * 3 - 3)

/* The 6-bit value of c in the chosen alphabet, or -1 if c is not in it. */
static int b64_value(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/*
 * Encode, optionally as base64url. Full 3-byte groups go straight into out;
 * the last partial group goes through a small buffer so that padding the
 * url form drops never lands in out.
 */
static int b64_encode_any(const uint8_t *in, size_t len, char *out, size_t cap, bool url)
{
    size_t full = len / 3, rem = len % 3;
    size_t outlen;
    unsigned char tail[5];

    if (out == NULL || (in == NULL && len > 0) || len > B64_MAX_IN)
        return -1;
    outlen = full * 4 + (rem == 0 ? 0 : (url ? rem + 1 : 4));
    if (cap < outlen + 1)
        return -1;

    if (full > 0)
        EVP_EncodeBlock((unsigned char *)out, in, (int)(full * 3));
    if (rem > 0) {
        EVP_EncodeBlock(tail, in + full * 3, (int)rem);
        memcpy(out + full * 4, tail, outlen - full * 4);
        OPENSSL_cleanse(tail, sizeof(tail));
    }
    out[outlen] = '\0';

    if (url) {
        for (size_t i = 0; i < outlen; i++) {
            if (out[i] == '+')
                out[i] = '-';
            else if (out[i] == '/')
                out[i] = '_';
        }
    }
    return (int)outlen;
}

/*
 * Decode, optionally base64url. Standard input must be padded to a multiple
 * of four; url input must not be padded at all. The bits below the padding
 * must be zero, so each byte string has exactly one accepted encoding (no
 * two different tokens mean the same thing).
 */
static int b64_decode_any(const char *in, size_t len, uint8_t *out, size_t cap, bool url)
{
    size_t data = len;          /* characters that carry data */
    size_t outlen, groups;
    unsigned char group[4], bytes[3];

    if (in == NULL || (out == NULL && cap > 0) || len > B64_MAX_IN)
        return -1;

    if (url) {
        if (len % 4 == 1)
            return -1;
    } else {
        if (len % 4 != 0)
            return -1;
        if (data > 0 && in[data - 1] == '=')
            data--;
        if (data > 0 && in[data - 1] == '=')
            data--;
    }
    for (size_t i = 0; i < data; i++) {
        if (b64_value(in[i], url) < 0)
            return -1;
    }

    /* Unused low bits of the last character must be zero. */
    switch (data % 4) {
    case 2:
        if (b64_value(in[data - 1], url) & 0x0f)
            return -1;
        break;
    case 3:
        if (b64_value(in[data - 1], url) & 0x03)
            return -1;
        break;
    case 1:
        return -1;              /* "xxx=" with three '=' or "x===" */
    default:
        break;
    }

    outlen = data / 4 * 3 + (data % 4 == 0 ? 0 : data % 4 - 1);
    if (outlen > cap)
        return -1;

    groups = (data + 3) / 4;
    for (size_t g = 0; g < groups; g++) {
        size_t have = data - g * 4 < 4 ? data - g * 4 : 4;
        size_t nbytes = have - 1;

        for (size_t i = 0; i < 4; i++) {
            char c = i < have ? in[g * 4 + i] : '=';
            if (url && c == '-')
                c = '+';
            else if (url && c == '_')
                c = '/';
            group[i] = (unsigned char)c;
        }
        if (EVP_DecodeBlock(bytes, group, 4) != 3) {
            OPENSSL_cleanse(bytes, sizeof(bytes));
            OPENSSL_cleanse(group, sizeof(group));
            if (outlen > 0)
                OPENSSL_cleanse(out, outlen);
            return -1;
        }
        memcpy(out + g * 3, bytes, nbytes);
    }
    OPENSSL_cleanse(bytes, sizeof(bytes));
    OPENSSL_cleanse(group, sizeof(group));
    return (int)outlen;
}

int b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    return b64_encode_any(in, len, out, cap, false);
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    return b64_decode_any(in, len, out, cap, false);
}

int b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    return b64_encode_any(in, len, out, cap, true);
}

int b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    return b64_decode_any(in, len, out, cap, true);
}
