/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keyring.h - kabard's RS256 signing keys for dynamic webhooks, and the
 * JWKS that publishes them.
 *
 * Keys are RSA-2048 JWKs made with the latchset jose library, kept in the
 * store with the private half sealed by the master key (common/secretbox.h),
 * so they survive restarts and are shared by every kabard process on one
 * database. A key is published (JWKS) as soon as it exists but signs only
 * from its activate time - one JWKS max-age later - so receivers that cache
 * the JWKS have it before the first token that needs it; a retired key stays
 * published until the last token it signed has expired and caches have
 * turned over.
 *
 * Thread-safe: the delivery thread signs while API threads read the JWKS.
 */
#ifndef KABAR_KEYRING_H
#define KABAR_KEYRING_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct secretbox;

#define KEYRING_TOKEN_TTL_S 300         /* exp = iat + 300 */
#define KEYRING_JWKS_MAX_AGE_S 300      /* Cache-Control max-age of the JWKS */
#define KEYRING_KID_MAX 64

struct keyring;

/* Load the keys from the store, creating the first one when there is none.
 * st and box must outlive the keyring. Returns NULL with a message in err. */
struct keyring *keyring_open(struct store *st, const struct secretbox *box,
                             char *err, size_t errlen);

/* keyring_open() on a clock of the caller's (tests): the time, in
 * microseconds since the epoch, is now_us(arg) instead of the wall clock,
 * from the open on - for the first key's activate time, the load time that
 * the 30 s reload counts from, the signing key and the JWKS. One clock for
 * the keyring's whole life: a clock set after the open would compare its
 * times with the wall-clock time of the open. now_us NULL: the wall clock. */
struct keyring *keyring_open_clock(struct store *st, const struct secretbox *box,
                                   int64_t (*now_us)(void *arg), void *arg,
                                   char *err, size_t errlen);
void keyring_close(struct keyring *kr);

/*
 * Sign one attempt of a dynamic webhook: a compact JWS with header
 * {"alg":"RS256","typ":"JWT","kid":<RFC 7638 thumbprint>} and claims
 *   iss, aud, sub, iat, exp = iat + KEYRING_TOKEN_TTL_S, jti (unique),
 *   webhook_id, body_sha256 (base64url of SHA-256 of body),
 * plus every top-level member of the JSON object in body (the envelope:
 * type, version, timestamp, data, user_metadata). iss is kabard's public
 * URL, aud the target URI (or the project's audience), sub the operation id
 * (or the message id when there is none). On success *jws is a malloc'd
 * NUL-terminated string the caller frees. Returns 0, or -1 (no active key,
 * body not a JSON object, out of memory).
 */
int keyring_sign(struct keyring *kr, const char *iss, const char *aud, const char *sub,
                 int64_t iat, const char *webhook_id, const uint8_t *body, size_t len,
                 char **jws);

/* The JWKS document {"keys":[...]} of every published public key, as a
 * malloc'd string the caller frees; NULL when out of memory. */
char *keyring_jwks(struct keyring *kr);

/* Make a new key: published now, signing from now + KEYRING_JWKS_MAX_AGE_S,
 * when the current one is retired. Writes the new kid into kid (cap bytes).
 * Returns 0, or -1 with a message in err. */
int keyring_rotate(struct keyring *kr, char *kid, size_t cap, char *err, size_t errlen);

/* The activate time (microseconds) of the key kid, as last loaded; 0 when
 * the keyring does not have it. For answering a rotation. */
int64_t keyring_activate_time(struct keyring *kr, const char *kid);

/* The RFC 7638 SHA-256 thumbprint (base64url) of the JWK in jwk_json - the
 * kid of every key. Returns 0, or -1 when it is not a JWK or cap is short. */
int keyring_thumbprint(const char *jwk_json, char *kid, size_t cap);

#endif
