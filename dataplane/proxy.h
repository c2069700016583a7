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
 *
 * The exchange's end is reported once, through the caller's end callback
 * (the pipeline frees the request's slot and counts it), whatever ends it.
 */
#ifndef SR_PROXY_H
#define SR_PROXY_H

#include "request.h"
#include "routes.h"

struct sr_loop;

/* An exchange on l for route ended with status (0: it ended before
 * anything was counted, out of memory at its start). Called once, after
 * the client's answer was handed over. */
typedef void (*sr_proxy_end_cb)(struct sr_loop *l, const struct sr_route *route, int status);

/* Takes over answering req on c (req's views are borrowed until the end);
 * end is called when it is over. */
void sr_proxy_start(struct sr_reply *c, const struct sr_request *req, const struct sr_route *route,
                    sr_proxy_end_cb end);

/* No exchange of l is left draining a prefill answer after its client's
 * answer ended (disaggregated serving): the loop may stop. */
bool sr_proxy_idle(const struct sr_loop *l);
/* Ends those that are (shutdown past the grace period). */
void sr_proxy_close_detached(struct sr_loop *l);

#endif
