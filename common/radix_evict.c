/*
 * radix_evict: incremental LRU eviction passes of the radix tree (contract
 * in radix.h, data layout in radix_internal.h).
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
 * (sr_radix_pass_tick) or in chunks by sr_radix_evict. Between steps,
 * inserts may add nodes (visited or not: either is fine, new uses are newer
 * than any cutoff), refresh last_used (the use then survives, as LRU
 * should) or split a node (its address is kept; the new parent is simply
 * not visited by this pass). Nodes are unlinked only here or by
 * remove_worker, which cancels the pass first; they are freed only after
 * the lock is released.
 */
#include "alloc.h"
#include "err.h"
#include "radix.h"
#include "radix_internal.h"

#include <sched.h>
#include <string.h>
#include <time.h>

#define HIST_TOTAL    (1u << 18) /* histogram buckets shared by the over-limit workers */
#define HIST_MIN      1024u      /* ... but at least this many per worker */
#define HIST_MAX      65536u     /* ... and at most this many */
#define CHUNK         64         /* nodes per lock hold in sr_radix_evict */
#define TICK_STEPS    16         /* nodes per insert while a pass is due */
#define PRESSED_STEPS 64         /* ... when a worker is over the hard cap */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pass_free(struct pass *p)
{
    sr_free(p->stack);
    sr_free(p->row);
    sr_free(p->hist);
    sr_free(p->cutoff);
    uint64_t next_due = p->next_due;
    memset(p, 0, sizeof(*p));
    p->next_due = next_due;
}

void sr_radix_pass_cancel(struct sr_radix *t)
{
    pass_free(&t->pass);
}

static void restart_walk(struct sr_radix *t)
{
    t->pass.depth = 1;
    t->pass.stack[0] = (struct pass_frame){t->root, 0};
}

/* Starts a pass over the workers above the target; stays idle if none. */
static int pass_begin(struct sr_radix *t)
{
    struct pass *p = &t->pass;
    if (t->interval_ms)
        p->next_due = now_ms() + t->interval_ms;
    t->pressure = false;
    int32_t over = 0;
    for (size_t w = 0; w < t->nslots; w++)
        over += t->worker_bytes[w] > t->max_bytes;
    if (over == 0)
        return 0;
    p->max_bytes = t->max_bytes;
    p->nslots = t->nslots;
    uint32_t per = HIST_TOTAL / (uint32_t)over;
    p->buckets = per < HIST_MIN ? HIST_MIN : per > HIST_MAX ? HIST_MAX : per;
    p->width = t->clock / p->buckets + 1;
    p->clock0 = t->clock;
    p->cap = 64;
    p->stack = sr_malloc(p->cap * sizeof(*p->stack));
    p->row = sr_malloc(p->nslots * sizeof(*p->row));
    p->cutoff = sr_calloc(p->nslots, sizeof(*p->cutoff));
    p->hist = sr_calloc((size_t)over * p->buckets, sizeof(*p->hist));
    if (!p->stack || !p->row || !p->cutoff || !p->hist) {
        pass_free(p);
        return SR_ERR_NOMEM;
    }
    over = 0;
    for (size_t w = 0; w < p->nslots; w++)
        p->row[w] = t->worker_bytes[w] > p->max_bytes ? over++ : -1;
    p->phase = PASS_COUNT;
    restart_walk(t);
    return 0;
}

static void count_uses(struct pass *p, const struct node *n)
{
    for (uint32_t k = 0; k < n->ntenants; k++) {
        uint32_t w = n->tenants[k].worker;
        if (w >= p->nslots || p->row[w] < 0)
            continue;
        uint64_t b = n->tenants[k].last_used / p->width;
        p->hist[(size_t)p->row[w] * p->buckets + (b < p->buckets ? b : p->buckets - 1)] += n->len;
    }
}

/* Returns true if the node was freed. */
static bool drop_old_uses(struct sr_radix *t, struct node *n)
{
    struct pass *p = &t->pass;
    for (uint32_t k = n->ntenants; k-- > 0;) {
        uint32_t w = n->tenants[k].worker;
        if (w < p->nslots && n->tenants[k].last_used < p->cutoff[w]) {
            t->evicted_bytes += n->len;
            sr_radix_tenant_drop(t, n, w);
        }
    }
    if (n->ntenants > 0 || n->nkids > 0)
        return false;
    sr_radix_node_unlink(t, n);
    return true;
}

/* For each worker keep the newest buckets that fit in the target. */
static void pick_cutoffs(struct pass *p)
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
static void phase_done(struct sr_radix *t)
{
    struct pass *p = &t->pass;
    if (p->phase == PASS_COUNT) {
        pick_cutoffs(p);
        p->phase = PASS_DROP;
        restart_walk(t);
        return;
    }
    t->passes++;
    pass_free(p);
}

/* Counts or drops one node's uses; true if the node was freed. */
static bool visit(struct sr_radix *t, struct node *n)
{
    if (t->pass.phase == PASS_COUNT) {
        count_uses(&t->pass, n);
        return false;
    }
    return drop_old_uses(t, n);
}

/* Visits up to `budget` nodes of the pass in progress. */
static int pass_step(struct sr_radix *t, int budget)
{
    struct pass *p = &t->pass;
    while (p->phase != PASS_IDLE && budget-- > 0) {
        struct pass_frame *top = &p->stack[p->depth - 1];
        if (top->next < top->node->nkids) {
            if (p->depth == p->cap) {
                struct pass_frame *grown = sr_realloc(p->stack, 2 * p->cap * sizeof(*grown));
                if (grown == NULL) {
                    pass_free(p);
                    return SR_ERR_NOMEM;
                }
                p->stack = grown;
                p->cap *= 2;
                top = &p->stack[p->depth - 1];
            }
            p->stack[p->depth++] = (struct pass_frame){top->node->kids[top->next++], 0};
            continue;
        }
        struct node *node = top->node;
        if (--p->depth == 0) { /* the root: this walk is over */
            phase_done(t);
            continue;
        }
        /* Visit the node, then the nodes that splits put between it and
         * the frame below while the pass was paused (each has no other
         * children than newer ones, whose uses all survive the pass). */
        struct pass_frame *below = &p->stack[p->depth - 1];
        for (;;) {
            struct node *up = node->parent;
            bool freed = visit(t, node);
            if (up == below->node) {
                /* Unlinking moved the parent's last child into node's
                 * slot: visit that slot again. */
                if (freed)
                    below->next--;
                break;
            }
            node = up;
        }
    }
    return 0;
}

void sr_radix_pass_tick(struct sr_radix *t)
{
    if (t->pass.phase == PASS_IDLE) {
        bool due = t->pressure || (t->interval_ms && now_ms() >= t->pass.next_due);
        if (!due || pass_begin(t) != 0)
            return;
    }
    (void)pass_step(t, t->pressure ? PRESSED_STEPS : TICK_STEPS);
}

int64_t sr_radix_evict(struct sr_radix *t)
{
    pthread_mutex_lock(&t->lock);
    uint64_t before = t->evicted_bytes;
    /* Finish a pass in progress (its cutoffs are older than this call),
     * then run a fresh one. */
    bool fresh = false;
    int rc = 0;
    while (rc == 0) {
        if (t->pass.phase == PASS_IDLE) {
            if (fresh)
                break;
            fresh = true;
            rc = pass_begin(t);
            continue;
        }
        rc = pass_step(t, CHUNK);
        sr_radix_unlock(t);
        sched_yield();
        pthread_mutex_lock(&t->lock);
    }
    uint64_t removed = t->evicted_bytes - before;
    pthread_mutex_unlock(&t->lock);
    return rc != 0 ? rc : (int64_t)removed;
}

void sr_radix_set_eviction_interval(struct sr_radix *t, uint64_t interval_ms)
{
    pthread_mutex_lock(&t->lock);
    t->interval_ms = interval_ms;
    t->pass.next_due = interval_ms ? now_ms() + interval_ms : 0;
    pthread_mutex_unlock(&t->lock);
}
