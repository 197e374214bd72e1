/*
 * store.c - backend selection and the thin wrappers of store.h.
 *
 * The wrappers exist so that callers never spell st->ops->x, and so that
 * there is one place to add tracing or metrics around every storage call.
 */
#include <stdio.h>
#include <string.h>

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

enum store_rc store_open(const char *url, struct store **out, char *err, size_t errlen)
{
    const struct store_ops *ops = &store_sqlite_ops;

    *out = NULL;
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        ops = &store_pg_ops;
    return ops->open(url, out, err, errlen);
}

void store_close(struct store *st)
{
    if (st)
        st->ops->close(st);
}

enum store_rc store_meta_get(struct store *st, const char *key, char *val, size_t cap)
{
    return st->ops->meta_get(st, key, val, cap);
}

enum store_rc store_meta_put(struct store *st, const char *key, const char *val)
{
    return st->ops->meta_put(st, key, val);
}

enum store_rc store_apikeys_sync_config(struct store *st, const struct store_apikey *keys, size_t n)
{
    return st->ops->apikeys_sync_config(st, keys, n);
}

enum store_rc store_apikey_insert(struct store *st, const struct store_apikey *key)
{
    return st->ops->apikey_insert(st, key);
}

enum store_rc store_apikey_count(struct store *st, enum store_key_source source, size_t *n)
{
    return st->ops->apikey_count(st, source, n);
}

enum store_rc store_apikey_lookup(struct store *st, const uint8_t *hash, char *project, size_t cap)
{
    return st->ops->apikey_lookup(st, hash, project, cap);
}

enum store_rc store_webhook_create(struct store *st, const struct webhook *wh,
                                   const struct store_secret *secret)
{
    return st->ops->webhook_create(st, wh, secret);
}

enum store_rc store_webhook_get(struct store *st, const char *project, const char *id,
                                int64_t now_us, struct webhook *out)
{
    return st->ops->webhook_get(st, project, id, now_us, out);
}

enum store_rc store_webhook_list(struct store *st, const char *project, const char *after_id,
                                 size_t limit, int64_t now_us, struct webhook *out,
                                 size_t *n, bool *more)
{
    return st->ops->webhook_list(st, project, after_id, limit, now_us, out, n, more);
}

enum store_rc store_webhook_update(struct store *st, const struct webhook *wh)
{
    return st->ops->webhook_update(st, wh);
}

enum store_rc store_webhook_delete(struct store *st, const char *project, const char *id)
{
    return st->ops->webhook_delete(st, project, id);
}

enum store_rc store_secret_rotate(struct store *st, const char *project, const char *webhook_id,
                                  const struct store_secret *secret, int64_t prev_expire_us,
                                  size_t max_live, int64_t now_us)
{
    return st->ops->secret_rotate(st, project, webhook_id, secret, prev_expire_us,
                                  max_live, now_us);
}

enum store_rc store_secrets_live(struct store *st, const char *webhook_id, int64_t now_us,
                                 struct store_secret *out, size_t cap, size_t *n)
{
    return st->ops->secrets_live(st, webhook_id, now_us, out, cap, n);
}

enum store_rc store_messages_insert(struct store *st, struct store_message *msgs, size_t n,
                                    int64_t idem_since_us)
{
    return st->ops->messages_insert(st, msgs, n, idem_since_us);
}

enum store_rc store_deliveries_claim(struct store *st, const char *owner, int64_t now_us,
                                     int64_t lease_until_us, size_t limit, size_t per_target,
                                     const char *const *busy, const size_t *inflight,
                                     size_t nbusy, struct store_job *out, size_t *n)
{
    return st->ops->deliveries_claim(st, owner, now_us, lease_until_us, limit, per_target,
                                     busy, inflight, nbusy, out, n);
}

enum store_rc store_attempts_record(struct store *st, const struct store_attempt *attempts,
                                    size_t n, int64_t now_us, int64_t disable_after_us)
{
    return st->ops->attempts_record(st, attempts, n, now_us, disable_after_us);
}

enum store_rc store_deliveries_pending_count(struct store *st, size_t *n)
{
    return st->ops->deliveries_pending_count(st, n);
}

enum store_rc store_deliveries_next_due(struct store *st, int64_t *due_us)
{
    return st->ops->deliveries_next_due(st, due_us);
}

enum store_rc store_deliveries_list(struct store *st, const char *project,
                                    const char *webhook_id, int state, const char *before_id,
                                    size_t limit, struct store_delivery *out, size_t *n,
                                    bool *more)
{
    return st->ops->deliveries_list(st, project, webhook_id, state, before_id, limit, out, n,
                                    more);
}

enum store_rc store_delivery_get(struct store *st, const char *project, const char *id,
                                 struct store_delivery *out, struct store_attempt_info *attempts,
                                 size_t cap, size_t *nattempts)
{
    return st->ops->delivery_get(st, project, id, out, attempts, cap, nattempts);
}

enum store_rc store_delivery_retry(struct store *st, const char *project, const char *id,
                                   int64_t now_us)
{
    return st->ops->delivery_retry(st, project, id, now_us);
}

enum store_rc store_webhook_recover(struct store *st, const char *project,
                                    const char *webhook_id, int64_t since_us, int64_t now_us,
                                    size_t *n)
{
    return st->ops->webhook_recover(st, project, webhook_id, since_us, now_us, n);
}

enum store_rc store_deliveries_release(struct store *st, const char *owner_prefix, size_t *n)
{
    return st->ops->deliveries_release(st, owner_prefix, n);
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
    return st->ops->listen ? st->ops->listen(st, wake, arg) : STORE_OK;
}

void store_target_id(const char *project, const char *webhook_id, const char *uri, char *out)
{
    if (webhook_id && webhook_id[0])
        snprintf(out, STORE_TARGET_ID_MAX, "%s", webhook_id);
    else
        snprintf(out, STORE_TARGET_ID_MAX, "%.*s %.*s", WEBHOOK_PROJECT_MAX, project,
                 WEBHOOK_URI_MAX, uri);
}
