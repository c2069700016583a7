/* load_poll: the workers' own load reports (see load_poll.h). */
#include "load_poll.h"

#include "fetch.h"
#include "load_report.h"

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
    struct sr_load_poll *lp;
    struct sr_worker *worker; /* referenced */
    struct event *timer;
    struct sr_fetch *running; /* the request in flight, or NULL */
    enum form form;           /* what answered last */
    enum form logged;         /* the form last logged (one line per change) */
    bool asking_metrics;      /* the request in flight is /metrics */
    bool probing;             /* this poll tries the forms in order */
    char get_load_said[48];   /* while probing: why /get_load was no use */
    struct poll *next;
};

struct sr_load_poll {
    struct sr_router *router;
    struct event_base *base;
    struct event *sync;
    uint64_t version;
    long interval_ms;
    struct poll *polls;
};

static void schedule(struct poll *p, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static void poll_free(struct poll *p)
{
    if (p->running)
        sr_fetch_cancel(p->running);
    if (p->timer)
        event_free(p->timer);
    sr_worker_release(p->worker);
    sr_free(p);
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
        sr_log_info("worker %s reports no load of its own (%s)", p->worker->url, detail);
    else if (f != FORM_UNKNOWN)
        sr_log_info("worker %s reports its load through %s (%s)", p->worker->url, form_name(f),
                    detail);
}

static bool start(struct poll *p, bool metrics);

/* This poll learnt nothing usable: the report is forgotten; a form that
 * answered before is tried afresh next time. */
static void failed(struct poll *p, const char *why)
{
    sr_worker_forget_report(p->worker);
    if (p->form == FORM_GET_LOAD || p->form == FORM_METRICS) {
        sr_log_debug("load poll of %s failed: %s", p->worker->url, why);
        p->form = FORM_UNKNOWN;
    }
    schedule(p, p->lp->interval_ms);
}

static void report(struct poll *p, const struct sr_load_report *rep, enum form f)
{
    sr_worker_report_load(p->worker, rep->running, rep->waiting, rep->tokens, sr_breaker_now_ms());
    settle(p, f, rep->engine);
    schedule(p, p->lp->interval_ms);
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
    sr_worker_forget_report(p->worker);
    settle(p, FORM_NONE, detail);
    schedule(p, p->lp->interval_ms * SR_LOAD_POLL_NONE_FACTOR);
}

static void on_result(void *ctx, int status, const char *body, size_t len, const char *why)
{
    struct poll *p = ctx;
    p->running = NULL;
    if (status < 0) { /* the router is out of descriptors: nothing learnt */
        sr_log_debug("load poll of %s not sent: %s", p->worker->url, why);
        schedule(p, p->lp->interval_ms);
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
    const struct sr_config *cfg = p->lp->router->cfg;
    struct sr_worker *w = p->worker;
    struct sockaddr_storage addr;
    socklen_t alen;
    if (!sr_addr_book_get(p->lp->router->addrs, w, &addr, &alen)) {
        schedule(p, p->lp->interval_ms);
        return true;
    }
    char host[300], path[1024];
    sr_url_authority(&w->parsed, host, sizeof(host));
    snprintf(path, sizeof(path), "%s%s", w->parsed.base_path, metrics ? "/metrics" : "/get_load");
    struct sr_fetch_request req = {
        .addr = (struct sockaddr *)&addr,
        .addr_len = alen,
        .host = host,
        .method = "GET",
        .path = path,
        .timeout_ms = cfg->health_check_timeout_secs * 1000,
        .max_body = metrics ? METRICS_MAX_BODY : GET_LOAD_MAX_BODY,
    };
    p->asking_metrics = metrics;
    p->running = sr_fetch(p->lp->base, &req, on_result, p);
    return p->running != NULL;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct poll *p = arg;
    struct sr_worker *w = p->worker;
    /* Only a healthy worker is asked: others get no traffic, and a
     * healthy one has an address. */
    if (w->parsed.tls || !sr_worker_routable(w)) {
        sr_worker_forget_report(w);
        schedule(p, p->lp->interval_ms);
        return;
    }
    p->probing = p->form != FORM_GET_LOAD && p->form != FORM_METRICS;
    if (!start(p, p->form == FORM_METRICS))
        failed(p, "out of memory");
}

static struct poll *poll_new(struct sr_load_poll *lp, struct sr_worker *w)
{
    struct poll *p = sr_calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->lp = lp;
    sr_worker_ref(w);
    p->worker = w;
    p->timer = evtimer_new(lp->base, on_timer, p);
    if (p->timer == NULL) {
        poll_free(p);
        return NULL;
    }
    return p;
}

/* Follows the registry: a poll for each new worker (asked at once), none
 * for removed ones. */
static void on_sync(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_load_poll *lp = arg;
    uint64_t v = sr_registry_version(lp->router->registry);
    if (v == lp->version && lp->version != 0)
        return;
    struct sr_worker_set *set = sr_registry_acquire(lp->router->registry);
    if (set == NULL)
        return;
    lp->version = v;
    struct poll **pp = &lp->polls;
    while (*pp) {
        struct poll *p = *pp;
        bool listed = false;
        for (size_t i = 0; i < set->count && !listed; i++)
            listed = set->workers[i] == p->worker;
        if (listed) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        poll_free(p);
    }
    for (size_t i = 0; i < set->count; i++) {
        bool known = false;
        for (struct poll *p = lp->polls; p && !known; p = p->next)
            known = p->worker == set->workers[i];
        if (known)
            continue;
        struct poll *p = poll_new(lp, set->workers[i]);
        if (p == NULL) {
            lp->version = 0; /* retried at the next tick */
            continue;
        }
        p->next = lp->polls;
        lp->polls = p;
        event_active(p->timer, EV_TIMEOUT, 1);
    }
    sr_worker_set_release(set);
}

struct sr_load_poll *sr_load_poll_new(struct sr_router *r, struct event_base *base, bool *failed)
{
    *failed = false;
    if (r->cfg->worker_load_interval_ms <= 0)
        return NULL;
    struct sr_load_poll *lp = sr_calloc(1, sizeof(*lp));
    if (lp == NULL)
        goto fail;
    lp->router = r;
    lp->base = base;
    lp->interval_ms = r->cfg->worker_load_interval_ms;
    lp->sync = event_new(base, -1, EV_PERSIST, on_sync, lp);
    if (lp->sync == NULL)
        goto fail_lp;
    struct timeval tv = {0, 100 * 1000};
    event_add(lp->sync, &tv);
    event_active(lp->sync, EV_TIMEOUT, 1);
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
    while (lp->polls) {
        struct poll *p = lp->polls;
        lp->polls = p->next;
        poll_free(p);
    }
    event_free(lp->sync);
    sr_free(lp);
}
