/* oracle_probe: the oracle policy's question to every worker (test-only;
 * see oracle_probe.h). */
#include "oracle_probe.h"

#include "fetch.h"
#include "loop.h"

#include "common/alloc.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>

/* One question to one worker. */
struct question {
    struct sr_oracle_probe *probe;
    uint32_t worker_id;
    struct sr_fetch *fetch; /* NULL once answered */
};

struct sr_oracle_probe {
    uint32_t *cached; /* tokens by worker id */
    size_t ncached;
    struct question *questions;
    size_t nquestions, pending;
    void (*done)(void *arg);
    void *arg;
    struct event *finish; /* runs done from the loop, never from inside start */
};

static void on_finish(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_oracle_probe *p = arg;
    p->done(p->arg);
}

static void answered(struct sr_oracle_probe *p)
{
    if (--p->pending == 0)
        event_active(p->finish, EV_TIMEOUT, 1);
}

static void on_answer(void *ctx, int status, const char *body, size_t len, const char *why)
{
    (void)why;
    struct question *q = ctx;
    struct sr_oracle_probe *p = q->probe;
    q->fetch = NULL;
    if (status == 200) {
        json_t *o = json_loadb(body, len, 0, NULL);
        json_t *n = json_object_get(o, "cached_tokens");
        if (json_is_integer(n) && q->worker_id < p->ncached)
            p->cached[q->worker_id] = (uint32_t)json_integer_value(n);
        json_decref(o);
    }
    answered(p);
}

static void ask(struct sr_oracle_probe *p, struct sr_loop *l, struct sr_worker *w,
                const char *route, const char *body, size_t body_len)
{
    struct sockaddr_storage addr;
    socklen_t alen;
    if (!sr_worker_routable(w) || !sr_addr_book_get(l->router->addrs, w, &addr, &alen))
        return;
    char host[300], path[1024];
    sr_url_authority(&w->parsed, host, sizeof(host));
    snprintf(path, sizeof(path), "%s/sim/cached_prefix?route=%s", w->parsed.base_path, route);
    struct sr_fetch_request fr = {
        .addr = (struct sockaddr *)&addr,
        .addr_len = alen,
        .host = host,
        .method = "POST",
        .path = path,
        .body = body,
        .body_len = body_len,
        .timeout_ms = 1000,
        .max_body = 4096,
    };
    struct question *q = &p->questions[p->nquestions];
    *q = (struct question){.probe = p, .worker_id = w->id};
    q->fetch = sr_fetch(l->base, &fr, on_answer, q);
    if (q->fetch != NULL) {
        p->nquestions++;
        p->pending++;
    }
}

struct sr_oracle_probe *sr_oracle_probe_start(struct sr_loop *l, const struct sr_worker_set *set,
                                              enum sr_text_source route, const char *body,
                                              size_t body_len, void (*done)(void *arg), void *arg)
{
    static const char *const routes[] = {
        [SR_TEXT_GENERATE] = "generate",
        [SR_TEXT_COMPLETIONS] = "completions",
        [SR_TEXT_CHAT] = "chat",
    };
    struct sr_oracle_probe *p = sr_calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    uint32_t max_id = 0;
    for (size_t i = 0; i < set->count; i++)
        max_id = set->workers[i]->id > max_id ? set->workers[i]->id : max_id;
    p->ncached = (size_t)max_id + 1;
    p->cached = sr_malloc(p->ncached * sizeof(*p->cached));
    p->questions = sr_calloc(set->count ? set->count : 1, sizeof(*p->questions));
    p->finish = event_new(l->base, -1, 0, on_finish, p);
    p->done = done;
    p->arg = arg;
    if (p->cached == NULL || p->questions == NULL || p->finish == NULL) {
        sr_oracle_probe_free(p);
        return NULL;
    }
    for (size_t i = 0; i < p->ncached; i++)
        p->cached[i] = UINT32_MAX;
    p->pending = 1; /* held until every question is sent */
    for (size_t i = 0; i < set->count; i++)
        ask(p, l, set->workers[i], routes[route], body, body_len);
    answered(p);
    return p;
}

void sr_oracle_probe_free(struct sr_oracle_probe *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nquestions; i++)
        if (p->questions[i].fetch)
            sr_fetch_cancel(p->questions[i].fetch);
    if (p->finish)
        event_free(p->finish);
    sr_free(p->questions);
    sr_free(p->cached);
    sr_free(p);
}

const uint32_t *sr_oracle_probe_cached(const struct sr_oracle_probe *p, size_t *n)
{
    *n = p ? p->ncached : 0;
    return p ? p->cached : NULL;
}
