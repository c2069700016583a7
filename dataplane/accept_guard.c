/* accept_guard: growing pauses instead of a busy loop when accept() runs out
 * of descriptors (see accept_guard.h). */
#include "accept_guard.h"

#include "common/log.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <string.h>

#define PAUSE_MIN_MS     50
#define PAUSE_MAX_MS     1000
#define PAUSE_PLAIN_MS   250
#define EPISODE_GAP_SECS 5

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct evconnlistener *listener = arg;
    evconnlistener_enable(listener);
}

static void on_resume_guarded(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_accept_guard *g = arg;
    if (!g->stopped)
        evconnlistener_enable(g->listener);
}

static int next_pause(struct sr_accept_guard *g, int err)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (g->pauses)
        atomic_fetch_add_explicit(g->pauses, 1, memory_order_relaxed);
    if (g->pause_ms == 0 || ts.tv_sec - g->last_error_at > EPISODE_GAP_SECS) {
        sr_log_warn("accept on the %s: %s: pausing accepts (retrying every %d-%d ms until "
                    "descriptors are free)",
                    g->name, strerror(err), PAUSE_MIN_MS, PAUSE_MAX_MS);
        g->pause_ms = PAUSE_MIN_MS;
    } else if (g->pause_ms < PAUSE_MAX_MS) {
        g->pause_ms = g->pause_ms * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : g->pause_ms * 2;
    }
    g->last_error_at = ts.tv_sec;
    return g->pause_ms;
}

void sr_accept_guard_on_error(struct evconnlistener *listener, struct sr_accept_guard *g)
{
    int e = EVUTIL_SOCKET_ERROR();
    if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
        sr_log_debug("accept: %s", strerror(e));
        return;
    }
    evconnlistener_disable(listener);
    if (g && g->stopped)
        return;
    struct event_base *base = evconnlistener_get_base(listener);
    if (g && g->timer == NULL) {
        g->listener = listener;
        g->timer = evtimer_new(base, on_resume_guarded, g);
    }
    if (g && g->timer) {
        int ms = next_pause(g, e);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(g->timer, &tv);
        return;
    }
    sr_log_debug("accept: %s: pausing accepts for %d ms", strerror(e), PAUSE_PLAIN_MS);
    struct timeval tv = {0, PAUSE_PLAIN_MS * 1000};
    /* event_base_once frees its event after the callback. */
    if (event_base_once(base, -1, EV_TIMEOUT, on_resume, listener, &tv) != 0)
        evconnlistener_enable(listener); /* out of memory: better busy than deaf */
}

void sr_accept_guard_stop(struct sr_accept_guard *g)
{
    g->stopped = true;
    if (g->timer)
        event_del(g->timer);
}

void sr_accept_guard_clear(struct sr_accept_guard *g)
{
    if (g->timer)
        event_free(g->timer);
    g->timer = NULL;
}
