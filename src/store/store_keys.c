/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_keys.c - the thin wrappers of store_keys.h over st->ops->keys, so
 * that callers never spell the table and there is one place to add tracing
 * around every signing-key call (as store.c does for store.h).
 */
#include "store/store_keys.h"

enum store_rc store_keys_list(struct store *st, int64_t since_us,
                              struct store_signing_key *out, size_t cap, size_t *n)
{
    return st->ops->keys->keys_list(st, since_us, out, cap, n);
}

enum store_rc store_keys_insert_first(struct store *st, const struct store_signing_key *key)
{
    return st->ops->keys->key_insert_first(st, key);
}

enum store_rc store_keys_rotate(struct store *st, const struct store_signing_key *key)
{
    return st->ops->keys->key_rotate(st, key);
}
