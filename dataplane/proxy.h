/*
 * proxy: one proxied request (an "exchange") from routing to the last
 * byte: routing text → policy → dispatch (+1 in-flight) → request to the
 * worker over a pooled connection → response head and body relayed to the
 * client as they arrive (SSE chunk by chunk) → account (-1 in-flight,
 * exactly once, whatever ends it: done, worker error, client gone,
 * timeout).
 *
 * Retries: when the worker cannot be reached, or fails, or answers
 * 502/503/504, before any byte reached the client, the request goes to
 * another worker (the failed ones excluded), up to --retry-max-retries.
 * Never after bytes reached the client.
 *
 * Backpressure: while the client has more than 1 MiB unread, the worker's
 * response is not read.
 */
#ifndef SR_PROXY_H
#define SR_PROXY_H

#include "conn.h"
#include "routes.h"

/* Takes over answering req on c. */
void sr_proxy_start(struct sr_conn *c, const struct sr_request *req, const struct sr_route *route);

#endif
