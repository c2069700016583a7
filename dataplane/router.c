/* router: shared state helpers (see router.h). */
#include "router.h"

#include "loop.h"

void sr_router_params(struct sr_router *r, struct sr_policy_params *cache,
                      unsigned long *cache_version)
{
    unsigned long v = atomic_load_explicit(&r->params_version, memory_order_acquire);
    if (v == *cache_version)
        return;
    pthread_mutex_lock(&r->params_lock);
    *cache = r->params;
    *cache_version = atomic_load_explicit(&r->params_version, memory_order_relaxed);
    pthread_mutex_unlock(&r->params_lock);
}

void sr_router_set_params(struct sr_router *r, const struct sr_policy_params *p)
{
    pthread_mutex_lock(&r->params_lock);
    r->params = *p;
    atomic_fetch_add_explicit(&r->params_version, 1, memory_order_release);
    pthread_mutex_unlock(&r->params_lock);
}

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
