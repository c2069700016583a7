/* router: shared state helpers (see router.h). */
#include "router.h"

#include "loop.h"

void sr_router_drain(struct sr_router *r)
{
    atomic_store(&r->draining, true);
    for (size_t i = 0; i < r->nloops; i++)
        sr_loop_wake(r->loops[i]);
}

long sr_router_open_connections(struct sr_router *r)
{
    long n = 0;
    for (size_t i = 0; i < r->nloops; i++)
        n += atomic_load_explicit(&r->loops[i]->nconns, memory_order_relaxed);
    return n;
}
