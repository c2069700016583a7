/*
 * worker: one worker server as the router sees it: its URL, its health
 * state machine, and its load counters.
 *
 * Records are reference counted and shared between threads: every counter is
 * atomic, the URL and id never change after creation. A record is created by
 * the registry (registry.h), which gives it a dense small id, unique among
 * live records and reused only after the record's last reference is dropped:
 * the record hands its id back through the release_id callback its creator
 * set, so it does not know the registry.
 *
 * Health is a rise/fall hysteresis (HAProxy style): a new worker is PENDING
 * and becomes HEALTHY on its first passing check; a HEALTHY worker turns
 * UNHEALTHY after `fall` consecutive failed checks, and back after `rise`
 * consecutive passing ones. Only HEALTHY, not removed workers are routable.
 *
 * Beside health, each worker has a circuit breaker (breaker.h), fed by the
 * outcome of every request attempt: a HEALTHY worker whose breaker is open
 * gets no traffic. sr_worker_available() is the one test routing applies
 * (policy.c's sr_route_allows); sr_worker_routable() is health alone (what
 * /health, readiness and the healthy gauge report). The breaker's locking
 * rule is in breaker.h.
 *
 * Load accounting (in-flight requests) lives here and only here:
 * sr_worker_load_add() at dispatch, sr_worker_load_done() exactly once from
 * every terminal state of that request. Beside the count, pending_prefill
 * holds the prompt bytes dispatched to the worker that it has not started
 * answering yet (its prefill queue, as the router estimates it):
 * sr_worker_prefill_add() at dispatch, sr_worker_prefill_done() with the
 * same amount at the first response byte or the request's end.
 *
 * Beside prefill, decode_left holds the tokens this router's requests on
 * the worker still have to generate (their max_tokens, less the tokens seen
 * streaming back): sr_worker_decode_add() at dispatch, sr_worker_decode_done()
 * as tokens stream and for the rest at the request's end, whatever the end
 * (finish, error, disconnect), so it returns to exactly zero.
 *
 * Router replicas (sync/): the other replicas' requests to the same worker
 * are held apart, in peer_in_flight, peer_prefill and peer_decode, which
 * the replica sync sets from their load reports (peer_untold: the requests
 * of replicas that report no decode tokens, whose decode the load model
 * estimates). Policies read the fleet's view
 * (sr_worker_fleet_load: own + peers); what this router reports of itself
 * (metrics, admin API) is its own count.
 *
 * Worker-reported load: where a worker says how loaded it is (SGLang's
 * /get_load, vLLM's and llama.cpp's /metrics), the load poll stores what it
 * said with sr_worker_report_load(). The requests it holds beyond what
 * this router and its peers sent (other clients, routers outside the sync
 * group) are external_load, which routing adds to the fleet's view
 * (sr_worker_route_load). A worker that says nothing, or a report older
 * than the poll's staleness limit, adds nothing.
 */
#ifndef SR_WORKER_H
#define SR_WORKER_H

#include "breaker.h"
#include "url.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called once, when a record's last reference is dropped (before it is
 * freed), with the creator's context: the id is free again. */
typedef void (*sr_worker_release_id_fn)(void *owner, uint32_t id);

/* A worker's part in a fleet: a whole server, or one half of a
 * disaggregated one (prefill computes the prompt's KV cache and hands it to
 * a decode worker, which generates). Fixed when the record is created. */
enum sr_worker_role {
    SR_ROLE_REGULAR = 0,
    SR_ROLE_PREFILL = 1,
    SR_ROLE_DECODE = 2,
};
#define SR_ROLES          3
#define SR_BOOTSTRAP_NONE (-1) /* a prefill worker without a bootstrap port (JSON null) */

enum sr_worker_health {
    SR_HEALTH_PENDING = 0,
    SR_HEALTH_HEALTHY = 1,
    SR_HEALTH_UNHEALTHY = 2,
};

struct sr_worker {
    uint32_t id;              /* dense slot id (radix tree tenant, arrays) */
    const char *url;          /* canonical URL (parsed.canonical); immutable */
    struct sr_url parsed;     /* owned, immutable */
    enum sr_worker_role role; /* immutable */
    int bootstrap_port;       /* prefill: its KV bootstrap port, or SR_BOOTSTRAP_NONE; immutable */
    /* The model it serves: a string the registry interns (it lives as long
     * as the registry), NULL while not known. Changed only by the registry
     * (sr_registry_set_model), which publishes a new snapshot with it. */
    _Atomic(const char *) model;
    atomic_bool model_pinned; /* an administrator named it: discovery leaves it */
    atomic_int health;        /* enum sr_worker_health */
    atomic_int streak;        /* >0 consecutive passes, <0 consecutive failures */
    atomic_bool removed;      /* set once the registry dropped it */
    atomic_long in_flight;
    atomic_long pending_prefill; /* bytes; see above */
    atomic_long peer_in_flight;  /* the other replicas' requests (sync/) */
    atomic_long peer_prefill;    /* bytes; the other replicas' pending_prefill */
    atomic_long peer_decode;     /* tokens; the other replicas' decode_left */
    atomic_long peer_untold;     /* of peer_in_flight, those without a decode count */
    atomic_long decode_left;     /* tokens still to generate; see above */
    /* The worker's own word (sr_worker_report_load); -1: never reported. */
    atomic_long reported_running; /* requests it runs */
    atomic_long reported_waiting; /* requests it queues */
    atomic_long reported_tokens;  /* SGLang's num_tokens; -1 when the form has none */
    atomic_long external_load;    /* requests beyond the fleet's own, >= 0 */
    atomic_ullong reported_at_ms; /* sr_breaker_now_ms() of the report; 0: none */
    atomic_ulong processed;       /* requests completed successfully */
    atomic_ulong failures;        /* requests that ended in an error */
    struct sr_breaker breaker;    /* see breaker.h */
    atomic_uint refs;
    sr_worker_release_id_fn release_id; /* NULL: nobody to tell */
    void *owner;                        /* borrowed: release_id's context */
    uint64_t mark[2];                   /* the registry's scratch, under its writer lock only */
};

void sr_worker_ref(struct sr_worker *w);
/* Drops a reference; the last one frees the record. Accepts NULL. */
void sr_worker_release(struct sr_worker *w);

static inline enum sr_worker_health sr_worker_health(const struct sr_worker *w)
{
    return (enum sr_worker_health)atomic_load_explicit(&w->health, memory_order_relaxed);
}

static inline bool sr_worker_routable(const struct sr_worker *w)
{
    return sr_worker_health(w) == SR_HEALTH_HEALTHY &&
           !atomic_load_explicit(&w->removed, memory_order_acquire);
}

/* Routable and its circuit breaker lets requests through at now_ms
 * (sr_breaker_now_ms(); an OPEN breaker past its timeout lets trials in). */
static inline bool sr_worker_available(const struct sr_worker *w, uint64_t now_ms)
{
    return sr_worker_routable(w) && sr_breaker_allows(&w->breaker, now_ms);
}

static inline const char *sr_worker_model(const struct sr_worker *w)
{
    return atomic_load_explicit(&w->model, memory_order_acquire);
}

static inline long sr_worker_load(const struct sr_worker *w)
{
    return atomic_load_explicit(&w->in_flight, memory_order_relaxed);
}

static inline long sr_worker_pending_prefill(const struct sr_worker *w)
{
    return atomic_load_explicit(&w->pending_prefill, memory_order_relaxed);
}

/* What routing weighs: this router's requests and its peers'. */
static inline long sr_worker_fleet_load(const struct sr_worker *w)
{
    return sr_worker_load(w) + atomic_load_explicit(&w->peer_in_flight, memory_order_relaxed);
}
static inline long sr_worker_fleet_prefill(const struct sr_worker *w)
{
    return sr_worker_pending_prefill(w) +
           atomic_load_explicit(&w->peer_prefill, memory_order_relaxed);
}

static inline long sr_worker_decode_left(const struct sr_worker *w)
{
    return atomic_load_explicit(&w->decode_left, memory_order_relaxed);
}

/* The requests the worker reported beyond the fleet's own, or 0 when its
 * last report is older than max_age_ms (or it never reported). */
static inline long sr_worker_external_load(const struct sr_worker *w, uint64_t now_ms,
                                           uint64_t max_age_ms)
{
    uint64_t at = atomic_load_explicit(&w->reported_at_ms, memory_order_relaxed);
    if (at == 0 || now_ms > at + max_age_ms)
        return 0;
    return atomic_load_explicit(&w->external_load, memory_order_relaxed);
}

/* Stores what the worker says of itself (tokens -1: not said) at now_ms;
 * external_load becomes running + waiting less the fleet's in-flight count
 * at this moment, floored at 0. */
void sr_worker_report_load(struct sr_worker *w, long running, long waiting, long tokens,
                           uint64_t now_ms);
/* Forgets the worker's report (it stopped answering, or offers none). */
void sr_worker_forget_report(struct sr_worker *w);

void sr_worker_load_add(struct sr_worker *w);
/* outcome: SUCCESS counts in processed, FAILURE in failures, NO_VERDICT
 * (client gone before the worker answered, a reset stream) in neither. */
void sr_worker_load_done(struct sr_worker *w, enum sr_breaker_outcome outcome);
void sr_worker_prefill_add(struct sr_worker *w, size_t bytes);
void sr_worker_prefill_done(struct sr_worker *w, size_t bytes);
void sr_worker_decode_add(struct sr_worker *w, long tokens);
void sr_worker_decode_done(struct sr_worker *w, long tokens);

/* Feeds one health-check result; returns true when the state changed. */
bool sr_worker_report_check(struct sr_worker *w, bool ok, int rise, int fall);
/* Forces a state (admin override, tests). */
void sr_worker_set_health(struct sr_worker *w, enum sr_worker_health h);
const char *sr_worker_health_name(enum sr_worker_health h);

#endif
