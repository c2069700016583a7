/*
 * radix_evict: incremental LRU eviction passes of the radix tree (see
 * radix_evict.h; the contract users see is in radix.h).
 *
 * A pass brings every worker above max_bytes back under it by dropping its
 * least recently used history. A parent's last_used for a worker is never
 * older than a child's (monotony), so "drop every use by worker w older than
 * a cutoff c_w" removes leaves before their parents, leaves a sound tree,
 * and is exactly LRU order. A pass therefore:
 *   COUNT: walks the tree and builds, for every over-limit worker, a
 *          histogram of its bytes by last_used (buckets over logical time
 *          0..now: 256K buckets in all, 1024 to 65536 per worker); then picks
 *          each worker's cutoff, the oldest bucket boundary such that the
 *          newer buckets fit (granularity one bucket, a fraction of
 *          the time span: a pass may drop slightly more than the minimum);
 *   DROP:  walks the tree children-first and drops the uses older than the
 *          cutoffs, freeing nodes left without tenants.
 * Both walks are resumable post-order walks whose position (a stack of
 * node pointers and child indexes) survives between lock holds, so a pass
 * advances a few nodes at a time: by every insert while it is in progress
 * (sr_radix_evictor_tick) or in chunks (sr_radix_evictor_step, driven by
 * sr_radix_evict). Between steps, inserts may add nodes (visited or not:
 * either is fine, new uses are newer than any cutoff), refresh last_used
 * (the use then survives, as LRU should) or split a node (its address is
 * kept; the new parent is simply not visited by this pass). Nodes are
 * unlinked only here or by remove_worker, which cancels the pass first;
 * they are freed only after the lock is released.
 */
#include "radix_evict.h"

#include "alloc.h"
#include "buf.h"
#include "err.h"

#include <string.h>

#define HIST_TOTAL    (1u << 18) /* histogram buckets shared by the over-limit workers */
#define HIST_MIN      1024u      /* ... but at least this many per worker */
#define HIST_MAX      65536u     /* ... and at most this many */
#define TICK_STEPS    16         /* nodes per insert while a pass is due */
#define PRESSED_STEPS 64         /* ... when a worker is over the hard cap */

void sr_radix_evictor_cancel(struct sr_radix_evictor *e)
{
    struct sr_radix_pass *p = &e->pass;
    sr_free(p->stack);
    sr_free(p->row);
    sr_free(p->hist);
    sr_free(p->cutoff);
    memset(p, 0, sizeof(*p));
}

static void restart_walk(struct sr_radix_pass *p, struct node *root)
{
    p->depth = 1;
    p->stack[0] = (struct sr_radix_pass_frame){root, 0};
}

int sr_radix_evictor_begin(struct sr_radix_evictor *e, struct sr_radix_nodes *t, size_t max_bytes)
{
    struct sr_radix_pass *p = &e->pass;
    e->armed = false;
    e->pressure = false;
    int32_t over = 0;
    for (size_t w = 0; w < t->nslots; w++)
        over += t->worker_bytes[w] > max_bytes;
    if (over == 0)
        return 0;
    p->max_bytes = max_bytes;
    p->nslots = t->nslots;
    uint32_t per = HIST_TOTAL / (uint32_t)over;
    p->buckets = per < HIST_MIN ? HIST_MIN : per > HIST_MAX ? HIST_MAX : per;
    p->width = t->clock / p->buckets + 1;
    p->clock0 = t->clock;
    p->row = sr_malloc(p->nslots * sizeof(*p->row));
    p->cutoff = sr_calloc(p->nslots, sizeof(*p->cutoff));
    p->hist = sr_calloc((size_t)over * p->buckets, sizeof(*p->hist));
    if (sr_grow((void **)&p->stack, &p->cap, 64, sizeof(*p->stack), 64, SIZE_MAX) != 0 || !p->row ||
        !p->cutoff || !p->hist) {
        sr_radix_evictor_cancel(e);
        return SR_ERR_NOMEM;
    }
    over = 0;
    for (size_t w = 0; w < p->nslots; w++)
        p->row[w] = t->worker_bytes[w] > p->max_bytes ? over++ : -1;
    p->phase = SR_RADIX_PASS_COUNT;
    restart_walk(p, t->root);
    return 0;
}

static void count_uses(struct sr_radix_pass *p, const struct node *n)
{
    for (uint32_t k = 0; k < n->ntenants; k++) {
        uint32_t w = n->tenants[k].worker;
        if (w >= p->nslots || p->row[w] < 0)
            continue;
        uint64_t b = n->tenants[k].last_used / p->width;
        p->hist[(size_t)p->row[w] * p->buckets + (b < p->buckets ? b : p->buckets - 1)] += n->len;
    }
}

/* Returns true if the node was unlinked. */
static bool drop_old_uses(struct sr_radix_evictor *e, struct sr_radix_nodes *t, struct node *n)
{
    struct sr_radix_pass *p = &e->pass;
    for (uint32_t k = n->ntenants; k-- > 0;) {
        uint32_t w = n->tenants[k].worker;
        if (w < p->nslots && n->tenants[k].last_used < p->cutoff[w]) {
            e->evicted_bytes += n->len;
            sr_radix_tenant_drop(t, n, w);
        }
    }
    if (n->ntenants > 0 || n->nkids > 0)
        return false;
    sr_radix_node_unlink(t, n);
    return true;
}

/* For each worker keep the newest buckets that fit in the target. */
static void pick_cutoffs(struct sr_radix_pass *p)
{
    for (size_t w = 0; w < p->nslots; w++) {
        if (p->row[w] < 0)
            continue;
        const uint64_t *h = p->hist + (size_t)p->row[w] * p->buckets;
        uint64_t kept = 0;
        for (size_t b = p->buckets; b-- > 0;) {
            kept += h[b];
            if (kept > p->max_bytes) {
                /* Never past the pass's start: uses made during the pass
                 * must survive it (the walk may not see all of them). */
                uint64_t c = (b + 1) * p->width;
                p->cutoff[w] = c < p->clock0 + 1 ? c : p->clock0 + 1;
                break;
            }
        }
    }
}

/* The walk finished: COUNT moves on to DROP, DROP ends the pass. */
static void phase_done(struct sr_radix_evictor *e, struct sr_radix_nodes *t)
{
    struct sr_radix_pass *p = &e->pass;
    if (p->phase == SR_RADIX_PASS_COUNT) {
        pick_cutoffs(p);
        p->phase = SR_RADIX_PASS_DROP;
        restart_walk(p, t->root);
        return;
    }
    e->passes++;
    sr_radix_evictor_cancel(e);
}

/* Counts or drops one node's uses; true if the node was unlinked. */
static bool visit(struct sr_radix_evictor *e, struct sr_radix_nodes *t, struct node *n)
{
    if (e->pass.phase == SR_RADIX_PASS_COUNT) {
        count_uses(&e->pass, n);
        return false;
    }
    return drop_old_uses(e, t, n);
}

int sr_radix_evictor_step(struct sr_radix_evictor *e, struct sr_radix_nodes *t, int budget)
{
    struct sr_radix_pass *p = &e->pass;
    while (p->phase != SR_RADIX_PASS_IDLE && budget-- > 0) {
        struct sr_radix_pass_frame *top = &p->stack[p->depth - 1];
        if (top->next < top->node->nkids) {
            if (p->depth == p->cap && sr_grow((void **)&p->stack, &p->cap, p->depth + 1,
                                              sizeof(*p->stack), 64, SIZE_MAX) != 0) {
                sr_radix_evictor_cancel(e);
                return SR_ERR_NOMEM;
            }
            top = &p->stack[p->depth - 1];
            p->stack[p->depth++] = (struct sr_radix_pass_frame){top->node->kids[top->next++], 0};
            continue;
        }
        struct node *node = top->node;
        if (--p->depth == 0) { /* the root: this walk is over */
            phase_done(e, t);
            continue;
        }
        /* Visit the node, then the nodes that splits put between it and
         * the frame below while the pass was paused (each has no other
         * children than newer ones, whose uses all survive the pass). */
        struct sr_radix_pass_frame *below = &p->stack[p->depth - 1];
        for (;;) {
            struct node *up = node->parent;
            bool unlinked = visit(e, t, node);
            if (up == below->node) {
                /* Unlinking moved the parent's last child into node's
                 * slot: visit that slot again. */
                if (unlinked)
                    below->next--;
                break;
            }
            node = up;
        }
    }
    return 0;
}

void sr_radix_evictor_tick(struct sr_radix_evictor *e, struct sr_radix_nodes *t, size_t max_bytes,
                           uint64_t now_ms)
{
    if (e->pass.phase == SR_RADIX_PASS_IDLE) {
        if (e->interval_ms && !e->armed) {
            e->armed = true;
            e->next_due = now_ms + e->interval_ms;
        }
        bool due = e->pressure || (e->interval_ms && now_ms >= e->next_due);
        if (!due)
            return;
        int rc = sr_radix_evictor_begin(e, t, max_bytes);
        if (e->interval_ms) {
            e->armed = true;
            e->next_due = now_ms + e->interval_ms;
        }
        if (rc != 0)
            return;
    }
    (void)sr_radix_evictor_step(e, t, e->pressure ? PRESSED_STEPS : TICK_STEPS);
}

void sr_radix_evictor_set_interval(struct sr_radix_evictor *e, uint64_t interval_ms)
{
    e->interval_ms = interval_ms;
    e->armed = false;
}
