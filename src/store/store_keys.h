/*
 * store_keys.h - the JWT signing keys in the store. Being written.
 */
#ifndef KABAR_STORE_KEYS_H
#define KABAR_STORE_KEYS_H

#include "store/store.h"

struct store_keys_ops {
    int version;
};

#endif
