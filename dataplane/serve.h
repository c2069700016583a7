/*
 * serve: what the router's loops do at their turns (struct sr_loop_hooks,
 * loop.h): an accepted socket becomes a client connection (conn.h); a
 * drain closes idle connections and fails queued requests; a wake-up
 * starts queued requests (pipeline.h); every second over the response
 * buffer budget, stalled clients are closed (budget.h); each loop keeps
 * its worker connection pool (upstream.h). The one place that knows both
 * the loop and the modules built on it; main.c hands these hooks to every
 * loop.
 */
#ifndef SR_SERVE_H
#define SR_SERVE_H

#include "loop.h"

extern const struct sr_loop_hooks sr_serve_hooks;

#endif
