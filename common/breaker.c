/* breaker: a worker's circuit breaker state machine (see breaker.h). */
#include "breaker.h"

#include "err.h"

#include <time.h>

int sr_breaker_init(struct sr_breaker *b)
{
    if (pthread_mutex_init(&b->lock, NULL) != 0)
        return SR_ERR_NOMEM;
    atomic_init(&b->state, SR_BREAKER_CLOSED);
    atomic_init(&b->open_until_ms, 0);
    atomic_init(&b->trial_slots, 0);
    atomic_init(&b->opened_total, 0);
    atomic_init(&b->failures, 0);
    b->run_start_ms = 0;
    b->successes = 0;
    b->period = 0;
    return 0;
}

void sr_breaker_clear(struct sr_breaker *b)
{
    pthread_mutex_destroy(&b->lock);
}

static enum sr_breaker_state stored(const struct sr_breaker *b)
{
    return (enum sr_breaker_state)atomic_load_explicit(&b->state, memory_order_acquire);
}

enum sr_breaker_state sr_breaker_state(const struct sr_breaker *b, uint64_t now_ms)
{
    enum sr_breaker_state s = stored(b);
    if (s == SR_BREAKER_OPEN &&
        now_ms >= atomic_load_explicit(&b->open_until_ms, memory_order_relaxed))
        return SR_BREAKER_HALF_OPEN;
    return s;
}

const char *sr_breaker_state_name(enum sr_breaker_state s)
{
    switch (s) {
    case SR_BREAKER_CLOSED:
        return "closed";
    case SR_BREAKER_OPEN:
        return "open";
    case SR_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}

bool sr_breaker_allows(const struct sr_breaker *b, uint64_t now_ms)
{
    switch (stored(b)) {
    case SR_BREAKER_CLOSED:
        return true;
    case SR_BREAKER_OPEN: /* becomes HALF_OPEN with every slot free */
        return now_ms >= atomic_load_explicit(&b->open_until_ms, memory_order_relaxed);
    case SR_BREAKER_HALF_OPEN:
        return atomic_load_explicit(&b->trial_slots, memory_order_relaxed) > 0;
    }
    return false;
}

/* ---- transitions (lock held) ------------------------------------------- */

static void to_open(struct sr_breaker *b, const struct sr_breaker_config *cfg, uint64_t now_ms)
{
    atomic_store_explicit(&b->failures, 0, memory_order_relaxed);
    b->successes = 0;
    atomic_store_explicit(&b->trial_slots, 0, memory_order_relaxed);
    atomic_store_explicit(&b->open_until_ms, now_ms + cfg->timeout_ms, memory_order_relaxed);
    atomic_fetch_add_explicit(&b->opened_total, 1, memory_order_relaxed);
    atomic_store_explicit(&b->state, SR_BREAKER_OPEN, memory_order_release);
}

static void to_half_open(struct sr_breaker *b, const struct sr_breaker_config *cfg)
{
    b->successes = 0;
    if (++b->period == 0) /* 0 is "not a trial" */
        b->period = 1;
    atomic_store_explicit(&b->trial_slots, cfg->success_threshold, memory_order_relaxed);
    atomic_store_explicit(&b->state, SR_BREAKER_HALF_OPEN, memory_order_release);
}

static void to_closed(struct sr_breaker *b)
{
    atomic_store_explicit(&b->failures, 0, memory_order_relaxed);
    b->successes = 0;
    atomic_store_explicit(&b->trial_slots, 0, memory_order_relaxed);
    atomic_store_explicit(&b->state, SR_BREAKER_CLOSED, memory_order_release);
}

bool sr_breaker_admit(struct sr_breaker *b, const struct sr_breaker_config *cfg, uint64_t now_ms,
                      uint32_t *ticket)
{
    *ticket = 0;
    if (!cfg->enabled || stored(b) == SR_BREAKER_CLOSED)
        return true; /* the common case takes no lock */
    bool ok = false;
    pthread_mutex_lock(&b->lock);
    enum sr_breaker_state s = stored(b);
    if (s == SR_BREAKER_OPEN &&
        now_ms >= atomic_load_explicit(&b->open_until_ms, memory_order_relaxed)) {
        to_half_open(b, cfg);
        s = SR_BREAKER_HALF_OPEN;
    }
    if (s == SR_BREAKER_CLOSED) { /* closed since the unlocked look */
        ok = true;
    } else if (s == SR_BREAKER_HALF_OPEN) {
        unsigned slots = atomic_load_explicit(&b->trial_slots, memory_order_relaxed);
        if (slots > 0) {
            atomic_store_explicit(&b->trial_slots, slots - 1, memory_order_relaxed);
            *ticket = b->period;
            ok = true;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return ok;
}

static bool record_closed(struct sr_breaker *b, const struct sr_breaker_config *cfg,
                          enum sr_breaker_outcome outcome, uint64_t now_ms)
{
    unsigned failures = atomic_load_explicit(&b->failures, memory_order_relaxed);
    if (outcome == SR_BREAKER_SUCCESS) {
        atomic_store_explicit(&b->failures, 0, memory_order_relaxed);
        return false;
    }
    if (failures == 0 || now_ms - b->run_start_ms > cfg->window_ms) {
        failures = 0; /* a new run */
        b->run_start_ms = now_ms;
    }
    atomic_store_explicit(&b->failures, ++failures, memory_order_relaxed);
    if (failures < cfg->failure_threshold)
        return false;
    to_open(b, cfg, now_ms);
    return true;
}

static bool record_trial(struct sr_breaker *b, const struct sr_breaker_config *cfg,
                         enum sr_breaker_outcome outcome, uint64_t now_ms)
{
    switch (outcome) {
    case SR_BREAKER_NO_VERDICT:
        atomic_fetch_add_explicit(&b->trial_slots, 1, memory_order_relaxed);
        return false;
    case SR_BREAKER_FAILURE:
        to_open(b, cfg, now_ms);
        return true;
    case SR_BREAKER_SUCCESS:
        if (++b->successes < cfg->success_threshold)
            return false;
        to_closed(b);
        return true;
    }
    return false;
}

bool sr_breaker_record(struct sr_breaker *b, const struct sr_breaker_config *cfg, uint32_t ticket,
                       enum sr_breaker_outcome outcome, uint64_t now_ms)
{
    if (!cfg->enabled)
        return false;
    /* A non-trial attempt without a verdict, or a success while closed
     * with no run of failures, changes nothing: the common case takes no
     * lock. */
    if (ticket == 0 && (outcome == SR_BREAKER_NO_VERDICT ||
                        (outcome == SR_BREAKER_SUCCESS && stored(b) == SR_BREAKER_CLOSED &&
                         atomic_load_explicit(&b->failures, memory_order_relaxed) == 0)))
        return false;
    bool changed = false;
    pthread_mutex_lock(&b->lock);
    switch (stored(b)) {
    case SR_BREAKER_CLOSED:
        if (outcome != SR_BREAKER_NO_VERDICT)
            changed = record_closed(b, cfg, outcome, now_ms);
        break;
    case SR_BREAKER_HALF_OPEN:
        if (ticket != 0 && ticket == b->period)
            changed = record_trial(b, cfg, outcome, now_ms);
        break; /* not a trial of this period: no evidence */
    case SR_BREAKER_OPEN:
        break;
    }
    pthread_mutex_unlock(&b->lock);
    return changed;
}

uint64_t sr_breaker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
