/*
 * radix_evict: the radix tree's incremental LRU eviction passes, over the
 * nodes of radix_node.h. Not for other modules (the contract users see is
 * in radix.h: sr_radix_evict, sr_radix_set_eviction_interval).
 *
 * A pass brings every worker above the target back under it by dropping its
 * least recently used history, a few nodes at a time: sr_radix_evictor_tick
 * after every insert starts a pass when one is due (the interval passed, or
 * a worker went over the hard cap) and advances a pass in progress;
 * sr_radix_evictor_step advances it by a chosen number of nodes.
 *
 * Time: the caller passes its clock (milliseconds of any monotonic clock,
 * e.g. sr_breaker_now_ms()) to every call that needs one; nothing here
 * reads a clock, so tests drive the interval without sleeping.
 *
 * Locking: none here; the tree's mutex guards the evictor with the nodes.
 * Nodes unlinked by a pass go to the nodes' graveyard.
 *
 * Ownership: the evictor owns its walk stack and histogram arrays.
 */
#ifndef SR_RADIX_EVICT_H
#define SR_RADIX_EVICT_H

#include "radix_node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sr_radix_pass_phase { SR_RADIX_PASS_IDLE = 0, SR_RADIX_PASS_COUNT, SR_RADIX_PASS_DROP };

struct sr_radix_pass_frame {
    struct node *node;
    uint32_t next; /* next child to descend into */
};

/* The pass in progress; all zero when idle. */
struct sr_radix_pass {
    enum sr_radix_pass_phase phase;
    struct sr_radix_pass_frame *stack; /* post-order walk position */
    size_t depth, cap;
    size_t nslots;    /* workers covered by the arrays below */
    int32_t *row;     /* per worker: its histogram row, or -1 if not over */
    uint64_t *hist;   /* rows of histogram buckets: bytes by last_used */
    uint32_t buckets; /* per row */
    uint64_t width;   /* logical ticks per bucket */
    uint64_t clock0;  /* logical time when the pass began */
    uint64_t *cutoff; /* per worker: drop uses older than this (0: none) */
    size_t max_bytes; /* the target when the pass began */
};

struct sr_radix_evictor {
    struct sr_radix_pass pass;
    uint64_t interval_ms;   /* between periodic passes; 0 = none */
    bool armed;             /* next_due is set (by the first tick after a change) */
    uint64_t next_due;      /* caller's clock, ms, of the next periodic pass */
    bool pressure;          /* a worker went over the hard cap */
    uint64_t evicted_bytes; /* worker-bytes removed so far */
    uint64_t passes;        /* passes completed */
};

/* Lock held. After an insert at now_ms: starts a pass when one is due and
 * advances a pass in progress by a few nodes. */
void sr_radix_evictor_tick(struct sr_radix_evictor *e, struct sr_radix_nodes *t, size_t max_bytes,
                           uint64_t now_ms);
/* Lock held. Starts a pass now (idle afterwards if no worker is over
 * max_bytes). 0 or SR_ERR_NOMEM. The periodic clock restarts with the next
 * tick. */
int sr_radix_evictor_begin(struct sr_radix_evictor *e, struct sr_radix_nodes *t, size_t max_bytes);
/* Lock held. Visits up to `budget` nodes of the pass in progress. 0 or
 * SR_ERR_NOMEM (the pass is abandoned, the tree stays sound). */
int sr_radix_evictor_step(struct sr_radix_evictor *e, struct sr_radix_nodes *t, int budget);
static inline bool sr_radix_evictor_running(const struct sr_radix_evictor *e)
{
    return e->pass.phase != SR_RADIX_PASS_IDLE;
}
/* Lock held. Abandons a pass in progress (before nodes are freed by others);
 * frees its arrays. */
void sr_radix_evictor_cancel(struct sr_radix_evictor *e);
/* Lock held. New period; the next tick counts it from its own time. */
void sr_radix_evictor_set_interval(struct sr_radix_evictor *e, uint64_t interval_ms);

#endif
