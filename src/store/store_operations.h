/*
 * store_operations.h - long-running operations in the store (interactions,
 * batches, videos): their state machine's durable half. Being written.
 */
#ifndef KABAR_STORE_OPERATIONS_H
#define KABAR_STORE_OPERATIONS_H

#include "store/store.h"

struct store_operations_ops {
    int version;
};

#endif
