/*
 * policy/oracle: the upper bound the approximate tree is judged against.
 * Usable only with simulated workers: before each decision the router asks
 * every worker how much of this request's prompt it really holds (POST
 * /sim/cached_prefix) and passes the answers in probe_cached. The policy
 * picks the worker with the most cached tokens, the least loaded among
 * equals, then at random, under the same imbalance guard as a cache_aware
 * hit: if that worker's load - min > balance_abs_threshold and its load >
 * min * balance_rel_threshold, the least loaded instead. A request nobody
 * holds goes to the least loaded worker.
 *
 * Test-only: compiled, and named in policy.c's table, only in builds
 * configured with -DSR_WITH_ORACLE=ON (the top-level CMakeLists.txt).
 */
#include "../alloc.h"
#include "../err.h"
#include "../load.h"
#include "../policy.h"
#include "../worker.h"

#include <stdint.h>

static int oracle_select(struct sr_policy *p, const struct sr_route_request *req,
                         struct sr_worker **out)
{
    (void)p;
    struct sr_load_scan scan;
    sr_route_load_scan(req, &scan);
    double lo;
    struct sr_worker *least = sr_route_pick_least_loaded(req, &scan, &lo, NULL);
    if (least == NULL)
        return SR_ERR_NO_WORKER;
    struct sr_worker *best = NULL;
    uint32_t best_cached = 0, ties = 0;
    long best_load = 0;
    for (size_t i = 0; req->probe_cached && i < req->workers->count; i++) {
        struct sr_worker *w = req->workers->workers[i];
        if (!sr_route_allows(req, w) || w->id >= req->nprobe)
            continue;
        uint32_t cached = req->probe_cached[w->id];
        if (cached == UINT32_MAX || cached == 0)
            continue;
        long load = sr_worker_fleet_load(w);
        if (best == NULL || cached > best_cached || (cached == best_cached && load < best_load)) {
            best = w;
            best_cached = cached;
            best_load = load;
            ties = 1;
        } else if (cached == best_cached && load == best_load &&
                   sr_rng_below(req->rng, ++ties) == 0) {
            best = w;
        }
    }
    bool imbalanced =
        best != NULL && sr_route_imbalanced(req->params, lo, sr_load_requests(&scan, best));
    if (imbalanced)
        best = NULL;
    *out = best ? best : least;
    if (req->outcome)
        *req->outcome = imbalanced ? SR_ROUTE_IMBALANCE
                        : best     ? SR_ROUTE_CACHE_HIT
                                   : SR_ROUTE_CACHE_MISS;
    return 0;
}

static void oracle_destroy(struct sr_policy *p)
{
    sr_free(p);
}

static const struct sr_policy_ops oracle_ops = {
    .name = "oracle",
    .select = oracle_select,
    .destroy = oracle_destroy,
    .needs_probe = true,
};

struct sr_policy *sr_policy_oracle_new(const struct sr_policy_params *params)
{
    (void)params;
    struct sr_policy *p = sr_malloc(sizeof(*p));
    if (p != NULL)
        p->ops = &oracle_ops;
    return p;
}
