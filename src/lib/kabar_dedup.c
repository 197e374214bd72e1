/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_dedup.c - remembering webhook-ids for a while, in bounded memory.
 *
 * Entries live in a ring of capacity slots, written in arrival order, so
 * the slot about to be overwritten always holds the oldest id: when the ring
 * is full the oldest is forgotten first, whatever its age. A hash table of
 * chains (slot indexes) finds an id in O(1). An entry older than the ttl
 * counts as absent and is dropped when met. Everything is allocated once
 * in kabar_dedup_new(), so a flood of new ids costs no memory, only
 * forgetting; one mutex makes it safe from several threads.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kabar/kabar.h"

#define DEDUP_NONE UINT32_MAX
#define DEDUP_CAPACITY_MAX ((size_t)1 << 20)
#define DEDUP_TTL_MAX ((int64_t)30 * 86400)

struct dedup_entry {
    char id[KABAR_DEDUP_ID_MAX + 1];
    int64_t seen;
    uint32_t next;              /* next slot in the same bucket */
    bool used;
};

struct kabar_dedup {
    pthread_mutex_t lock;
    struct dedup_entry *ring;
    uint32_t *buckets;
    size_t capacity;
    size_t nbuckets;            /* a power of two, >= 2 * capacity */
    size_t head;                /* the next slot to write */
    int64_t ttl;
};

/* FNV-1a: the ids are not secret and a flood of colliding ids only slows
 * the chain it lands in, which the capacity bounds. */
static size_t dedup_hash(const char *id, size_t nbuckets)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *id != '\0'; id++) {
        h ^= (unsigned char)*id;
        h *= 1099511628211ULL;
    }
    return (size_t)(h & (nbuckets - 1));
}

kabar_err kabar_dedup_new(size_t capacity, int64_t ttl_seconds, kabar_dedup **out)
{
    kabar_dedup *d;
    size_t i;

    if (out == NULL || capacity == 0 || capacity > DEDUP_CAPACITY_MAX || ttl_seconds < 1 ||
        ttl_seconds > DEDUP_TTL_MAX)
        return KABAR_EINVAL;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return KABAR_ENOMEM;
    d->capacity = capacity;
    d->ttl = ttl_seconds;
    for (d->nbuckets = 2; d->nbuckets < 2 * capacity; d->nbuckets *= 2)
        ;
    d->ring = calloc(capacity, sizeof(*d->ring));
    d->buckets = malloc(d->nbuckets * sizeof(*d->buckets));
    if (d->ring == NULL || d->buckets == NULL || pthread_mutex_init(&d->lock, NULL) != 0) {
        free(d->ring);
        free(d->buckets);
        free(d);
        return KABAR_ENOMEM;
    }
    for (i = 0; i < d->nbuckets; i++)
        d->buckets[i] = DEDUP_NONE;
    *out = d;
    return KABAR_OK;
}

/* Unlink slot from its bucket's chain and mark it free. */
static void dedup_remove(kabar_dedup *d, uint32_t slot)
{
    uint32_t *link = &d->buckets[dedup_hash(d->ring[slot].id, d->nbuckets)];

    while (*link != DEDUP_NONE && *link != slot)
        link = &d->ring[*link].next;
    if (*link == slot)
        *link = d->ring[slot].next;
    d->ring[slot].used = false;
    d->ring[slot].next = DEDUP_NONE;
}

/* The slot holding id, or DEDUP_NONE. */
static uint32_t dedup_find(const kabar_dedup *d, const char *id)
{
    uint32_t s = d->buckets[dedup_hash(id, d->nbuckets)];

    while (s != DEDUP_NONE && strcmp(d->ring[s].id, id) != 0)
        s = d->ring[s].next;
    return s;
}

kabar_err kabar_dedup_claim(kabar_dedup *d, const char *webhook_id, int64_t now)
{
    size_t len;
    uint32_t s;
    size_t b;
    kabar_err rc = KABAR_OK;

    if (d == NULL || webhook_id == NULL)
        return KABAR_EINVAL;
    len = strlen(webhook_id);
    if (len == 0 || len > KABAR_DEDUP_ID_MAX)
        return KABAR_EINVAL;
    pthread_mutex_lock(&d->lock);
    s = dedup_find(d, webhook_id);
    if (s != DEDUP_NONE) {
        /* A clock that went back counts as recent, the safe side. */
        if (now - d->ring[s].seen < d->ttl) {
            rc = KABAR_EDUPLICATE;
            goto out;
        }
        dedup_remove(d, s);
    }
    s = (uint32_t)d->head;
    d->head = (d->head + 1) % d->capacity;
    if (d->ring[s].used)
        dedup_remove(d, s);
    memcpy(d->ring[s].id, webhook_id, len + 1);
    d->ring[s].seen = now;
    d->ring[s].used = true;
    b = dedup_hash(webhook_id, d->nbuckets);
    d->ring[s].next = d->buckets[b];
    d->buckets[b] = s;
out:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

void kabar_dedup_release(kabar_dedup *d, const char *webhook_id)
{
    uint32_t s;

    if (d == NULL || webhook_id == NULL || strlen(webhook_id) > KABAR_DEDUP_ID_MAX)
        return;
    pthread_mutex_lock(&d->lock);
    s = dedup_find(d, webhook_id);
    if (s != DEDUP_NONE)
        dedup_remove(d, s);
    pthread_mutex_unlock(&d->lock);
}

void kabar_dedup_free(kabar_dedup *d)
{
    if (d == NULL)
        return;
    pthread_mutex_destroy(&d->lock);
    free(d->ring);
    free(d->buckets);
    free(d);
}
