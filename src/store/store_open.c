/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_open.c - which backend a database URL names: postgres:// or
 * postgresql:// is PostgreSQL (store_pg.c), anything else an SQLite file
 * (store_sqlite.c). The one file that knows both backends.
 */
#include <string.h>

#include "store/store_driver.h"

enum store_rc store_open(const char *url, struct store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return store_pg_open(url, out, err, errlen);
    return store_sqlite_open(url, out, err, errlen);
}
