/* serve: the router's loop hooks (see serve.h). */
#include "serve.h"

#include "budget.h"
#include "conn.h"
#include "pipeline.h"
#include "proxy.h"
#include "upstream.h"

static const char shutting_down[] = "the router is shutting down";

static int serve_init(struct sr_loop *l)
{
    l->pool = sr_pool_new(l);
    return l->pool ? 0 : -1;
}

static void close_all(struct sr_loop *l)
{
    while (l->conns)
        sr_client_close_now(l->conns);
}

static void serve_fini(struct sr_loop *l)
{
    close_all(l);
    sr_pool_free(l->pool);
    l->pool = NULL;
}

static void serve_drain(struct sr_loop *l)
{
    sr_pipeline_flush_queue(l, 503, shutting_down);
    for (struct sr_client *c = l->conns; c; c = sr_client_next(c))
        sr_client_drain(c);
}

static void serve_wake(struct sr_loop *l)
{
    sr_pipeline_run_queue(l);
}

/* Every second, over the response buffer budget: close stalled clients. */
static void serve_tick(struct sr_loop *l)
{
    if (l->ticks % 20 == 0 && sr_budget_exceeded(l->router))
        sr_client_reap_stalled(l);
}

static bool serve_finished(struct sr_loop *l)
{
    return l->conns == NULL && sr_proxy_idle(l);
}

static void serve_stopped(struct sr_loop *l)
{
    close_all(l);
    sr_proxy_close_detached(l);
    sr_pipeline_flush_queue(l, 503, shutting_down);
}

const struct sr_loop_hooks sr_serve_hooks = {
    .init = serve_init,
    .fini = serve_fini,
    .accept = sr_client_accept,
    .drain = serve_drain,
    .wake = serve_wake,
    .tick = serve_tick,
    .finished = serve_finished,
    .stopped = serve_stopped,
};
