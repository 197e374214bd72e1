/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar.h - libkabar, the receiver library of kabar.
 *
 * Receivers of kabar's webhooks link this library to check that what they
 * receive was sent by kabard and was not changed or replayed on the way:
 *
 *   - static webhooks carry Standard Webhooks signatures (HMAC-SHA256 with a
 *     shared secret): make a verifier with kabar_verifier_new_secret();
 *   - dynamic webhooks carry a compact RS256 JWS in webhook-signature, whose
 *     public keys kabard publishes as a JWKS: make a kabar_jwks, then a
 *     verifier with kabar_verifier_new_jwks();
 *
 * then call kabar_verify() (or kabar_verify_headers()) once per request.
 * kabard delivers at least once, so the same webhook-id may arrive twice:
 * kabar_dedup remembers the ids already handled.
 *
 * Conventions. Every public name starts with kabar_ (KABAR_ for macros);
 * every type is opaque except struct kabar_header, a plain pair of pointers.
 * Every fallible function returns a kabar_err (KABAR_OK is 0) and writes its
 * result through an out-parameter only on success; kabar_strerror() says in
 * words what went wrong. The library has no global state: configure an
 * object, then share it. A verifier, once configured, may be used by any
 * number of threads at once (kabar_verify() takes it const; the JWKS cache
 * inside it has its own lock); a kabar_dedup is locked internally. Setters
 * (kabar_verifier_set_*) are not synchronised: call them before sharing.
 *
 * The library uses libcurl to fetch a JWKS by URL. libcurl wants
 * curl_global_init() called once before any thread starts; libkabar never
 * calls it, so a threaded program should (curl >= 7.84 also does it safely
 * on first use).
 *
 * docs/receiving.md has a complete example program.
 */
#ifndef KABAR_KABAR_H
#define KABAR_KABAR_H

#include <stddef.h>
#include <stdint.h>

#include <kabar/kabar_version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KABAR_EXTERN __attribute__((visibility("default")))
#else
#define KABAR_EXTERN
#endif

/* The version of the library the program runs with, e.g. "0.1.0"; the
 * header's own is KABAR_VERSION_STRING, with KABAR_VERSION_MAJOR, _MINOR,
 * _PATCH and KABAR_VERSION_HEX (kabar_version.h) for #if. */
KABAR_EXTERN const char *kabar_version(void);

/* ------------------------------------------------------------------------
 * Errors
 *
 * One enum for the whole library. A failed verification returns the first
 * reason found, in this order: missing header, bad timestamp, too old / too
 * new, then the signature (Standard Webhooks) or the token's checks (JWT).
 *
 * Each code has its value written out: the values are part of the ABI and
 * never change; a new code takes the next free number.
 */
#define KABAR_ERRNO_MAP(XX)                                                         \
    XX(OK, 0, "success")                                                            \
    XX(EINVAL, 1, "invalid argument")                                               \
    XX(ENOMEM, 2, "out of memory")                                                  \
    XX(ERANGE, 3, "the output buffer is too small")                                 \
    XX(ENOTFOUND, 4, "not found")                                                   \
    XX(ESECRET, 5, "the secret is not a valid Standard Webhooks secret")            \
    XX(ENOID, 6, "missing webhook-id header")                                       \
    XX(ENOTIMESTAMP, 7, "missing webhook-timestamp header")                         \
    XX(ENOSIGNATURE, 8, "missing webhook-signature header")                         \
    XX(ETIMESTAMP, 9, "webhook-timestamp is not a unix time in seconds")            \
    XX(ETOOOLD, 10, "webhook-timestamp is too old")                                 \
    XX(ETOONEW, 11, "webhook-timestamp is too far in the future")                   \
    XX(ENOMATCH, 12, "no matching signature")                                       \
    XX(ETOKEN, 13, "webhook-signature is not a well-formed JWT")                    \
    XX(EALG, 14, "the token's algorithm is not allowed (only RS256 is)")            \
    XX(EKID, 15, "no key in the JWKS has the token's kid")                          \
    XX(EJWKS, 16, "the JWKS is not valid")                                          \
    XX(EFETCH, 17, "the JWKS could not be fetched")                                 \
    XX(EISS, 18, "the token's issuer (iss) is not the expected one")                \
    XX(EAUD, 19, "the token's audience (aud) is not the expected one")              \
    XX(EEXPIRED, 20, "the token has expired (exp)")                                 \
    XX(EIAT, 21, "the token's iat is missing or differs from webhook-timestamp")    \
    XX(EBODY, 22, "the body does not match the token's body_sha256")                \
    XX(EWEBHOOKID, 23, "webhook-id does not match the token's webhook_id")          \
    XX(EDUPLICATE, 24, "this webhook-id was already handled")

typedef enum {
#define KABAR_ERR_ENUM_(code, value, msg) KABAR_##code = (value),
    KABAR_ERRNO_MAP(KABAR_ERR_ENUM_)
#undef KABAR_ERR_ENUM_
    KABAR_ERR_MAX_                  /* one past the largest value */
} kabar_err;

/* A sentence for err ("webhook-timestamp is too old"); never NULL. */
KABAR_EXTERN const char *kabar_strerror(kabar_err err);

/* The symbol of err ("KABAR_ETOOOLD"), for logs and tests; never NULL. */
KABAR_EXTERN const char *kabar_err_name(kabar_err err);

/* ------------------------------------------------------------------------
 * Headers
 */

/* One HTTP header as a receiver's framework hands it over. */
struct kabar_header {
    const char *name;
    const char *value;
};

/* The value of the first header called name (compared case-insensitively,
 * as HTTP requires) among headers[0..n), or NULL. The result points into
 * headers. */
KABAR_EXTERN const char *kabar_header_get(const struct kabar_header *headers, size_t n,
                                          const char *name);

/*
 * Find header name in a raw HTTP header block (raw, len bytes: lines
 * "Name: value" ended by CRLF or LF; a request or status line, lines that
 * are not "token: value" and anything after the first empty line are
 * ignored) and copy its value, without surrounding spaces, NUL-terminated,
 * into out (cap bytes). The first match wins. Returns KABAR_OK,
 * KABAR_ENOTFOUND, or KABAR_ERANGE when the value does not fit (out is then
 * an empty string).
 */
KABAR_EXTERN kabar_err kabar_header_find_raw(const char *raw, size_t len, const char *name,
                                             char *out, size_t cap);

/* ------------------------------------------------------------------------
 * JWKS: the public keys that verify dynamic webhooks
 */

typedef struct kabar_jwks kabar_jwks;

/*
 * A JWKS fetched from url (http:// or https://, e.g.
 * "https://kabar.example.com/.well-known/jwks.json") when first needed,
 * then cached for the Cache-Control max-age of the answer (300 s when it
 * gives none, at most a day). A token whose kid is not in the cache makes
 * one refetch, at most once a minute, so a key published after the cache
 * was filled is picked up while a flood of made-up kids costs one request
 * a minute. When a refetch fails the keys already held stay in use.
 * Nothing is fetched here. *out is the caller's, to kabar_jwks_free().
 */
KABAR_EXTERN kabar_err kabar_jwks_new_url(const char *url, kabar_jwks **out);

/* A fixed JWKS from its JSON text (len bytes), e.g. pinned in a config
 * file; never refetched. Keys that are not RSA, or that carry an alg other
 * than RS256 or a use other than sig, are skipped. KABAR_EJWKS when the
 * text is not a JWKS or holds no usable key. */
KABAR_EXTERN kabar_err kabar_jwks_new_json(const char *json, size_t len, kabar_jwks **out);

/* The same from a file (at most 1 MiB). */
KABAR_EXTERN kabar_err kabar_jwks_new_file(const char *path, kabar_jwks **out);

/* Fetch a URL JWKS now, e.g. at start-up to fail early (its cache times
 * use the wall clock, not a verifier's test clock). On failure writes
 * why (HTTP status, libcurl's message) into err (errlen bytes, may be
 * NULL) and returns KABAR_EFETCH or KABAR_EJWKS. KABAR_OK and nothing done
 * for a fixed JWKS. */
KABAR_EXTERN kabar_err kabar_jwks_refresh(kabar_jwks *jwks, char *err, size_t errlen);

/* Free jwks (NULL is fine). Not while a verifier still owns it. */
KABAR_EXTERN void kabar_jwks_free(kabar_jwks *jwks);

/* ------------------------------------------------------------------------
 * Verifiers
 */

typedef struct kabar_verifier kabar_verifier;
typedef struct kabar_event kabar_event;

/* The clock, in unix seconds; arg is what was passed with it. */
typedef int64_t (*kabar_clock_fn)(void *arg);

/* Default tolerance between webhook-timestamp and now, either way. */
#define KABAR_DEFAULT_TOLERANCE 300

/*
 * A verifier of Standard Webhooks signatures (static webhooks) with secret,
 * "whsec_" + base64 or bare base64 (24 to 64 bytes of key). The secret is
 * copied; the copy is wiped when the verifier is freed. KABAR_ESECRET when
 * the secret cannot be decoded.
 */
KABAR_EXTERN kabar_err kabar_verifier_new_secret(const char *secret, kabar_verifier **out);

/*
 * A verifier of dynamic webhooks (RS256 JWTs) with the keys of jwks. On
 * success the verifier owns jwks and frees it; on failure it is still the
 * caller's. Only RS256 is accepted, whatever the token's header says.
 * Checked: the signature with the key named by the token's kid; exp (must
 * be in the future); iat (within the tolerance of now, and equal to
 * webhook-timestamp); body_sha256 (against the raw body); webhook_id
 * (against webhook-id); iss and aud when they were set below.
 */
KABAR_EXTERN kabar_err kabar_verifier_new_jwks(kabar_jwks *jwks, kabar_verifier **out);

/* The issuer tokens must carry (kabard's public URL). NULL: any issuer.
 * Copied. Only meaningful for a JWKS verifier. */
KABAR_EXTERN kabar_err kabar_verifier_set_issuer(kabar_verifier *v, const char *issuer);

/* The audience tokens must carry (the URL kabard delivers to, unless the
 * project configured another). NULL: any audience, which lets a token meant
 * for another receiver of the same kabard pass; set it. Copied. */
KABAR_EXTERN kabar_err kabar_verifier_set_audience(kabar_verifier *v, const char *audience);

/* Accept webhook-timestamp within seconds of now (default 300, at most a
 * day). KABAR_EINVAL when out of range. */
KABAR_EXTERN kabar_err kabar_verifier_set_tolerance(kabar_verifier *v, int64_t seconds);

/* Use fn(arg) as the clock instead of time(), e.g. in tests. NULL fn
 * restores time(). fn must be callable from any thread. */
KABAR_EXTERN void kabar_verifier_set_clock(kabar_verifier *v, kabar_clock_fn fn, void *arg);

/* Free v, its secret (wiped) and its JWKS. NULL is fine. */
KABAR_EXTERN void kabar_verifier_free(kabar_verifier *v);

/*
 * Verify one request: the three webhook-* header values (NULL when the
 * header is absent) and the raw body exactly as received (len bytes).
 * Returns KABAR_OK when it verifies, else the reason. When event is not
 * NULL, on success *event is set to the verified event, the caller's to
 * kabar_event_free(); on failure it is left alone.
 *
 * Standard Webhooks: webhook-signature is a space-separated list of
 * "version,base64" entries; entries of versions other than v1 and malformed
 * entries are skipped, and the request verifies when any v1 entry matches
 * (compared in constant time).
 */
KABAR_EXTERN kabar_err kabar_verify(const kabar_verifier *v, const char *webhook_id,
                                    const char *webhook_timestamp,
                                    const char *webhook_signature, const void *body,
                                    size_t len, kabar_event **event);

/* kabar_verify() with the three headers looked up in headers[0..n). */
KABAR_EXTERN kabar_err kabar_verify_headers(const kabar_verifier *v,
                                            const struct kabar_header *headers, size_t n,
                                            const void *body, size_t len, kabar_event **event);

/* ------------------------------------------------------------------------
 * Verified events
 */

/* The event as JSON text: for a static webhook the body itself (as sent,
 * NUL-terminated); for a dynamic webhook the token's verified claims, which
 * carry the envelope's members (type, version, timestamp, data,
 * user_metadata) beside iss, aud, exp and the rest. */
KABAR_EXTERN const char *kabar_event_json(const kabar_event *event);

/* The event's type ("batch.succeeded"), or NULL when the body is not a
 * JSON object with a string "type". */
KABAR_EXTERN const char *kabar_event_type(const kabar_event *event);

/* The webhook-id (the message id; the key to de-duplicate on). */
KABAR_EXTERN const char *kabar_event_id(const kabar_event *event);

/* webhook-timestamp, unix seconds. */
KABAR_EXTERN int64_t kabar_event_timestamp(const kabar_event *event);

/* 1 when the event came as a verified JWT (dynamic webhook), else 0. */
KABAR_EXTERN int kabar_event_is_jwt(const kabar_event *event);

KABAR_EXTERN void kabar_event_free(kabar_event *event);

/* ------------------------------------------------------------------------
 * De-duplication
 *
 * Remembers webhook-ids for ttl seconds, at most capacity of them (the
 * oldest is forgotten first when full), so memory stays bounded whatever
 * arrives. Thread-safe. The usual pattern, which stays at-least-once:
 *
 *   if (kabar_dedup_claim(d, id, now) == KABAR_EDUPLICATE) -> answer 2xx
 *   else handle; on failure kabar_dedup_release(d, id) and answer 5xx so
 *   that kabard retries.
 */

typedef struct kabar_dedup kabar_dedup;

/* Largest webhook-id remembered; longer ids are KABAR_EINVAL. */
#define KABAR_DEDUP_ID_MAX 255

/* capacity 1..1M (1 << 20) entries, ttl 1 s..30 days. Memory is about
 * capacity * 300 bytes, allocated up front. */
KABAR_EXTERN kabar_err kabar_dedup_new(size_t capacity, int64_t ttl_seconds,
                                       kabar_dedup **out);

/* Record webhook_id as seen at now (unix seconds). Returns KABAR_OK when
 * it was not seen within the ttl (it is now), KABAR_EDUPLICATE when it was,
 * KABAR_EINVAL for an empty or too long id. */
KABAR_EXTERN kabar_err kabar_dedup_claim(kabar_dedup *d, const char *webhook_id, int64_t now);

/* Forget webhook_id, e.g. when handling it failed and a retry must not be
 * taken for a duplicate. */
KABAR_EXTERN void kabar_dedup_release(kabar_dedup *d, const char *webhook_id);

KABAR_EXTERN void kabar_dedup_free(kabar_dedup *d);

#ifdef __cplusplus
}
#endif

#endif
