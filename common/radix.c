/*
 * radix: approximate multi-tenant radix tree (see radix.h for the contract).
 *
 * Layout: a node is one allocation holding its header and its edge text.
 * Tenants are a separate array sorted by worker id (binary search). Children
 * live in one block: child pointers followed by their first bytes ("keys"),
 * looked up with memchr. The tree keeps scratch arrays (path stack, per-worker
 * match lengths) that are only used with the mutex held.
 */
#include "radix.h"

#include "alloc.h"
#include "err.h"
#include "radix_internal.h"
#include "utf8.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

/* Result of walking a text from the root. The fully matched nodes are
 * tree->stack[0, npath); `partial` is a child whose edge matched only its
 * first partial_len bytes (0 < partial_len < partial->len). */
struct walk {
    size_t npath;
    size_t depth; /* bytes consumed by the fully matched nodes */
    struct node *partial;
    size_t partial_len;
};

/* ---- memory accounting ---------------------------------------------- */

static void *tree_alloc(struct sr_radix *t, size_t size)
{
    void *p = sr_malloc(size);
    t->memory_bytes += sr_alloc_footprint(p);
    return p;
}

static void tree_release(struct sr_radix *t, void *p)
{
    t->memory_bytes -= sr_alloc_footprint(p);
    sr_free(p);
}

static void *tree_realloc(struct sr_radix *t, void *p, size_t size)
{
    size_t before = sr_alloc_footprint(p);
    void *q = sr_realloc(p, size);
    if (q != NULL)
        t->memory_bytes = t->memory_bytes - before + sr_alloc_footprint(q);
    return q;
}

/* ---- nodes ------------------------------------------------------------ */

static struct node *node_new(struct sr_radix *t, const unsigned char *text, size_t len)
{
    struct node *n = tree_alloc(t, sizeof(*n) + len);
    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof(*n));
    n->len = (uint32_t)len;
    if (len)
        memcpy(n->text, text, len);
    t->node_count++;
    t->text_bytes += len;
    return n;
}

static void node_free(struct sr_radix *t, struct node *n)
{
    t->node_count--;
    t->text_bytes -= n->len;
    tree_release(t, n->tenants);
    tree_release(t, n->kids);
    tree_release(t, n);
}

static struct node *kid_find(const struct node *n, unsigned char key)
{
    if (n->nkids == 0)
        return NULL;
    const unsigned char *k = memchr(sr_radix_kid_keys(n), key, n->nkids);
    return k ? n->kids[k - sr_radix_kid_keys(n)] : NULL;
}

static int kid_reserve(struct sr_radix *t, struct node *n, size_t want)
{
    if (want <= n->kid_cap)
        return 0;
    size_t cap = n->kid_cap ? (size_t)n->kid_cap * 2 : 2;
    while (cap < want)
        cap *= 2;
    if (cap > 256)
        cap = 256;
    struct node **block = tree_alloc(t, cap * (sizeof(struct node *) + 1));
    if (block == NULL)
        return SR_ERR_NOMEM;
    if (n->nkids) {
        memcpy(block, n->kids, n->nkids * sizeof(struct node *));
        memcpy((unsigned char *)(block + cap), sr_radix_kid_keys(n), n->nkids);
    }
    tree_release(t, n->kids);
    n->kids = block;
    n->kid_cap = (uint16_t)cap;
    return 0;
}

/* Caller has reserved room. */
static void kid_add(struct node *n, struct node *kid)
{
    n->kids[n->nkids] = kid;
    sr_radix_kid_keys(n)[n->nkids] = kid->text[0];
    n->nkids++;
    kid->parent = n;
}

static void kid_replace(struct node *n, struct node *old, struct node *kid)
{
    for (uint16_t i = 0; i < n->nkids; i++) {
        if (n->kids[i] == old) {
            n->kids[i] = kid;
            sr_radix_kid_keys(n)[i] = kid->text[0];
            kid->parent = n;
            return;
        }
    }
}

static void kid_remove(struct node *n, struct node *kid)
{
    for (uint16_t i = 0; i < n->nkids; i++) {
        if (n->kids[i] == kid) {
            n->nkids--;
            n->kids[i] = n->kids[n->nkids];
            sr_radix_kid_keys(n)[i] = sr_radix_kid_keys(n)[n->nkids];
            return;
        }
    }
}

int64_t sr_radix_tenant_find(const struct node *n, uint32_t worker)
{
    uint32_t lo = 0, hi = n->ntenants;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t w = n->tenants[mid].worker;
        if (w == worker)
            return mid;
        if (w < worker)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(int64_t)lo - 1;
}

static bool has_tenant(const struct node *n, uint32_t worker)
{
    return sr_radix_tenant_find(n, worker) >= 0;
}

/* Makes worker a tenant of n used at `now`, accounting its bytes. */
static int tenant_touch(struct sr_radix *t, struct node *n, uint32_t worker, uint64_t now)
{
    int64_t i = sr_radix_tenant_find(n, worker);
    if (i >= 0) {
        n->tenants[i].last_used = now;
        return 0;
    }
    if (n->ntenants == n->tenant_cap) {
        uint32_t cap = n->tenant_cap ? n->tenant_cap * 2 : 1;
        struct tenant *arr = tree_realloc(t, n->tenants, cap * sizeof(*arr));
        if (arr == NULL)
            return SR_ERR_NOMEM;
        n->tenants = arr;
        n->tenant_cap = cap;
    }
    uint32_t at = (uint32_t)(-i - 1);
    memmove(n->tenants + at + 1, n->tenants + at, (n->ntenants - at) * sizeof(struct tenant));
    n->tenants[at].worker = worker;
    n->tenants[at].last_used = now;
    n->ntenants++;
    t->worker_bytes[worker] += n->len;
    return 0;
}

void sr_radix_tenant_drop(struct sr_radix *t, struct node *n, uint32_t worker)
{
    int64_t i = sr_radix_tenant_find(n, worker);
    if (i < 0)
        return;
    n->ntenants--;
    memmove(n->tenants + i, n->tenants + i + 1,
            (n->ntenants - (uint32_t)i) * sizeof(struct tenant));
    t->worker_bytes[worker] -= n->len;
}

/* True when no child of n holds worker: n is a leaf of worker's history. */
static bool is_worker_leaf(const struct node *n, uint32_t worker)
{
    for (uint16_t i = 0; i < n->nkids; i++)
        if (has_tenant(n->kids[i], worker))
            return false;
    return true;
}

void sr_radix_node_unlink(struct sr_radix *t, struct node *n)
{
    kid_remove(n->parent, n);
    /* Accounted now, freed by sr_radix_unlock() once the lock is released:
     * free() can be slow (heap trimming) and must not stall routing. */
    t->node_count--;
    t->text_bytes -= n->len;
    t->memory_bytes -=
        sr_alloc_footprint(n) + sr_alloc_footprint(n->tenants) + sr_alloc_footprint(n->kids);
    n->parent = t->graveyard;
    t->graveyard = n;
}

static void reap(struct node *n)
{
    while (n != NULL) {
        struct node *next = n->parent;
        sr_free(n->tenants);
        sr_free(n->kids);
        sr_free(n);
        n = next;
    }
}

void sr_radix_unlock(struct sr_radix *t)
{
    struct node *dead = t->graveyard;
    t->graveyard = NULL;
    pthread_mutex_unlock(&t->lock);
    reap(dead);
}

/* ---- scratch space ---------------------------------------------------- */

static int stack_reserve(struct sr_radix *t, size_t want)
{
    if (want <= t->stack_cap)
        return 0;
    size_t cap = t->stack_cap ? t->stack_cap * 2 : 64;
    while (cap < want)
        cap *= 2;
    struct node **s = tree_realloc(t, t->stack, cap * sizeof(*s));
    if (s == NULL)
        return SR_ERR_NOMEM;
    t->stack = s;
    t->stack_cap = cap;
    return 0;
}

static int slots_reserve(struct sr_radix *t, uint32_t worker)
{
    if (worker < t->nslots)
        return 0;
    size_t n = t->nslots ? t->nslots : 16;
    while (n <= worker)
        n *= 2;
    size_t *bytes = tree_realloc(t, t->worker_bytes, n * sizeof(*bytes));
    if (bytes == NULL)
        return SR_ERR_NOMEM;
    t->worker_bytes = bytes;
    uint32_t *lens = tree_realloc(t, t->lens, n * sizeof(*lens));
    if (lens == NULL)
        return SR_ERR_NOMEM; /* worker_bytes grew; nslots still valid for both */
    t->lens = lens;
    memset(bytes + t->nslots, 0, (n - t->nslots) * sizeof(*bytes));
    memset(lens + t->nslots, 0, (n - t->nslots) * sizeof(*lens));
    t->nslots = n;
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
    struct node *n = t->root;
    memset(w, 0, sizeof(*w));
    while (w->depth < len) {
        struct node *kid = kid_find(n, text[w->depth]);
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
 * boundary); returns the longest. clear != 0 resets the entries instead. */
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
        uint32_t at = (uint32_t)sr_utf8_floor(text, len, depth);
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
    struct node *p = node_new(t, n->text, at);
    if (p == NULL)
        return NULL;
    p->tenants = tree_alloc(t, (n->ntenants + 1) * sizeof(struct tenant));
    if (p->tenants == NULL || kid_reserve(t, p, 1) != 0) {
        node_free(t, p);
        return NULL;
    }
    p->tenant_cap = n->ntenants + 1;
    p->ntenants = n->ntenants;
    memcpy(p->tenants, n->tenants, n->ntenants * sizeof(struct tenant));

    struct node *parent = n->parent;
    n->len -= (uint32_t)at;
    t->text_bytes -= at; /* node_new counted the prefix again */
    memmove(n->text, n->text + at, n->len);
    /* n keeps its block (and its address: eviction passes may hold node
     * pointers across lock releases); the prefix bytes become slack, which
     * the memory accounting counts. */
    kid_replace(parent, n, p);
    kid_add(p, n);
    return p;
}

/* Records text for worker along a completed walk. Top-down, so a failure
 * leaves the nesting invariant intact. */
static int insert_walked(struct sr_radix *t, const struct walk *w, const unsigned char *text,
                         size_t len, uint32_t worker)
{
    int rc = slots_reserve(t, worker);
    if (rc != 0)
        return rc;
    uint64_t now = ++t->clock;
    if (t->worker_bytes[worker] > 2 * t->max_bytes) {
        /* Over the hard cap: record no new text until the eviction pass
         * (started now) makes room; only refresh what the worker has. */
        for (size_t i = 0; i < w->npath; i++) {
            int64_t k = sr_radix_tenant_find(t->stack[i], worker);
            if (k < 0)
                break;
            t->stack[i]->tenants[k].last_used = now;
        }
        t->refused_inserts++;
        t->pressure = true;
        sr_radix_pass_tick(t);
        return 0;
    }
    for (size_t i = 0; i < w->npath; i++)
        if ((rc = tenant_touch(t, t->stack[i], worker, now)) != 0)
            return rc;

    struct node *at = w->npath ? t->stack[w->npath - 1] : t->root;
    size_t depth = w->depth;
    if (w->partial != NULL) {
        at = split(t, w->partial, w->partial_len);
        if (at == NULL)
            return SR_ERR_NOMEM;
        depth += w->partial_len;
        if ((rc = tenant_touch(t, at, worker, now)) != 0)
            return rc;
    }
    if (depth < len) {
        struct node *leaf = node_new(t, text + depth, len - depth);
        if (leaf == NULL)
            return SR_ERR_NOMEM;
        if (kid_reserve(t, at, (size_t)at->nkids + 1) != 0 ||
            tenant_touch(t, leaf, worker, now) != 0) {
            node_free(t, leaf);
            return SR_ERR_NOMEM;
        }
        kid_add(at, leaf);
    }
    t->inserts++;
    sr_radix_pass_tick(t);
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
    t->memory_bytes = sr_alloc_footprint(t);
    t->root = node_new(t, NULL, 0);
    if (t->root == NULL)
        goto fail_lock;
    t->node_count = 0; /* the root is not counted */
    if (slots_reserve(t, 0) != 0 || stack_reserve(t, 64) != 0)
        goto fail_root;
    return t;

fail_root:
    tree_release(t, t->worker_bytes);
    tree_release(t, t->lens);
    tree_release(t, t->stack);
    tree_release(t, t->root);
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
    sr_radix_pass_cancel(t);
    reap(t->graveyard);
    /* Iterative teardown: the tree may be deeper than the C stack allows. */
    struct node *n = t->root;
    while (n != NULL) {
        if (n->nkids > 0) {
            n = n->kids[--n->nkids];
            continue;
        }
        struct node *parent = n->parent;
        sr_free(n->tenants);
        sr_free(n->kids);
        sr_free(n);
        n = parent;
    }
    sr_free(t->worker_bytes);
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

int sr_radix_insert(struct sr_radix *t, const void *text, size_t len, uint32_t worker)
{
    if (len > UINT32_MAX)
        return SR_ERR_TOO_LARGE;
    struct walk w;
    pthread_mutex_lock(&t->lock);
    int rc = walk(t, text, len, &w);
    if (rc == 0)
        rc = insert_walked(t, &w, text, len, worker);
    sr_radix_unlock(t);
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
    for (size_t i = 0; i < nlens && i < t->nslots; i++)
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

int sr_radix_match_insert(struct sr_radix *t, const void *text, size_t len,
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
        .worker_bytes = t->worker_bytes,
        .nslots = t->nslots,
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
    rc = insert_walked(t, &w, text, len, (uint32_t)pick);
out:
    sr_radix_unlock(t);
    return rc;
}

/* Collects every node holding worker (all nodes if worker < 0), parents
 * before children, into t->stack[0, *count). */
static int collect(struct sr_radix *t, int64_t worker, size_t *count)
{
    size_t n = 0, next = 0;
    for (uint16_t i = 0; i < t->root->nkids; i++) {
        if (stack_reserve(t, n + 1) != 0)
            return SR_ERR_NOMEM;
        t->stack[n++] = t->root->kids[i];
    }
    /* Breadth-first over the array itself: parents precede children. */
    while (next < n) {
        struct node *node = t->stack[next++];
        if (worker >= 0 && !has_tenant(node, (uint32_t)worker))
            continue;
        if (stack_reserve(t, n + node->nkids) != 0)
            return SR_ERR_NOMEM;
        for (uint16_t i = 0; i < node->nkids; i++)
            t->stack[n++] = node->kids[i];
    }
    /* Drop the nodes that failed the tenant test, keeping order. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (worker < 0 || has_tenant(t->stack[i], (uint32_t)worker))
            t->stack[kept++] = t->stack[i];
    *count = kept;
    return 0;
}

int sr_radix_remove_worker(struct sr_radix *t, uint32_t worker)
{
    pthread_mutex_lock(&t->lock);
    sr_radix_pass_cancel(t); /* it may hold pointers to nodes freed here */
    size_t n = 0;
    int rc = worker < t->nslots ? collect(t, worker, &n) : 0;
    /* Children before parents: a node left without tenants has no children. */
    for (size_t i = n; rc == 0 && i-- > 0;) {
        struct node *node = t->stack[i];
        sr_radix_tenant_drop(t, node, worker);
        if (node->ntenants == 0)
            sr_radix_node_unlink(t, node);
    }
    sr_radix_unlock(t);
    return rc;
}

/* ---- inspection ------------------------------------------------------- */

size_t sr_radix_worker_bytes(struct sr_radix *t, uint32_t worker)
{
    pthread_mutex_lock(&t->lock);
    size_t bytes = worker < t->nslots ? t->worker_bytes[worker] : 0;
    pthread_mutex_unlock(&t->lock);
    return bytes;
}

void sr_radix_get_stats(struct sr_radix *t, struct sr_radix_stats *out)
{
    pthread_mutex_lock(&t->lock);
    out->node_count = t->node_count;
    out->text_bytes = t->text_bytes;
    out->memory_bytes = t->memory_bytes;
    out->worker_slots = t->nslots;
    out->inserts = t->inserts;
    out->evicted_bytes = t->evicted_bytes;
    out->refused_inserts = t->refused_inserts;
    out->passes = t->passes;
    pthread_mutex_unlock(&t->lock);
}

int sr_radix_foreach_text(struct sr_radix *t, uint32_t worker, sr_radix_text_cb cb, void *ctx)
{
    pthread_mutex_lock(&t->lock);
    size_t n = 0;
    int rc = worker < t->nslots ? collect(t, worker, &n) : 0;
    unsigned char *buf = NULL;
    size_t cap = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct node *leaf = t->stack[i];
        if (!is_worker_leaf(leaf, worker))
            continue;
        size_t depth = 0;
        for (struct node *p = leaf; p != t->root; p = p->parent)
            depth += p->len;
        if (depth > cap) {
            unsigned char *nb = sr_realloc(buf, depth);
            if (nb == NULL) {
                rc = SR_ERR_NOMEM;
                break;
            }
            buf = nb;
            cap = depth;
        }
        size_t end = depth;
        for (struct node *p = leaf; p != t->root; p = p->parent) {
            end -= p->len;
            memcpy(buf + end, p->text, p->len);
        }
        cb(ctx, buf, depth);
    }
    sr_free(buf);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int check_node(struct sr_radix *t, struct node *n, size_t *bytes, size_t *mem,
                      const char **why)
{
    *mem += sr_alloc_footprint(n) + sr_alloc_footprint(n->tenants) + sr_alloc_footprint(n->kids);
    if (n != t->root) {
        if (n->len == 0)
            return *why = "empty edge", SR_ERR_INVALID;
        if (n->ntenants == 0)
            return *why = "node without tenants", SR_ERR_INVALID;
    }
    for (uint32_t k = 0; k < n->ntenants; k++) {
        uint32_t w = n->tenants[k].worker;
        if (k > 0 && n->tenants[k - 1].worker >= w)
            return *why = "tenants not sorted and unique", SR_ERR_INVALID;
        if (w >= t->nslots)
            return *why = "tenant outside the worker slots", SR_ERR_INVALID;
        if (n->parent != NULL && n->parent != t->root) {
            int64_t p = sr_radix_tenant_find(n->parent, w);
            if (p < 0)
                return *why = "tenant missing from parent (nesting)", SR_ERR_INVALID;
            if (n->parent->tenants[p].last_used < n->tenants[k].last_used)
                return *why = "parent used before its child (monotony)", SR_ERR_INVALID;
        }
        if (n->tenants[k].last_used > t->clock)
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
    size_t *bytes = sr_calloc(t->nslots, sizeof(*bytes));
    size_t n = 0, text = 0;
    int rc = bytes ? collect(t, -1, &n) : SR_ERR_NOMEM;
    if (rc != 0)
        *why = "out of memory while checking";
    /* After collect(): it may have grown the stack. */
    size_t mem = sr_alloc_footprint(t) + sr_alloc_footprint(t->worker_bytes) +
                 sr_alloc_footprint(t->lens) + sr_alloc_footprint(t->stack);
    if (rc == 0)
        rc = check_node(t, t->root, bytes, &mem, why);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        text += t->stack[i]->len;
        rc = check_node(t, t->stack[i], bytes, &mem, why);
    }
    for (size_t w = 0; rc == 0 && w < t->nslots; w++) {
        if (bytes[w] != t->worker_bytes[w])
            *why = "worker size accounting is wrong", rc = SR_ERR_INVALID;
        if (t->lens[w] != 0)
            *why = "scratch match lengths not cleared", rc = SR_ERR_INVALID;
    }
    if (rc == 0 && n != t->node_count)
        *why = "node count is wrong", rc = SR_ERR_INVALID;
    if (rc == 0 && text != t->text_bytes)
        *why = "text byte count is wrong", rc = SR_ERR_INVALID;
    if (rc == 0 && mem != t->memory_bytes)
        *why = "memory accounting is wrong", rc = SR_ERR_INVALID;
    sr_free(bytes);
    pthread_mutex_unlock(&t->lock);
    return rc;
}
