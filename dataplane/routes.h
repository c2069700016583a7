/*
 * routes: the one table of what the router answers, and how:
 *   PROXY  - to one worker chosen by the policy, with the route's routing
 *            text (inference routes), or to any healthy worker (info routes);
 *   LOCAL  - answered by the router itself (health, readiness, worker
 *            management, loads and cache fan-outs).
 * /v1/models is a PROXY route the router answers itself while the fleet
 * serves several models (its `local` is SR_LOCAL_MODELS).
 * Admin routes change where user traffic goes: loopback clients only,
 * unless --admin-api-key is given and presented as a Bearer token. Open
 * routes (health probes) need no API key even when --api-key is set.
 */
#ifndef SR_ROUTES_H
#define SR_ROUTES_H

#include "routing_text.h"

#include <stdbool.h>
#include <stddef.h>

#define SR_ROUTES_MAX 32

enum sr_route_kind {
    SR_KIND_PROXY,
    SR_KIND_LOCAL,
};

/* Which local handler answers a LOCAL route (local_routes.h). */
enum sr_local_route {
    SR_LOCAL_NONE,
    SR_LOCAL_HEALTH,
    SR_LOCAL_READINESS,
    SR_LOCAL_GET_LOADS,
    SR_LOCAL_FLUSH_CACHE,
    SR_LOCAL_LIST_WORKERS,
    SR_LOCAL_ADD_WORKER,
    SR_LOCAL_REMOVE_WORKER,
    SR_LOCAL_ADD_WORKERS, /* POST /workers: SGLang's registration body */
    /* On a PROXY route: the router answers instead of a worker when the
     * fleet serves several models (each worker knows only its own). */
    SR_LOCAL_MODELS,
};

struct sr_route {
    const char *method;
    const char *path;
    enum sr_route_kind kind;
    enum sr_text_source text;  /* PROXY: where the routing text comes from */
    enum sr_local_route local; /* LOCAL */
    bool admin;
    bool open; /* no API key needed */
};

/* The route for method + path; NULL when none matches (then *path_known
 * tells 405 from 404). */
const struct sr_route *sr_routes_find(const char *method, const char *path, size_t path_len,
                                      bool *path_known);

/* Every route, for metrics; ends with a NULL path. */
const struct sr_route *sr_routes_all(void);
/* A route's position in that table (dense, for metric arrays). */
unsigned sr_route_index(const struct sr_route *r);

#endif
