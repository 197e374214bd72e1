/*
 * store_retention.c - the thin wrappers of store_retention.h over
 * st->ops->retention.
 */
#include "store/store_retention.h"

enum store_rc store_prune(struct store *st, int64_t cutoff_us, size_t limit,
                          struct store_prune *out)
{
    if (limit > STORE_PRUNE_BATCH_MAX)
        limit = STORE_PRUNE_BATCH_MAX;
    return st->ops->retention->prune(st, cutoff_us, limit, out);
}

enum store_rc store_compact(struct store *st, size_t max_pages, size_t *pages)
{
    return st->ops->retention->compact(st, max_pages, pages);
}
