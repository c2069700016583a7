/* engine: continuous batching and timing model (see engine.h). */
#include "engine.h"

#include "tokens.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <string.h>
#include <time.h>

struct seq_list {
    struct sr_sim_seq *head, *tail;
    uint32_t count;
};

enum step_kind { STEP_NONE, STEP_PREFILL, STEP_DECODE };

struct sr_sim_engine {
    struct event_base *base;
    struct sr_sim_kv *kv;
    struct sr_sim_engine_params p;
    struct event *timer;
    struct timespec start;
    enum step_kind step;           /* the step in flight (timer pending) */
    double step_started, step_end; /* model seconds; steps run back to back */
    struct seq_list waiting, running;
    struct sr_sim_seq **affected; /* max_running entries */
    struct sr_sim_engine_stats stats;
};

static void list_push(struct seq_list *l, struct sr_sim_seq *s)
{
    s->next = NULL;
    s->prev = l->tail;
    if (l->tail)
        l->tail->next = s;
    else
        l->head = s;
    l->tail = s;
    l->count++;
}

static void list_remove(struct seq_list *l, struct sr_sim_seq *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        l->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        l->tail = s->prev;
    s->prev = s->next = NULL;
    l->count--;
}

double sr_sim_engine_now(const struct sr_sim_engine *e)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double wall = (double)(now.tv_sec - e->start.tv_sec) + (now.tv_nsec - e->start.tv_nsec) * 1e-9;
    return wall * e->p.time_scale;
}

/* Prompt plus generated text, for the cache after a sequence ends. */
static void cache_finished(struct sr_sim_engine *e, struct sr_sim_seq *s)
{
    if (!s->cache_output) {
        sr_sim_kv_insert(e->kv, s->key, s->key_len);
        return;
    }
    size_t out = (size_t)s->generated * SR_SIM_BYTES_PER_TOKEN;
    char *buf = sr_malloc(s->key_len + out);
    if (buf == NULL) {
        sr_sim_kv_insert(e->kv, s->key, s->key_len);
        return;
    }
    memcpy(buf, s->key, s->key_len);
    for (uint32_t i = 0; i < s->generated; i++)
        memcpy(buf + s->key_len + (size_t)i * SR_SIM_BYTES_PER_TOKEN,
               sr_sim_output_token(s->digest, i), SR_SIM_BYTES_PER_TOKEN);
    if (sr_sim_kv_insert(e->kv, buf, s->key_len + out) != 0)
        sr_log_warn("kv cache: out of memory recording a finished sequence");
    sr_free(buf);
}

uint32_t sr_sim_engine_cached_tokens(const struct sr_sim_engine *e, const struct sr_sim_seq *s)
{
    uint32_t hit = sr_sim_kv_lookup(e->kv, s->key, s->key_len);
    if (s->block_tokens > 1)
        hit -= hit % s->block_tokens;
    uint32_t cap = s->prompt_tokens ? s->prompt_tokens - 1 : 0;
    return hit < cap ? hit : cap;
}

static void admit(struct sr_sim_engine *e, struct sr_sim_seq *s, double now)
{
    s->cached_tokens = sr_sim_engine_cached_tokens(e, s);
    s->state = SR_SIM_SEQ_PREFILL;
    e->stats.prompt_tokens += s->prompt_tokens;
    e->stats.cached_tokens += s->cached_tokens;
    (void)now;
}

static void finish(struct sr_sim_engine *e, struct sr_sim_seq *s, double now)
{
    s->state = SR_SIM_SEQ_DONE;
    s->finished_at = now;
    cache_finished(e, s);
}

/* Zero latency: prefill and decode at once. */
static void complete_now(struct sr_sim_engine *e, struct sr_sim_seq *s)
{
    double now = sr_sim_engine_now(e);
    s->submitted_at = now;
    e->stats.requests++;
    admit(e, s, now);
    sr_sim_kv_insert(e->kv, s->key, s->key_len);
    s->generated = s->max_new_tokens;
    s->first_token_at = now;
    e->stats.generated_tokens += s->generated;
    finish(e, s, now);
}

/* Starts a step at model time start. The timer aims at the step's model
 * end, not at now + duration, so event-loop latency does not accumulate. */
static void arm(struct sr_sim_engine *e, enum step_kind kind, double start, double model_ms)
{
    e->step = kind;
    e->step_started = start;
    e->step_end = start + model_ms / 1000.0;
    double wait = (e->step_end - sr_sim_engine_now(e)) / e->p.time_scale;
    long long us = wait > 0 ? (long long)(wait * 1e6) : 0;
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    evtimer_add(e->timer, &tv);
}

/* Admits waiting sequences into free slots and starts the next step at
 * model time now. */
static void plan(struct sr_sim_engine *e, double now)
{
    while (e->waiting.head && e->running.count < e->p.max_running) {
        struct sr_sim_seq *s = e->waiting.head;
        list_remove(&e->waiting, s);
        list_push(&e->running, s);
        admit(e, s, now);
    }
    double uncached = 0, cached = 0;
    uint32_t prefilling = 0;
    for (struct sr_sim_seq *s = e->running.head; s; s = s->next) {
        if (s->state == SR_SIM_SEQ_PREFILL) {
            uncached += s->prompt_tokens - s->cached_tokens;
            cached += s->cached_tokens;
            prefilling++;
        }
    }
    if (prefilling > 0) {
        arm(e, STEP_PREFILL, now,
            e->p.prefill_overhead_ms + uncached * 1000.0 / e->p.prefill_tokens_per_sec +
                cached * e->p.prefill_cached_token_us / 1000.0);
    } else if (e->running.count > 0) {
        double n = e->running.count, context = 0;
        for (struct sr_sim_seq *s = e->running.head; s; s = s->next)
            context += s->prompt_tokens + s->generated;
        arm(e, STEP_DECODE, now,
            e->p.decode_step_ms * (1.0 + e->p.decode_step_growth * (n - 1)) +
                context * e->p.decode_context_us / 1000.0);
    } else {
        e->step = STEP_NONE;
    }
}

static void on_step(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_sim_engine *e = arg;
    double now = e->step_end; /* the model's time, whatever the loop's latency */
    enum step_kind kind = e->step;
    size_t naffected = 0;
    struct sr_sim_seq *next;
    for (struct sr_sim_seq *s = e->running.head; s; s = next) {
        next = s->next;
        if (kind == STEP_PREFILL && s->state == SR_SIM_SEQ_PREFILL) {
            sr_sim_kv_insert(e->kv, s->key, s->key_len);
            s->first_token_at = now;
            s->generated = 1;
        } else if (kind == STEP_DECODE && s->state == SR_SIM_SEQ_DECODE) {
            s->generated++;
        } else {
            continue;
        }
        e->stats.generated_tokens++;
        s->state = SR_SIM_SEQ_DECODE;
        if (s->generated >= s->max_new_tokens) {
            list_remove(&e->running, s);
            finish(e, s, now);
        }
        e->affected[naffected++] = s;
    }
    if (kind == STEP_DECODE && now > e->step_started)
        e->stats.last_gen_throughput = naffected / (now - e->step_started);
    plan(e, now);
    for (size_t i = 0; i < naffected; i++)
        e->affected[i]->on_progress(e->affected[i], e->affected[i]->ctx);
}

struct sr_sim_engine *sr_sim_engine_new(struct event_base *base, struct sr_sim_kv *kv,
                                        const struct sr_sim_engine_params *params)
{
    struct sr_sim_engine *e = sr_calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->base = base;
    e->kv = kv;
    e->p = *params;
    clock_gettime(CLOCK_MONOTONIC, &e->start);
    e->affected = sr_calloc(e->p.max_running, sizeof(*e->affected));
    e->timer = evtimer_new(base, on_step, e);
    if (e->affected == NULL || e->timer == NULL) {
        sr_sim_engine_free(e);
        return NULL;
    }
    return e;
}

void sr_sim_engine_free(struct sr_sim_engine *e)
{
    if (e == NULL)
        return;
    if (e->timer)
        event_free(e->timer);
    sr_free(e->affected);
    sr_free(e);
}

int sr_sim_engine_submit(struct sr_sim_engine *e, struct sr_sim_seq *const *seqs, size_t n)
{
    if (e->p.zero_latency) {
        for (size_t i = 0; i < n; i++)
            complete_now(e, seqs[i]);
        return 0;
    }
    uint32_t free_slots = e->p.max_running - e->running.count;
    size_t queued_after = e->waiting.count + (n > free_slots ? n - free_slots : 0);
    if (queued_after > e->p.max_queued)
        return SR_ERR_TOO_LARGE;
    double now = sr_sim_engine_now(e);
    for (size_t i = 0; i < n; i++) {
        struct sr_sim_seq *s = seqs[i];
        s->state = SR_SIM_SEQ_WAITING;
        s->generated = s->cached_tokens = 0;
        s->submitted_at = now;
        list_push(&e->waiting, s);
        e->stats.requests++;
    }
    if (e->step == STEP_NONE)
        plan(e, now);
    return 0;
}

void sr_sim_engine_cancel(struct sr_sim_engine *e, struct sr_sim_seq *seq)
{
    if (seq->state == SR_SIM_SEQ_WAITING)
        list_remove(&e->waiting, seq);
    else if (seq->state == SR_SIM_SEQ_PREFILL || seq->state == SR_SIM_SEQ_DECODE)
        list_remove(&e->running, seq);
    else
        return;
    seq->state = SR_SIM_SEQ_CANCELLED;
    /* A free slot lets a waiting sequence in at the next step boundary. */
}

void sr_sim_engine_get_stats(const struct sr_sim_engine *e, struct sr_sim_engine_stats *out)
{
    *out = e->stats;
    out->running = e->running.count;
    out->waiting = e->waiting.count;
    out->active_tokens = 0;
    for (const struct sr_sim_seq *s = e->running.head; s; s = s->next)
        out->active_tokens += s->prompt_tokens + s->generated;
    for (const struct sr_sim_seq *s = e->waiting.head; s; s = s->next)
        out->active_tokens += s->prompt_tokens;
}
