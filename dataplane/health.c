/* health: active health checks (see health.h). */
#include "health.h"

#include "worker_tasks.h"

#include "common/alloc.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct probe {
    struct sr_worker_task task; /* first: worker_tasks.h */
    time_t due;                 /* CLOCK_MONOTONIC second of the next probe */
};

struct sr_health {
    struct sr_router *router;
    struct sr_worker_tasks *tasks;
};

static time_t now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static const struct sr_config *config(const struct probe *p)
{
    return sr_worker_tasks_router(p->task.tasks)->cfg;
}

static void schedule(struct probe *p)
{
    long secs = config(p)->health_check_interval_secs;
    if (sr_worker_health(p->task.worker) != SR_HEALTH_HEALTHY && secs > 1)
        secs = 1;
    p->due = now_secs() + secs;
    sr_worker_task_after(&p->task, secs * 1000);
}

/* A worker that traffic marked unhealthy (proxy.c: connection failures)
 * is probed within a second, as every unhealthy worker is, not at the end
 * of the healthy interval its last probe scheduled (seen in the soak: a
 * restarted worker came back 8-9 s late). */
static void hasten_unhealthy(void *owner)
{
    struct sr_health *h = owner;
    time_t soon = now_secs() + 1;
    for (struct sr_worker_task *t = sr_worker_tasks_list(h->tasks); t; t = t->next) {
        struct probe *p = (struct probe *)t;
        if (t->running == NULL && p->due > soon &&
            sr_worker_health(t->worker) != SR_HEALTH_HEALTHY) {
            p->due = soon;
            sr_worker_task_after(t, 1000);
        }
    }
}

static void report(struct probe *p, bool ok, const char *why)
{
    const struct sr_config *cfg = config(p);
    struct sr_worker *w = p->task.worker;
    enum sr_worker_health before = sr_worker_health(w);
    if (sr_worker_report_check(w, ok, (int)cfg->health_success_threshold,
                               (int)cfg->health_failure_threshold)) {
        enum sr_worker_health now = sr_worker_health(w);
        if (now == SR_HEALTH_HEALTHY)
            sr_log_info("worker %s is healthy", w->url);
        else
            sr_log_warn("worker %s is %s (was %s): %s", w->url, sr_worker_health_name(now),
                        sr_worker_health_name(before), why ? why : "check failed");
    }
}

static void on_result(void *ctx, int status, const char *body, size_t len, const char *why)
{
    (void)body;
    (void)len;
    struct probe *p = ctx;
    p->task.running = NULL;
    if (status < 0) { /* the router is out of descriptors: nothing learnt */
        sr_log_debug("health check of %s not sent: %s", p->task.worker->url, why);
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

static void probe(struct sr_worker_task *t)
{
    struct probe *p = (struct probe *)t;
    struct sr_router *r = sr_worker_tasks_router(t->tasks);
    const struct sr_config *cfg = r->cfg;
    const char *why = NULL;
    if (t->worker->parsed.tls) {
        report(p, false, "https workers are not supported yet");
        schedule(p);
        return;
    }
    if (sr_addr_book_resolve(r->addrs, t->worker, &why) != 0) {
        report(p, false, why);
        schedule(p);
        return;
    }
    if (sr_worker_task_get(t, cfg->health_check_endpoint, cfg->health_check_timeout_secs * 1000,
                           64 * 1024, on_result) != 0)
        schedule(p);
}

static const struct sr_worker_tasks_def probes = {
    .task_size = sizeof(struct probe),
    .run = probe,
    .tick = hasten_unhealthy,
};

struct sr_health *sr_health_new(struct sr_router *r, struct event_base *base)
{
    struct sr_health *h = sr_calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->router = r;
    h->tasks = sr_worker_tasks_new(r, base, &probes, h);
    if (h->tasks == NULL) {
        sr_free(h);
        return NULL;
    }
    return h;
}

void sr_health_free(struct sr_health *h)
{
    if (h == NULL)
        return;
    sr_worker_tasks_free(h->tasks);
    sr_free(h);
}
