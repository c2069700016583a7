/*
 * router: the state every thread of the sglang-router process shares, and
 * the process's threads.
 *
 * Shared (thread-safe by construction): the configuration (read-only after
 * start), the routing settings that change at runtime (common/settings.h:
 * the policy and its tunables; each loop keeps a view it refreshes when
 * their version moves), the worker registry (snapshots), the address book
 * of workers, the credentials (common/secret.h holders, swapped by a
 * SIGHUP reload while loops check requests against them), and the drain
 * flag.
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
#include "common/settings.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

struct sr_loop;
struct sr_sync;
struct sr_secret;
struct sr_tls;

struct sr_router {
    const struct sr_config *cfg;
    struct sr_breaker_config breaker; /* the workers' circuit breakers (cfg's --cb-*) */
    struct sr_registry *registry;
    struct sr_settings *settings;
    struct sr_addr_book *addrs;
    struct sr_tls *tls; /* the public port's TLS (tls.h), or NULL: cleartext */
    /* --api-key and --api-key-file's keys; NULL: every client is let in. */
    struct sr_secret *api_keys;
    /* --admin-api-key(-file); NULL: admin routes from loopback only. */
    struct sr_secret *admin_api_key;
    /* Replica sync (sync/sync.h): this router's decisions go to its peers. */
    struct sr_sync *sync;
    struct sr_loop **loops;
    size_t nloops;
    atomic_bool draining;
    atomic_long in_flight;  /* proxied requests between dispatch and end */
    atomic_long slots_used; /* under the concurrency limit (pipeline.h) */
    atomic_long queued;     /* waiting for a slot */
    atomic_ulong retries;   /* attempts after the first, all threads */
    long max_connections;   /* client connections at once (--max-connections, or derived) */
    atomic_ulong connections_refused; /* closed at accept: over max_connections */
    atomic_ulong accept_pauses;       /* accepting paused: out of descriptors */
    atomic_ulong slow_clients_closed; /* over the buffer budget (budget.h) */
    struct timespec started;
    time_t started_wall; /* the start, in Unix time (/v1/models' created) */
};

/* Draining the loops: sr_loop_drain_all() (loop.h). */

#endif
