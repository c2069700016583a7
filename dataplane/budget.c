/* budget: response bytes buffered for clients, counted per loop (see
 * budget.h). */
#include "budget.h"

#include "loop.h"

#include <event2/buffer.h>

static void on_change(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct sr_loop *l = arg;
    long delta = (long)info->n_added - (long)info->n_deleted;
    if (delta != 0)
        atomic_fetch_add_explicit(&l->out_bytes, delta, memory_order_relaxed);
}

int sr_budget_track(struct evbuffer *buf, struct sr_loop *l)
{
    return evbuffer_add_cb(buf, on_change, l) ? 0 : -1;
}

void sr_budget_untrack(struct evbuffer *buf)
{
    /* Callbacks do not run when a buffer is freed: empty it first. */
    evbuffer_drain(buf, evbuffer_get_length(buf));
}

long sr_budget_used(const struct sr_router *r)
{
    long n = 0;
    for (size_t i = 0; i < r->nloops; i++)
        n += atomic_load_explicit(&r->loops[i]->out_bytes, memory_order_relaxed);
    return n;
}

bool sr_budget_exceeded(const struct sr_router *r)
{
    return sr_budget_used(r) > r->cfg->response_buffer_budget_bytes;
}

size_t sr_budget_response_mark(const struct sr_router *r)
{
    return sr_budget_exceeded(r) ? SR_BUDGET_MARK_LOW : SR_BUDGET_MARK_HIGH;
}
