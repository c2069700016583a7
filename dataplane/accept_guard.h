/*
 * accept_guard: keeps a listener from spinning when accept() cannot get a
 * descriptor.
 *
 * Out of descriptors (EMFILE, ENFILE) or kernel memory, accept() fails but
 * the connection stays in the backlog, so the listener is readable again at
 * once: libevent calls its error callback in a busy loop (one core at 100%,
 * a log line per call). Call sr_accept_guard_on_error() from the listener's
 * error callback: it disables the listener for a pause and re-enables it
 * from a timer, as nginx pauses its accept events. Other accept errors
 * (ECONNABORTED, ...) belong to one client and are ignored.
 *
 * With a struct sr_accept_guard (embedded by the owner, zeroed except
 * name and pauses; sr_accept_guard_clear() when done), pauses
 * grow from 50 ms doubling to 1 s while the shortage lasts, are counted,
 * and are logged once per episode (an episode ends after 5 s without the
 * error). Without one (a listener whose callback argument is not ours,
 * such as evhttp's), every pause is 250 ms and is logged at debug level.
 *
 * Threads: call from the listener's event-loop thread only.
 */
#ifndef SR_ACCEPT_GUARD_H
#define SR_ACCEPT_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

struct evconnlistener;
struct event;

struct sr_accept_guard {
    const char *name;                /* for the log: "client port" */
    atomic_ulong *pauses;            /* incremented per pause; may be NULL */
    int pause_ms;                    /* the last pause; 0 before the first */
    time_t last_error_at;            /* CLOCK_MONOTONIC seconds */
    bool stopped;                    /* draining: pauses never re-enable the listener */
    struct evconnlistener *listener; /* set at the first pause */
    struct event *timer;             /* ends a pause; made at the first one */
};

/* From the listener's error callback; g may be NULL (see above). */
void sr_accept_guard_on_error(struct evconnlistener *listener, struct sr_accept_guard *g);

/* Draining: the listener stays off, a pending pause does not re-enable it. */
void sr_accept_guard_stop(struct sr_accept_guard *g);

/* Frees the guard's timer (before the listener's event base goes). */
void sr_accept_guard_clear(struct sr_accept_guard *g);

#endif
