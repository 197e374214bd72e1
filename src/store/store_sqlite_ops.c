/* store_sqlite_ops.c - being written. */
#include "store/store_sqlite_int.h"

const struct store_operations_ops store_sqlite_operations_ops = {.version = 1};
