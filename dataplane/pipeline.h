/*
 * pipeline: the one path every request takes, whatever its codec:
 * route → access (admin routes) → limits (--max-concurrent-requests) →
 * local handler, or proxy (routing text → policy → forward → relay →
 * account, in proxy.c). Errors are answered in one place, as OpenAI-style
 * JSON: {"error": {"message", "type", "code"}}.
 */
#ifndef SR_PIPELINE_H
#define SR_PIPELINE_H

#include "conn.h"
#include "routes.h"

void sr_pipeline_handle(struct sr_conn *c, const struct sr_request *req);

/* The error response for status (message is the human part). */
void sr_pipeline_error(struct sr_conn *c, int status, const char *message);

/* A proxied request ended (its concurrency slot frees; queued requests
 * may start). Called by proxy.c. */
void sr_pipeline_release_slot(struct sr_loop *l);

/* Counts a finished request in the loop's metrics. */
void sr_pipeline_count(struct sr_loop *l, const struct sr_route *route, int status);

/* Starts queued requests while slots are free (the loop's wake event). */
void sr_pipeline_run_queue(struct sr_loop *l);

/* Fails every queued request of a loop (shutdown). */
void sr_pipeline_flush_queue(struct sr_loop *l, int status, const char *message);

#endif
