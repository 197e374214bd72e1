/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c - backend selection and the few store.h calls that are the
 * backend's own (close, listen, name); every concept lives in a file of its
 * own over the driver (store_driver.h).
 */
#include <stdio.h>
#include <string.h>

#include "store/store_driver.h"

const char *store_strerror(enum store_rc rc)
{
    switch (rc) {
#define X(name, str) case STORE_##name: return str;
    STORE_ERRNO_MAP(X)
#undef X
    }
    return "unknown store error";
}

enum store_rc store_open(const char *url, struct store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return store_pg_open(url, out, err, errlen);
    return store_sqlite_open(url, out, err, errlen);
}

void store_close(struct store *st)
{
    if (st)
        st->driver->close(st);
}

const char *store_backend_name(const struct store *st)
{
    return st->driver->name;
}

const char *store_delivery_state_name(enum store_delivery_state state)
{
    static const char *const names[] = {
#define X(name, str) str,
        STORE_DELIVERY_STATE_MAP(X)
#undef X
    };

    return (unsigned)state < STORE_DELIVERY_STATE_COUNT ? names[state] : "unknown";
}

enum store_rc store_listen(struct store *st, void (*wake)(void *arg), void *arg)
{
    return st->driver->listen ? st->driver->listen(st, wake, arg) : STORE_OK;
}

void store_target_id(const char *project, const char *webhook_id, const char *uri, char *out)
{
    if (webhook_id && webhook_id[0])
        snprintf(out, STORE_TARGET_ID_MAX, "%s", webhook_id);
    else
        snprintf(out, STORE_TARGET_ID_MAX, "%.*s %.*s", WEBHOOK_PROJECT_MAX, project,
                 WEBHOOK_URI_MAX, uri);
}
