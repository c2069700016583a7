/*
 * local_routes: what the router answers itself: liveness and readiness,
 * worker management (the reference router's /add_worker, /remove_worker,
 * /list_workers, backed by the same registry functions as the gRPC admin
 * API), and the fan-outs to every worker (/get_loads, /flush_cache).
 * The route table (routes.h) names the handler; this module maps the name
 * to its code.
 */
#ifndef SR_LOCAL_ROUTES_H
#define SR_LOCAL_ROUTES_H

#include "request.h"
#include "routes.h"

/* Answers req with the local handler which (now, or later for the
 * fan-outs, attached to c). */
void sr_local_route_handle(enum sr_local_route which, struct sr_reply *c,
                           const struct sr_request *req);

#endif
