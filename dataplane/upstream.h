/*
 * upstream: connections from one loop to the workers, kept alive in a pool
 * per worker, for the proxied requests. Each connection is one
 * net/h1_client (request writing, response parsing: length, chunked or
 * until close, the transparent resend on a stale kept-alive connection);
 * this module adds the pools (at most 512 idle per worker, 30 s idle
 * timeout, none kept for a removed worker or while draining), the
 * worker's address from the address book, and the worker's reference.
 *
 * After on_done the connection goes back to the pool if the response
 * allows; after on_error it is closed. Either way the handler hears
 * nothing more.
 *
 * The handler's callbacks may call sr_upstream_cancel() and
 * sr_upstream_pause(); the upstream is never freed inside them.
 *
 * Ownership: the request bytes (head, body) are borrowed and must live
 * until on_done, on_error or cancel. One loop, one thread.
 */
#ifndef SR_UPSTREAM_H
#define SR_UPSTREAM_H

#include "net/h1_client.h"

#include "common/worker.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_loop;
struct sr_upstream;
struct sr_pool;

struct sr_pool *sr_pool_new(struct sr_loop *l);
/* Closes every idle connection. */
void sr_pool_free(struct sr_pool *p);

/* Sends req to w on a pooled or new connection; h hears the response as
 * net/h1_client's handler does. NULL when out of memory (nothing will be
 * called). */
struct sr_upstream *sr_upstream_start(struct sr_loop *l, struct sr_worker *w,
                                      const struct sr_h1_client_request *req,
                                      const struct sr_h1_client_handler *h, void *ctx);

/* The caller lost interest (client gone, timeout, retry): the connection
 * is closed (a worker stops generating when its client goes away). */
void sr_upstream_cancel(struct sr_upstream *u);

/* Backpressure: stop / resume reading the response. */
void sr_upstream_pause(struct sr_upstream *u, bool paused);

#endif
