/*
 * load: the load model routing weighs. Two numbers per worker:
 *
 * requests: what it holds, counted: this router's requests in flight, its
 *   replica peers' (sync/), and the requests the worker itself reports
 *   beyond the fleet's own (sr_worker_external_load: other clients,
 *   routers outside the sync group). A prefill on the worker stalls every
 *   one of them (engines run prefill before the next decode step), so this
 *   is what decides where a long uncached prompt hurts least.
 *
 * work: what it has to do before it is free, in tokens:
 *   - the prompt tokens it must still prefill, this router's and its
 *     peers' (pending prefill bytes / SR_BYTES_PER_TOKEN);
 *   - the tokens this router's and its peers' requests still have to
 *     generate (decode_left: max_tokens less what has streamed back; the
 *     peers' from their TOKENS reports, sync/wire.h), times decode_weight,
 *     the cost of a generated token against a prefilled one;
 *   - requests known only by their count (peers' in flight from replicas
 *     that report no tokens, external) at the fleet's mean decode work,
 *     resp. mean work, per request in flight.
 *   Counting tokens is what sees that one 100k-token prompt outweighs a
 *   hundred 1k ones, where "requests in flight" misjudges it 100x.
 *
 * Who reads what (measured on the Mooncake trace, tests/bench/RESULTS.md):
 * cache_cost weighs both (policy/cache_aware.c); the shortest-queue choice
 * (sr_route_pick_least_loaded) and cache_aware's imbalance test compare
 * requests, and break ties of requests by work.
 *
 * Usage, once per decision: sr_load_scan() over the decision's workers,
 * then the per-worker functions. Everything is read from the workers'
 * atomic counters; nothing is kept.
 */
#ifndef SR_LOAD_H
#define SR_LOAD_H

#include "worker.h"

#include <stdint.h>

#include "registry.h"

/* Prompt bytes per token, the router's estimate without a tokenizer. */
#define SR_BYTES_PER_TOKEN 4

struct sr_load_scan {
    double decode_weight;    /* params->decode_weight */
    uint64_t now_ms;         /* for the freshness of worker reports */
    uint64_t report_max_age; /* params->report_max_age_ms */
    double mean_work;        /* tokens of work per request in flight (>= 1) */
    double mean_decode;      /* of which decode work */
};

/* The fleet's means over a decision's workers (every one, whatever its
 * state: a worker out of rotation still finishes what it holds). With
 * nothing in flight, the request being routed is the yardstick: its
 * prompt tokens and the tokens it is expected to generate. Policies call
 * it through sr_route_load_scan (policy.h), which fills these in. */
void sr_load_scan(struct sr_load_scan *out, const struct sr_worker_set *workers,
                  double decode_weight, uint64_t report_max_age_ms, uint64_t now_ms,
                  double request_tokens, double request_decode_tokens);

/* A worker's work in tokens (>= 0). */
double sr_load_work(const struct sr_load_scan *scan, const struct sr_worker *w);

/* The requests it holds (>= 0). */
double sr_load_requests(const struct sr_load_scan *scan, const struct sr_worker *w);

#endif
