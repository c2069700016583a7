/*
 * loop: one event-loop thread of the router. It owns an event_base, the
 * client connections it serves, its keep-alive pools of worker connections
 * (upstream.h), a random generator and a metrics shard. Nothing here is
 * touched by another thread, except the wake event (drain, queue), the
 * hand-off queue and the metric shard's relaxed atomics (read by scrapes).
 *
 * The loop knows nothing of the modules built on it: what it does with an
 * accepted socket, a wake-up, a tick or its end comes from the hooks it is
 * created with (serve.h gives the router's).
 *
 * Connections are spread exactly: loop 0 accepts every connection and hands
 * it to the loop with the fewest (a mutex-protected queue plus event_active
 * on the receiving loop). SO_REUSEPORT's hashing split 64 benchmark
 * connections as unevenly as 41/23, and the busier loop's requests waited:
 * p99 latency went from 1.9 ms (even split) to 3.4-4.9 ms.
 */
#ifndef SR_LOOP_H
#define SR_LOOP_H

#include "accept_guard.h"
#include "router.h"
#include "routes.h"

#include "common/metrics.h"
#include "common/rand.h"

#include <event2/event.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

/* HTTP statuses counted per route; others count as "other". */
#define SR_STATUS_SLOTS 18
extern const int sr_status_slots[SR_STATUS_SLOTS]; /* last entry: 0 = other */
int sr_status_slot(int status);

struct sr_loop_metrics {
    atomic_ulong requests[SR_ROUTES_MAX][SR_STATUS_SLOTS];
    struct sr_histogram duration[SR_ROUTES_MAX];
    struct sr_histogram ttfb[SR_ROUTES_MAX]; /* first response byte to the client */
    atomic_ulong decisions[SR_ROUTE_OUTCOMES];
    atomic_ulong client_aborts;
    atomic_ulong worker_errors;
};

struct sr_pool;
struct sr_client;
struct sr_waiter;
struct sr_loop;

/* What the modules above a loop do at its turns, on its thread. */
struct sr_loop_hooks {
    /* After the loop is set up / before it is freed: what they keep per
     * loop (init: 0, or -1 when out of memory). */
    int (*init)(struct sr_loop *l);
    void (*fini)(struct sr_loop *l);
    /* A new client socket (owned by the callee from now on). */
    void (*accept)(struct sr_loop *l, int fd, const struct sockaddr *addr);
    /* The router drains: finish what is in flight (once per loop). */
    void (*drain)(struct sr_loop *l);
    /* Woken (sr_loop_wake): e.g. a concurrency slot was freed. */
    void (*wake)(struct sr_loop *l);
    /* Every 50 ms (l->ticks counts them). */
    void (*tick)(struct sr_loop *l);
    /* Draining: true once nothing is left (the loop then stops). */
    bool (*finished)(struct sr_loop *l);
    /* The event loop returned (drained or past the grace period): close
     * whatever is left. */
    void (*stopped)(struct sr_loop *l);
};

struct sr_loop {
    struct sr_router *router;
    const struct sr_loop_hooks *hooks;
    size_t index;
    struct event_base *base;
    evutil_socket_t listen_fd;           /* loop 0 only; -1 elsewhere */
    struct evconnlistener *listener;     /* loop 0 only */
    struct sr_accept_guard accept_guard; /* pauses when out of descriptors (loop 0) */
    time_t refused_logged_at;            /* --max-connections: last warning (one a second) */
    pthread_mutex_t handoff_lock;        /* guards handoff */
    struct sr_handoff *handoff;          /* accepted sockets waiting for this loop */
    size_t nhandoff, handoff_cap;
    atomic_long handoff_pending; /* handed to this loop, not yet taken */
    struct event *handoff_ev;
    pthread_t thread;
    struct sr_rng rng;
    struct sr_pool *pool;    /* worker connections (upstream.h; set by the hooks) */
    struct event *wake;      /* activated from other threads: drain, slot freed */
    struct sr_client *conns; /* every open client connection (linked by conn.c) */
    atomic_long nconns;
    atomic_long out_bytes; /* response bytes buffered for this loop's clients (budget.h) */
    bool draining;
    unsigned long ticks;                           /* 50 ms ticks since start */
    struct sr_waiter *waiters_head, *waiters_tail; /* requests waiting for a slot (pipeline.h) */
    /* proxy.c's exchanges whose client has its answer while a prefill
     * worker's answer still drains (they hold no client connection). */
    struct sr_exchange *detached;
    struct sr_loop_metrics metrics;
    struct sr_worker_set *set; /* cached registry snapshot */
    uint64_t set_version;
    struct sr_settings_view settings; /* policy and tunables in force (settings.h) */
    double output_tokens;    /* streamed answers' mean length, for requests without a limit */
    char scratch[64 * 1024]; /* client reads land here (conn.c) */
};

struct sr_handoff {
    int fd;
    struct sockaddr_storage addr;
};

/* Creates a loop; listen_fd: the bound, listening socket for loop 0, -1 for
 * the others; hooks: borrowed for the loop's life. NULL on failure. */
struct sr_loop *sr_loop_new(struct sr_router *r, size_t index, evutil_socket_t listen_fd,
                            const struct sr_loop_hooks *hooks);
void sr_loop_free(struct sr_loop *l);
int sr_loop_start(struct sr_loop *l);
void sr_loop_join(struct sr_loop *l);

/* The current registry snapshot (cached per loop; borrowed until the loop
 * next returns to its event loop: take a reference to keep it longer). */
struct sr_worker_set *sr_loop_workers(struct sr_loop *l);

/* Thread-safe: wakes the loop to look at the drain flag and the queue. */
void sr_loop_wake(struct sr_loop *l);

/* Thread-safe: the router drains; every loop is told. */
void sr_loop_drain_all(struct sr_router *r);

/* Counts a finished request in the loop's metrics (route NULL: none). */
void sr_loop_count(struct sr_loop *l, const struct sr_route *route, int status);

#endif
