/* loop: one event-loop thread (see loop.h). */
#include "loop.h"

#include "accept_guard.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"

#include <event2/listener.h>
#include <event2/thread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

/* Sockets waiting for one loop: past this, loop 0 keeps them. */
#define HANDOFF_MAX (1024 * 1024)

const int sr_status_slots[SR_STATUS_SLOTS] = {
    200, 400, 401, 403, 404, 405, 408, 413, 422, 429, 431, 499, 500, 502, 503, 504, 201, 0,
};

int sr_status_slot(int status)
{
    for (int i = 0; i < SR_STATUS_SLOTS - 1; i++)
        if (sr_status_slots[i] == status)
            return i;
    return SR_STATUS_SLOTS - 1;
}

void sr_loop_count(struct sr_loop *l, const struct sr_route *route, int status)
{
    if (route)
        sr_counter_add(&l->metrics.requests[sr_route_index(route)][sr_status_slot(status)], 1);
}

struct sr_worker_set *sr_loop_workers(struct sr_loop *l)
{
    uint64_t v = sr_registry_version(l->router->registry);
    if (l->set == NULL || v != l->set_version) {
        struct sr_worker_set *fresh = sr_registry_acquire(l->router->registry);
        if (fresh != NULL) {
            sr_worker_set_release(l->set);
            l->set = fresh;
            l->set_version = v;
        }
    }
    return l->set;
}

static long load_of(struct sr_loop *l)
{
    return atomic_load_explicit(&l->nconns, memory_order_relaxed) +
           atomic_load_explicit(&l->handoff_pending, memory_order_relaxed);
}

/* Client connections open or being handed over, all loops (racy). */
static long connections(const struct sr_router *r)
{
    long n = 0;
    for (size_t i = 0; i < r->nloops; i++)
        n += load_of(r->loops[i]);
    return n;
}

/* Over --max-connections: the new connection is closed at once (Envoy's
 * downstream_cx_overflow), counted, and logged at most once a second. */
static bool over_connection_limit(struct sr_loop *self, evutil_socket_t fd)
{
    struct sr_router *r = self->router;
    if (connections(r) < r->max_connections)
        return false;
    evutil_closesocket(fd);
    atomic_fetch_add_explicit(&r->connections_refused, 1, memory_order_relaxed);
    time_t now = time(NULL);
    if (now != self->refused_logged_at) {
        self->refused_logged_at = now;
        sr_log_warn(
            "--max-connections %ld reached: closing new connections (%lu so far)",
            r->max_connections,
            (unsigned long)atomic_load_explicit(&r->connections_refused, memory_order_relaxed));
    }
    return true;
}

/* Loop 0 accepts; the connection goes to the loop with the fewest. */
static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                      int socklen, void *arg)
{
    (void)listener;
    struct sr_loop *self = arg;
    struct sr_router *r = self->router;
    if (over_connection_limit(self, fd))
        return;
    struct sr_loop *target = self;
    for (size_t i = 0; i < r->nloops; i++)
        if (load_of(r->loops[i]) < load_of(target))
            target = r->loops[i];
    if (target != self) {
        pthread_mutex_lock(&target->handoff_lock);
        bool queued = false;
        void *items = target->handoff;
        if (sr_grow(&items, &target->handoff_cap, target->nhandoff + 1, sizeof(*target->handoff),
                    64, HANDOFF_MAX) == 0) {
            target->handoff = items;
            struct sr_handoff *h = &target->handoff[target->nhandoff++];
            h->fd = fd;
            memset(&h->addr, 0, sizeof(h->addr));
            memcpy(&h->addr, addr,
                   (size_t)socklen < sizeof(h->addr) ? (size_t)socklen : sizeof(h->addr));
            atomic_fetch_add_explicit(&target->handoff_pending, 1, memory_order_relaxed);
            queued = true;
        }
        pthread_mutex_unlock(&target->handoff_lock);
        if (queued) {
            event_active(target->handoff_ev, EV_READ, 1);
            return;
        }
    }
    self->hooks->accept(self, fd, addr); /* ours, or the hand-off ran out of memory */
}

/* Takes the sockets loop 0 handed over. */
static void on_handoff(evutil_socket_t unused, short what, void *arg)
{
    (void)unused;
    (void)what;
    struct sr_loop *l = arg;
    pthread_mutex_lock(&l->handoff_lock);
    struct sr_handoff *batch = l->handoff;
    size_t n = l->nhandoff;
    l->handoff = NULL;
    l->nhandoff = l->handoff_cap = 0;
    pthread_mutex_unlock(&l->handoff_lock);
    for (size_t i = 0; i < n; i++) {
        l->hooks->accept(l, batch[i].fd, (struct sockaddr *)&batch[i].addr);
        atomic_fetch_sub_explicit(&l->handoff_pending, 1, memory_order_relaxed);
    }
    sr_free(batch);
}

static void on_accept_error(struct evconnlistener *listener, void *arg)
{
    struct sr_loop *l = arg;
    sr_accept_guard_on_error(listener, &l->accept_guard);
}

static void start_drain(struct sr_loop *l)
{
    if (l->draining)
        return;
    l->draining = true;
    if (l->listener)
        evconnlistener_disable(l->listener);
    sr_accept_guard_stop(&l->accept_guard);
    l->hooks->drain(l);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_loop *l = arg;
    if (atomic_load(&l->router->draining))
        start_drain(l);
    l->hooks->wake(l);
}

/* Every 50 ms: while draining, stop once nothing is left; the hooks'
 * periodic work. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_loop *l = arg;
    if (l->draining && l->hooks->finished(l))
        event_base_loopexit(l->base, NULL);
    ++l->ticks;
    l->hooks->tick(l);
}

/* --pin-threads: loop i runs on the i-th CPU the process may use; *one
 * gets that CPU. false when there is nothing to pin to. */
static bool pin_cpu(const struct sr_loop *l, cpu_set_t *one)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) == 0)
        return false;
    int want = (int)(l->index % (size_t)CPU_COUNT(&allowed)), seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed) || seen++ != want)
            continue;
        CPU_ZERO(one);
        CPU_SET(cpu, one);
        return true;
    }
    return false;
}

static void *run(void *arg)
{
    struct sr_loop *l = arg;
    struct event *tick = event_new(l->base, -1, EV_PERSIST, on_tick, l);
    struct timeval tv = {0, 50 * 1000};
    if (tick)
        event_add(tick, &tv);
    event_base_dispatch(l->base);
    if (tick)
        event_free(tick);
    /* Past the grace period, or drained: whatever is left is closed. */
    l->hooks->stopped(l);
    return NULL;
}

struct sr_loop *sr_loop_new(struct sr_router *r, size_t index, evutil_socket_t listen_fd,
                            const struct sr_loop_hooks *hooks)
{
    struct sr_loop *l = sr_calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->router = r;
    l->hooks = hooks;
    l->index = index;
    l->listen_fd = listen_fd;
    sr_rng_seed_auto(&l->rng);
    l->output_tokens = 128; /* SGLang's default max_new_tokens, until answers say otherwise */
    struct event_config *ec = event_config_new();
    if (ec) {
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
        l->base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    if (l->base == NULL)
        goto fail;
    pthread_mutex_init(&l->handoff_lock, NULL);
    l->wake = event_new(l->base, -1, 0, on_wake, l);
    l->handoff_ev = event_new(l->base, -1, 0, on_handoff, l);
    l->accept_guard = (struct sr_accept_guard){.name = "client port", .pauses = &r->accept_pauses};
    if (l->wake == NULL || l->handoff_ev == NULL)
        goto fail;
    if (hooks->init(l) != 0) {
        l->hooks = NULL; /* nothing of theirs to undo */
        goto fail;
    }
    if (listen_fd >= 0) {
        /* Backlog 0: libevent leaves the socket's own (main.c listens with
         * 4096; -1 would have libevent listen again with 128). */
        l->listener =
            evconnlistener_new(l->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE, 0, listen_fd);
        if (l->listener == NULL)
            goto fail;
        l->listen_fd = -1; /* owned by the listener now */
        evconnlistener_set_error_cb(l->listener, on_accept_error);
    }
    return l;
fail:
    sr_loop_free(l);
    return NULL;
}

void sr_loop_free(struct sr_loop *l)
{
    if (l == NULL)
        return;
    if (l->hooks)
        l->hooks->fini(l);
    if (l->listener)
        evconnlistener_free(l->listener);
    else if (l->listen_fd >= 0)
        evutil_closesocket(l->listen_fd);
    if (l->wake)
        event_free(l->wake);
    if (l->handoff_ev)
        event_free(l->handoff_ev);
    sr_accept_guard_clear(&l->accept_guard);
    for (size_t i = 0; i < l->nhandoff; i++) /* handed over but never taken */
        evutil_closesocket(l->handoff[i].fd);
    sr_free(l->handoff);
    pthread_mutex_destroy(&l->handoff_lock);
    sr_worker_set_release(l->set);
    if (l->base)
        event_base_free(l->base);
    sr_free(l);
}

int sr_loop_start(struct sr_loop *l)
{
    /* Pinned from its first instruction (the attribute, not the thread
     * itself once it runs): no window where a loop runs anywhere. */
    pthread_attr_t attr;
    cpu_set_t one;
    if (pthread_attr_init(&attr) != 0)
        return -1;
    if (l->router->cfg->pin_threads && pin_cpu(l, &one)) {
        int rc = pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
        if (rc != 0)
            sr_log_warn("loop %zu: cannot pin: %s", l->index, strerror(rc));
    }
    int rc = pthread_create(&l->thread, &attr, run, l);
    pthread_attr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

void sr_loop_join(struct sr_loop *l)
{
    pthread_join(l->thread, NULL);
}

void sr_loop_wake(struct sr_loop *l)
{
    event_active(l->wake, EV_TIMEOUT, 1);
}

void sr_loop_drain_all(struct sr_router *r)
{
    atomic_store(&r->draining, true);
    for (size_t i = 0; i < r->nloops; i++)
        sr_loop_wake(r->loops[i]);
}
