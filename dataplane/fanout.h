/*
 * fanout: one small request to every worker of a snapshot, one callback
 * with every answer (GET /get_load and POST /flush_cache for the admin
 * routes and the admin API). Runs on whatever event base it is given, so
 * the loop threads and the admin thread share it.
 */
#ifndef SR_FANOUT_H
#define SR_FANOUT_H

#include "router.h"

#include <event2/event.h>

struct sr_fanout_result {
    struct sr_worker *worker; /* borrowed from the snapshot */
    int status;               /* HTTP status; 0 when the request failed */
    const char *body;         /* the whole body (NUL-terminated), or NULL */
    size_t len;
    const char *why; /* when status is 0: what failed */
};

/* Called once with one result per worker, in snapshot order; the results
 * are valid until it returns. */
typedef void (*sr_fanout_cb)(void *arg, const struct sr_fanout_result *results, size_t n);

struct sr_fanout;

/* Sends method path-suffix (e.g. "POST", "/flush_cache") to every worker of
 * set (referenced until the end). NULL when out of memory (then cb is not
 * called); otherwise cb runs exactly once, from base's loop, never from
 * inside this call. */
struct sr_fanout *sr_fanout_start(struct sr_router *r, struct event_base *base,
                                  struct sr_worker_set *set, const char *method, const char *suffix,
                                  sr_fanout_cb cb, void *arg);
/* Abandons it: no callback. */
void sr_fanout_cancel(struct sr_fanout *f);

#endif
