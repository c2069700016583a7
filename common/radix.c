/*
 * radix: approximate multi-tenant radix tree (see radix.h for the contract).
 *
 * The nodes and their accounting are radix_node's, the eviction passes
 * radix_evict's; this file holds the lock, the walk, insert and match, and
 * inspection. The tree keeps scratch arrays (path stack, per-worker match
 * lengths) that are only used with the mutex held.
 */
#include "radix.h"

#include "alloc.h"
#include "buf.h"
#include "err.h"
#include "radix_evict.h"
#include "radix_node.h"
#include "utf8.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#define CHUNK 64 /* nodes per lock hold in sr_radix_evict */

/* Locking: every field, and every node, is guarded by `lock`. An eviction
 * pass keeps node pointers between lock holds; that is safe because nodes
 * never move in memory and are freed only by the pass itself or by
 * remove_worker, which cancels a pass in progress. */
struct sr_radix {
    pthread_mutex_t lock;
    struct sr_radix_nodes nodes;
    struct sr_radix_evictor evictor;
    size_t max_bytes;
    size_t granule; /* match lengths floored to multiples of this; 0: to characters */
    uint32_t *lens; /* scratch match lengths, nodes.nslots entries, zero between calls */
    size_t lens_cap;
    struct node **stack; /* scratch path / traversal stack */
    size_t stack_cap;
    uint64_t inserts;
    uint64_t refused_inserts; /* new text not recorded: worker over the hard cap */
};

/* Result of walking a text from the root. The fully matched nodes are
 * tree->stack[0, npath); `partial` is a child whose edge matched only its
 * first partial_len bytes (0 < partial_len < partial->len). */
struct walk {
    size_t npath;
    size_t depth; /* bytes consumed by the fully matched nodes */
    struct node *partial;
    size_t partial_len;
};

/* True when no child of n holds worker: n is a leaf of worker's history. */
static bool is_worker_leaf(const struct node *n, uint32_t worker)
{
    for (uint16_t i = 0; i < n->nkids; i++)
        if (sr_radix_has_tenant(n->kids[i], worker))
            return false;
    return true;
}

/* Releases the lock, then frees the nodes unlinked meanwhile. */
static void tree_unlock(struct sr_radix *t)
{
    struct node *dead = sr_radix_nodes_bury(&t->nodes);
    pthread_mutex_unlock(&t->lock);
    sr_radix_nodes_reap(dead);
}

/* ---- scratch space ---------------------------------------------------- */

static int stack_reserve(struct sr_radix *t, size_t want)
{
    if (want <= t->stack_cap) /* the walk's hot path */
        return 0;
    return sr_radix_mem_grow(&t->nodes, (void **)&t->stack, &t->stack_cap, want, sizeof(*t->stack),
                             64);
}

/* Makes the per-worker arrays cover worker. */
static int slots_reserve(struct sr_radix *t, uint32_t worker)
{
    struct sr_radix_nodes *ns = &t->nodes;
    if (worker < ns->nslots)
        return 0;
    size_t bytes_cap = ns->nslots;
    if (sr_radix_mem_grow(ns, (void **)&ns->worker_bytes, &bytes_cap, (size_t)worker + 1,
                          sizeof(*ns->worker_bytes), 16) != 0 ||
        sr_radix_mem_grow(ns, (void **)&t->lens, &t->lens_cap, bytes_cap, sizeof(*t->lens), 16) !=
            0)
        return SR_ERR_NOMEM; /* nslots still valid for both */
    memset(ns->worker_bytes + ns->nslots, 0, (bytes_cap - ns->nslots) * sizeof(size_t));
    memset(t->lens + ns->nslots, 0, (bytes_cap - ns->nslots) * sizeof(*t->lens));
    ns->nslots = bytes_cap;
    return 0;
}

/* ---- walking ---------------------------------------------------------- */

/* Length of the common prefix of a[0, n) and b[0, n), a word at a time. */
static size_t common_prefix(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t i = 0;
    while (i + 8 <= n) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return i + (size_t)(__builtin_ctzll(x ^ y) >> 3);
        i += 8;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static int walk(struct sr_radix *t, const unsigned char *text, size_t len, struct walk *w)
{
    struct node *n = t->nodes.root;
    memset(w, 0, sizeof(*w));
    while (w->depth < len) {
        struct node *kid = sr_radix_kid_find(n, text[w->depth]);
        if (kid == NULL)
            break;
        size_t rest = len - w->depth;
        size_t cmp = kid->len < rest ? kid->len : rest;
        size_t m = common_prefix(kid->text, text + w->depth, cmp);
        if (m < kid->len) {
            w->partial = kid;
            w->partial_len = m;
            break;
        }
        if (stack_reserve(t, w->npath + 1) != 0)
            return SR_ERR_NOMEM;
        t->stack[w->npath++] = kid;
        w->depth += kid->len;
        n = kid;
    }
    return 0;
}

/* Writes each tenant's match length into t->lens (floored to a character
 * boundary, or to the granule); returns the longest. clear != 0 resets the entries instead. */
static size_t walk_lens(struct sr_radix *t, const struct walk *w, const unsigned char *text,
                        size_t len, bool clear)
{
    size_t depth = 0, longest = 0;
    for (size_t i = 0; i <= w->npath; i++) {
        struct node *n;
        if (i < w->npath) {
            n = t->stack[i];
            depth += n->len;
        } else if (w->partial != NULL) {
            n = w->partial;
            depth += w->partial_len;
        } else {
            break;
        }
        uint32_t at = t->granule ? (uint32_t)(depth - depth % t->granule)
                                 : (uint32_t)sr_utf8_floor(text, len, depth);
        for (uint32_t k = 0; k < n->ntenants; k++)
            t->lens[n->tenants[k].worker] = clear ? 0 : at;
        longest = at;
    }
    return longest;
}

/* Splits `n` after its first `at` bytes: a new node holding the prefix takes
 * n's place under its parent, with n (now the suffix) as its only child. */
static struct node *split(struct sr_radix *t, struct node *n, size_t at)
{
    struct node *p = sr_radix_node_new(&t->nodes, n->text, at);
    if (p == NULL)
        return NULL;
    p->tenants = sr_radix_mem_alloc(&t->nodes, (n->ntenants + 1) * sizeof(struct tenant));
    if (p->tenants == NULL || sr_radix_kid_reserve(&t->nodes, p, 1) != 0) {
        sr_radix_node_free(&t->nodes, p);
        return NULL;
    }
    p->tenant_cap = n->ntenants + 1;
    p->ntenants = n->ntenants;
    memcpy(p->tenants, n->tenants, n->ntenants * sizeof(struct tenant));

    struct node *parent = n->parent;
    n->len -= (uint32_t)at;
    t->nodes.text_bytes -= at; /* node_new counted the prefix again */
    memmove(n->text, n->text + at, n->len);
    /* n keeps its block (and its address: eviction passes may hold node
     * pointers across lock releases); the prefix bytes become slack, which
     * the memory accounting counts. */
    sr_radix_kid_replace(parent, n, p);
    sr_radix_kid_add(p, n);
    return p;
}

/* Records text for worker along a completed walk. Top-down, so a failure
 * leaves the nesting invariant intact. */
static int insert_walked(struct sr_radix *t, const struct walk *w, const unsigned char *text,
                         size_t len, uint32_t worker, uint64_t now_ms)
{
    int rc = slots_reserve(t, worker);
    if (rc != 0)
        return rc;
    uint64_t now = ++t->nodes.clock;
    if (t->nodes.worker_bytes[worker] > 2 * t->max_bytes) {
        /* Over the hard cap: record no new text until the eviction pass
         * (started now) makes room; only refresh what the worker has. */
        for (size_t i = 0; i < w->npath; i++) {
            int64_t k = sr_radix_tenant_find(t->stack[i], worker);
            if (k < 0)
                break;
            t->stack[i]->tenants[k].last_used = now;
        }
        t->refused_inserts++;
        t->evictor.pressure = true;
        sr_radix_evictor_tick(&t->evictor, &t->nodes, t->max_bytes, now_ms);
        return 0;
    }
    for (size_t i = 0; i < w->npath; i++)
        if ((rc = sr_radix_tenant_touch(&t->nodes, t->stack[i], worker, now)) != 0)
            return rc;

    struct node *at = w->npath ? t->stack[w->npath - 1] : t->nodes.root;
    size_t depth = w->depth;
    if (w->partial != NULL) {
        at = split(t, w->partial, w->partial_len);
        if (at == NULL)
            return SR_ERR_NOMEM;
        depth += w->partial_len;
        if ((rc = sr_radix_tenant_touch(&t->nodes, at, worker, now)) != 0)
            return rc;
    }
    if (depth < len) {
        struct node *leaf = sr_radix_node_new(&t->nodes, text + depth, len - depth);
        if (leaf == NULL)
            return SR_ERR_NOMEM;
        if (sr_radix_kid_reserve(&t->nodes, at, (size_t)at->nkids + 1) != 0 ||
            sr_radix_tenant_touch(&t->nodes, leaf, worker, now) != 0) {
            sr_radix_node_free(&t->nodes, leaf);
            return SR_ERR_NOMEM;
        }
        sr_radix_kid_add(at, leaf);
    }
    t->inserts++;
    sr_radix_evictor_tick(&t->evictor, &t->nodes, t->max_bytes, now_ms);
    return 0;
}

/* ---- public API ------------------------------------------------------- */

struct sr_radix *sr_radix_new(size_t max_bytes)
{
    struct sr_radix *t = sr_calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    /* Spin briefly before sleeping: critical sections are microseconds. */
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    int rc = pthread_mutex_init(&t->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0)
        goto fail_tree;
    t->max_bytes = max_bytes ? max_bytes : 1;
    if (sr_radix_nodes_init(&t->nodes, sr_alloc_footprint(t)) != 0)
        goto fail_lock;
    if (slots_reserve(t, 0) != 0 || stack_reserve(t, 64) != 0)
        goto fail_nodes;
    return t;

fail_nodes:
    sr_free(t->lens);
    sr_free(t->stack);
    sr_radix_nodes_clear(&t->nodes);
fail_lock:
    pthread_mutex_destroy(&t->lock);
fail_tree:
    sr_free(t);
    return NULL;
}

void sr_radix_free(struct sr_radix *t)
{
    if (t == NULL)
        return;
    sr_radix_evictor_cancel(&t->evictor);
    sr_radix_nodes_clear(&t->nodes);
    sr_free(t->lens);
    sr_free(t->stack);
    pthread_mutex_destroy(&t->lock);
    sr_free(t);
}

void sr_radix_set_max_bytes(struct sr_radix *t, size_t max_bytes)
{
    pthread_mutex_lock(&t->lock);
    t->max_bytes = max_bytes ? max_bytes : 1;
    pthread_mutex_unlock(&t->lock);
}

void sr_radix_set_granule(struct sr_radix *t, size_t granule)
{
    pthread_mutex_lock(&t->lock);
    t->granule = granule;
    pthread_mutex_unlock(&t->lock);
}

int sr_radix_insert(struct sr_radix *t, const void *text, size_t len, uint32_t worker,
                    uint64_t now_ms)
{
    if (len > UINT32_MAX)
        return SR_ERR_TOO_LARGE;
    struct walk w;
    pthread_mutex_lock(&t->lock);
    int rc = walk(t, text, len, &w);
    if (rc == 0)
        rc = insert_walked(t, &w, text, len, worker, now_ms);
    tree_unlock(t);
    return rc;
}

int64_t sr_radix_match(struct sr_radix *t, const void *text, size_t len, uint32_t *lens,
                       size_t nlens, int64_t *best)
{
    if (len > UINT32_MAX)
        return SR_ERR_TOO_LARGE;
    if (nlens)
        memset(lens, 0, nlens * sizeof(*lens));
    struct walk w;
    pthread_mutex_lock(&t->lock);
    int rc = walk(t, text, len, &w);
    if (rc != 0) {
        pthread_mutex_unlock(&t->lock);
        return rc;
    }
    size_t longest = walk_lens(t, &w, text, len, false);
    for (size_t i = 0; i < nlens && i < t->nodes.nslots; i++)
        lens[i] = t->lens[i];
    walk_lens(t, &w, text, len, true);
    if (best != NULL) {
        struct node *deepest = w.partial ? w.partial : (w.npath ? t->stack[w.npath - 1] : NULL);
        *best = -1;
        uint64_t newest = 0;
        for (uint32_t k = 0; deepest && k < deepest->ntenants; k++) {
            if (*best < 0 || deepest->tenants[k].last_used > newest) {
                newest = deepest->tenants[k].last_used;
                *best = deepest->tenants[k].worker;
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    return (int64_t)longest;
}

int sr_radix_match_insert(struct sr_radix *t, const void *text, size_t len, uint64_t now_ms,
                          sr_radix_choose_cb choose, void *ctx, uint32_t *chosen)
{
    if (len > UINT32_MAX)
        return SR_ERR_TOO_LARGE;
    struct walk w;
    pthread_mutex_lock(&t->lock);
    int rc = walk(t, text, len, &w);
    if (rc != 0)
        goto out;
    struct sr_radix_view view = {
        .match_len = t->lens,
        .worker_bytes = t->nodes.worker_bytes,
        .nslots = t->nodes.nslots,
        .text_len = len,
    };
    view.longest = walk_lens(t, &w, text, len, false);
    int64_t pick = choose(ctx, &view);
    walk_lens(t, &w, text, len, true);
    if (pick < 0) {
        rc = (int)pick;
        goto out;
    }
    *chosen = (uint32_t)pick;
    rc = insert_walked(t, &w, text, len, (uint32_t)pick, now_ms);
out:
    tree_unlock(t);
    return rc;
}

/* Collects every node holding worker (all nodes if worker < 0), parents
 * before children, into t->stack[0, *count). */
static int collect(struct sr_radix *t, int64_t worker, size_t *count)
{
    size_t n = 0, next = 0;
    for (uint16_t i = 0; i < t->nodes.root->nkids; i++) {
        if (stack_reserve(t, n + 1) != 0)
            return SR_ERR_NOMEM;
        t->stack[n++] = t->nodes.root->kids[i];
    }
    /* Breadth-first over the array itself: parents precede children. */
    while (next < n) {
        struct node *node = t->stack[next++];
        if (worker >= 0 && !sr_radix_has_tenant(node, (uint32_t)worker))
            continue;
        if (stack_reserve(t, n + node->nkids) != 0)
            return SR_ERR_NOMEM;
        for (uint16_t i = 0; i < node->nkids; i++)
            t->stack[n++] = node->kids[i];
    }
    /* Drop the nodes that failed the tenant test, keeping order. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (worker < 0 || sr_radix_has_tenant(t->stack[i], (uint32_t)worker))
            t->stack[kept++] = t->stack[i];
    *count = kept;
    return 0;
}

int sr_radix_remove_worker(struct sr_radix *t, uint32_t worker)
{
    pthread_mutex_lock(&t->lock);
    sr_radix_evictor_cancel(&t->evictor); /* it may hold pointers to nodes freed here */
    size_t n = 0;
    int rc = worker < t->nodes.nslots ? collect(t, worker, &n) : 0;
    /* Children before parents: a node left without tenants has no children. */
    for (size_t i = n; rc == 0 && i-- > 0;) {
        struct node *node = t->stack[i];
        sr_radix_tenant_drop(&t->nodes, node, worker);
        if (node->ntenants == 0)
            sr_radix_node_unlink(&t->nodes, node);
    }
    tree_unlock(t);
    return rc;
}

int64_t sr_radix_evict(struct sr_radix *t)
{
    pthread_mutex_lock(&t->lock);
    uint64_t before = t->evictor.evicted_bytes;
    /* Finish a pass in progress (its cutoffs are older than this call),
     * then run a fresh one. */
    bool fresh = false;
    int rc = 0;
    while (rc == 0) {
        if (!sr_radix_evictor_running(&t->evictor)) {
            if (fresh)
                break;
            fresh = true;
            rc = sr_radix_evictor_begin(&t->evictor, &t->nodes, t->max_bytes);
            continue;
        }
        rc = sr_radix_evictor_step(&t->evictor, &t->nodes, CHUNK);
        tree_unlock(t);
        sched_yield();
        pthread_mutex_lock(&t->lock);
    }
    uint64_t removed = t->evictor.evicted_bytes - before;
    pthread_mutex_unlock(&t->lock);
    return rc != 0 ? rc : (int64_t)removed;
}

void sr_radix_set_eviction_interval(struct sr_radix *t, uint64_t interval_ms)
{
    pthread_mutex_lock(&t->lock);
    sr_radix_evictor_set_interval(&t->evictor, interval_ms);
    pthread_mutex_unlock(&t->lock);
}

/* ---- inspection ------------------------------------------------------- */

size_t sr_radix_worker_bytes(struct sr_radix *t, uint32_t worker)
{
    pthread_mutex_lock(&t->lock);
    size_t bytes = worker < t->nodes.nslots ? t->nodes.worker_bytes[worker] : 0;
    pthread_mutex_unlock(&t->lock);
    return bytes;
}

void sr_radix_get_stats(struct sr_radix *t, struct sr_radix_stats *out)
{
    pthread_mutex_lock(&t->lock);
    out->node_count = t->nodes.node_count;
    out->text_bytes = t->nodes.text_bytes;
    out->memory_bytes = t->nodes.memory_bytes;
    out->worker_slots = t->nodes.nslots;
    out->inserts = t->inserts;
    out->evicted_bytes = t->evictor.evicted_bytes;
    out->refused_inserts = t->refused_inserts;
    out->passes = t->evictor.passes;
    pthread_mutex_unlock(&t->lock);
}

int sr_radix_foreach_text(struct sr_radix *t, uint32_t worker, sr_radix_text_cb cb, void *ctx)
{
    pthread_mutex_lock(&t->lock);
    size_t n = 0;
    int rc = worker < t->nodes.nslots ? collect(t, worker, &n) : 0;
    struct sr_buf text;
    sr_buf_init(&text, SIZE_MAX - 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct node *leaf = t->stack[i];
        if (!is_worker_leaf(leaf, worker))
            continue;
        size_t depth = 0;
        for (struct node *p = leaf; p != t->nodes.root; p = p->parent)
            depth += p->len;
        sr_buf_reset(&text);
        if ((rc = sr_buf_reserve(&text, depth)) != 0)
            break;
        size_t end = depth;
        for (struct node *p = leaf; p != t->nodes.root; p = p->parent) {
            end -= p->len;
            memcpy(sr_buf_tail(&text) + end, p->text, p->len);
        }
        sr_buf_commit(&text, depth);
        cb(ctx, (const unsigned char *)text.data, depth);
    }
    sr_buf_free(&text);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int check_node(struct sr_radix *t, struct node *n, size_t *bytes, size_t *mem,
                      const char **why)
{
    *mem += sr_alloc_footprint(n) + sr_alloc_footprint(n->tenants) + sr_alloc_footprint(n->kids);
    if (n != t->nodes.root) {
        if (n->len == 0)
            return *why = "empty edge", SR_ERR_INVALID;
        if (n->ntenants == 0)
            return *why = "node without tenants", SR_ERR_INVALID;
    }
    for (uint32_t k = 0; k < n->ntenants; k++) {
        uint32_t w = n->tenants[k].worker;
        if (k > 0 && n->tenants[k - 1].worker >= w)
            return *why = "tenants not sorted and unique", SR_ERR_INVALID;
        if (w >= t->nodes.nslots)
            return *why = "tenant outside the worker slots", SR_ERR_INVALID;
        if (n->parent != NULL && n->parent != t->nodes.root) {
            int64_t p = sr_radix_tenant_find(n->parent, w);
            if (p < 0)
                return *why = "tenant missing from parent (nesting)", SR_ERR_INVALID;
            if (n->parent->tenants[p].last_used < n->tenants[k].last_used)
                return *why = "parent used before its child (monotony)", SR_ERR_INVALID;
        }
        if (n->tenants[k].last_used > t->nodes.clock)
            return *why = "timestamp from the future", SR_ERR_INVALID;
        bytes[w] += n->len;
    }
    for (uint16_t i = 0; i < n->nkids; i++) {
        struct node *kid = n->kids[i];
        if (kid->parent != n)
            return *why = "bad parent pointer", SR_ERR_INVALID;
        if (sr_radix_kid_keys(n)[i] != kid->text[0])
            return *why = "child key differs from its first byte", SR_ERR_INVALID;
        for (uint16_t j = 0; j < i; j++)
            if (sr_radix_kid_keys(n)[j] == sr_radix_kid_keys(n)[i])
                return *why = "two children share a first byte", SR_ERR_INVALID;
    }
    return 0;
}

int sr_radix_check(struct sr_radix *t, const char **why)
{
    pthread_mutex_lock(&t->lock);
    size_t *bytes = sr_calloc(t->nodes.nslots, sizeof(*bytes));
    size_t n = 0, text = 0;
    int rc = bytes ? collect(t, -1, &n) : SR_ERR_NOMEM;
    if (rc != 0)
        *why = "out of memory while checking";
    /* After collect(): it may have grown the stack. */
    size_t mem = sr_alloc_footprint(t) + sr_alloc_footprint(t->nodes.worker_bytes) +
                 sr_alloc_footprint(t->lens) + sr_alloc_footprint(t->stack);
    if (rc == 0)
        rc = check_node(t, t->nodes.root, bytes, &mem, why);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        text += t->stack[i]->len;
        rc = check_node(t, t->stack[i], bytes, &mem, why);
    }
    for (size_t w = 0; rc == 0 && w < t->nodes.nslots; w++) {
        if (bytes[w] != t->nodes.worker_bytes[w])
            *why = "worker size accounting is wrong", rc = SR_ERR_INVALID;
        if (t->lens[w] != 0)
            *why = "scratch match lengths not cleared", rc = SR_ERR_INVALID;
    }
    if (rc == 0 && n != t->nodes.node_count)
        *why = "node count is wrong", rc = SR_ERR_INVALID;
    if (rc == 0 && text != t->nodes.text_bytes)
        *why = "text byte count is wrong", rc = SR_ERR_INVALID;
    if (rc == 0 && mem != t->nodes.memory_bytes)
        *why = "memory accounting is wrong", rc = SR_ERR_INVALID;
    sr_free(bytes);
    pthread_mutex_unlock(&t->lock);
    return rc;
}
