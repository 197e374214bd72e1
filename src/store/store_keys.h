/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_keys.h - the JWT signing keys of dynamic webhooks in the store.
 *
 * A row is one RSA key (sign/keyring.c makes and uses them): its kid (the
 * RFC 7638 thumbprint), the private JWK sealed by the caller with the master
 * key (aad = kid; the store never sees it in clear), the public JWK as
 * published in the JWKS, and three times in microseconds: created, signing
 * from (activate) and signing until (retire, 0 = not retired). Rows are never
 * deleted: a retired key only stops being listed.
 *
 * store_keys.c implements it once over the driver; each op is one short
 * transaction.
 */
#ifndef KABAR_STORE_KEYS_H
#define KABAR_STORE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_KID_MAX 64                /* a SHA-256 thumbprint is 43 chars */
/* A sealed RSA-2048 private JWK is about 1.7 KB; room for RSA-4096. */
#define STORE_KEY_BLOB_MAX 8192
#define STORE_PUBLIC_JWK_MAX 2048

/* A signing key as stored. */
struct store_signing_key {
    char kid[STORE_KID_MAX];
    uint8_t private_blob[STORE_KEY_BLOB_MAX];   /* sealed private JWK */
    size_t private_blob_len;
    char public_jwk[STORE_PUBLIC_JWK_MAX];      /* JSON text */
    int64_t create_time_us;
    int64_t activate_time_us;
    int64_t retire_time_us;                     /* 0: not retired */
};

/* The keys not retired at since_us (retire_time 0 or > since_us), newest
 * activate_time first (then kid, descending), at most cap, into out[0..*n). */
enum store_rc store_keys_list(struct store *st, int64_t since_us,
                              struct store_signing_key *out, size_t cap, size_t *n);
/* Insert key if, and only if, the table has no key at all, atomically with
 * the check: the first start of several processes on one database makes one
 * key, not one each. CONFLICT when a key exists. */
enum store_rc store_keys_insert_first(struct store *st, const struct store_signing_key *key);
/* In one transaction: retire every other key not retired at
 * key->activate_time_us (retire_time 0 or later) at key->activate_time_us,
 * and insert key. CONFLICT when the kid exists. */
enum store_rc store_keys_rotate(struct store *st, const struct store_signing_key *key);

#endif
