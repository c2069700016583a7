/*
 * metrics_http: the Prometheus endpoint (GET /metrics on
 * --prometheus-host:--prometheus-port), on the main thread. Metric names
 * start with sglang_router_. Scrapes merge the loops' shards.
 */
#ifndef SR_METRICS_HTTP_H
#define SR_METRICS_HTTP_H

#include "router.h"

#include <event2/event.h>
#include <stdio.h>

struct sr_metrics_http;

/* Listens; *bound_port gets the port (for --prometheus-port 0). NULL on
 * failure (logged). */
struct sr_metrics_http *sr_metrics_http_new(struct sr_router *r, struct event_base *base,
                                            int *bound_port);
void sr_metrics_http_free(struct sr_metrics_http *m);

/* The whole exposition text (also used by tests). */
void sr_metrics_render(struct sr_router *r, FILE *out);

#endif
