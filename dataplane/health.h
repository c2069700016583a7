/*
 * health: the active health checker, on the main thread's event loop. Every
 * worker in the registry is probed with GET --health-check-endpoint every
 * --health-check-interval-secs (every second while it is not healthy, so a
 * new or recovering worker gets traffic soon), within
 * --health-check-timeout-secs; results feed the worker's rise/fall state
 * (common/worker.h). Each probe first resolves the worker's host into the
 * address book (blocking is fine here, never on a loop thread).
 * Workers added or removed at runtime are picked up within 100 ms.
 */
#ifndef SR_HEALTH_H
#define SR_HEALTH_H

#include "router.h"

#include <event2/event.h>

struct sr_health;

struct sr_health *sr_health_new(struct sr_router *r, struct event_base *base);
void sr_health_free(struct sr_health *h);

#endif
