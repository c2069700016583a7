/*
 * radix: the approximate, multi-tenant radix tree of cache-aware routing.
 *
 * It records which worker has recently been sent which prompt text, so a
 * policy can ask "how long a prefix of this text does each worker likely hold
 * in its KV cache?". One tree is shared by all workers: every node holds a
 * compressed edge of raw text bytes and the sorted set of workers whose
 * history passes through it, each with the logical time it last used the node.
 * A worker present at a node is present at every ancestor (nesting), so one
 * walk of the text answers the match length of every worker at once.
 *
 * Text is raw bytes (no tokenizer). Reported match lengths are floored to a
 * UTF-8 character boundary of the query text.
 *
 * Workers are dense small ids (struct sr_worker.id); thousands are fine.
 * Sizes: a worker's stored size is the number of text bytes on the nodes it
 * is a tenant of. An eviction pass drops each over-limit worker's least
 * recently used history until it is at or under max_bytes. Passes are
 * incremental: once due (every eviction interval, or at once when a worker
 * crosses the hard cap) a pass advances by a few nodes with every insert,
 * under the lock the insert holds anyway, so routing never stalls behind a
 * pass and no extra thread competes for the cores; sr_radix_evict() drives a
 * pass to its end in small chunks. Hard cap: a worker above 2 * max_bytes
 * gets no new text recorded (its known prefixes are still refreshed) until
 * the pass has made room, so a flood of unique prompts cannot exhaust memory.
 *
 * Time: the tree reads no clock. Inserts take the caller's time (now_ms, of
 * any monotonic millisecond clock: the router passes sr_breaker_now_ms(),
 * tests a counter they advance), which only decides when a periodic pass is
 * due; the order of uses is the tree's own logical clock.
 *
 * Cost: insert and match are O(text length) (word-at-a-time edge compares,
 * byte-keyed child lookup) plus O(log tenants) per node on the path.
 *
 * Locking: every function takes the tree's internal mutex; all may be called
 * from any thread. The choose callback of sr_radix_match_insert runs with the
 * mutex held and must not call back into the tree.
 *
 * Ownership: the tree copies the text it stores; callers keep their buffers.
 */
#ifndef SR_RADIX_H
#define SR_RADIX_H

#include <stddef.h>
#include <stdint.h>

struct sr_radix;

/* What a choose callback sees: per-worker match lengths and stored sizes,
 * indexed by worker id; ids >= nslots have never been inserted (0 and 0). */
struct sr_radix_view {
    const uint32_t *match_len;
    const size_t *worker_bytes;
    size_t nslots;
    size_t text_len;
    size_t longest; /* max of match_len over all workers */
};

static inline uint32_t sr_radix_view_match(const struct sr_radix_view *v, uint32_t id)
{
    return id < v->nslots ? v->match_len[id] : 0;
}

static inline size_t sr_radix_view_bytes(const struct sr_radix_view *v, uint32_t id)
{
    return id < v->nslots ? v->worker_bytes[id] : 0;
}

/* Returns the chosen worker id (>= 0), or a negative enum sr_err. */
typedef int64_t (*sr_radix_choose_cb)(void *ctx, const struct sr_radix_view *view);

struct sr_radix_stats {
    size_t node_count;        /* nodes, root excluded */
    size_t text_bytes;        /* unique text bytes stored (sum of edge lengths) */
    size_t memory_bytes;      /* heap footprint of the whole tree */
    size_t worker_slots;      /* size of the per-worker arrays */
    uint64_t inserts;         /* successful inserts */
    uint64_t evicted_bytes;   /* worker-bytes removed by eviction so far */
    uint64_t refused_inserts; /* inserts not recorded: worker over the hard cap */
    uint64_t passes;          /* eviction passes completed */
};

/* max_bytes: per-worker size target of eviction (>= 1). NULL on failure. */
struct sr_radix *sr_radix_new(size_t max_bytes);
/* Accepts NULL. */
void sr_radix_free(struct sr_radix *tree);
void sr_radix_set_max_bytes(struct sr_radix *tree, size_t max_bytes);
/* Match lengths are floored to multiples of granule bytes (keys made of
 * fixed-size digests, common/route_key.h); 0, the default, floors them to a
 * UTF-8 character boundary of the text. */
void sr_radix_set_granule(struct sr_radix *tree, size_t granule);

/* Records that `worker` was sent text[0, len) at now_ms. 0, SR_ERR_NOMEM
 * (the tree is left consistent, possibly with a shorter history), or
 * SR_ERR_TOO_LARGE (len > UINT32_MAX). */
int sr_radix_insert(struct sr_radix *tree, const void *text, size_t len, uint32_t worker,
                    uint64_t now_ms);

/* Fills lens[0, nlens) with every worker's match length (0 for workers with
 * none) and returns the longest; *best (if not NULL) gets the most recent
 * user of the deepest matched node, or -1 when nothing matched. Negative
 * enum sr_err on failure. */
int64_t sr_radix_match(struct sr_radix *tree, const void *text, size_t len, uint32_t *lens,
                       size_t nlens, int64_t *best);

/* One walk, one lock: match, let `choose` pick a worker from the view, then
 * insert the text for it at now_ms. Returns 0 with *chosen set; the choose
 * callback's negative result; or SR_ERR_NOMEM after a choice was made
 * (*chosen is set, only the recording failed). */
int sr_radix_match_insert(struct sr_radix *tree, const void *text, size_t len, uint64_t now_ms,
                          sr_radix_choose_cb choose, void *ctx, uint32_t *chosen);

/* Removes every trace of a worker (no leak, no dangling state). */
int sr_radix_remove_worker(struct sr_radix *tree, uint32_t worker);

/* Runs an LRU eviction pass now (after finishing one in progress), so that
 * every worker ends at or under max_bytes unless inserts raced with it;
 * releases the lock every few hundred nodes. Returns worker-bytes removed
 * (>= 0) or SR_ERR_NOMEM (the tree stays sound). */
int64_t sr_radix_evict(struct sr_radix *tree);

/* Period of automatic passes (driven by inserts); 0 turns them off, which
 * leaves only passes started by the hard cap or by sr_radix_evict(). The
 * first period starts at the next insert's now_ms (so does the next one
 * after sr_radix_evict()). */
void sr_radix_set_eviction_interval(struct sr_radix *tree, uint64_t interval_ms);

size_t sr_radix_worker_bytes(struct sr_radix *tree, uint32_t worker);
void sr_radix_get_stats(struct sr_radix *tree, struct sr_radix_stats *out);

/* Calls cb once per maximal text stored for worker (texts that are not a
 * prefix of another of its texts), in no particular order. */
typedef void (*sr_radix_text_cb)(void *ctx, const unsigned char *text, size_t len);
int sr_radix_foreach_text(struct sr_radix *tree, uint32_t worker, sr_radix_text_cb cb, void *ctx);

/* Verifies every structural invariant and the accounting (for tests and
 * debugging). 0 if sound; otherwise SR_ERR_INVALID with *why describing the
 * first violation. */
int sr_radix_check(struct sr_radix *tree, const char **why);

#endif
