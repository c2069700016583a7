/*
 * pipeline: the one path every request takes, whatever its codec (h1.h,
 * h2.h): route → access (API keys, admin routes) → limits
 * (--max-concurrent-requests / --max-concurrent-per-worker slots and
 * queue) → local handler
 * (local_routes.h), or proxy (routing text → policy → forward → relay →
 * account, in proxy.h). Refusals are counted and answered with the shared
 * error writer (response.h); a proxied request's end comes back through
 * the callback the pipeline gives the proxy (its slot frees, it is
 * counted).
 *
 * The queue is per loop (l->waiters_*); serve.c calls the two functions
 * below from the loop's wake-ups and shutdown.
 */
#ifndef SR_PIPELINE_H
#define SR_PIPELINE_H

#include "request.h"

struct sr_limits;
struct sr_loop;
struct sr_router;
struct sr_worker_set;

/* Answers req through c (now, or later: c's exchange is attached). */
void sr_pipeline_handle(struct sr_reply *c, const struct sr_request *req);

/* The requests proxied at once under limits (the settings in force, which
 * the admin API may change: every proxied request holds a slot, so a limit
 * set while traffic flows counts those already in flight, and a raised one
 * starts queued requests when the loops wake): --max-concurrent-requests and
 * --max-concurrent-per-worker times the healthy workers of set, the
 * smaller of those set; 0 = no limit. With no healthy worker the
 * per-worker limit does not hold: requests go on and are answered 503 at
 * once instead of waiting in the queue for a worker that may not come. A
 * queued request is routed when it leaves the queue, so under a limit
 * each one goes where the load is when a slot frees (late binding). The
 * routing half of the per-worker limit is the policies' (a worker holding
 * N is not chosen: policy.h's worker_limit, set by proxy.c). */
long sr_pipeline_slot_limit(const struct sr_limits *limits, const struct sr_worker_set *set);
/* The same, now, for threads without a loop (metrics, admin): the settings
 * and the workers in force. */
long sr_pipeline_limit_in_force(struct sr_router *r);

/* Starts queued requests while slots are free (the loop's wake event). */
void sr_pipeline_run_queue(struct sr_loop *l);

/* Fails every queued request of a loop (shutdown). */
void sr_pipeline_flush_queue(struct sr_loop *l, int status, const char *message);

#endif
