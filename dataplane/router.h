/*
 * router: the state every thread of the sglang-router process shares, and
 * the process's threads.
 *
 * Shared (thread-safe by construction): the configuration (read-only after
 * start, except the policy tunables: each loop re-copies them, under a
 * lock, when their version moves, so an update applies atomically to new
 * requests and the request path takes no lock), the worker registry
 * (snapshots), the policy, the address book of workers, and the drain flag.
 * Everything else belongs to one event loop (loop.h): client connections,
 * worker connection pools, metric shards.
 *
 * Threads: N loop threads serve clients; the main thread runs health
 * checks, the metrics listener and signals (main.c).
 */
#ifndef SR_ROUTER_H
#define SR_ROUTER_H

#include "addr_book.h"

#include "common/config.h"
#include "common/policy.h"
#include "common/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

struct sr_loop;

struct sr_router {
    const struct sr_config *cfg;
    struct sr_registry *registry;
    struct sr_policy *policy;
    struct sr_addr_book *addrs;
    struct sr_loop **loops;
    size_t nloops;
    atomic_bool draining;
    atomic_long in_flight;       /* proxied requests between dispatch and end */
    atomic_long slots_used;      /* under --max-concurrent-requests */
    atomic_long queued;          /* waiting for a slot */
    pthread_mutex_t params_lock; /* writers; readers copy when the version moves */
    struct sr_policy_params params;
    atomic_ulong params_version;
    atomic_ulong retries; /* attempts after the first, all threads */
    struct timespec started;
};

/* Copies the policy tunables into *cache if they changed since
 * *cache_version (a loop keeps both): lock-free unless they changed. */
void sr_router_params(struct sr_router *r, struct sr_policy_params *cache,
                      unsigned long *cache_version);
/* Replaces them; one writer at a time (the caller serialises). */
void sr_router_set_params(struct sr_router *r, const struct sr_policy_params *p);

/* Asks every loop to stop accepting and finish what is in flight. */
void sr_router_drain(struct sr_router *r);

/* Busy connections, summed over loops (racy snapshot). */
long sr_router_open_connections(struct sr_router *r);

#endif
