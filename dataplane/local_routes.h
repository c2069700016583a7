/*
 * local_routes: what the router answers itself: liveness and readiness,
 * worker management (the reference router's /add_worker, /remove_worker,
 * /list_workers, backed by the same registry functions as the gRPC admin
 * API), and the fan-outs to every worker (/get_loads, /flush_cache).
 */
#ifndef SR_LOCAL_ROUTES_H
#define SR_LOCAL_ROUTES_H

#include "conn.h"

void sr_local_health(struct sr_conn *c, const struct sr_request *req);
void sr_local_readiness(struct sr_conn *c, const struct sr_request *req);
void sr_local_list_workers(struct sr_conn *c, const struct sr_request *req);
void sr_local_add_worker(struct sr_conn *c, const struct sr_request *req);
void sr_local_remove_worker(struct sr_conn *c, const struct sr_request *req);
void sr_local_get_loads(struct sr_conn *c, const struct sr_request *req);
void sr_local_flush_cache(struct sr_conn *c, const struct sr_request *req);

#endif
