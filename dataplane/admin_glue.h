/*
 * admin_glue: what the data plane offers whoever administers the router, in
 * data-plane terms: the router's request totals, and a flush of every
 * worker's prefix cache (a fan-out on the caller's loop). The router's main
 * wires these to the admin API's hooks (controlplane/admin_service.h);
 * dataplane/ and controlplane/ never include each other's headers.
 *
 * Ownership: the router outlives every call and every flush; a flush's
 * handle is the caller's until done runs or it is cancelled.
 */
#ifndef SR_ADMIN_GLUE_H
#define SR_ADMIN_GLUE_H

#include "router.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct sr_router_totals {
    long in_flight;         /* proxied requests not finished */
    long queued;            /* waiting for a concurrency slot */
    long concurrency_limit; /* sr_pipeline_slot_limit now; 0 = none */
    unsigned long retries;  /* attempts after the first, since start */
    bool draining;          /* shutting down */
};

/* Reads the counters (atomics: any thread). */
void sr_admin_glue_totals(struct sr_router *r, struct sr_router_totals *out);

/* The settings changed (any thread): every loop wakes to run its queue
 * under the limits now in force. */
void sr_admin_glue_settings_changed(struct sr_router *r);

/* flushed: URLs that confirmed; failed: "URL: why". Valid during the call. */
typedef void (*sr_admin_glue_flush_done)(void *arg, const char *const *flushed, size_t nflushed,
                                         const char *const *failed, size_t nfailed);

struct sr_admin_glue_flush;

/* POSTs /flush_cache to every worker of set (borrowed for the call) from
 * base's loop; a worker that confirms leaves every policy's tree. done is
 * called once, later, on that loop, and then the handle is gone. NULL when
 * out of memory (done is never called). */
struct sr_admin_glue_flush *sr_admin_glue_flush(struct sr_router *r, struct event_base *base,
                                                struct sr_worker_set *set,
                                                sr_admin_glue_flush_done done, void *arg);
/* Stops a flush before done ran (done is never called); from base's loop. */
void sr_admin_glue_flush_cancel(struct sr_admin_glue_flush *f);

#endif
