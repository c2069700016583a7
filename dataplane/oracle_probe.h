/*
 * oracle_probe: test-only. Before the oracle policy decides, it asks every
 * routable worker how many tokens of this prompt it holds cached, over
 * the simulated worker's own route (POST /sim/cached_prefix?route=...),
 * and hands the answers to the policy (struct sr_route_request's
 * probe_cached). Real SGLang workers have no such route: the oracle
 * exists to measure the other policies against perfect knowledge.
 *
 * Built only with the CMake option SR_WITH_ORACLE (tests and benchmarks);
 * without it the functions below are stubs (no probe is ever started) and
 * the product carries none of this code.
 *
 * Ownership: the probe borrows set, body and arg until done runs or it is
 * freed; the cached array belongs to the probe. One loop, one thread.
 */
#ifndef SR_ORACLE_PROBE_H
#define SR_ORACLE_PROBE_H

#include "routing_text.h"

#include <stddef.h>
#include <stdint.h>

struct sr_loop;
struct sr_oracle_probe;
struct sr_worker_set;

#ifdef SR_WITH_ORACLE

/* Asks every routable worker of set (in parallel, 1 s timeout each);
 * done(arg) runs on l's thread once every answer is in (never from inside
 * this call). NULL when out of memory. */
struct sr_oracle_probe *sr_oracle_probe_start(struct sr_loop *l, const struct sr_worker_set *set,
                                              enum sr_text_source route, const char *body,
                                              size_t body_len, void (*done)(void *arg), void *arg);
/* Cancels what is still asked. NULL is fine. */
void sr_oracle_probe_free(struct sr_oracle_probe *p);
/* Cached tokens by worker id (UINT32_MAX: unknown), *n of them; NULL and
 * 0 for a NULL probe. */
const uint32_t *sr_oracle_probe_cached(const struct sr_oracle_probe *p, size_t *n);

#else

static inline struct sr_oracle_probe *
sr_oracle_probe_start(struct sr_loop *l, const struct sr_worker_set *set, enum sr_text_source route,
                      const char *body, size_t body_len, void (*done)(void *arg), void *arg)
{
    (void)l, (void)set, (void)route, (void)body, (void)body_len, (void)done, (void)arg;
    return NULL;
}

static inline void sr_oracle_probe_free(struct sr_oracle_probe *p)
{
    (void)p;
}

static inline const uint32_t *sr_oracle_probe_cached(const struct sr_oracle_probe *p, size_t *n)
{
    (void)p;
    *n = 0;
    return NULL;
}

#endif

#endif
