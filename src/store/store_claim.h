/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_claim.h - how a claim shares its room among targets, for every
 * backend.
 *
 * A claim reads the targets that are due (targets_next_due, oldest first),
 * then asks the plan, target by target, how many deliveries to take from
 * each: never more than the target's free slots (the per-target cap minus
 * what this process has in flight to its uri, minus what this claim already
 * took for that uri), and on the first turn at most an equal share of the
 * room, visiting projects in turn (the first due target of each project,
 * then the second of each, ...), so that neither one target nor one
 * project's many targets can take a whole claim. A second turn hands what
 * is left to the targets that had more than their share.
 */
#ifndef KABAR_STORE_CLAIM_H
#define KABAR_STORE_CLAIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* One due target as the claim sees it. */
struct store_claim_target {
    char id[STORE_TARGET_ID_MAX];
    char project[WEBHOOK_PROJECT_MAX + 1];
    char *uri;                  /* malloc'd: the webhook's uri now, or the dynamic target's */
    bool webhook;               /* a webhook's (else a dynamic target) */
    bool enabled;               /* a dynamic target, or its webhook exists and is enabled */
    bool more;                  /* set by the backend: due deliveries were left */
    int64_t next_due;           /* as read; the backend writes a changed one */
    size_t taken;               /* by this claim */
};

struct store_claim_plan {
    struct store_claim_target *t;   /* owned by the plan */
    size_t nt, cap;
    size_t limit, per_target, share;
    size_t *order;                  /* indexes of t, projects in turn */
    size_t norder, pos;
    int turn;
    struct store_claim_busy { const char *uri; size_t n; } *busy;   /* sorted by uri */
    size_t nbusy;
};

/* Make room for cap targets in plan->t (zeroing plan first). Returns 0, or
 * -1 when out of memory. The backend fills plan->t[plan->nt++]. */
int store_claim_plan_alloc(struct store_claim_plan *plan, size_t cap);

/* Once the targets are read: the order of visits and the shares. busy[i]
 * has inflight[i] attempts of this process in flight (a uri may repeat; the
 * counts add up). Returns 0, or -1 when out of memory. */
int store_claim_plan_start(struct store_claim_plan *plan, size_t limit, size_t per_target,
                           const char *const *busy, const size_t *inflight, size_t nbusy);

/* The next target to take from and how many (*want >= 1), with room left
 * in the claim; SIZE_MAX when there is none. */
size_t store_claim_plan_next(struct store_claim_plan *plan, size_t room, size_t *want);

/* Target k gave got deliveries. */
void store_claim_plan_took(struct store_claim_plan *plan, size_t k, size_t got);

void store_claim_plan_free(struct store_claim_plan *plan);

/* Order out[0..n) (and due alongside) by due time, then id: oldest first. */
void store_claim_sort(struct store_job *out, int64_t *due, size_t n);

#endif
