/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_claim.c - the claim's round robin over targets (see store_claim.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_claim.h"

int store_claim_plan_alloc(struct store_claim_plan *plan, size_t cap)
{
    memset(plan, 0, sizeof *plan);
    plan->t = calloc(cap ? cap : 1, sizeof *plan->t);
    plan->cap = cap;
    return plan->t ? 0 : -1;
}

static int busy_cmp(const void *a, const void *b)
{
    return strcmp(((const struct store_claim_busy *)a)->uri,
                  ((const struct store_claim_busy *)b)->uri);
}

/* What this process has in flight to uri, and what this claim took so far
 * from the targets with that uri (two webhooks may share one). */
static size_t plan_used(const struct store_claim_plan *plan, const char *uri)
{
    struct store_claim_busy key = {uri, 0}, *b;
    size_t used = 0;

    b = plan->nbusy ? bsearch(&key, plan->busy, plan->nbusy, sizeof key, busy_cmp) : NULL;
    if (b)
        used = b->n;
    for (size_t i = 0; i < plan->nt; i++)
        if (plan->t[i].taken > 0 && strcmp(plan->t[i].uri, uri) == 0)
            used += plan->t[i].taken;
    return used;
}

static size_t plan_slots(const struct store_claim_plan *plan, const struct store_claim_target *t)
{
    size_t used = plan_used(plan, t->uri);

    return used >= plan->per_target ? 0 : plan->per_target - used;
}

/* Sort keys of the visit order: the target's rank within its project (how
 * many targets of that project are due before it), then its due order. */
struct visit { size_t rank, index; const char *project; };

static int visit_by_project(const void *a, const void *b)
{
    const struct visit *x = a, *y = b;
    int c = strcmp(x->project, y->project);

    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int visit_by_rank(const void *a, const void *b)
{
    const struct visit *x = a, *y = b;

    if (x->rank != y->rank)
        return (x->rank > y->rank) - (x->rank < y->rank);
    return (x->index > y->index) - (x->index < y->index);
}

int store_claim_plan_start(struct store_claim_plan *plan, size_t limit, size_t per_target,
                           const char *const *busy, const size_t *inflight, size_t nbusy)
{
    struct visit *v = NULL;
    size_t nv = 0, eligible = 0;

    plan->limit = limit;
    plan->per_target = per_target;
    plan->busy = calloc(nbusy ? nbusy : 1, sizeof *plan->busy);
    plan->order = calloc(plan->nt ? plan->nt : 1, sizeof *plan->order);
    v = calloc(plan->nt ? plan->nt : 1, sizeof *v);
    if (!plan->busy || !plan->order || !v) {
        free(v);
        return -1;
    }
    for (size_t i = 0; i < nbusy; i++)
        plan->busy[i] = (struct store_claim_busy){busy[i], inflight[i]};
    qsort(plan->busy, nbusy, sizeof *plan->busy, busy_cmp);
    /* A uri listed twice: one entry with the sum. */
    for (size_t i = 0; i < nbusy; i++) {
        if (plan->nbusy > 0 && strcmp(plan->busy[plan->nbusy - 1].uri, plan->busy[i].uri) == 0)
            plan->busy[plan->nbusy - 1].n += plan->busy[i].n;
        else
            plan->busy[plan->nbusy++] = plan->busy[i];
    }

    for (size_t i = 0; i < plan->nt; i++) {
        if (!plan->t[i].enabled)
            continue;
        v[nv++] = (struct visit){0, i, plan->t[i].project};
        if (plan_slots(plan, &plan->t[i]) > 0)
            eligible++;
    }
    qsort(v, nv, sizeof *v, visit_by_project);
    for (size_t i = 1; i < nv; i++)
        if (strcmp(v[i].project, v[i - 1].project) == 0)
            v[i].rank = v[i - 1].rank + 1;
    qsort(v, nv, sizeof *v, visit_by_rank);
    for (size_t i = 0; i < nv; i++)
        plan->order[i] = v[i].index;
    plan->norder = nv;
    free(v);
    plan->share = eligible ? (limit + eligible - 1) / eligible : limit;
    if (plan->share == 0)
        plan->share = 1;
    return 0;
}

size_t store_claim_plan_next(struct store_claim_plan *plan, size_t room, size_t *want)
{
    while (plan->turn < 2) {
        while (plan->pos < plan->norder) {
            size_t k = plan->order[plan->pos++];
            struct store_claim_target *t = &plan->t[k];
            size_t slots = plan_slots(plan, t);

            if (slots == 0 || (plan->turn == 1 && !t->more))
                continue;
            if (plan->turn == 0 && slots > plan->share)
                slots = plan->share;
            *want = slots < room ? slots : room;
            return *want > 0 ? k : SIZE_MAX;
        }
        plan->turn++;
        plan->pos = 0;
    }
    return SIZE_MAX;
}

void store_claim_plan_took(struct store_claim_plan *plan, size_t k, size_t got)
{
    plan->t[k].taken += got;
}

void store_claim_plan_free(struct store_claim_plan *plan)
{
    for (size_t i = 0; plan->t && i < plan->nt; i++)
        free(plan->t[i].uri);
    free(plan->t);
    free(plan->order);
    free(plan->busy);
    memset(plan, 0, sizeof *plan);
}

struct claimed { struct store_job job; int64_t due; };

static int claimed_cmp(const void *a, const void *b)
{
    const struct claimed *x = a, *y = b;

    if (x->due != y->due)
        return (x->due > y->due) - (x->due < y->due);
    return strcmp(x->job.id, y->job.id);
}

void store_claim_sort(struct store_job *out, int64_t *due, size_t n)
{
    struct claimed *c = n > 1 ? malloc(n * sizeof *c) : NULL;

    if (!c)
        return;         /* one job, or no memory: the order is only a courtesy */
    for (size_t i = 0; i < n; i++)
        c[i] = (struct claimed){out[i], due[i]};
    qsort(c, n, sizeof *c, claimed_cmp);
    for (size_t i = 0; i < n; i++) {
        out[i] = c[i].job;
        due[i] = c[i].due;
    }
    free(c);
}
