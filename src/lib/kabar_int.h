/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_int.h - what the files of libkabar share and nothing outside sees.
 *
 * Internal names start with kabar__ (two underscores), as libuv's uv__, so
 * that they can never be mistaken for the public API; the library is built
 * with hidden visibility, so they are not exported either.
 */
#ifndef KABAR_INT_H
#define KABAR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <jansson.h>

#include "kabar/kabar.h"
#include "sign/stdwh.h"

/* Caps on what a sender controls, so that no input grows memory without
 * bound (style.md §9). */
#define KABAR__ID_MAX 255               /* webhook-id */
#define KABAR__TIMESTAMP_MAX 32         /* webhook-timestamp, characters */
#define KABAR__SIG_HEADER_MAX 8192      /* Standard Webhooks signature list */
#define KABAR__TOKEN_MAX (1 << 20)      /* a JWT, claims included */
#define KABAR__JWKS_MAX (1 << 20)       /* a JWKS document */
#define KABAR__JWKS_KEYS_MAX 64         /* keys kept from one JWKS */
#define KABAR__JSON_DEPTH_MAX 64        /* nesting accepted in JSON we parse */
#define KABAR__MAX_TOLERANCE 86400

enum kabar__kind { KABAR__SECRET, KABAR__JWKS };

struct kabar_verifier {
    enum kabar__kind kind;
    uint8_t key[STDWH_KEY_MAX];         /* wiped in kabar_verifier_free() */
    size_t keylen;
    kabar_jwks *jwks;                   /* owned */
    char *issuer;                       /* NULL: not checked */
    char *audience;                     /* NULL: not checked */
    int64_t tolerance;
    kabar_clock_fn clock;
    void *clock_arg;
};

/* The verifier's idea of now. */
int64_t kabar__now(const kabar_verifier *v);

/* Parse webhook-timestamp: 1 to 18 ASCII digits, nothing else. Returns 0
 * and sets *out, or -1. */
int kabar__parse_timestamp(const char *s, int64_t *out);

/* Standard Webhooks: does any v1 entry of signature match? Headers and the
 * timestamp have been checked by the caller. KABAR_OK or KABAR_ENOMATCH. */
kabar_err kabar__stdwh_check(const kabar_verifier *v, const char *id, int64_t ts,
                             const char *signature, const void *body, size_t len);

/* Dynamic webhooks: verify token (see kabar_verifier_new_jwks()). On
 * success *claims is a new reference, the caller's. */
kabar_err kabar__jwt_check(const kabar_verifier *v, const char *id, int64_t ts,
                           const char *token, const void *body, size_t len, int64_t now,
                           json_t **claims);

/* The key called kid, as of now: refetches a URL JWKS when its cache has
 * expired, or once a minute when kid is unknown. On success *key is a new
 * reference (EVP_PKEY_free() it). KABAR_EKID, KABAR_EFETCH, KABAR_EJWKS. */
kabar_err kabar__jwks_key(kabar_jwks *jwks, const char *kid, int64_t now, EVP_PKEY **key);

/* A new event; copies json (len bytes). NULL when out of memory. */
kabar_event *kabar__event_new(const char *id, int64_t ts, const char *json, size_t len,
                              bool is_jwt);

/* Parse untrusted JSON text with our depth cap. NULL when it is not JSON. */
json_t *kabar__json_parse(const char *text, size_t len);

#endif
