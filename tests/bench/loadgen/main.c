/*
 * sglang-bench: the load generator. Builds a workload (workload.h), runs it
 * against a router or worker URL (run.h), and reports (report.h).
 *
 *   sglang-bench --url http://127.0.0.1:30000 --workload shared-prefix \
 *       --groups 16 --prompts-per-group 32 --arrival closed --concurrency 64
 */
#include "report.h"
#include "run.h"
#include "workload.h"

#include "common/alloc.h"
#include "common/options.h"
#include "common/url.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct settings {
    struct sr_strlist url;
    char *workload, *arrival, *trace, *json, *label, *api, *requests_csv;
    long groups, prompts_per_group, system_tokens, question_tokens, output_tokens;
    long users, turns, message_tokens, max_requests, trace_start, concurrency, seed;
    double think_ms, rate, time_scale, length_scale, timeout_secs;
    bool no_stream, quiet;
};

static const char *const workloads[] = {"shared-prefix", "multi-turn", "trace", NULL};
static const char *const arrivals[] = {"closed", "poisson", "trace", NULL};
static const char *const apis[] = {"sglang", "openai", NULL};

#define F(f) offsetof(struct settings, f)
static const struct sr_option options[] = {
    {"url", SR_OPT_URL_LIST, "URL", NULL, 0, 0, NULL, NULL, F(url),
     "Router or worker to load (one URL)"},
    {"workload", SR_OPT_CHOICE, NULL, "shared-prefix", 0, 0, workloads, NULL, F(workload),
     "What to send"},
    {"groups", SR_OPT_INT, "G", "16", 1, 1e6, NULL, NULL, F(groups),
     "shared-prefix: groups (one system prompt each)"},
    {"prompts-per-group", SR_OPT_INT, "P", "32", 1, 1e6, NULL, NULL, F(prompts_per_group),
     "shared-prefix: prompts per group"},
    {"system-tokens", SR_OPT_INT, "N", "2048", 0, 1e7, NULL, NULL, F(system_tokens),
     "shared-prefix: system prompt length"},
    {"question-tokens", SR_OPT_INT, "N", "128", 1, 1e7, NULL, NULL, F(question_tokens),
     "shared-prefix: question length"},
    {"output-tokens", SR_OPT_INT, "N", "64", 1, 1e6, NULL, NULL, F(output_tokens),
     "shared-prefix and multi-turn: tokens to generate"},
    {"users", SR_OPT_INT, "U", "32", 1, 1e6, NULL, NULL, F(users), "multi-turn: users"},
    {"turns", SR_OPT_INT, "T", "8", 1, 1e4, NULL, NULL, F(turns), "multi-turn: turns per user"},
    {"message-tokens", SR_OPT_INT, "N", "128", 1, 1e6, NULL, NULL, F(message_tokens),
     "multi-turn: tokens of each new user message"},
    {"think-ms", SR_OPT_FLOAT, "MS", "0", 0, 1e7, NULL, NULL, F(think_ms),
     "multi-turn: pause between a reply and the next turn"},
    {"trace", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, NULL, F(trace),
     "trace: a Mooncake-format JSONL file"},
    {"trace-start", SR_OPT_INT, "N", "0", 0, 1e9, NULL, NULL, F(trace_start),
     "trace: skip the first N requests (a later window; its times start at 0)"},
    {"length-scale", SR_OPT_FLOAT, "F", "1", 1e-4, 1, NULL, NULL, F(length_scale),
     "trace: prompts, their shared blocks and outputs F times as long (e.g. 0.025 for engines "
     "with a small context)"},
    {"max-requests", SR_OPT_INT, "N", "0", 0, 1e9, NULL, NULL, F(max_requests),
     "Send at most N requests (0 = the whole workload)"},
    {"arrival", SR_OPT_CHOICE, NULL, "closed", 0, 0, arrivals, NULL, F(arrival),
     "closed loop, open-loop Poisson, or the trace's timestamps"},
    {"concurrency", SR_OPT_INT, "N", "64", 1, 1e6, NULL, NULL, F(concurrency),
     "closed: concurrent clients"},
    {"rate", SR_OPT_FLOAT, "R", "10", 1e-3, 1e7, NULL, NULL, F(rate),
     "poisson: requests per second"},
    {"time-scale", SR_OPT_FLOAT, "X", "1", 1e-3, 1e6, NULL, NULL, F(time_scale),
     "trace: replay X times faster"},
    {"timeout-secs", SR_OPT_FLOAT, "SECS", "600", 0.001, 1e6, NULL, NULL, F(timeout_secs),
     "A request slower than this fails"},
    {"api", SR_OPT_CHOICE, NULL, "sglang", 0, 0, apis, NULL, F(api),
     "Prompts as SGLang /generate or OpenAI /v1/completions (e.g. llama.cpp); multi-turn is chat"},
    {"no-stream", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, NULL, F(no_stream),
     "Ask for whole responses (TTFT then equals latency)"},
    {"seed", SR_OPT_INT, "N", "1", 0, 1e15, NULL, NULL, F(seed), "Seed of the workload"},
    {"json", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, NULL, F(json),
     "Also append the report as one JSON line to PATH (- = stdout)"},
    {"requests-csv", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, NULL, F(requests_csv),
     "Also write one CSV line per request to PATH: its place in the workload, status, prompt, "
     "cached and completion tokens, TTFT and end-to-end ms, worker"},
    {"label", SR_OPT_STRING, "NAME", "run", 0, 0, NULL, NULL, F(label), "Name of this run"},
    {"quiet", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, NULL, F(quiet), "No progress line"},
    {NULL, 0, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};

int main(int argc, char **argv)
{
    struct settings s;
    int status = sr_options_from_args(options, &s, sizeof(s), argc, argv, stdout, stderr);
    if (status >= 0)
        return status;
    signal(SIGPIPE, SIG_IGN);
    status = 2;
    struct sr_workload w = {0};
    struct sr_result *results = NULL;
    struct sr_url url = {0};
    FILE *csv = NULL;
    const char *why = NULL;
    if (s.url.n != 1) {
        fprintf(stderr, "sglang-bench: --url: give exactly one URL\n");
        goto out;
    }
    if (sr_url_parse(s.url.items[0], strlen(s.url.items[0]), &url, &why) != 0 || url.tls) {
        fprintf(stderr, "sglang-bench: --url: %s\n", why ? why : "https is not supported");
        goto out;
    }
    struct sr_wl_params wp = {
        .kind = strcmp(s.workload, "shared-prefix") == 0 ? SR_WL_SHARED_PREFIX
                : strcmp(s.workload, "multi-turn") == 0  ? SR_WL_MULTI_TURN
                                                         : SR_WL_TRACE,
        .seed = (uint64_t)s.seed,
        .groups = s.groups,
        .prompts_per_group = s.prompts_per_group,
        .system_tokens = s.system_tokens,
        .question_tokens = s.question_tokens,
        .output_tokens = s.output_tokens,
        .users = s.users,
        .turns = s.turns,
        .message_tokens = s.message_tokens,
        .trace_path = s.trace,
        .max_requests = s.max_requests,
        .trace_start = s.trace_start,
        .length_scale = s.length_scale,
    };
    char err[300];
    if (sr_workload_build(&wp, &w, err, sizeof(err)) != 0) {
        fprintf(stderr, "sglang-bench: %s\n", err);
        goto out;
    }
    if (strcmp(s.arrival, "trace") == 0 && wp.kind != SR_WL_TRACE) {
        fprintf(stderr, "sglang-bench: --arrival trace needs --workload trace\n");
        goto out;
    }
    /* Opened before the run, so a path that cannot be written costs no run. */
    if (s.requests_csv && (csv = fopen(s.requests_csv, "w")) == NULL) {
        fprintf(stderr, "sglang-bench: cannot write %s: %s\n", s.requests_csv, strerror(errno));
        goto out;
    }
    results = sr_calloc(w.n, sizeof(*results));
    if (results == NULL) {
        fprintf(stderr, "sglang-bench: out of memory\n");
        status = 1;
        goto out;
    }
    struct sr_run_params rp = {
        .host = url.host,
        .port = url.port,
        .base_path = url.base_path,
        .arrival = strcmp(s.arrival, "closed") == 0    ? SR_ARRIVAL_CLOSED
                   : strcmp(s.arrival, "poisson") == 0 ? SR_ARRIVAL_POISSON
                                                       : SR_ARRIVAL_TRACE,
        .concurrency = s.concurrency,
        .rate = s.rate,
        .time_scale = s.time_scale,
        .think_ms = s.think_ms,
        .stream = !s.no_stream,
        .openai = strcmp(s.api, "openai") == 0,
        .timeout_secs = s.timeout_secs,
        .seed = (uint64_t)s.seed,
        .progress = !s.quiet,
    };
    double wall = 0;
    if (sr_run(&rp, &w, results, &wall) != 0) {
        status = 1;
        goto out;
    }
    struct sr_report rep;
    sr_report_build(results, w.n, wall, &rep);
    sr_report_print(&rep, s.label, stdout);
    if (s.json) {
        FILE *f = strcmp(s.json, "-") == 0 ? stdout : fopen(s.json, "a");
        if (f == NULL) {
            fprintf(stderr, "sglang-bench: cannot write %s\n", s.json);
            status = 1;
            goto out;
        }
        sr_report_json(&rep, s.label, f);
        if (f != stdout)
            fclose(f);
    }
    if (csv) {
        sr_report_requests_csv(results, w.n, csv);
        if (fclose(csv) != 0) {
            csv = NULL;
            fprintf(stderr, "sglang-bench: cannot write %s\n", s.requests_csv);
            status = 1;
            goto out;
        }
        csv = NULL;
    }
    status = rep.failed > 0 ? 3 : 0; /* failures are worth a non-zero exit */
out:
    if (csv)
        fclose(csv);
    sr_free(results);
    sr_workload_free(&w);
    sr_url_clear(&url);
    sr_options_clear(options, &s, sizeof(s));
    return status;
}
