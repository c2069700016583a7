/*
 * policy/cache_aware: the seed's cache-aware load balancer, and
 * cache_cost, the cost-based variant (see choose_cost below), on the same
 * tree machinery.
 *
 * Per decision, over the routable workers:
 *  1. With probability cache_routing_prob, ask the shared radix tree:
 *     - if the best match rate (matched bytes / text bytes) exceeds
 *       cache_threshold, the worker with the longest match, unless that
 *       worker is overloaded; then the least loaded;
 *     - else (a miss) the worker with the smallest tree (most free cache)
 *       among the workers that are not overloaded and hold at most
 *       miss_margin requests more than the least loaded.
 *  2. Otherwise the least-loaded worker.
 * Overloaded: load - min > balance_abs_threshold and load > min *
 * balance_rel_threshold, min being the least-loaded worker's load (which
 * is never overloaded itself).
 *
 * SGLang's router applies the same test to the fleet's largest load and,
 * while it holds, sends every request to the least-loaded worker. Judging
 * each choice by its own worker instead keeps a hit whose worker is fine
 * while a long prompt has stalled another, and keeps misses spread by tree
 * size (which is what keeps each worker's real cache from being flushed by
 * one huge prompt) while still never feeding an overloaded worker. On the
 * Mooncake trace a fifth of all decisions were such fleet-wide diversions;
 * with the guard per choice the medians of 13 runs against 4 moved from
 * 3.16% to 3.35% hits and 1.20 to 1.15 request share on its first window,
 * and 4.0 s to 3.8 s TTFT p50 and 1.14 to 1.10 share on a later, deeply
 * overloaded one (tests/bench/RESULTS.md, "The imbalance guard, per
 * choice").
 * The miss margin bounds where a miss may go: only to workers holding at
 * most miss_margin requests more than the least loaded. The seed routes a
 * miss by tree size alone (the default margin is unbounded); SGLang's
 * router 0.3.2 sends it to the least loaded (margin 0) whatever its tree,
 * though its comments still say smallest tree. A small margin keeps both:
 * misses follow the load, and among the nearly idle, go where the least
 * prompt text has gone so far (tests/bench/RESULTS.md, "The reference's
 * miss rule").
 * Load is the load model's requests (load.h): in flight here and at the
 * replica peers, and what the worker reports beyond those; equal loads go
 * to the least outstanding work (prefill and decode tokens), then random. Every decision records
 * the text for the chosen worker, so the tree follows where prompts really went: match, choice and
 * insert happen in one walk under the tree's lock. The tree evicts by
 * itself every eviction interval (incrementally, as inserts arrive).
 */
#include "../alloc.h"
#include "../err.h"
#include "../load.h"
#include "../policy.h"
#include "../route_key.h"
#include "../worker.h"

#include <stdatomic.h>

struct cache_aware {
    struct sr_policy base;
    struct sr_radix *tree;
};

struct choice {
    const struct sr_route_request *req;
    const struct sr_load_scan *scan;
    struct sr_worker *least; /* cache_aware's imbalance guard: the least loaded */
    double lo;               /* and its load */
    struct sr_worker *picked;
    uint32_t match; /* the picked worker's matched prefix, bytes */
    enum sr_route_outcome outcome;
};

/* Called inside the tree's lock with every worker's match and size. */
static int64_t choose(void *ctx, const struct sr_radix_view *view)
{
    struct choice *c = ctx;
    const struct sr_route_request *req = c->req;
    struct sr_worker *best = NULL, *smallest = NULL;
    uint32_t best_len = 0, best_ties = 0, small_ties = 0;
    size_t small_bytes = 0;

    for (size_t i = 0; i < req->workers->count; i++) {
        struct sr_worker *w = req->workers->workers[i];
        if (!sr_route_allows(req, w))
            continue;
        uint32_t len = sr_radix_view_match(view, w->id);
        if (best == NULL || len > best_len) {
            best = w;
            best_len = len;
            best_ties = 1;
        } else if (len == best_len && sr_rng_below(req->rng, ++best_ties) == 0) {
            best = w;
        }
        double load = sr_load_requests(c->scan, w);
        if (sr_route_imbalanced(req->params, c->lo, load) ||
            load > c->lo + (double)req->params->miss_margin)
            continue; /* overloaded, or past the miss margin: no miss goes there */
        size_t bytes = sr_radix_view_bytes(view, w->id);
        if (smallest == NULL || bytes < small_bytes) {
            smallest = w;
            small_bytes = bytes;
            small_ties = 1;
        } else if (bytes == small_bytes && sr_rng_below(req->rng, ++small_ties) == 0) {
            smallest = w;
        }
    }
    if (best == NULL)
        return SR_ERR_NO_WORKER;
    double rate = view->text_len ? (double)best_len / (double)view->text_len : 0.0;
    bool hit = rate > req->params->cache_threshold;
    c->picked = hit ? best : smallest;
    c->outcome = hit ? SR_ROUTE_CACHE_HIT : SR_ROUTE_CACHE_MISS;
    /* A hit on an overloaded worker, or no miss candidate left (loads
     * moved between the scans): the least loaded. */
    if (c->picked == NULL ||
        (hit && sr_route_imbalanced(req->params, c->lo, sr_load_requests(c->scan, best)))) {
        c->picked = c->least;
        c->outcome = SR_ROUTE_IMBALANCE;
    }
    c->match = c->picked == best ? best_len : sr_radix_view_match(view, c->picked->id);
    return c->picked->id;
}

/* Records the text for a worker picked outside the tree (imbalance, or the
 * shortest-queue branch), unless it was removed meanwhile: checked under
 * the tree lock, so a removal's purge cannot be undone by a late insert. */
static int64_t keep_pick(void *ctx, const struct sr_radix_view *view)
{
    struct choice *c = ctx;
    if (atomic_load_explicit(&c->picked->removed, memory_order_acquire))
        return SR_ERR_NOT_FOUND;
    c->match = sr_radix_view_match(view, c->picked->id);
    return c->picked->id;
}

static int cache_aware_select(struct sr_policy *p, const struct sr_route_request *req,
                              struct sr_worker **out)
{
    struct cache_aware *ca = (struct cache_aware *)p;
    const struct sr_policy_params *prm = req->params;
    struct sr_load_scan scan;
    sr_route_load_scan(req, &scan);
    double lo, hi;
    struct sr_worker *least = sr_route_pick_least_loaded(req, &scan, &lo, &hi);
    if (least == NULL)
        return SR_ERR_NO_WORKER;

    bool by_cache = sr_rng_unit(req->rng) < prm->cache_routing_prob;
    struct choice c = {.req = req,
                       .scan = &scan,
                       .least = least,
                       .lo = lo,
                       .picked = by_cache ? NULL : least,
                       .outcome = sr_route_imbalanced(prm, lo, hi) ? SR_ROUTE_IMBALANCE
                                                                   : SR_ROUTE_LOAD_BALANCED};
    uint32_t id;
    int rc = sr_radix_match_insert(ca->tree, req->text, req->text_len, req->now_ms,
                                   by_cache ? choose : keep_pick, &c, &id);
    if (rc == SR_ERR_NO_WORKER && c.picked == NULL)
        return rc; /* every worker went unroutable meanwhile */
    /* Recording is best effort: a failure only shortens the history; if
     * the tree could not be consulted at all, balance load. */
    *out = c.picked ? c.picked : least;
    if (req->outcome)
        *req->outcome = c.picked ? c.outcome : SR_ROUTE_LOAD_BALANCED;
    if (req->prefill && c.picked)
        *req->prefill = (req->text_len - c.match) * sr_policy_key_unit(prm);
    return 0;
}

/* cache_cost: one cost per worker, in units of this prompt's length:
 *     cost(w) = u(w) * (1 + load_weight * requests(w))  the prefill it needs, and
 *                                                       the requests it stalls
 *             + queue_weight * work(w) / len            the work queued ahead
 * where u(w) = (len - match(w)) / len is the part of the prompt w would
 * have to prefill, requests(w) what w holds and work(w) its outstanding
 * tokens (load.h). The cheapest wins, random among equals.
 *
 * Why this shape: an engine prefills before its next decode step, so an
 * uncached prompt delays its own first token by the work queued ahead of
 * it and every request running on that worker by its own prefill time.
 * With load_weight = queue_weight = 1 the cost is the total delay the
 * placement adds, in token times. So a hit is cheap anywhere but behind a
 * deep queue; a long miss goes where it stalls the fewest requests; a
 * short one to the shortest queue; an idle fleet spreads new prefixes at
 * random; and affinity gives way smoothly as the queue grows instead of at
 * a fixed imbalance threshold. The defaults (queue 0.125, load 0.05) keep
 * affinity strong, which wins on shared prefixes and multi-turn chat;
 * weights near 1 buy the best TTFT on traces with mixed prompt lengths at
 * the price of end-to-end tails and an uneven request share, where
 * cache_aware does better (tests/bench/RESULTS.md, "Routing quality on
 * mixed prompt lengths"). */
static int64_t choose_cost(void *ctx, const struct sr_radix_view *view)
{
    struct choice *c = ctx;
    const struct sr_route_request *req = c->req;
    double load_weight = req->params->load_weight, queue_weight = req->params->queue_weight;
    double len = view->text_len ? (double)view->text_len : 1.0, best_cost = 0;
    double tokens = len * (double)sr_policy_key_unit(req->params) / SR_BYTES_PER_TOKEN;
    if (tokens < 1)
        tokens = 1;
    struct sr_worker *best = NULL;
    uint32_t ties = 0, best_match = 0;
    for (size_t i = 0; i < req->workers->count; i++) {
        struct sr_worker *w = req->workers->workers[i];
        if (!sr_route_allows(req, w))
            continue;
        uint32_t match = sr_radix_view_match(view, w->id);
        double uncached = (double)(view->text_len - match) / len;
        double cost = uncached * (1 + load_weight * sr_load_requests(c->scan, w)) +
                      queue_weight * sr_load_work(c->scan, w) / tokens;
        if (best == NULL || cost < best_cost - 1e-12) {
            best = w;
            best_cost = cost;
            best_match = match;
            ties = 1;
        } else if (cost <= best_cost + 1e-12 && sr_rng_below(req->rng, ++ties) == 0) {
            best = w;
            best_match = match;
        }
    }
    if (best == NULL)
        return SR_ERR_NO_WORKER;
    c->picked = best;
    c->match = best_match;
    c->outcome = (double)best_match / len > req->params->cache_threshold ? SR_ROUTE_CACHE_HIT
                                                                         : SR_ROUTE_CACHE_MISS;
    return best->id;
}

static int cache_cost_select(struct sr_policy *p, const struct sr_route_request *req,
                             struct sr_worker **out)
{
    struct cache_aware *ca = (struct cache_aware *)p;
    struct sr_load_scan scan;
    sr_route_load_scan(req, &scan);
    struct sr_worker *least = sr_route_pick_least_loaded(req, &scan, NULL, NULL);
    if (least == NULL)
        return SR_ERR_NO_WORKER;
    bool by_cache = sr_rng_unit(req->rng) < req->params->cache_routing_prob;
    struct choice c = {.req = req,
                       .scan = &scan,
                       .picked = by_cache ? NULL : least,
                       .outcome = SR_ROUTE_LOAD_BALANCED};
    uint32_t id;
    int rc = sr_radix_match_insert(ca->tree, req->text, req->text_len, req->now_ms,
                                   by_cache ? choose_cost : keep_pick, &c, &id);
    if (rc == SR_ERR_NO_WORKER && c.picked == NULL)
        return rc;
    *out = c.picked ? c.picked : least;
    if (req->outcome)
        *req->outcome = c.picked ? c.outcome : SR_ROUTE_LOAD_BALANCED;
    if (req->prefill && c.picked)
        *req->prefill = (req->text_len - c.match) * sr_policy_key_unit(req->params);
    return 0;
}

static void cache_aware_worker_removed(struct sr_policy *p, struct sr_worker *w)
{
    struct cache_aware *ca = (struct cache_aware *)p;
    (void)sr_radix_remove_worker(ca->tree, w->id);
}

static void cache_aware_forget(struct sr_policy *p)
{
    struct cache_aware *ca = (struct cache_aware *)p;
    struct sr_radix_stats st;
    sr_radix_get_stats(ca->tree, &st);
    for (size_t id = 0; id < st.worker_slots; id++)
        (void)sr_radix_remove_worker(ca->tree, (uint32_t)id);
}

/* The tree's size target and match granularity for the key in use:
 * --max-tree-size counts text bytes, a digest key stores 1/unit of them. */
static void tune_tree(struct sr_radix *tree, const struct sr_policy_params *params)
{
    size_t unit = sr_policy_key_unit(params);
    sr_radix_set_max_bytes(tree, params->max_tree_bytes / unit);
    sr_radix_set_granule(tree, unit > 1 ? SR_ROUTE_KEY_DIGEST : 0);
    sr_radix_set_eviction_interval(tree, params->eviction_interval_ms);
}

static void cache_aware_maintain(struct sr_policy *p, const struct sr_policy_params *params)
{
    struct cache_aware *ca = (struct cache_aware *)p;
    tune_tree(ca->tree, params);
    (void)sr_radix_evict(ca->tree);
}

static int cache_aware_learn(struct sr_policy *p, const void *key, size_t len, uint32_t worker,
                             uint64_t now_ms)
{
    return sr_radix_insert(((struct cache_aware *)p)->tree, key, len, worker, now_ms);
}

static int cache_aware_export_worker(struct sr_policy *p, uint32_t worker, sr_radix_text_cb cb,
                                     void *ctx)
{
    return sr_radix_foreach_text(((struct cache_aware *)p)->tree, worker, cb, ctx);
}

static bool cache_aware_tree_stats(struct sr_policy *p, struct sr_radix_stats *out)
{
    sr_radix_get_stats(((struct cache_aware *)p)->tree, out);
    return true;
}

static size_t cache_aware_worker_tree_bytes(struct sr_policy *p, const struct sr_worker *w)
{
    return sr_radix_worker_bytes(((struct cache_aware *)p)->tree, w->id);
}

static void cache_aware_destroy(struct sr_policy *p)
{
    struct cache_aware *ca = (struct cache_aware *)p;
    sr_radix_free(ca->tree);
    sr_free(ca);
}

static const struct sr_policy_ops cache_aware_ops = {
    .name = "cache_aware",
    .select = cache_aware_select,
    .on_worker_removed = cache_aware_worker_removed,
    .forget = cache_aware_forget,
    .maintain = cache_aware_maintain,
    .tree_stats = cache_aware_tree_stats,
    .worker_tree_bytes = cache_aware_worker_tree_bytes,
    .learn = cache_aware_learn,
    .export_worker = cache_aware_export_worker,
    .destroy = cache_aware_destroy,
};

static const struct sr_policy_ops cache_cost_ops = {
    .name = "cache_cost",
    .select = cache_cost_select,
    .on_worker_removed = cache_aware_worker_removed,
    .forget = cache_aware_forget,
    .maintain = cache_aware_maintain,
    .tree_stats = cache_aware_tree_stats,
    .worker_tree_bytes = cache_aware_worker_tree_bytes,
    .learn = cache_aware_learn,
    .export_worker = cache_aware_export_worker,
    .destroy = cache_aware_destroy,
};

static struct sr_policy *tree_policy_new(const struct sr_policy_ops *ops,
                                         const struct sr_policy_params *params)
{
    struct cache_aware *ca = sr_malloc(sizeof(*ca));
    if (ca == NULL)
        return NULL;
    ca->base.ops = ops;
    ca->tree = sr_radix_new(params->max_tree_bytes);
    if (ca->tree == NULL) {
        sr_free(ca);
        return NULL;
    }
    tune_tree(ca->tree, params);
    return &ca->base;
}

struct sr_policy *sr_policy_cache_aware_new(const struct sr_policy_params *params)
{
    return tree_policy_new(&cache_aware_ops, params);
}

struct sr_policy *sr_policy_cache_cost_new(const struct sr_policy_params *params)
{
    return tree_policy_new(&cache_cost_ops, params);
}
