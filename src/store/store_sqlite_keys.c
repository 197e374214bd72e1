/* store_sqlite_keys.c - being written. */
#include "store/store_sqlite_int.h"

const struct store_keys_ops store_sqlite_keys_ops = {.version = 1};
