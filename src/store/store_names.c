/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_names.c - the words for the store's enums: error codes and delivery
 * states. Kept apart from store.c (which picks a backend) so that a backend
 * can name an error without calling back into the file that opens it.
 */
#include "store/store.h"

const char *store_strerror(enum store_rc rc)
{
    switch (rc) {
#define X(name, str) case STORE_##name: return str;
    STORE_ERRNO_MAP(X)
#undef X
    }
    return "unknown store error";
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
