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

/* llama.cpp's --slot-prompt-similarity default (common/common.h), and the
 * share of a slot's sequence under which get_available_slot saves it. */
#define SLOT_PROMPT_SIMILARITY 0.1f
#define SLOT_KEEP_TO_SKIP_SAVE 0.5f
#define NO_SLOT                UINT32_MAX

struct sr_sim_engine {
    struct event_base *base;
    struct sr_sim_kv *kv;
    struct sr_sim_host_cache *hc; /* NULL: no host prompt cache */
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

/* key enters the cache: into the sequence's slot with a host cache. */
static int remember(struct sr_sim_engine *e, const struct sr_sim_seq *s, const char *key,
                    size_t len)
{
    if (e->hc) /* a prefilled sequence never took a slot */
        return s->slot == NO_SLOT ? 0 : sr_sim_kv_slot_store(e->kv, s->slot, key, len);
    return sr_sim_kv_insert(e->kv, key, len);
}

/* Prompt plus generated text, for the cache after a sequence ends. */
static void cache_finished(struct sr_sim_engine *e, struct sr_sim_seq *s)
{
    if (!s->cache_output) {
        remember(e, s, s->key, s->key_len);
        return;
    }
    size_t out = (size_t)s->generated * SR_SIM_BYTES_PER_TOKEN;
    char *buf = sr_malloc(s->key_len + out);
    if (buf == NULL) {
        remember(e, s, s->key, s->key_len);
        return;
    }
    memcpy(buf, s->key, s->key_len);
    for (uint32_t i = 0; i < s->generated; i++)
        memcpy(buf + s->key_len + (size_t)i * SR_SIM_BYTES_PER_TOKEN,
               sr_sim_output_token(s->digest, i), SR_SIM_BYTES_PER_TOKEN);
    if (remember(e, s, buf, s->key_len + out) != 0)
        sr_log_warn("kv cache: out of memory recording a finished sequence");
    sr_free(buf);
}

static uint32_t common_tokens(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return (uint32_t)(i / SR_SIM_BYTES_PER_TOKEN);
}

static bool slot_busy(const struct sr_sim_engine *e, uint32_t slot)
{
    for (const struct sr_sim_seq *s = e->running.head; s; s = s->next)
        if (s->slot == slot)
            return true;
    return false;
}

/* get_available_slot's choice for s (see engine.h): the slot, and in
 * *update whether the host cache is consulted. idle_only false: busy slots
 * count as idle (a probe while requests run). */
static uint32_t choose_slot(const struct sr_sim_engine *e, const struct sr_sim_seq *s,
                            bool idle_only, bool *update)
{
    uint32_t n = sr_sim_kv_slots(e->kv), best = NO_SLOT, lcp_best = 0;
    uint32_t prompt = (uint32_t)(s->key_len / SR_SIM_BYTES_PER_TOKEN);
    float f_sim_best = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *held = sr_sim_kv_slot_key(e->kv, i, &len);
        if ((idle_only && slot_busy(e, i)) || len < SR_SIM_BYTES_PER_TOKEN)
            continue;
        uint32_t lcp = common_tokens(held, len, s->key, s->key_len);
        float f_sim = (float)lcp / (float)(prompt ? prompt : 1);
        if (f_sim > f_sim_best && f_sim > SLOT_PROMPT_SIMILARITY) {
            f_sim_best = f_sim;
            lcp_best = lcp;
            best = i;
        }
    }
    if (best != NO_SLOT) {
        size_t len;
        sr_sim_kv_slot_key(e->kv, best, &len);
        *update = (float)lcp_best / (float)(len / SR_SIM_BYTES_PER_TOKEN) < SLOT_KEEP_TO_SKIP_SAVE;
        return best;
    }
    uint64_t t_last = 0; /* least recently used; ties go to the last, as in llama.cpp */
    for (uint32_t i = 0; i < n; i++) {
        if (idle_only && slot_busy(e, i))
            continue;
        if (best == NO_SLOT || sr_sim_kv_slot_stored_at(e->kv, i) <= t_last) {
            t_last = sr_sim_kv_slot_stored_at(e->kv, i);
            best = i;
        }
    }
    *update = true;
    return best;
}

/* Whole blocks, at most prompt - 1. */
static uint32_t countable(const struct sr_sim_seq *s, uint32_t hit)
{
    if (s->block_tokens > 1)
        hit -= hit % s->block_tokens;
    uint32_t cap = s->prompt_tokens ? s->prompt_tokens - 1 : 0;
    return hit < cap ? hit : cap;
}

uint32_t sr_sim_engine_cached_tokens(const struct sr_sim_engine *e, const struct sr_sim_seq *s)
{
    if (e->hc == NULL)
        return countable(s, sr_sim_kv_lookup(e->kv, s->key, s->key_len));
    bool update;
    uint32_t slot = choose_slot(e, s, false, &update);
    size_t len;
    const char *held = sr_sim_kv_slot_key(e->kv, slot, &len);
    long i = update ? sr_sim_host_cache_pick(e->hc, held, len, true, s->key, s->key_len) : -1;
    if (i >= 0)
        held = sr_sim_host_cache_key(e->hc, i, &len);
    return countable(s, common_tokens(held, len, s->key, s->key_len));
}

/* The host cache at admission (engine.h): s gets its slot, whose sequence
 * may be saved and replaced by a restored state. */
static void take_slot(struct sr_sim_engine *e, struct sr_sim_seq *s)
{
    bool update;
    s->slot = choose_slot(e, s, true, &update);
    if (s->slot == NO_SLOT) /* cannot happen: main.c keeps slots >= max_running */
        s->slot = 0;
    if (!update)
        return;
    size_t len;
    const char *held = sr_sim_kv_slot_key(e->kv, s->slot, &len);
    int rc = sr_sim_host_cache_save(e->hc, held, len);
    if (rc == 1) {
        e->stats.host_cache_saved++;
        s->host_cache_ms += (double)(len / SR_SIM_BYTES_PER_TOKEN) * e->p.host_cache_save_us / 1e3;
    } else if (rc < 0) {
        sr_log_warn("host cache: out of memory saving a slot");
    }
    long i = sr_sim_host_cache_pick(e->hc, held, len, false, s->key, s->key_len);
    char *state = i >= 0 ? sr_sim_host_cache_take(e->hc, i, &len) : NULL;
    if (state == NULL)
        return;
    sr_sim_kv_slot_adopt(e->kv, s->slot, state, len);
    e->stats.host_cache_restored++;
    s->host_cache_ms += (double)(len / SR_SIM_BYTES_PER_TOKEN) * e->p.host_cache_restore_us / 1e3;
}

static void admit(struct sr_sim_engine *e, struct sr_sim_seq *s, double now)
{
    if (s->prefilled) {
        s->state = SR_SIM_SEQ_DECODE;
        e->stats.prompt_tokens += s->prompt_tokens;
        e->stats.cached_tokens += s->cached_tokens;
        return;
    }
    if (e->hc) {
        take_slot(e, s);
        size_t len;
        const char *held = sr_sim_kv_slot_key(e->kv, s->slot, &len);
        s->cached_tokens = countable(s, common_tokens(held, len, s->key, s->key_len));
    } else {
        s->cached_tokens = sr_sim_engine_cached_tokens(e, s);
    }
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
    s->slot = NO_SLOT;
    s->host_cache_ms = 0;
    e->stats.requests++;
    admit(e, s, now);
    remember(e, s, s->key, s->key_len);
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
    double uncached = 0, cached = 0, host_cache_ms = 0;
    uint32_t prefilling = 0;
    for (struct sr_sim_seq *s = e->running.head; s; s = s->next) {
        if (s->state == SR_SIM_SEQ_PREFILL) {
            uncached += s->prompt_tokens - s->cached_tokens;
            cached += s->cached_tokens;
            host_cache_ms += s->host_cache_ms;
            prefilling++;
        }
    }
    if (prefilling > 0) {
        arm(e, STEP_PREFILL, now,
            e->p.prefill_overhead_ms + uncached * 1000.0 / e->p.prefill_tokens_per_sec +
                cached * e->p.prefill_cached_token_us / 1000.0 + host_cache_ms);
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
            remember(e, s, s->key, s->key_len);
            s->first_token_at = now;
            s->generated = 1;
        } else if (kind == STEP_DECODE && s->state == SR_SIM_SEQ_DECODE) {
            if (s->generated++ == 0) /* prefilled: its first token */
                s->first_token_at = now;
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
                                        struct sr_sim_host_cache *hc,
                                        const struct sr_sim_engine_params *params)
{
    struct sr_sim_engine *e = sr_calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->base = base;
    e->kv = kv;
    e->hc = hc;
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
        s->generated = 0;
        if (!s->prefilled)
            s->cached_tokens = 0;
        s->slot = NO_SLOT;
        s->host_cache_ms = 0;
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
