/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c - the few store.h calls that are the backend's own (close,
 * listen, name) and the target id; every concept lives in a file of its
 * own over the driver (store_driver.h).
 */
#include <stdio.h>
#include <string.h>

#include "store/store_driver.h"

void store_close(struct store *st)
{
    if (st)
        st->driver->close(st);
}

const char *store_backend_name(const struct store *st)
{
    return st->driver->name;
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
