/*
 * radix_internal: the radix tree's data layout, shared by radix.c (nodes,
 * walk, insert, match, inspection) and radix_evict.c (incremental eviction
 * passes). Not for other modules.
 *
 * Locking: every field of struct sr_radix and of every node is guarded by
 * `lock`. An eviction pass keeps node pointers between lock holds; that is
 * safe because nodes never move in memory and are freed only by the pass
 * itself or by remove_worker, which cancels a pass in progress.
 */
#ifndef SR_RADIX_INTERNAL_H
#define SR_RADIX_INTERNAL_H

#include "radix.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* A worker's use of a node. Invariant: a tenant of a node is a tenant of
 * its parent (nesting) with last_used at least as large (monotony). */
struct tenant {
    uint32_t worker;
    uint64_t last_used;
};

struct node {
    struct node *parent;
    struct tenant *tenants;
    struct node **kids; /* kid_cap pointers, then kid_cap key bytes */
    uint32_t len;
    uint32_t ntenants;
    uint32_t tenant_cap;
    uint16_t nkids;
    uint16_t kid_cap;
    unsigned char text[];
};

/* An incremental eviction pass (radix_evict.c). */
enum pass_phase { PASS_IDLE = 0, PASS_COUNT, PASS_DROP };

struct pass_frame {
    struct node *node;
    uint32_t next; /* next child to descend into */
};

struct pass {
    enum pass_phase phase;
    struct pass_frame *stack; /* post-order walk position */
    size_t depth, cap;
    size_t nslots;     /* workers covered by the arrays below */
    int32_t *row;      /* per worker: its histogram row, or -1 if not over */
    uint64_t *hist;    /* rows of histogram buckets: bytes by last_used */
    uint32_t buckets;  /* per row */
    uint64_t width;    /* logical ticks per bucket */
    uint64_t clock0;   /* logical time when the pass began */
    uint64_t *cutoff;  /* per worker: drop uses older than this (0: none) */
    size_t max_bytes;  /* the target when the pass began */
    uint64_t next_due; /* CLOCK_MONOTONIC ms of the next periodic pass */
};

struct sr_radix {
    pthread_mutex_t lock;
    struct node *root;
    uint64_t clock; /* logical time: one tick per insert */
    size_t max_bytes;
    size_t *worker_bytes; /* per worker id, nslots entries */
    uint32_t *lens;       /* scratch match lengths, all zero between calls */
    size_t nslots;
    struct node **stack; /* scratch path / traversal stack */
    size_t stack_cap;
    size_t node_count;
    size_t text_bytes;
    size_t memory_bytes;
    uint64_t inserts;
    uint64_t evicted_bytes;
    uint64_t refused_inserts; /* new text not recorded: worker over the hard cap */
    uint64_t passes;          /* eviction passes completed */
    bool pressure;            /* a worker went over the hard cap */
    uint64_t interval_ms;     /* between periodic passes; 0 = none */
    struct pass pass;
    struct node *graveyard; /* unlinked nodes, freed after the lock is released */
};

static inline unsigned char *sr_radix_kid_keys(const struct node *n)
{
    return (unsigned char *)(n->kids + n->kid_cap);
}

/* Index of worker in n's tenants, or -(insertion point) - 1. */
int64_t sr_radix_tenant_find(const struct node *n, uint32_t worker);
/* Removes worker from n's tenants, accounting its bytes. */
void sr_radix_tenant_drop(struct sr_radix *t, struct node *n, uint32_t worker);
/* Detaches a node without tenants and children from its parent and
 * queues it to be freed by sr_radix_unlock(). */
void sr_radix_node_unlink(struct sr_radix *t, struct node *n);
/* Releases the lock, then frees the nodes unlinked meanwhile. */
void sr_radix_unlock(struct sr_radix *t);
/* Lock held. After an insert: starts a pass when one is due (interval or
 * pressure) and advances a pass in progress by a few nodes. */
void sr_radix_pass_tick(struct sr_radix *t);
/* Lock held. Abandons a pass in progress (before nodes are freed by others). */
void sr_radix_pass_cancel(struct sr_radix *t);

#endif
