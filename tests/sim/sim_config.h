/*
 * sim_config: the simulated worker's settings and their option table (one
 * table drives argv, --help and defaults; see common/options.h).
 *
 * The model defaults approximate one Llama-3-8B SGLang worker on one H100;
 * tests/sim/README.md explains each number. A profile (tests/sim/profiles/)
 * is a file of the same options, fitted to a real engine.
 */
#ifndef SR_SIM_CONFIG_H
#define SR_SIM_CONFIG_H

#include "common/options.h"

#include <stdbool.h>

struct sr_sim_config {
    /* server */
    char *host;
    long port;
    char *worker_id; /* default: host:port */
    char *model_path;
    char *served_model_name;
    char *load_format;
    char *metrics_format; /* sglang, vllm, llamacpp or none */
    char *log_level;
    long max_payload_bytes;
    /* model */
    char *profile; /* a profile name or file; applied before the command line */
    long kv_capacity_tokens;
    long cache_sequences;
    long host_cache_mib;
    long kv_bytes_per_token;
    double host_cache_save_us;
    double host_cache_restore_us;
    long max_running_requests;
    long max_queued_requests;
    double prefill_tokens_per_sec;
    double prefill_overhead_ms;
    double prefill_cached_token_us;
    double decode_step_ms;
    double decode_step_growth;
    double decode_context_us;
    long output_len;
    double time_scale;
    bool zero_latency;
    long seed;
    /* faults */
    double fail_rate;
    long fail_first_n;
    long fail_status;
    bool hang;
    long crash_after;
    long health_fail_after_ms;
    char *require_api_key;
    bool record_requests;
    /* prefill/decode disaggregation (tests/sim/README.md, "PD") */
    char *disaggregation_mode; /* null, prefill or decode */
    long disaggregation_bootstrap_port;
    double kv_transfer_gbps;
    double disaggregation_timeout_ms;
};

const struct sr_option *sr_sim_options(void);

#endif
