/* load_poll: the workers' own load reports (see load_poll.h). */
#include "load_poll.h"

#include "load_report.h"
#include "worker_tasks.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>

#define GET_LOAD_MAX_BODY (64 * 1024)
#define METRICS_MAX_BODY  (1024 * 1024)

/* Which form a worker answers (load_report.h). */
enum form {
    FORM_UNKNOWN,  /* try /get_load, then /metrics */
    FORM_GET_LOAD, /* SGLang's array */
    FORM_METRICS,  /* Prometheus gauges */
    FORM_NONE,     /* neither: asked again every SR_LOAD_POLL_NONE_FACTOR intervals */
};

struct poll {
    struct sr_worker_task task; /* first: worker_tasks.h */
    enum form form;             /* what answered last */
    enum form logged;           /* the form last logged (one line per change) */
    bool asking_metrics;        /* the request in flight is /metrics */
    bool probing;               /* this poll tries the forms in order */
    char get_load_said[48];     /* while probing: why /get_load was no use */
};

struct sr_load_poll {
    long interval_ms;
    struct sr_worker_tasks *tasks;
};

static long interval_ms(const struct poll *p)
{
    return ((const struct sr_load_poll *)sr_worker_tasks_owner(p->task.tasks))->interval_ms;
}

static const char *form_name(enum form f)
{
    switch (f) {
    case FORM_GET_LOAD:
        return "/get_load";
    case FORM_METRICS:
        return "/metrics";
    default:
        return "nothing";
    }
}

/* The form in force from now on; a change is logged once. */
static void settle(struct poll *p, enum form f, const char *detail)
{
    p->form = f;
    if (f == p->logged)
        return;
    p->logged = f;
    if (f == FORM_NONE)
        sr_log_info("worker %s reports no load of its own (%s)", p->task.worker->url, detail);
    else if (f != FORM_UNKNOWN)
        sr_log_info("worker %s reports its load through %s (%s)", p->task.worker->url, form_name(f),
                    detail);
}

static bool start(struct poll *p, bool metrics);

/* This poll learnt nothing usable: the report is forgotten; a form that
 * answered before is tried afresh next time. */
static void failed(struct poll *p, const char *why)
{
    sr_worker_forget_report(p->task.worker);
    if (p->form == FORM_GET_LOAD || p->form == FORM_METRICS) {
        sr_log_debug("load poll of %s failed: %s", p->task.worker->url, why);
        p->form = FORM_UNKNOWN;
    }
    sr_worker_task_after(&p->task, interval_ms(p));
}

static void report(struct poll *p, const struct sr_load_report *rep, enum form f)
{
    sr_worker_report_load(p->task.worker, rep->running, rep->waiting, rep->tokens,
                          sr_breaker_now_ms());
    settle(p, f, rep->engine);
    sr_worker_task_after(&p->task, interval_ms(p));
}

static void describe(char *out, size_t cap, int status, const char *why)
{
    if (status == 0)
        snprintf(out, cap, "%s", why ? why : "no answer");
    else if (status < 200 || status >= 300)
        snprintf(out, cap, "%d", status);
    else
        snprintf(out, cap, "unusable body");
}

static void on_get_load(struct poll *p, int status, const char *body, size_t len, const char *why)
{
    struct sr_load_report rep;
    int rc = status == 200 ? sr_load_report_from_get_load(body, len, &rep) : SR_ERR_INVALID;
    if (rc == SR_LOAD_REQUESTS) {
        report(p, &rep, FORM_GET_LOAD);
        return;
    }
    if (status == 0 || rc == SR_ERR_NOMEM || !p->probing) {
        failed(p, status == 0 ? why : rc == SR_ERR_NOMEM ? "out of memory" : "/get_load failed");
        return;
    }
    /* Not SGLang's counts (another engine, an old SGLang, a key): the
     * gauges, in this same poll. */
    if (rc == SR_LOAD_TOKENS_ONLY)
        snprintf(p->get_load_said, sizeof(p->get_load_said), "tokens only");
    else
        describe(p->get_load_said, sizeof(p->get_load_said), status, why);
    if (!start(p, true))
        failed(p, "out of memory");
}

static void on_metrics(struct poll *p, int status, const char *body, size_t len, const char *why)
{
    struct sr_load_report rep;
    int rc = status == 200 ? sr_load_report_from_metrics(body, len, &rep) : SR_ERR_INVALID;
    if (rc == 0) {
        report(p, &rep, FORM_METRICS);
        return;
    }
    if (!p->probing || status == 0) {
        failed(p, status == 0 ? why : "/metrics failed");
        return;
    }
    char said[48], detail[160];
    if (status == 200)
        snprintf(said, sizeof(said), "%s",
                 rc == SR_ERR_NOT_FOUND ? "no known gauges" : "malformed");
    else
        describe(said, sizeof(said), status, why);
    snprintf(detail, sizeof(detail), "/get_load: %s, /metrics: %s", p->get_load_said, said);
    sr_worker_forget_report(p->task.worker);
    settle(p, FORM_NONE, detail);
    sr_worker_task_after(&p->task, interval_ms(p) * SR_LOAD_POLL_NONE_FACTOR);
}

static void on_result(void *ctx, int status, const char *body, size_t len, const char *why)
{
    struct poll *p = ctx;
    p->task.running = NULL;
    if (status < 0) { /* the router is out of descriptors: nothing learnt */
        sr_log_debug("load poll of %s not sent: %s", p->task.worker->url, why);
        sr_worker_task_after(&p->task, interval_ms(p));
        return;
    }
    if (p->asking_metrics)
        on_metrics(p, status, body, len, why);
    else
        on_get_load(p, status, body, len, why);
}

/* Sends GET /metrics or /get_load (without an address yet, arms the
 * timer instead); false when out of memory. */
static bool start(struct poll *p, bool metrics)
{
    p->asking_metrics = metrics;
    int rc = sr_worker_task_get(
        &p->task, metrics ? "/metrics" : "/get_load",
        sr_worker_tasks_router(p->task.tasks)->cfg->health_check_timeout_secs * 1000,
        metrics ? METRICS_MAX_BODY : GET_LOAD_MAX_BODY, on_result);
    if (rc == SR_ERR_NOT_FOUND)
        sr_worker_task_after(&p->task, interval_ms(p));
    return rc != SR_ERR_NOMEM;
}

static void poll_worker(struct sr_worker_task *t)
{
    struct poll *p = (struct poll *)t;
    struct sr_worker *w = t->worker;
    /* Only a healthy worker is asked: others get no traffic, and a
     * healthy one has an address. */
    if (w->parsed.tls || !sr_worker_routable(w)) {
        sr_worker_forget_report(w);
        sr_worker_task_after(t, interval_ms(p));
        return;
    }
    p->probing = p->form != FORM_GET_LOAD && p->form != FORM_METRICS;
    if (!start(p, p->form == FORM_METRICS))
        failed(p, "out of memory");
}

static const struct sr_worker_tasks_def polls = {
    .task_size = sizeof(struct poll),
    .run = poll_worker,
};

struct sr_load_poll *sr_load_poll_new(struct sr_router *r, struct event_base *base, bool *failed)
{
    *failed = false;
    if (r->cfg->worker_load_interval_ms <= 0)
        return NULL;
    struct sr_load_poll *lp = sr_calloc(1, sizeof(*lp));
    if (lp == NULL)
        goto fail;
    lp->interval_ms = r->cfg->worker_load_interval_ms;
    lp->tasks = sr_worker_tasks_new(r, base, &polls, lp);
    if (lp->tasks == NULL)
        goto fail_lp;
    return lp;
fail_lp:
    sr_free(lp);
fail:
    *failed = true;
    return NULL;
}

void sr_load_poll_free(struct sr_load_poll *lp)
{
    if (lp == NULL)
        return;
    sr_worker_tasks_free(lp->tasks);
    sr_free(lp);
}
