/* health: active health checks (see health.h). */
#include "health.h"

#include "fetch.h"

#include "common/alloc.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct probe {
    struct sr_health *h;
    struct sr_worker *worker; /* referenced */
    struct event *timer;
    struct sr_fetch *running; /* the probe in flight */
    time_t due;               /* CLOCK_MONOTONIC second of the next probe */
    struct probe *next;
};

struct sr_health {
    struct sr_router *router;
    struct event_base *base;
    struct event *sync;
    uint64_t version;
    struct probe *probes;
};

static time_t now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void schedule(struct probe *p)
{
    const struct sr_config *cfg = p->h->router->cfg;
    long secs = cfg->health_check_interval_secs;
    if (sr_worker_health(p->worker) != SR_HEALTH_HEALTHY && secs > 1)
        secs = 1;
    struct timeval tv = {secs, 0};
    p->due = now_secs() + secs;
    evtimer_add(p->timer, &tv);
}

/* A worker that traffic marked unhealthy (proxy.c: connection failures)
 * is probed within a second, as every unhealthy worker is, not at the end
 * of the healthy interval its last probe scheduled (seen in the soak: a
 * restarted worker came back 8-9 s late). */
static void hasten_unhealthy(struct sr_health *h)
{
    time_t soon = now_secs() + 1;
    for (struct probe *p = h->probes; p; p = p->next)
        if (p->running == NULL && p->due > soon &&
            sr_worker_health(p->worker) != SR_HEALTH_HEALTHY) {
            struct timeval tv = {1, 0};
            p->due = soon;
            evtimer_add(p->timer, &tv);
        }
}

static void probe_free(struct probe *p)
{
    if (p->running)
        sr_fetch_cancel(p->running);
    if (p->timer)
        event_free(p->timer);
    sr_worker_release(p->worker);
    sr_free(p);
}

static void report(struct probe *p, bool ok, const char *why)
{
    const struct sr_config *cfg = p->h->router->cfg;
    enum sr_worker_health before = sr_worker_health(p->worker);
    if (sr_worker_report_check(p->worker, ok, (int)cfg->health_success_threshold,
                               (int)cfg->health_failure_threshold)) {
        enum sr_worker_health now = sr_worker_health(p->worker);
        if (now == SR_HEALTH_HEALTHY)
            sr_log_info("worker %s is healthy", p->worker->url);
        else
            sr_log_warn("worker %s is %s (was %s): %s", p->worker->url, sr_worker_health_name(now),
                        sr_worker_health_name(before), why ? why : "check failed");
    }
}

static void on_result(void *ctx, int status, const char *body, size_t len, const char *why)
{
    (void)body;
    (void)len;
    struct probe *p = ctx;
    p->running = NULL;
    if (status < 0) { /* the router is out of descriptors: nothing learnt */
        sr_log_debug("health check of %s not sent: %s", p->worker->url, why);
        schedule(p);
        return;
    }
    char reason[96];
    if (status != 0 && (status < 200 || status >= 300)) {
        snprintf(reason, sizeof(reason), "health check answered %d", status);
        why = reason;
    }
    report(p, status >= 200 && status < 300, why);
    schedule(p);
}

static void on_probe(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct probe *p = arg;
    const struct sr_config *cfg = p->h->router->cfg;
    struct sr_worker *w = p->worker;
    const char *why = NULL;
    if (w->parsed.tls) {
        report(p, false, "https workers are not supported yet");
        schedule(p);
        return;
    }
    if (sr_addr_book_resolve(p->h->router->addrs, w, &why) != 0) {
        report(p, false, why);
        schedule(p);
        return;
    }
    struct sockaddr_storage addr;
    socklen_t alen;
    sr_addr_book_get(p->h->router->addrs, w, &addr, &alen);
    char host[300], path[1024];
    sr_url_authority(&w->parsed, host, sizeof(host));
    snprintf(path, sizeof(path), "%s%s", w->parsed.base_path, cfg->health_check_endpoint);
    struct sr_fetch_request req = {
        .addr = (struct sockaddr *)&addr,
        .addr_len = alen,
        .host = host,
        .method = "GET",
        .path = path,
        .timeout_ms = cfg->health_check_timeout_secs * 1000,
        .max_body = 64 * 1024,
    };
    p->running = sr_fetch(p->h->base, &req, on_result, p);
    if (p->running == NULL)
        schedule(p);
}

/* Follows the registry: probes for new workers (checked at once), none for
 * removed ones. */
static void on_sync(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_health *h = arg;
    hasten_unhealthy(h);
    uint64_t v = sr_registry_version(h->router->registry);
    if (v == h->version && h->version != 0)
        return;
    struct sr_worker_set *set = sr_registry_acquire(h->router->registry);
    if (set == NULL)
        return;
    h->version = v;
    struct probe **pp = &h->probes;
    while (*pp) { /* drop probes of workers no longer listed */
        struct probe *p = *pp;
        bool listed = false;
        for (size_t i = 0; i < set->count && !listed; i++)
            listed = set->workers[i] == p->worker;
        if (listed) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        probe_free(p);
    }
    for (size_t i = 0; i < set->count; i++) {
        struct sr_worker *w = set->workers[i];
        bool known = false;
        for (struct probe *p = h->probes; p && !known; p = p->next)
            known = p->worker == w;
        if (known)
            continue;
        struct probe *p = sr_calloc(1, sizeof(*p));
        if (p == NULL)
            continue; /* retried at the next change */
        p->h = h;
        sr_worker_ref(w);
        p->worker = w;
        p->timer = evtimer_new(h->base, on_probe, p);
        if (p->timer == NULL) {
            probe_free(p);
            continue;
        }
        p->next = h->probes;
        h->probes = p;
        event_active(p->timer, EV_TIMEOUT, 1);
    }
    sr_worker_set_release(set);
}

struct sr_health *sr_health_new(struct sr_router *r, struct event_base *base)
{
    struct sr_health *h = sr_calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->router = r;
    h->base = base;
    h->sync = event_new(base, -1, EV_PERSIST, on_sync, h);
    if (h->sync == NULL) {
        sr_free(h);
        return NULL;
    }
    struct timeval tv = {0, 100 * 1000};
    event_add(h->sync, &tv);
    event_active(h->sync, EV_TIMEOUT, 1);
    return h;
}

void sr_health_free(struct sr_health *h)
{
    if (h == NULL)
        return;
    while (h->probes) {
        struct probe *p = h->probes;
        h->probes = p->next;
        probe_free(p);
    }
    event_free(h->sync);
    sr_free(h);
}
