/* pipeline: route → access → limits → handler or proxy (see pipeline.h). */
#include "pipeline.h"

#include "local_routes.h"
#include "loop.h"
#include "proxy.h"
#include "response.h"
#include "routes.h"

#include "common/alloc.h"
#include "common/log.h"
#include "common/registry.h"
#include "common/secret.h"
#include "common/worker.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A request waiting for a slot (sr_pipeline_slot_limit). */
struct sr_waiter {
    struct sr_loop *loop;
    struct sr_reply *reply;
    struct sr_request req;
    const struct sr_route *route;
    struct event *timer;
    struct sr_waiter *prev, *next;
};

/* ---- access ------------------------------------------------------------- */

/* Any route but the open ones, when the router has API keys: one of them,
 * or the admin key, as a Bearer token. Every key is compared (in constant
 * time), so the time taken does not tell which one came close. */
static bool api_key_ok(struct sr_router *r, const struct sr_request *req)
{
    const struct sr_http_header *h = sr_request_header(req, "authorization");
    if (h == NULL)
        return false;
    bool ok = sr_secret_bearer_ok(r->api_keys, h->value, h->value_len);
    ok |= sr_secret_bearer_ok(r->admin_api_key, h->value, h->value_len);
    return ok;
}

/* Admin routes: loopback clients, or the --admin-api-key bearer. */
static int admin_access(struct sr_router *r, const struct sr_request *req)
{
    const struct sr_http_header *h = sr_request_header(req, "authorization");
    if (h && sr_secret_bearer_ok(r->admin_api_key, h->value, h->value_len))
        return 0;
    if (req->client_loopback)
        return 0;
    return r->admin_api_key ? 401 : 403;
}

/* ---- concurrency limit ----------------------------------------------------- */

long sr_pipeline_slot_limit(const struct sr_limits *limits, const struct sr_worker_set *set)
{
    long max = limits->max_concurrent_requests, per = limits->max_concurrent_per_worker;
    if (per > 0) {
        long healthy = 0;
        for (size_t i = 0; i < set->count; i++)
            healthy += sr_worker_routable(set->workers[i]);
        if (healthy > 0 && (max == 0 || per * healthy < max))
            max = per * healthy;
    }
    return max;
}

long sr_pipeline_limit_in_force(struct sr_router *r)
{
    struct sr_limits limits = sr_settings_limits(r->settings);
    struct sr_worker_set *set = sr_registry_acquire(r->registry);
    if (set == NULL)
        return limits.max_concurrent_requests;
    long max = sr_pipeline_slot_limit(&limits, set);
    sr_worker_set_release(set);
    return max;
}

/* The loop's settings brought up to date (the limits may change at runtime). */
static const struct sr_limits *limits_now(struct sr_loop *l)
{
    return &sr_settings_refresh(l->router->settings, &l->settings)->limits;
}

/* A slot for one proxied request, if the limit (sr_pipeline_slot_limit)
 * has one free. Every proxied request holds one, limit or not, so that a
 * limit set at runtime counts the requests already in flight. */
static bool take_slot(struct sr_loop *l)
{
    struct sr_router *r = l->router;
    long max = sr_pipeline_slot_limit(limits_now(l), sr_loop_workers(l));
    if (max == 0) {
        atomic_fetch_add_explicit(&r->slots_used, 1, memory_order_relaxed);
        return true;
    }
    long used = atomic_load_explicit(&r->slots_used, memory_order_relaxed);
    while (used < max) {
        if (atomic_compare_exchange_weak(&r->slots_used, &used, used + 1))
            return true;
    }
    return false;
}

static void waiter_unlink(struct sr_waiter *w)
{
    struct sr_loop *l = w->loop;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->waiters_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->waiters_tail = w->prev;
    atomic_fetch_sub_explicit(&l->router->queued, 1, memory_order_relaxed);
}

static void waiter_free(struct sr_waiter *w)
{
    if (w->timer)
        event_free(w->timer);
    sr_free(w);
}

static void waiter_gone(void *arg)
{
    struct sr_waiter *w = arg; /* the client left while queued */
    waiter_unlink(w);
    waiter_free(w);
}

static void waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_waiter *w = arg;
    waiter_unlink(w);
    sr_reply_detach(w->reply);
    sr_loop_count(w->loop, w->route, 408);
    sr_response_error(w->reply, 408, "timed out waiting for a free slot (--queue-timeout-secs)");
    waiter_free(w);
}

static void enqueue(struct sr_reply *c, const struct sr_request *req, const struct sr_route *route)
{
    struct sr_loop *l = sr_reply_loop(c);
    struct sr_router *r = l->router;
    const struct sr_limits *limits = limits_now(l);
    long queued = atomic_fetch_add_explicit(&r->queued, 1, memory_order_relaxed);
    struct sr_waiter *w = queued < limits->queue_size ? sr_calloc(1, sizeof(*w)) : NULL;
    if (w == NULL) {
        atomic_fetch_sub_explicit(&r->queued, 1, memory_order_relaxed);
        sr_loop_count(l, route, 429);
        sr_response_error(c, 429, "too many requests: every slot and the queue are full");
        return;
    }
    *w = (struct sr_waiter){.loop = l, .reply = c, .req = *req, .route = route};
    w->timer = evtimer_new(l->base, waiter_timeout, w);
    if (w->timer == NULL) {
        atomic_fetch_sub_explicit(&r->queued, 1, memory_order_relaxed);
        sr_free(w);
        sr_response_error(c, 500, "out of memory");
        return;
    }
    struct timeval tv = {limits->queue_timeout_secs, 0};
    evtimer_add(w->timer, &tv);
    w->prev = l->waiters_tail;
    if (l->waiters_tail)
        l->waiters_tail->next = w;
    else
        l->waiters_head = w;
    l->waiters_tail = w;
    sr_reply_attach(c, w, waiter_gone);
}

/* A proxied request ended (proxy.h's end callback): counted, and its
 * concurrency slot frees (queued requests may start). */
static void exchange_ended(struct sr_loop *l, const struct sr_route *route, int status)
{
    if (status != 0)
        sr_loop_count(l, route, status);
    struct sr_router *r = l->router;
    atomic_fetch_sub_explicit(&r->slots_used, 1, memory_order_relaxed);
    if (atomic_load_explicit(&r->queued, memory_order_relaxed) == 0)
        return;
    if (l->waiters_head) {
        event_active(l->wake, EV_TIMEOUT, 1); /* not from inside this exchange */
        return;
    }
    for (size_t i = 0; i < r->nloops; i++)
        if (r->loops[i] != l)
            sr_loop_wake(r->loops[i]);
}

void sr_pipeline_run_queue(struct sr_loop *l)
{
    while (l->waiters_head && take_slot(l)) {
        struct sr_waiter *w = l->waiters_head;
        waiter_unlink(w);
        sr_reply_detach(w->reply);
        struct sr_reply *c = w->reply;
        struct sr_request req = w->req;
        const struct sr_route *route = w->route;
        waiter_free(w);
        sr_proxy_start(c, &req, route, exchange_ended);
    }
}

void sr_pipeline_flush_queue(struct sr_loop *l, int status, const char *message)
{
    while (l->waiters_head) {
        struct sr_waiter *w = l->waiters_head;
        waiter_unlink(w);
        sr_reply_detach(w->reply);
        sr_response_error(w->reply, status, message);
        waiter_free(w);
    }
}

/* ---- the pipeline ------------------------------------------------------------ */

/* A request refused before any handler ran: counted, logged with
 * --log-requests like proxied ones (an attacker's 401s belong in the log),
 * and answered. */
static void refuse(struct sr_reply *c, const struct sr_request *req, const struct sr_route *route,
                   int status, const char *message)
{
    struct sr_loop *l = sr_reply_loop(c);
    sr_loop_count(l, route, status);
    if (sr_settings_refresh(l->router->settings, &l->settings)->log_requests)
        sr_log_info("%s %.*s %d refused: %s", req->method, (int)req->path_len, req->path, status,
                    message);
    sr_response_error(c, status, message);
}

void sr_pipeline_handle(struct sr_reply *c, const struct sr_request *req)
{
    struct sr_loop *l = sr_reply_loop(c);
    bool known = false;
    const struct sr_route *route = sr_routes_find(req->method, req->path, req->path_len, &known);
    if (route == NULL) {
        refuse(c, req, NULL, known ? 405 : 404,
               known ? "method not allowed for this path" : "no such route");
        return;
    }
    if (l->router->api_keys && !route->open && !api_key_ok(l->router, req)) {
        refuse(c, req, route, 401,
               sr_request_header(req, "authorization")
                   ? "invalid API key (Authorization: Bearer KEY)"
                   : "an API key is required (Authorization: Bearer KEY)");
        return;
    }
    if (route->admin) {
        int denied = admin_access(l->router, req);
        if (denied) {
            refuse(c, req, route, denied,
                   denied == 401 ? "a valid admin API key is required (Authorization: "
                                   "Bearer KEY)"
                                 : "worker management is allowed from loopback only "
                                   "(start the router with --admin-api-key-file to "
                                   "allow it remotely)");
            return;
        }
    }
    if (route->kind == SR_KIND_LOCAL ||
        (route->local == SR_LOCAL_MODELS && sr_loop_workers(l)->nmodels > 1)) {
        sr_local_route_handle(route->local, c, req);
        return;
    }
    if (!take_slot(l)) {
        enqueue(c, req, route);
        return;
    }
    sr_proxy_start(c, req, route, exchange_ended);
}
