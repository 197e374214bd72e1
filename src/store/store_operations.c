/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_operations.c - the thin wrappers of store_operations.h over
 * st->ops->operations, and freeing what the store hands out.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_operations.h"

void store_operation_clear(struct store_operation *op)
{
    free(op->request);
    free(op->result);
    free(op->webhook_config);
    op->request = NULL;
    op->result = NULL;
    op->webhook_config = NULL;
}

void store_operations_clear(struct store_operation *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_operation_clear(&ops[i]);
}

enum store_rc store_operation_create(struct store *st, const struct store_operation *op)
{
    return st->ops->operations->create(st, op);
}

enum store_rc store_operation_get(struct store *st, const char *project, const char *id,
                                  struct store_operation *out)
{
    return st->ops->operations->get(st, project, id, out);
}

enum store_rc store_operation_list(struct store *st, const char *project, const char *kind,
                                   int state, const char *after_id, size_t limit,
                                   struct store_operation *out, size_t *n, bool *more)
{
    return st->ops->operations->list(st, project, kind, state, after_id, limit, out, n, more);
}

enum store_rc store_operation_delete(struct store *st, const char *project, const char *id)
{
    return st->ops->operations->remove(st, project, id);
}

enum store_rc store_operation_transition(struct store *st, const struct store_op_transition *t,
                                         struct store_message *msg)
{
    return st->ops->operations->transition(st, t, msg);
}

enum store_rc store_operation_claim(struct store *st, const char *project,
                                    const char *const *kinds, size_t nkinds, const char *owner,
                                    int64_t now_us, int64_t lease_until_us,
                                    struct store_operation *out)
{
    return st->ops->operations->claim(st, project, kinds, nkinds, owner, now_us,
                                      lease_until_us, out);
}

enum store_rc store_operation_heartbeat(struct store *st, const char *project, const char *id,
                                        const char *owner, int64_t lease_until_us,
                                        int64_t now_us)
{
    return st->ops->operations->heartbeat(st, project, id, owner, lease_until_us, now_us);
}

enum store_rc store_operation_due(struct store *st, int64_t now_us, size_t limit,
                                  struct store_operation *out, size_t *n)
{
    return st->ops->operations->due(st, now_us, limit, out, n);
}

enum store_rc store_operation_stale(struct store *st, const char *kind,
                                    int64_t created_before_us, size_t limit,
                                    struct store_operation *out, size_t *n)
{
    return st->ops->operations->stale(st, kind, created_before_us, limit, out, n);
}

enum store_rc store_operation_deliveries(struct store *st, const char *project, const char *id,
                                         struct store_op_delivery *out, size_t cap, size_t *n)
{
    /* The newest op of the table: a backend that does not have it yet
     * lists no deliveries rather than failing the whole GET. */
    if (!st->ops->operations->deliveries) {
        *n = 0;
        return STORE_OK;
    }
    return st->ops->operations->deliveries(st, project, id, out, cap, n);
}
