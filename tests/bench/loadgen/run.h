/*
 * run: drives a workload against a router or worker URL over real HTTP/1.1
 * keep-alive connections on libevent, streaming by default, and records
 * what each request saw: status, time to first token, end-to-end latency,
 * prompt / cached / generated tokens (from the worker's own accounting in
 * the response), and which worker served it (X-Worker-Id).
 *
 * Arrival: closed loop (N clients, each sends its next request when the
 * previous ends), open loop (Poisson at R requests/s), or the trace's own
 * timestamps (divided by a time scale). Multi-turn workloads always run
 * one client per user, turn after turn, with think time.
 */
#ifndef SR_RUN_H
#define SR_RUN_H

#include "workload.h"

#include <stdbool.h>
#include <stdint.h>

enum sr_arrival {
    SR_ARRIVAL_CLOSED,
    SR_ARRIVAL_POISSON,
    SR_ARRIVAL_TRACE,
};

struct sr_run_params {
    const char *host;
    int port;
    const char *base_path;
    enum sr_arrival arrival;
    long concurrency;
    double rate;
    double time_scale;
    double think_ms;
    bool stream;
    bool openai; /* prompts as /v1/completions (engines without SGLang's /generate) */
    double timeout_secs;
    uint64_t seed;
    bool progress;
};

struct sr_result {
    int status; /* 0 = failed (no HTTP answer) */
    double ttft_s, e2e_s;
    uint32_t prompt_tokens, cached_tokens, completion_tokens;
    char worker[64];
};

/* Runs every request of w; results[i] belongs to w->reqs[i]. 0 or a
 * negative error (setup failed; message on stderr). */
int sr_run(const struct sr_run_params *p, const struct sr_workload *w, struct sr_result *results,
           double *wall_s);

#endif
