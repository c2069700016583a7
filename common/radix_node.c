/* radix_node: the radix tree's nodes, tenants, children and accounting
 * (see radix_node.h). */
#include "radix_node.h"

#include "alloc.h"
#include "buf.h"
#include "err.h"

#include <string.h>

/* ---- memory accounting ---------------------------------------------- */

void *sr_radix_mem_alloc(struct sr_radix_nodes *t, size_t size)
{
    void *p = sr_malloc(size);
    t->memory_bytes += sr_alloc_footprint(p);
    return p;
}

void sr_radix_mem_release(struct sr_radix_nodes *t, void *p)
{
    t->memory_bytes -= sr_alloc_footprint(p);
    sr_free(p);
}

int sr_radix_mem_grow(struct sr_radix_nodes *t, void **items, size_t *cap, size_t need, size_t size,
                      size_t first)
{
    if (need <= *cap)
        return 0;
    size_t before = sr_alloc_footprint(*items);
    int rc = sr_grow(items, cap, need, size, first, SIZE_MAX / size);
    if (rc == 0)
        t->memory_bytes = t->memory_bytes - before + sr_alloc_footprint(*items);
    return rc;
}

/* ---- nodes ------------------------------------------------------------ */

struct node *sr_radix_node_new(struct sr_radix_nodes *t, const unsigned char *text, size_t len)
{
    struct node *n = sr_radix_mem_alloc(t, sizeof(*n) + len);
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

void sr_radix_node_free(struct sr_radix_nodes *t, struct node *n)
{
    t->node_count--;
    t->text_bytes -= n->len;
    sr_radix_mem_release(t, n->tenants);
    sr_radix_mem_release(t, n->kids);
    sr_radix_mem_release(t, n);
}

int sr_radix_nodes_init(struct sr_radix_nodes *t, size_t base)
{
    memset(t, 0, sizeof(*t));
    t->memory_bytes = base;
    t->root = sr_radix_node_new(t, NULL, 0);
    if (t->root == NULL)
        return SR_ERR_NOMEM;
    t->node_count = 0; /* the root is not counted */
    return 0;
}

void sr_radix_nodes_clear(struct sr_radix_nodes *t)
{
    sr_radix_nodes_reap(sr_radix_nodes_bury(t));
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
    memset(t, 0, sizeof(*t));
}

/* ---- children --------------------------------------------------------- */

struct node *sr_radix_kid_find(const struct node *n, unsigned char key)
{
    if (n->nkids == 0)
        return NULL;
    const unsigned char *k = memchr(sr_radix_kid_keys(n), key, n->nkids);
    return k ? n->kids[k - sr_radix_kid_keys(n)] : NULL;
}

int sr_radix_kid_reserve(struct sr_radix_nodes *t, struct node *n, size_t want)
{
    if (want <= n->kid_cap)
        return 0;
    /* Pointers and keys share one block, so it is not realloc'd: the
     * doubling rule gives the size, the keys are copied behind the
     * pointers. At most 256 children (one per first byte). */
    if (want > 256)
        return SR_ERR_TOO_LARGE;
    size_t cap = sr_grow_count(n->kid_cap, want, 2, 256);
    struct node **block = sr_radix_mem_alloc(t, cap * (sizeof(struct node *) + 1));
    if (block == NULL)
        return SR_ERR_NOMEM;
    if (n->nkids) {
        memcpy(block, n->kids, n->nkids * sizeof(struct node *));
        memcpy((unsigned char *)(block + cap), sr_radix_kid_keys(n), n->nkids);
    }
    sr_radix_mem_release(t, n->kids);
    n->kids = block;
    n->kid_cap = (uint16_t)cap;
    return 0;
}

void sr_radix_kid_add(struct node *n, struct node *kid)
{
    n->kids[n->nkids] = kid;
    sr_radix_kid_keys(n)[n->nkids] = kid->text[0];
    n->nkids++;
    kid->parent = n;
}

void sr_radix_kid_replace(struct node *n, struct node *old, struct node *kid)
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

/* ---- tenants ---------------------------------------------------------- */

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

int sr_radix_tenant_touch(struct sr_radix_nodes *t, struct node *n, uint32_t worker, uint64_t now)
{
    int64_t i = sr_radix_tenant_find(n, worker);
    if (i >= 0) {
        n->tenants[i].last_used = now;
        return 0;
    }
    size_t cap = n->tenant_cap;
    if (n->ntenants == n->tenant_cap &&
        sr_radix_mem_grow(t, (void **)&n->tenants, &cap, (size_t)n->ntenants + 1,
                          sizeof(struct tenant), 1) != 0)
        return SR_ERR_NOMEM;
    n->tenant_cap = (uint32_t)cap;
    uint32_t at = (uint32_t)(-i - 1);
    memmove(n->tenants + at + 1, n->tenants + at, (n->ntenants - at) * sizeof(struct tenant));
    n->tenants[at].worker = worker;
    n->tenants[at].last_used = now;
    n->ntenants++;
    t->worker_bytes[worker] += n->len;
    return 0;
}

void sr_radix_tenant_drop(struct sr_radix_nodes *t, struct node *n, uint32_t worker)
{
    int64_t i = sr_radix_tenant_find(n, worker);
    if (i < 0)
        return;
    n->ntenants--;
    memmove(n->tenants + i, n->tenants + i + 1,
            (n->ntenants - (uint32_t)i) * sizeof(struct tenant));
    t->worker_bytes[worker] -= n->len;
}

/* ---- unlinking and freeing -------------------------------------------- */

void sr_radix_node_unlink(struct sr_radix_nodes *t, struct node *n)
{
    kid_remove(n->parent, n);
    /* Accounted now, freed by sr_radix_nodes_reap() once the lock is
     * released: free() can be slow (heap trimming) and must not stall
     * routing. */
    t->node_count--;
    t->text_bytes -= n->len;
    t->memory_bytes -=
        sr_alloc_footprint(n) + sr_alloc_footprint(n->tenants) + sr_alloc_footprint(n->kids);
    n->parent = t->graveyard;
    t->graveyard = n;
}

struct node *sr_radix_nodes_bury(struct sr_radix_nodes *t)
{
    struct node *dead = t->graveyard;
    t->graveyard = NULL;
    return dead;
}

void sr_radix_nodes_reap(struct node *n)
{
    while (n != NULL) {
        struct node *next = n->parent;
        sr_free(n->tenants);
        sr_free(n->kids);
        sr_free(n);
        n = next;
    }
}
