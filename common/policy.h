/*
 * policy: the one interface every load-balancing policy implements, and the
 * only place where policy names are mapped to implementations.
 *
 * A policy chooses a worker for a request from a registry snapshot. Callers
 * see only struct sr_policy and its const ops table; they never compare names
 * or reach into a policy. Tunables that may change at runtime (thresholds,
 * probabilities) come with each request in struct sr_policy_params, so an
 * update applies atomically to new requests without touching the policy.
 *
 * Load accounting goes through sr_policy_dispatch() / sr_policy_complete():
 * +1 in-flight at dispatch, -1 exactly once when the request ends. The
 * prompt bytes a worker must still prefill are counted the same way:
 * added at dispatch (the amount select reported in *prefill), taken back by
 * sr_policy_started() at the first response byte, or at the end if none came;
 * and the tokens it is to generate: added at dispatch, taken back by
 * sr_policy_decoded() as they stream and for the rest at the end.
 *
 * Thread safety: select, dispatch, complete and the worker hooks may be
 * called concurrently from any thread; each implementation guards its state.
 *
 * Ownership: sr_policy_create() returns an object freed by
 * sr_policy_destroy(); workers passed in are borrowed (the caller holds the
 * snapshot), the worker returned by select is borrowed from that snapshot.
 */
#ifndef SR_POLICY_H
#define SR_POLICY_H

#include "radix.h"
#include "rand.h"
#include "registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Runtime tunables, read once per decision. */
struct sr_policy_params {
    double cache_threshold;        /* min match rate for highest-match routing */
    double cache_routing_prob;     /* probability of cache-aware routing */
    long balance_abs_threshold;    /* overloaded: a worker's load - min > this ... */
    double balance_rel_threshold;  /* ... and > min * this */
    long miss_margin;              /* cache_aware: a miss only to loads <= min + this */
    size_t max_tree_bytes;         /* per-worker size target of the tree */
    uint64_t eviction_interval_ms; /* period of automatic eviction passes; 0 = none */
    double load_weight;            /* cache_cost: stall of one request held, per uncached prompt */
    double queue_weight;        /* cache_cost: cost of a token of queued work, in prompt tokens */
    double decode_weight;       /* load model: one token to generate, in prefill tokens (load.h) */
    uint64_t report_max_age_ms; /* load model: a worker's own report counts this long */
    /* What the tree is keyed on (not an option: replica sync sets it, see
     * sr_settings_set_key_unit): 0 or 1, the routing text itself;
     * SR_ROUTE_KEY_UNIT, its block digests (route_key.h), each key byte
     * standing for that many text bytes. Sizes and prefill stay in text
     * bytes either way. */
    size_t key_unit;
};

/* Why a worker was chosen, for metrics (set by policies that know). */
enum sr_route_outcome {
    SR_ROUTE_PLAIN = 0,     /* random, round robin, shortest queue */
    SR_ROUTE_CACHE_HIT,     /* cache-aware: match rate above the threshold */
    SR_ROUTE_CACHE_MISS,    /* cache-aware: below it, the smallest tree in the miss margin */
    SR_ROUTE_IMBALANCE,     /* cache-aware: the match's worker overloaded, the least loaded */
    SR_ROUTE_LOAD_BALANCED, /* cache-aware: cache_routing_prob chose shortest queue */
};
#define SR_ROUTE_OUTCOMES 5
extern const char *const sr_route_outcome_names[SR_ROUTE_OUTCOMES];

/* One routing decision's input. Everything is borrowed. */
struct sr_route_request {
    const struct sr_worker_set *workers;
    const void *text; /* routing key: the text, or its digests (params->key_unit) */
    size_t text_len;
    const uint32_t *excluded; /* worker ids already tried (retries) */
    size_t nexcluded;
    uint64_t now_ms;    /* sr_breaker_now_ms(): whose circuit breakers admit traffic */
    struct sr_rng *rng; /* the calling thread's generator */
    const struct sr_policy_params *params;
    enum sr_route_outcome *outcome; /* optional output */
    /* Policies that need probes (oracle): cached prefix tokens each worker
     * reported for this request, indexed by worker id (UINT32_MAX: no
     * answer); NULL otherwise. */
    const uint32_t *probe_cached;
    size_t nprobe;
    /* Optional output: the prompt bytes the chosen worker is expected to
     * compute (text_len minus the prefix the policy believes it holds). */
    size_t *prefill;
    long decode_tokens; /* the tokens it is expected to generate (load.h) */
    /* > 0: a worker already holding this many of this router's requests
     * is not chosen (--max-concurrent-per-worker); 0: no such limit. */
    long worker_limit;
};

struct sr_policy;
struct sr_load_scan;

struct sr_policy_ops {
    const char *name;
    /* 0 with *out set, or SR_ERR_NO_WORKER when nothing is routable. */
    int (*select)(struct sr_policy *p, const struct sr_route_request *req, struct sr_worker **out);
    /* Optional hooks (NULL when a policy does not need them). */
    void (*on_worker_removed)(struct sr_policy *p, struct sr_worker *w);
    /* Drops every belief about every worker (an emptied tree). */
    void (*forget)(struct sr_policy *p);
    /* Applies new tree parameters and evicts now. */
    void (*maintain)(struct sr_policy *p, const struct sr_policy_params *params);
    bool (*tree_stats)(struct sr_policy *p, struct sr_radix_stats *out);
    size_t (*worker_tree_bytes)(struct sr_policy *p, const struct sr_worker *w);
    /* A placement decided elsewhere (another replica): worker `worker` was
     * sent the prompt whose routing key is key[0, len), as if select had
     * chosen it at now_ms. */
    int (*learn)(struct sr_policy *p, const void *key, size_t len, uint32_t worker,
                 uint64_t now_ms);
    /* Calls cb with each maximal key the policy believes worker holds. */
    int (*export_worker)(struct sr_policy *p, uint32_t worker, sr_radix_text_cb cb, void *ctx);
    void (*destroy)(struct sr_policy *p);
    /* The caller must ask every worker for its cached prefix first
     * (POST /sim/cached_prefix; simulated workers only) and pass the
     * answers in probe_cached. */
    bool needs_probe;
};

struct sr_policy {
    const struct sr_policy_ops *ops;
};

/* Names accepted by sr_policy_create, NULL-terminated. */
extern const char *const sr_policy_names[];

/* NULL for an unknown name or on allocation failure (*err tells which). */
struct sr_policy *sr_policy_create(const char *name, const struct sr_policy_params *params,
                                   int *err);
void sr_policy_destroy(struct sr_policy *p);
const char *sr_policy_name(const struct sr_policy *p);

int sr_policy_select(struct sr_policy *p, const struct sr_route_request *req,
                     struct sr_worker **out);
void sr_policy_dispatch(struct sr_policy *p, struct sr_worker *w, size_t prefill, long decode);
/* tokens of the decode counted at dispatch are done (generated, or never
 * will be): called as they stream back and for the rest at the end. */
void sr_policy_decoded(struct sr_policy *p, struct sr_worker *w, long tokens);
void sr_policy_started(struct sr_policy *p, struct sr_worker *w, size_t prefill);
void sr_policy_complete(struct sr_policy *p, struct sr_worker *w, enum sr_breaker_outcome outcome);
void sr_policy_worker_removed(struct sr_policy *p, struct sr_worker *w);
void sr_policy_forget(struct sr_policy *p);
/* Applies the tree parameters (size, eviction interval) and runs an
 * eviction pass now; periodic passes are carried by inserts by themselves. */
void sr_policy_maintain(struct sr_policy *p, const struct sr_policy_params *params);
/* false when the policy keeps no tree. */
bool sr_policy_tree_stats(struct sr_policy *p, struct sr_radix_stats *out);
size_t sr_policy_worker_tree_bytes(struct sr_policy *p, const struct sr_worker *w);
/* Replica sync (the ops above); 0 for policies without a tree. */
int sr_policy_learn(struct sr_policy *p, const void *key, size_t len, uint32_t worker,
                    uint64_t now_ms);
int sr_policy_export_worker(struct sr_policy *p, uint32_t worker, sr_radix_text_cb cb, void *ctx);
/* Text bytes one byte of routing key stands for (params->key_unit, at least 1). */
static inline size_t sr_policy_key_unit(const struct sr_policy_params *params)
{
    return params->key_unit > 1 ? params->key_unit : 1;
}

/* ---- helpers shared by the implementations ---- */

/* Available (healthy, circuit breaker not open at req->now_ms), below
 * req->worker_limit and not excluded: the one test every policy, retry
 * and random pick applies. */
bool sr_route_allows(const struct sr_route_request *req, const struct sr_worker *w);
/* Uniformly random allowed worker, or NULL. */
struct sr_worker *sr_route_pick_random(const struct sr_route_request *req);
/* The decision's load scan (load.h) from the request and its params. */
void sr_route_load_scan(const struct sr_route_request *req, struct sr_load_scan *out);
/* Allowed worker holding the fewest requests (load.h: in flight here, at
 * the peers, and reported by the worker beyond those), ties to the least
 * work, then random; or NULL. *min_load / *max_load (if not NULL) get the
 * allowed workers' range of requests. scan: the decision's sr_load_scan,
 * or NULL to make one. */
struct sr_worker *sr_route_pick_least_loaded(const struct sr_route_request *req,
                                             const struct sr_load_scan *scan, double *min_load,
                                             double *max_load);

/* The seed's imbalance test on a load range (request equivalents): max -
 * min > balance_abs_threshold and max > min * balance_rel_threshold. */
static inline bool sr_route_imbalanced(const struct sr_policy_params *prm, double lo, double hi)
{
    return hi - lo > (double)prm->balance_abs_threshold && hi > lo * prm->balance_rel_threshold;
}

/* Implementations (one file each under policy/). */
struct sr_policy *sr_policy_random_new(const struct sr_policy_params *params);
struct sr_policy *sr_policy_round_robin_new(const struct sr_policy_params *params);
struct sr_policy *sr_policy_shortest_queue_new(const struct sr_policy_params *params);
struct sr_policy *sr_policy_cache_aware_new(const struct sr_policy_params *params);
struct sr_policy *sr_policy_cache_cost_new(const struct sr_policy_params *params);
#ifdef SR_WITH_ORACLE /* test-only: see the top-level CMakeLists.txt */
struct sr_policy *sr_policy_oracle_new(const struct sr_policy_params *params);
#endif
bool sr_policy_needs_probe(const struct sr_policy *p);

#endif
