/*
 * workload: the requests of a benchmark run, generated deterministically
 * from a seed (no I/O but reading a trace file). Prompt text follows the
 * simulated worker's token model (4 bytes per token, tests/sim/tokens.h),
 * so a prompt of N tokens is exactly 4N bytes of lowercase words.
 *
 *   shared-prefix  G groups x P prompts: each prompt = its group's system
 *                  prompt (S tokens) + its own question (Q tokens); the
 *                  requests come in a seeded shuffle (SGLang's generated
 *                  shared-prefix benchmark has this shape).
 *   multi-turn     U users x T turns: turn t's messages are the whole
 *                  conversation so far (with the answers the server gave)
 *                  plus a new message of M tokens; the runner builds the
 *                  conversation, this module gives the new messages.
 *   trace          a Mooncake JSONL trace (timestamp ms, input_length,
 *                  output_length, hash_ids of 512-token blocks): block
 *                  text is derived from the hash id alone, so equal ids
 *                  give equal text and shared id prefixes are shared text
 *                  prefixes; requests also carry the ids.
 *
 * Ownership: struct sr_workload owns every request and its buffers.
 */
#ifndef SR_WORKLOAD_H
#define SR_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#define SR_WL_BYTES_PER_TOKEN 4
#define SR_WL_BLOCK_TOKENS    512

enum sr_wl_kind {
    SR_WL_SHARED_PREFIX,
    SR_WL_MULTI_TURN,
    SR_WL_TRACE,
};

struct sr_wl_params {
    enum sr_wl_kind kind;
    uint64_t seed;
    long groups, prompts_per_group, system_tokens, question_tokens; /* shared-prefix */
    long users, turns, message_tokens;                              /* multi-turn */
    const char *trace_path;                                         /* trace */
    long output_tokens;                                             /* shared-prefix, multi-turn */
    long max_requests;                                              /* 0 = all */
    long trace_start;    /* trace: lines skipped first (a later window; its times start at 0) */
    double length_scale; /* trace: prompt, block and output lengths times this (0 taken as 1) */
};

struct sr_wl_request {
    double arrival_ms; /* trace: when to send, relative to the start */
    char *prompt;      /* shared-prefix and trace: the whole prompt; multi-turn: the new message */
    size_t prompt_len;
    int64_t *hash_ids; /* trace only */
    size_t nhash;
    uint32_t output_tokens;
    uint32_t group; /* shared-prefix group, multi-turn user */
    uint32_t turn;  /* multi-turn */
};

struct sr_workload {
    struct sr_wl_request *reqs;
    size_t n;
    enum sr_wl_kind kind;
};

/* 0, or a negative error with a message in err (bad parameters, trace
 * unreadable or malformed, out of memory). */
int sr_workload_build(const struct sr_wl_params *p, struct sr_workload *out, char *err,
                      size_t errlen);
void sr_workload_free(struct sr_workload *w);

/* Deterministic text of exactly len bytes for (seed, a, b): lowercase words
 * separated by spaces. Exposed for tests. */
void sr_wl_text(uint64_t seed, uint64_t a, uint64_t b, char *out, size_t len);

#endif
