/*
 * worker_tasks: one periodic task per worker of the registry, on one event
 * base (the main thread's). The health checker (health.h) and the load
 * poll (load_poll.h) are each a set of them.
 *
 * A task is created for every worker the registry lists, its timer fired
 * at once, and freed when the worker leaves the registry (its request in
 * flight cancelled, its worker reference dropped). The registry is
 * followed on a 100 ms tick, which also calls the owner's tick hook. A
 * task's owner embeds struct sr_worker_task first in its own task struct
 * (def->task_size), rearms it with sr_worker_task_after() and sends its
 * request with sr_worker_task_get(): at most one in flight per task, the
 * caller's rule, since the answer rearms the timer.
 *
 * Not thread-safe: the event base's thread owns it.
 */
#ifndef SR_WORKER_TASKS_H
#define SR_WORKER_TASKS_H

#include "fetch.h"
#include "router.h"

#include <event2/event.h>
#include <stdbool.h>

struct sr_worker_tasks;

struct sr_worker_task {
    struct sr_worker_tasks *tasks;
    struct sr_worker *worker; /* referenced */
    struct event *timer;
    struct sr_fetch *running; /* the request in flight, or NULL */
    struct sr_worker_task *next;
};

struct sr_worker_tasks_def {
    size_t task_size;                      /* >= sizeof(struct sr_worker_task) */
    void (*run)(struct sr_worker_task *t); /* the task's timer fired */
    void (*tick)(void *owner);             /* every 100 ms, before the registry; optional */
};

/* NULL when out of memory. def and owner are borrowed for its life. */
struct sr_worker_tasks *sr_worker_tasks_new(struct sr_router *r, struct event_base *base,
                                            const struct sr_worker_tasks_def *def, void *owner);
/* Cancels every request in flight. Accepts NULL. */
void sr_worker_tasks_free(struct sr_worker_tasks *ts);

void *sr_worker_tasks_owner(const struct sr_worker_tasks *ts);
struct sr_router *sr_worker_tasks_router(const struct sr_worker_tasks *ts);
/* The tasks, linked by next. */
struct sr_worker_task *sr_worker_tasks_list(struct sr_worker_tasks *ts);

/* Runs the task again in ms milliseconds. */
void sr_worker_task_after(struct sr_worker_task *t, long ms);

/* GET (the worker's base path)(path) on its own connection, the answer to
 * cb with the task as ctx (fetch.h; t->running is set until then, and the
 * callback must clear it). 0 when sent; SR_ERR_NOT_FOUND when the worker
 * has no address yet (health checks resolve it); SR_ERR_NOMEM. */
int sr_worker_task_get(struct sr_worker_task *t, const char *path, long timeout_ms, size_t max_body,
                       sr_fetch_cb cb);

#endif
