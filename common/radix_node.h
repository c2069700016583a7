/*
 * radix_node: the radix tree's nodes and their bookkeeping, the layer that
 * both the tree (radix.c: walk, insert, match, inspection) and its eviction
 * passes (radix_evict.c) stand on. Not for other modules.
 *
 * A node is one allocation holding its header and its edge text. Tenants
 * (the workers whose history passes through the node, with the logical time
 * each last used it) are a separate array sorted by worker id. Children live
 * in one block: kid_cap child pointers followed by their first bytes
 * ("keys"), looked up with memchr.
 *
 * struct sr_radix_nodes holds the root and everything that counts nodes:
 * node and text totals, the heap footprint, each worker's stored bytes, the
 * logical clock, and the graveyard of unlinked nodes (freed by
 * sr_radix_nodes_reap once the tree's lock is released: free() can be slow).
 *
 * Locking: none here; the tree's mutex guards every field (radix.c). Nodes
 * never move in memory once created, so an eviction pass may keep node
 * pointers between lock holds.
 *
 * Ownership: sr_radix_nodes owns the root, every node below it, their
 * tenant and child arrays, worker_bytes and the graveyard.
 */
#ifndef SR_RADIX_NODE_H
#define SR_RADIX_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A worker's use of a node. Invariant: a tenant of a node is a tenant of
 * its parent (nesting) with last_used at least as large (monotony). */
struct tenant {
    uint32_t worker;
    uint64_t last_used;
};

struct node {
    struct node *parent; /* in the graveyard: the next dead node */
    struct tenant *tenants;
    struct node **kids; /* kid_cap pointers, then kid_cap key bytes */
    uint32_t len;
    uint32_t ntenants;
    uint32_t tenant_cap;
    uint16_t nkids;
    uint16_t kid_cap;
    unsigned char text[];
};

struct sr_radix_nodes {
    struct node *root;
    uint64_t clock;       /* logical time: one tick per insert */
    size_t *worker_bytes; /* per worker id, nslots entries */
    size_t nslots;
    size_t node_count; /* root excluded */
    size_t text_bytes;
    size_t memory_bytes; /* heap footprint of everything the tree holds */
    struct node *graveyard;
};

static inline unsigned char *sr_radix_kid_keys(const struct node *n)
{
    return (unsigned char *)(n->kids + n->kid_cap);
}

/* Sets up an empty tree (its root). 0 or SR_ERR_NOMEM. memory_bytes starts
 * at `base`, the footprint of the caller's own allocations. */
int sr_radix_nodes_init(struct sr_radix_nodes *t, size_t base);
/* Frees every node, the graveyard included, and worker_bytes. */
void sr_radix_nodes_clear(struct sr_radix_nodes *t);

/* Heap allocations counted in memory_bytes. */
void *sr_radix_mem_alloc(struct sr_radix_nodes *t, size_t size);
void sr_radix_mem_release(struct sr_radix_nodes *t, void *p);
/* sr_grow() on an array of the tree, its footprint counted. */
int sr_radix_mem_grow(struct sr_radix_nodes *t, void **items, size_t *cap, size_t need, size_t size,
                      size_t first);

/* A node holding text[0, len), no tenants, no children; NULL (no memory). */
struct node *sr_radix_node_new(struct sr_radix_nodes *t, const unsigned char *text, size_t len);
/* Frees a node that was never linked. */
void sr_radix_node_free(struct sr_radix_nodes *t, struct node *n);
/* Child of n whose edge starts with key, or NULL. */
struct node *sr_radix_kid_find(const struct node *n, unsigned char key);
/* Room for `want` children. 0 or SR_ERR_NOMEM. */
int sr_radix_kid_reserve(struct sr_radix_nodes *t, struct node *n, size_t want);
/* Links kid under n (room reserved). */
void sr_radix_kid_add(struct node *n, struct node *kid);
/* Puts kid in old's place under n. */
void sr_radix_kid_replace(struct node *n, struct node *old, struct node *kid);

/* Index of worker in n's tenants, or -(insertion point) - 1. */
int64_t sr_radix_tenant_find(const struct node *n, uint32_t worker);
static inline bool sr_radix_has_tenant(const struct node *n, uint32_t worker)
{
    return sr_radix_tenant_find(n, worker) >= 0;
}
/* Makes worker (< nslots) a tenant of n used at `now`, accounting its
 * bytes. 0 or SR_ERR_NOMEM. */
int sr_radix_tenant_touch(struct sr_radix_nodes *t, struct node *n, uint32_t worker, uint64_t now);
/* Removes worker from n's tenants, accounting its bytes. */
void sr_radix_tenant_drop(struct sr_radix_nodes *t, struct node *n, uint32_t worker);

/* Detaches a node without tenants and children from its parent and puts it
 * in the graveyard (accounted as gone now). */
void sr_radix_node_unlink(struct sr_radix_nodes *t, struct node *n);
/* Takes the graveyard's nodes out of t (lock held); free them with
 * sr_radix_nodes_reap after releasing the lock. */
struct node *sr_radix_nodes_bury(struct sr_radix_nodes *t);
void sr_radix_nodes_reap(struct node *dead);

#endif
