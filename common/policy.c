/* policy: name -> implementation mapping, dispatch wrappers, shared helpers
 * (see policy.h). */
#include "policy.h"

#include "load.h"

#include "err.h"

#include <string.h>

/* The one name table. oracle exists only in builds configured with
 * -DSR_WITH_ORACLE=ON (tests and benchmarks). */
const char *const sr_policy_names[] = {"random",      "round_robin", "shortest_queue",
                                       "cache_aware", "cache_cost",
#ifdef SR_WITH_ORACLE
                                       "oracle",
#endif
                                       NULL};

static struct sr_policy *(*const constructors[])(const struct sr_policy_params *) = {
    sr_policy_random_new,      sr_policy_round_robin_new, sr_policy_shortest_queue_new,
    sr_policy_cache_aware_new, sr_policy_cache_cost_new,
#ifdef SR_WITH_ORACLE
    sr_policy_oracle_new,
#endif
};

_Static_assert(sizeof(constructors) / sizeof(constructors[0]) ==
                   sizeof(sr_policy_names) / sizeof(sr_policy_names[0]) - 1,
               "every policy name needs its constructor");

struct sr_policy *sr_policy_create(const char *name, const struct sr_policy_params *params,
                                   int *err)
{
    for (size_t i = 0; sr_policy_names[i] != NULL; i++) {
        if (strcmp(name, sr_policy_names[i]) == 0) {
            struct sr_policy *p = constructors[i](params);
            if (err)
                *err = p ? 0 : SR_ERR_NOMEM;
            return p;
        }
    }
    if (err)
        *err = SR_ERR_NOT_FOUND;
    return NULL;
}

void sr_policy_destroy(struct sr_policy *p)
{
    if (p != NULL)
        p->ops->destroy(p);
}

const char *sr_policy_name(const struct sr_policy *p)
{
    return p->ops->name;
}

int sr_policy_select(struct sr_policy *p, const struct sr_route_request *req,
                     struct sr_worker **out)
{
    if (req->outcome)
        *req->outcome = SR_ROUTE_PLAIN; /* unless the policy knows better */
    if (req->prefill)
        *req->prefill = req->text_len; /* likewise */
    return p->ops->select(p, req, out);
}

const char *const sr_route_outcome_names[SR_ROUTE_OUTCOMES] = {
    "plain", "cache_hit", "cache_miss", "imbalance", "load_balanced",
};

bool sr_policy_needs_probe(const struct sr_policy *p)
{
    return p->ops->needs_probe;
}

void sr_policy_dispatch(struct sr_policy *p, struct sr_worker *w, size_t prefill, long decode)
{
    (void)p;
    sr_worker_load_add(w);
    sr_worker_prefill_add(w, prefill);
    sr_worker_decode_add(w, decode);
}

void sr_policy_decoded(struct sr_policy *p, struct sr_worker *w, long tokens)
{
    (void)p;
    sr_worker_decode_done(w, tokens);
}

void sr_policy_started(struct sr_policy *p, struct sr_worker *w, size_t prefill)
{
    (void)p;
    sr_worker_prefill_done(w, prefill);
}

void sr_policy_complete(struct sr_policy *p, struct sr_worker *w, enum sr_breaker_outcome outcome)
{
    (void)p;
    sr_worker_load_done(w, outcome);
}

void sr_policy_worker_removed(struct sr_policy *p, struct sr_worker *w)
{
    if (p->ops->on_worker_removed)
        p->ops->on_worker_removed(p, w);
}

void sr_policy_forget(struct sr_policy *p)
{
    if (p->ops->forget)
        p->ops->forget(p);
}

void sr_policy_maintain(struct sr_policy *p, const struct sr_policy_params *params)
{
    if (p->ops->maintain)
        p->ops->maintain(p, params);
}

bool sr_policy_tree_stats(struct sr_policy *p, struct sr_radix_stats *out)
{
    return p->ops->tree_stats ? p->ops->tree_stats(p, out) : false;
}

size_t sr_policy_worker_tree_bytes(struct sr_policy *p, const struct sr_worker *w)
{
    return p->ops->worker_tree_bytes ? p->ops->worker_tree_bytes(p, w) : 0;
}

int sr_policy_learn(struct sr_policy *p, const void *key, size_t len, uint32_t worker,
                    uint64_t now_ms)
{
    return p->ops->learn ? p->ops->learn(p, key, len, worker, now_ms) : 0;
}

int sr_policy_export_worker(struct sr_policy *p, uint32_t worker, sr_radix_text_cb cb, void *ctx)
{
    return p->ops->export_worker ? p->ops->export_worker(p, worker, cb, ctx) : 0;
}

bool sr_route_allows(const struct sr_route_request *req, const struct sr_worker *w)
{
    if (!sr_worker_available(w, req->now_ms))
        return false;
    if (req->worker_limit > 0 &&
        atomic_load_explicit(&w->in_flight, memory_order_relaxed) >= req->worker_limit)
        return false;
    for (size_t i = 0; i < req->nexcluded; i++)
        if (req->excluded[i] == w->id)
            return false;
    return true;
}

struct sr_worker *sr_route_pick_random(const struct sr_route_request *req)
{
    /* Reservoir sampling: one pass, uniform over allowed workers. */
    struct sr_worker *pick = NULL;
    uint32_t seen = 0;
    for (size_t i = 0; i < req->workers->count; i++) {
        struct sr_worker *w = req->workers->workers[i];
        if (sr_route_allows(req, w) && sr_rng_below(req->rng, ++seen) == 0)
            pick = w;
    }
    return pick;
}

void sr_route_load_scan(const struct sr_route_request *req, struct sr_load_scan *out)
{
    const struct sr_policy_params *prm = req->params;
    sr_load_scan(out, req->workers, prm->decode_weight, prm->report_max_age_ms, req->now_ms,
                 (double)req->text_len * (double)sr_policy_key_unit(prm) / SR_BYTES_PER_TOKEN,
                 (double)req->decode_tokens);
}

struct sr_worker *sr_route_pick_least_loaded(const struct sr_route_request *req,
                                             const struct sr_load_scan *scan, double *min_load,
                                             double *max_load)
{
    struct sr_load_scan own;
    if (scan == NULL) {
        sr_route_load_scan(req, &own);
        scan = &own;
    }
    struct sr_worker *pick = NULL;
    uint32_t ties = 0;
    double lo = 0, hi = 0, lo_work = 0;
    for (size_t i = 0; i < req->workers->count; i++) {
        struct sr_worker *w = req->workers->workers[i];
        if (!sr_route_allows(req, w))
            continue;
        double load = sr_load_requests(scan, w), work = sr_load_work(scan, w);
        if (pick == NULL || load > hi)
            hi = load;
        if (pick == NULL || load < lo || (load == lo && work < lo_work)) {
            pick = w;
            ties = 1;
            lo = load;
            lo_work = work;
        } else if (load == lo && work == lo_work && sr_rng_below(req->rng, ++ties) == 0) {
            pick = w;
        }
    }
    if (min_load)
        *min_load = lo;
    if (max_load)
        *max_load = hi;
    return pick;
}
