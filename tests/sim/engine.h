/*
 * engine: the model of SGLang's scheduler (continuous batching) on one
 * worker, driven by one libevent timer.
 *
 * A sequence (one prompt) waits in a FIFO queue until one of
 * max_running slots is free. The engine then alternates steps, like SGLang
 * without chunked prefill:
 *   - prefill step, whenever newly admitted sequences are waiting for it: it
 *     computes their uncached prompt tokens (cached prefix from kv_cache,
 *     capped at prompt - 1 as a real engine must compute one token) and takes
 *     prefill_overhead + uncached / prefill_tps + cached * cached_token_us;
 *     decoding pauses meanwhile.
 *     Each sequence gets its first token at the end of the step; its prompt
 *     enters the cache.
 *   - decode step otherwise: every running sequence gets one more token;
 *     the step takes decode_step_ms * (1 + growth * (running - 1)) +
 *     decode_context_us * (prompt + generated tokens of the running ones).
 * A sequence is done after max_new_tokens tokens; its prompt plus output
 * enter the cache (text keys only) and its slot frees at once.
 * A prefilled sequence (the decode role of PD disaggregation: its KV came
 * from a prefill worker) skips the prefill step: admitted, it joins the
 * decode steps at once and gets its first token at the end of the next
 * one; its cached_tokens are the caller's (the prefill worker's count).
 *
 * With a host prompt cache (llama.cpp's --cache-ram; host_cache.h), a
 * sequence is admitted as llama.cpp's get_available_slot
 * (tools/server/server-context.cpp) admits a task: it takes the idle slot
 * whose sequence covers the largest share of its prompt, if over 0.1
 * (--slot-prompt-similarity's default), else the least recently used idle
 * slot. In the second case, and in the first when the slot would keep
 * under half of what it holds, the slot's whole state is saved to the
 * host cache and the cached state that matches the prompt better (if any)
 * is restored into the slot, leaving the cache. The cached prefix is then
 * what the slot holds; saving and restoring cost host_cache_save_us and
 * host_cache_restore_us per token, added to the prefill step.
 * Model time runs time_scale times faster than the wall clock. With
 * zero_latency, submit completes the sequences at once (the cache model
 * still runs) and no callback is made.
 *
 * Callbacks: on_progress runs after every step that changed a sequence
 * (more tokens, or done), after the engine's own bookkeeping; it may submit
 * new sequences but must not cancel others.
 *
 * Ownership: the caller owns each struct sr_sim_seq and its key; both must
 * live until the sequence is done or cancelled. Single-threaded.
 */
#ifndef SR_SIM_ENGINE_H
#define SR_SIM_ENGINE_H

#include "host_cache.h"
#include "kv_cache.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

enum sr_sim_seq_state {
    SR_SIM_SEQ_NEW,
    SR_SIM_SEQ_WAITING,
    SR_SIM_SEQ_PREFILL,
    SR_SIM_SEQ_DECODE,
    SR_SIM_SEQ_DONE,
    SR_SIM_SEQ_CANCELLED,
};

struct sr_sim_seq;
typedef void (*sr_sim_seq_cb)(struct sr_sim_seq *seq, void *ctx);

struct sr_sim_seq {
    /* set by the caller */
    const char *key;
    size_t key_len;
    bool cache_output;     /* append the generated text to the cached key */
    uint32_t block_tokens; /* cache hits count in whole blocks of this many tokens (0 = 1) */
    uint32_t prompt_tokens;
    uint32_t max_new_tokens;
    uint64_t digest; /* picks the filler words (tokens.h) */
    bool prefilled;  /* its KV is already computed: no prefill step (see above) */
    sr_sim_seq_cb on_progress;
    void *ctx;
    /* engine state, read-only to callers */
    enum sr_sim_seq_state state;
    uint32_t cached_tokens; /* set by the caller when prefilled */
    uint32_t slot;          /* with a host cache: the kv slot it runs in */
    double host_cache_ms;   /* model ms its admission spent saving and restoring states */
    uint32_t generated;
    double submitted_at, first_token_at, finished_at; /* model seconds */
    struct sr_sim_seq *prev, *next;
};

struct sr_sim_engine_params {
    uint32_t max_running;
    uint32_t max_queued;
    double prefill_tokens_per_sec;
    double prefill_overhead_ms;
    double prefill_cached_token_us;
    double decode_step_ms;
    double decode_step_growth;
    double decode_context_us;
    double host_cache_save_us;    /* per token of a slot's state saved to the host cache */
    double host_cache_restore_us; /* per token of a state restored from it */
    double time_scale;
    bool zero_latency;
};

struct sr_sim_engine_stats {
    uint32_t running, waiting;
    uint64_t requests, prompt_tokens, cached_tokens, generated_tokens;
    uint64_t active_tokens; /* prompt + generated tokens of queued and running sequences */
    uint64_t host_cache_saved, host_cache_restored; /* states */
    double last_gen_throughput;                     /* tokens/s of the last decode step */
};

struct sr_sim_engine;

/* Borrows base, kv and hc. hc NULL: no host prompt cache; otherwise kv is
 * in sequence mode with at least max_running slots. NULL when out of
 * memory. */
struct sr_sim_engine *sr_sim_engine_new(struct event_base *base, struct sr_sim_kv *kv,
                                        struct sr_sim_host_cache *hc,
                                        const struct sr_sim_engine_params *params);
/* Sequences still queued or running are dropped without callbacks. */
void sr_sim_engine_free(struct sr_sim_engine *e);

/* Queues all n sequences, or none: SR_ERR_TOO_LARGE when they would not fit
 * in the waiting queue (the server's 429). */
int sr_sim_engine_submit(struct sr_sim_engine *e, struct sr_sim_seq *const *seqs, size_t n);

/* Stops a sequence (the client went away); no callback follows. */
void sr_sim_engine_cancel(struct sr_sim_engine *e, struct sr_sim_seq *seq);

/* The prefix of seq the cache holds right now, in tokens, as admission
 * would count it (whole blocks, at most prompt - 1, after a restore from
 * the host cache); nothing changes. */
uint32_t sr_sim_engine_cached_tokens(const struct sr_sim_engine *e, const struct sr_sim_seq *seq);

/* Model seconds since the engine started. */
double sr_sim_engine_now(const struct sr_sim_engine *e);

void sr_sim_engine_get_stats(const struct sr_sim_engine *e, struct sr_sim_engine_stats *out);

#endif
