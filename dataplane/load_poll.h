/*
 * load_poll: asks every healthy worker how loaded it is, on the main
 * thread's event loop beside the health checker (health.h), every
 * --worker-load-interval-ms (0: never; then sr_load_poll_new returns NULL
 * and nothing is polled).
 *
 * Each worker has its own timer and at most one request in flight; the
 * next poll is armed when the last one has ended (answer, error or the
 * --health-check-timeout-secs deadline), so a slow worker is never asked
 * twice at once. The forms (load_report.h) are tried in order: GET
 * /get_load (body up to 64 KiB), and when that answers anything but
 * SGLang's request counts (404, 401, not JSON, the old token-only
 * {"load": N}), GET /metrics (up to 1 MiB). The form that answered is
 * remembered and asked alone from then on; when it fails, the report is
 * forgotten and both forms are tried again at the next poll. A worker that
 * answers neither has no report and is asked again every
 * SR_LOAD_POLL_NONE_FACTOR intervals.
 *
 * A usable answer goes to sr_worker_report_load() (common/worker.h) at
 * sr_breaker_now_ms(); a failed poll, a worker offering neither form, an
 * https worker (not polled, as health checks do not reach them yet) and a
 * worker that is not healthy get sr_worker_forget_report(). Routing counts
 * a report for sr_config_load_max_age_ms() (three intervals). Like health
 * checks, polls carry no credentials.
 *
 * Workers added or removed at runtime are followed within 100 ms. The
 * worker's address comes from the address book the health checker fills
 * (a healthy worker always has one). Not thread-safe: the main thread
 * owns it.
 */
#ifndef SR_LOAD_POLL_H
#define SR_LOAD_POLL_H

#include "router.h"

#include <event2/event.h>

/* A worker offering no form is asked again after this many intervals. */
#define SR_LOAD_POLL_NONE_FACTOR 20

struct sr_load_poll;

/* NULL when --worker-load-interval-ms is 0, or out of memory (*failed
 * then set to true). */
struct sr_load_poll *sr_load_poll_new(struct sr_router *r, struct event_base *base, bool *failed);
/* Cancels the polls in flight. Accepts NULL. */
void sr_load_poll_free(struct sr_load_poll *lp);

#endif
