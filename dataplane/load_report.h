/*
 * load_report: what a worker says of its own load, decoded from the body
 * of one of its routes. A codec: bytes in, counts out, no I/O (the load
 * poll, load_poll.h, fetches the bodies).
 *
 * Two sources, in the order the poll tries them:
 *
 * GET /get_load (SGLang). Its array form, one element per data-parallel
 * rank: [{"dp_rank": 0, "num_reqs": N, "num_waiting_reqs": W,
 * "num_tokens": T, ...}], as SGLang's scheduler fills GetLoadReqOutput
 * (python/sglang/srt/managers/scheduler_metrics_mixin.py, get_load):
 *   num_reqs         = requests in the running batch + requests waiting
 *                      (running AND waiting, not running alone);
 *   num_waiting_reqs = requests in its waiting queues (with PD
 *                      disaggregation, also the bootstrap/prealloc/transfer
 *                      queues);
 *   num_tokens       = KV tokens held by running requests (not the
 *                      evictable cache) + the tokens of every waiting
 *                      request.
 * We read running = sum(num_reqs - num_waiting_reqs), waiting =
 * sum(num_waiting_reqs), tokens = sum(num_tokens) (-1 when a rank lacks
 * it: some versions send num_pages instead). Other fields are ignored.
 * Older SGLang (0.4.x, TokenizerManager.get_load) answered an object,
 * {"load": N}, where N is a token count (KV tokens in use + prompt tokens
 * of the waiting queue) and says nothing of requests: that form is
 * recognised (SR_LOAD_TOKENS_ONLY) so the poll turns to /metrics for the
 * request counts.
 *
 * GET /metrics (Prometheus text, prom_text.h), gauges summed over their
 * label sets (vLLM labels them per engine and model):
 *   SGLang     sglang:num_running_reqs       sglang:num_queue_reqs
 *   vLLM       vllm:num_requests_running     vllm:num_requests_waiting
 *   llama.cpp  llamacpp:requests_processing  llamacpp:requests_deferred
 * (running, waiting); the first family whose two gauges are both present
 * is used; tokens are -1 (not said).
 *
 * Values must be finite whole numbers between 0 and SR_LOAD_MAX_COUNT
 * (tokens up to SR_LOAD_MAX_TOKENS), and num_reqs >= num_waiting_reqs;
 * anything else makes the body unusable (SR_ERR_INVALID).
 */
#ifndef SR_LOAD_REPORT_H
#define SR_LOAD_REPORT_H

#include <stddef.h>

#define SR_LOAD_MAX_COUNT  1000000000L
#define SR_LOAD_MAX_TOKENS 1000000000000000L

struct sr_load_report {
    long running;       /* requests it runs */
    long waiting;       /* requests it queues */
    long tokens;        /* -1: not said */
    const char *engine; /* "sglang", "vllm", "llamacpp": whose names were read (static) */
};

/* sr_load_report_from_get_load's successes. */
enum {
    SR_LOAD_REQUESTS = 0,    /* running and waiting are set */
    SR_LOAD_TOKENS_ONLY = 1, /* {"load": N}: tokens only, running and waiting -1 */
};

/* A /get_load body: SR_LOAD_REQUESTS, SR_LOAD_TOKENS_ONLY, SR_ERR_INVALID
 * (not one of the forms above) or SR_ERR_NOMEM. */
int sr_load_report_from_get_load(const char *body, size_t len, struct sr_load_report *out);

/* A /metrics body: 0, SR_ERR_INVALID (malformed text, or a gauge that is
 * not a count) or SR_ERR_NOT_FOUND (well formed, but no family has both of
 * its gauges). */
int sr_load_report_from_metrics(const char *text, size_t len, struct sr_load_report *out);

#endif
