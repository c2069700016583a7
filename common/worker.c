/* worker: worker records, health hysteresis, load counters (see worker.h). */
#include "worker.h"

#include "alloc.h"

void sr_worker_ref(struct sr_worker *w)
{
    atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
}

void sr_worker_release(struct sr_worker *w)
{
    if (w == NULL || atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (w->release_id != NULL)
        w->release_id(w->owner, w->id);
    sr_breaker_clear(&w->breaker);
    sr_url_clear(&w->parsed);
    sr_free(w);
}

void sr_worker_load_add(struct sr_worker *w)
{
    atomic_fetch_add_explicit(&w->in_flight, 1, memory_order_relaxed);
}

void sr_worker_load_done(struct sr_worker *w, enum sr_breaker_outcome outcome)
{
    atomic_fetch_sub_explicit(&w->in_flight, 1, memory_order_relaxed);
    if (outcome != SR_BREAKER_NO_VERDICT)
        atomic_fetch_add_explicit(outcome == SR_BREAKER_SUCCESS ? &w->processed : &w->failures, 1,
                                  memory_order_relaxed);
}

void sr_worker_prefill_add(struct sr_worker *w, size_t bytes)
{
    atomic_fetch_add_explicit(&w->pending_prefill, (long)bytes, memory_order_relaxed);
}

void sr_worker_prefill_done(struct sr_worker *w, size_t bytes)
{
    atomic_fetch_sub_explicit(&w->pending_prefill, (long)bytes, memory_order_relaxed);
}

void sr_worker_decode_add(struct sr_worker *w, long tokens)
{
    atomic_fetch_add_explicit(&w->decode_left, tokens, memory_order_relaxed);
}

void sr_worker_decode_done(struct sr_worker *w, long tokens)
{
    atomic_fetch_sub_explicit(&w->decode_left, tokens, memory_order_relaxed);
}

void sr_worker_report_load(struct sr_worker *w, long running, long waiting, long tokens,
                           uint64_t now_ms)
{
    long ext = running + waiting - sr_worker_fleet_load(w);
    atomic_store_explicit(&w->reported_running, running, memory_order_relaxed);
    atomic_store_explicit(&w->reported_waiting, waiting, memory_order_relaxed);
    atomic_store_explicit(&w->reported_tokens, tokens, memory_order_relaxed);
    atomic_store_explicit(&w->external_load, ext > 0 ? ext : 0, memory_order_relaxed);
    atomic_store_explicit(&w->reported_at_ms, now_ms ? now_ms : 1, memory_order_relaxed);
}

void sr_worker_forget_report(struct sr_worker *w)
{
    atomic_store_explicit(&w->reported_at_ms, 0, memory_order_relaxed);
    atomic_store_explicit(&w->external_load, 0, memory_order_relaxed);
    atomic_store_explicit(&w->reported_running, -1, memory_order_relaxed);
    atomic_store_explicit(&w->reported_waiting, -1, memory_order_relaxed);
    atomic_store_explicit(&w->reported_tokens, -1, memory_order_relaxed);
}

bool sr_worker_report_check(struct sr_worker *w, bool ok, int rise, int fall)
{
    /* Reports come from the health checker and, for failures seen by
     * requests, from every loop thread: the streak moves atomically. */
    int old = atomic_load(&w->streak), streak;
    do {
        streak = ok ? (old > 0 ? old + 1 : 1) : (old < 0 ? old - 1 : -1);
    } while (!atomic_compare_exchange_weak(&w->streak, &old, streak));

    enum sr_worker_health before = sr_worker_health(w), after = before;
    if (ok && (before == SR_HEALTH_PENDING || streak >= rise))
        after = SR_HEALTH_HEALTHY;
    else if (!ok && -streak >= fall)
        after = SR_HEALTH_UNHEALTHY;
    if (after != before)
        atomic_store(&w->health, (int)after);
    return after != before;
}

void sr_worker_set_health(struct sr_worker *w, enum sr_worker_health h)
{
    atomic_store(&w->health, (int)h);
    atomic_store(&w->streak, 0);
}

const char *sr_worker_health_name(enum sr_worker_health h)
{
    switch (h) {
    case SR_HEALTH_PENDING:
        return "pending";
    case SR_HEALTH_HEALTHY:
        return "healthy";
    case SR_HEALTH_UNHEALTHY:
        return "unhealthy";
    }
    return "unknown";
}
