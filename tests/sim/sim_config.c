/* sim_config: the simulated worker's option table (see sim_config.h). */
#include "sim_config.h"

#include <stddef.h>

static const char *const load_formats[] = {"array", "object", NULL};
static const char *const metrics_formats[] = {"sglang", "vllm", "llamacpp", "none", NULL};
static const char *const disaggregation_modes[] = {"null", "prefill", "decode", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};

#define FIELD(f) offsetof(struct sr_sim_config, f)
#define BIG      1e15

static const struct sr_option options[] = {
    {"host", SR_OPT_STRING, "HOST", "127.0.0.1", 0, 0, NULL, NULL, FIELD(host),
     "Address to listen on"},
    {"port", SR_OPT_INT, "PORT", "30001", 0, 65535, NULL, NULL, FIELD(port),
     "Port to listen on (0 picks a free port; the chosen one is printed)"},
    {"worker-id", SR_OPT_STRING, "ID", NULL, 0, 0, NULL, NULL, FIELD(worker_id),
     "Name reported in X-Worker-Id and worker_id (default: host:port)"},
    {"model-path", SR_OPT_STRING, "PATH", "meta-llama/Meta-Llama-3.1-8B-Instruct", 0, 0, NULL,
     false, FIELD(model_path), "Model path reported by the info endpoints"},
    {"served-model-name", SR_OPT_STRING, "NAME", NULL, 0, 0, NULL, NULL, FIELD(served_model_name),
     "Model name of the OpenAI endpoints (default: the model path)"},
    {"load-format", SR_OPT_CHOICE, NULL, "array", 0, 0, load_formats, NULL, FIELD(load_format),
     "GET /get_load shape: SGLang's per-rank array, or SGLang 0.4's {\"load\": TOKENS}"},
    {"metrics-format", SR_OPT_CHOICE, NULL, "sglang", 0, 0, metrics_formats, NULL,
     FIELD(metrics_format),
     "Answer GET /metrics with this engine's gauge names; vllm and llamacpp answer /get_load "
     "404 as those engines do; none answers 404 to both"},
    {"log-level", SR_OPT_CHOICE, NULL, "warn", 0, 0, log_levels, NULL, FIELD(log_level),
     "Log verbosity"},
    {"max-payload-bytes", SR_OPT_INT, "N", "268435456", 1, BIG, NULL, NULL,
     FIELD(max_payload_bytes), "Largest request body accepted (413 beyond)"},
    {"profile", SR_OPT_STRING, "NAME|FILE", NULL, 0, 0, NULL, NULL, FIELD(profile),
     "Model settings from a profile (tests/sim/profiles/NAME.conf, or a file of name = value "
     "lines); flags on the command line override it"},
    {"kv-capacity-tokens", SR_OPT_INT, "N", "450000", 1, BIG, NULL, NULL, FIELD(kv_capacity_tokens),
     "KV prefix cache capacity in tokens (LRU eviction beyond; per sequence with "
     "--cache-sequences)"},
    {"cache-sequences", SR_OPT_INT, "N", "0", 0, 1000000, NULL, NULL, FIELD(cache_sequences),
     "Cache like llama.cpp's slots without a host prompt cache: keep only the last N sequences "
     "(0: SGLang's radix cache, LRU by tokens)"},
    {"host-cache-mib", SR_OPT_INT, "MIB", "0", 0, 100000000, NULL, NULL, FIELD(host_cache_mib),
     "With --cache-sequences: llama.cpp's host prompt cache (--cache-ram) of this many MiB, "
     "whole slot states of --kv-bytes-per-token each token, LRU (0: none)"},
    {"kv-bytes-per-token", SR_OPT_INT, "B", "131072", 1, 1e12, NULL, NULL,
     FIELD(kv_bytes_per_token),
     "Bytes of KV state per token, to size --host-cache-mib in tokens (Llama-3-8B: 128 KiB)"},
    {"host-cache-save-us", SR_OPT_FLOAT, "US", "0", 0, 1e6, NULL, NULL, FIELD(host_cache_save_us),
     "Time per token to save a slot's state to the host cache (added to the prefill step)"},
    {"host-cache-restore-us", SR_OPT_FLOAT, "US", "0", 0, 1e6, NULL, NULL,
     FIELD(host_cache_restore_us),
     "Time per token to restore a state from the host cache (added to the prefill step)"},
    {"max-running-requests", SR_OPT_INT, "N", "256", 1, 1000000, NULL, NULL,
     FIELD(max_running_requests), "Requests decoded together (continuous batching)"},
    {"max-queued-requests", SR_OPT_INT, "N", "8192", 0, 100000000, NULL, NULL,
     FIELD(max_queued_requests), "Requests waiting for a running slot (429 beyond)"},
    {"prefill-tokens-per-sec", SR_OPT_FLOAT, "R", "5000", 1, BIG, NULL, NULL,
     FIELD(prefill_tokens_per_sec), "Prefill speed for uncached prompt tokens"},
    {"prefill-overhead-ms", SR_OPT_FLOAT, "MS", "10", 0, 1e6, NULL, NULL,
     FIELD(prefill_overhead_ms), "Fixed cost of one prefill step"},
    {"prefill-cached-token-us", SR_OPT_FLOAT, "US", "0", 0, 1e6, NULL, NULL,
     FIELD(prefill_cached_token_us),
     "Prefill cost per cached prompt token (attention over the reused context)"},
    {"decode-step-ms", SR_OPT_FLOAT, "MS", "10", 0, 1e6, NULL, NULL, FIELD(decode_step_ms),
     "Time of one decode step (one token for every running request) at batch size 1"},
    {"decode-step-growth", SR_OPT_FLOAT, "F", "0.005", 0, 1e3, NULL, NULL,
     FIELD(decode_step_growth),
     "Decode step time grows by this fraction per additional running request"},
    {"decode-context-us", SR_OPT_FLOAT, "US", "0", 0, 1e6, NULL, NULL, FIELD(decode_context_us),
     "Decode step time grows by this much per token of context held by the running requests"},
    {"output-len", SR_OPT_INT, "N", "128", 1, 10000000, NULL, NULL, FIELD(output_len),
     "Output tokens when the request does not say (max_new_tokens / max_tokens)"},
    {"time-scale", SR_OPT_FLOAT, "X", "1", 1e-3, 1e6, NULL, NULL, FIELD(time_scale),
     "Run the model clock this many times faster than real time"},
    {"zero-latency", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, NULL, FIELD(zero_latency),
     "Answer at once (the cache model still runs): for proxy-overhead benchmarks"},
    {"seed", SR_OPT_INT, "N", "0", 0, BIG, NULL, NULL, FIELD(seed),
     "Seed of every random choice (request ids, --fail-rate)"},
    {"fail-rate", SR_OPT_FLOAT, "P", "0", 0, 1, NULL, NULL, FIELD(fail_rate),
     "Fail this fraction of inference requests with --fail-status"},
    {"fail-first-n", SR_OPT_INT, "N", "0", 0, BIG, NULL, NULL, FIELD(fail_first_n),
     "Fail the first N inference requests with --fail-status"},
    {"fail-status", SR_OPT_INT, "CODE", "500", 400, 599, NULL, NULL, FIELD(fail_status),
     "HTTP status of injected failures"},
    {"hang", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, NULL, FIELD(hang),
     "Accept inference requests and never answer them (health and info still answer)"},
    {"crash-after", SR_OPT_INT, "N", "0", 0, BIG, NULL, NULL, FIELD(crash_after),
     "Exit the process during the Nth inference request (mid-stream when streaming); 0 = never"},
    {"health-fail-after-ms", SR_OPT_INT, "MS", "-1", -1, BIG, NULL, NULL,
     FIELD(health_fail_after_ms),
     "Health endpoints answer 503 from this long after start; -1 = never"},
    {"require-api-key", SR_OPT_STRING, "KEY", NULL, 0, 0, NULL, NULL, FIELD(require_api_key),
     "Answer 401 unless requests carry Authorization: Bearer KEY (health stays open)"},
    {"record-requests", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, NULL, FIELD(record_requests),
     "Keep the last request (not health checks) for GET /sim/last_request: tests of proxies"},
    {"disaggregation-mode", SR_OPT_CHOICE, NULL, "null", 0, 0, disaggregation_modes, NULL,
     FIELD(disaggregation_mode),
     "SGLang's PD role: null (serve whole requests), prefill (prefill, publish the room on the "
     "bootstrap port, answer one token) or decode (fetch the room, then decode)"},
    {"disaggregation-bootstrap-port", SR_OPT_INT, "PORT", "8998", 0, 65535, NULL, NULL,
     FIELD(disaggregation_bootstrap_port),
     "Prefill: port of the bootstrap service decode workers ask for their rooms (0 picks a free "
     "port; the chosen one is printed)"},
    {"kv-transfer-gbps", SR_OPT_FLOAT, "GB/S", "25", 1e-6, 1e6, NULL, NULL, FIELD(kv_transfer_gbps),
     "PD: KV transfer bandwidth between prefill and decode in GB/s (10^9 bytes/s); a prompt's KV "
     "is its tokens x --kv-bytes-per-token; transfers share the link one after another"},
    {"disaggregation-timeout-ms", SR_OPT_FLOAT, "MS", "300000", 0, 1e9, NULL, NULL,
     FIELD(disaggregation_timeout_ms),
     "PD: how long decode waits for a room (SGLANG_DISAGGREGATION_WAITING_TIMEOUT, 300 s) and "
     "prefill keeps a ready room; model time, like every duration (see --time-scale)"},
    {NULL, 0, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};

const struct sr_option *sr_sim_options(void)
{
    return options;
}
