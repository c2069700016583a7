/* config: the router's option table (see config.h); parsing, validation and
 * --help are common/options. */
#include "config.h"

#include "log.h"

#include <string.h>

static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};

#define FIELD(f) offsetof(struct sr_config, f)
/* Whether and how an option changes while the router runs (options.h), and
 * its field in the admin API's RouterConfig. */
#define FIXED              NULL
#define RUNTIME(how, name) SR_OPTION_RUNTIME(how, name)

/* Every router option, its default and its bounds: the single source. */
static const struct sr_option options[] = {
    {"host", SR_OPT_STRING, "HOST", "127.0.0.1", 0, 0, NULL, FIXED, FIELD(host),
     "Host address to bind the router server"},
    {"port", SR_OPT_INT, "PORT", "30000", 0, 65535, NULL, FIXED, FIELD(port),
     "Port number to bind the router server (0 picks a free port)"},
    {"worker-urls", SR_OPT_WORKER_LIST, "URL", NULL, 0, 0, NULL, FIXED, FIELD(worker_urls),
     "List of worker URLs (e.g., http://worker1:8000 http://worker2:8000); URL@MODEL names the "
     "model a worker serves (else it is discovered)"},
    {"pd-disaggregation", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, FIXED, FIELD(pd_disaggregation),
     "Prefill/decode disaggregation: each request goes to a --prefill and a --decode worker"},
    {"prefill", SR_OPT_PREFILL_LIST, "URL", NULL, 0, 0, NULL, FIXED, FIELD(prefill_urls),
     "A prefill worker and its KV bootstrap port (none: null); repeatable; URL@MODEL as above"},
    {"decode", SR_OPT_WORKER_LIST, "URL", NULL, 0, 0, NULL, FIXED, FIELD(decode_urls),
     "A decode worker; repeatable; URL@MODEL as above"},
    {"prefill-policy", SR_OPT_CHOICE, NULL, NULL, 0, 0, sr_policy_names, FIXED,
     FIELD(prefill_policy), "Policy choosing prefill workers (None: --policy)"},
    {"decode-policy", SR_OPT_CHOICE, NULL, NULL, 0, 0, sr_policy_names, FIXED, FIELD(decode_policy),
     "Policy choosing decode workers (None: --policy)"},
    {"policy", SR_OPT_CHOICE, NULL, "cache_aware", 0, 0, sr_policy_names, RUNTIME(POLICY, "policy"),
     FIELD(policy), "Load balancing policy to use"},
    {"cache-threshold", SR_OPT_FLOAT, "CACHE_THRESHOLD", "0.5", 0, 1, NULL,
     RUNTIME(POLICY, "cache_threshold"), FIELD(cache_threshold),
     "Cache threshold (0.0-1.0) for cache-aware routing"},
    {"cache-routing-prob", SR_OPT_FLOAT, "CACHE_ROUTING_PROB", "1.0", 0, 1, NULL,
     RUNTIME(POLICY, "cache_routing_prob"), FIELD(cache_routing_prob),
     "Probability of using cache-aware routing (0.0-1.0)"},
    {"eviction-interval", SR_OPT_INT, "EVICTION_INTERVAL", "60", 1, 31536000, NULL,
     RUNTIME(POLICY, "eviction_interval_secs"), FIELD(eviction_interval_secs),
     "Interval in seconds between cache eviction operations"},
    {"max-tree-size", SR_OPT_INT, "MAX_TREE_SIZE", "16777216", 1, 1099511627776.0, NULL,
     RUNTIME(POLICY, "max_tree_size"), FIELD(max_tree_size),
     "Maximum size of the approximation tree for cache-aware routing, in text bytes per worker"},
    {"balance-abs-threshold", SR_OPT_INT, "BALANCE_ABS_THRESHOLD", "32", 0, 1000000000, NULL,
     RUNTIME(POLICY, "balance_abs_threshold"), FIELD(balance_abs_threshold),
     "A worker is overloaded when its in-flight requests exceed the least-loaded worker's by more "
     "than this ..."},
    {"balance-rel-threshold", SR_OPT_FLOAT, "BALANCE_REL_THRESHOLD", "1.0001", 1, 1000000, NULL,
     RUNTIME(POLICY, "balance_rel_threshold"), FIELD(balance_rel_threshold),
     "... and that load times this; cache_aware sends nothing to an overloaded worker"},
    {"cache-miss-margin", SR_OPT_INT, "N", "1000000000", 0, 1000000000, NULL,
     RUNTIME(POLICY, "cache_miss_margin"), FIELD(cache_miss_margin),
     "cache_aware: a miss goes to the smallest tree among the workers within N in-flight "
     "requests of the least loaded (0: the least loaded, as SGLang's router 0.3.2 does)"},
    {"cache-load-weight", SR_OPT_FLOAT, "W", "0.05", 0, 100, NULL,
     RUNTIME(POLICY, "cache_load_weight"), FIELD(cache_load_weight),
     "cache_cost policy: cost of stalling one request the worker holds, per prompt to prefill"},
    {"cache-queue-weight", SR_OPT_FLOAT, "W", "0.125", 0, 100, NULL,
     RUNTIME(POLICY, "cache_queue_weight"), FIELD(cache_queue_weight),
     "cache_cost policy: cost of a token of work queued on the worker, per prompt token"},
    {"load-decode-weight", SR_OPT_FLOAT, "W", "1.0", 0, 1000, NULL,
     RUNTIME(POLICY, "load_decode_weight"), FIELD(load_decode_weight),
     "Load model: work of one token still to generate, in prompt tokens to prefill"},
    {"log-level", SR_OPT_CHOICE, NULL, "info", 0, 0, log_levels, RUNTIME(PROCESS, "log_level"),
     FIELD(log_level), "Log verbosity"},
    {"log-requests", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, RUNTIME(REQUEST, "log_requests"),
     FIELD(log_requests), "Log one line per request (method, path, status, worker, duration)"},
    {"threads", SR_OPT_INT, "N", "0", 0, 1024, NULL, FIXED, FIELD(threads),
     "Event-loop threads, each with its own connections and worker pools (0 = one per CPU)"},
    {"pin-threads", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, FIXED, FIELD(pin_threads),
     "Pin event-loop thread i to the i-th usable CPU (for routers with CPUs of their own)"},
    {"max-payload-size", SR_OPT_INT, "BYTES", "268435456", 1, 1099511627776.0, NULL, FIXED,
     FIELD(max_payload_size), "Largest request body accepted (413 beyond)"},
    {"max-header-size", SR_OPT_INT, "BYTES", "65536", 1024, 16777216, NULL, FIXED,
     FIELD(max_header_size), "Largest request line + headers accepted (431 beyond)"},
    {"max-connections", SR_OPT_INT, "N", "0", 0, 100000000, NULL, FIXED, FIELD(max_connections),
     "Client connections open at once; more are closed at accept (0 = from the open-file "
     "limit: (limit - 64) / 2)"},
    {"response-buffer-budget-bytes", SR_OPT_INT, "BYTES", "268435456", 1048576, 1099511627776.0,
     NULL, FIXED, FIELD(response_buffer_budget_bytes),
     "Response bytes held for slow clients, all connections together; past it workers are "
     "paused sooner and stalled clients closed"},
    {"slow-client-grace-secs", SR_OPT_INT, "SECS", "30", 1, 86400, NULL, FIXED,
     FIELD(slow_client_grace_secs),
     "Over that budget, a client that has read nothing for this long is disconnected"},
    {"max-concurrent-requests", SR_OPT_INT, "N", "0", 0, 100000000, NULL,
     RUNTIME(REQUEST, "max_concurrent_requests"), FIELD(max_concurrent_requests),
     "Requests proxied at once; more wait in a queue (0 = no limit)"},
    {"max-concurrent-per-worker", SR_OPT_INT, "N", "0", 0, 1000000, NULL,
     RUNTIME(REQUEST, "max_concurrent_per_worker"), FIELD(max_concurrent_per_worker),
     "Requests proxied at once per worker: no worker is given more than N while another has "
     "room, and the router admits N times the healthy workers (with --max-concurrent-requests, "
     "the smaller); more wait in the queue and are routed when a slot frees (0 = no limit)"},
    {"queue-size", SR_OPT_INT, "N", "100", 0, 100000000, NULL, RUNTIME(REQUEST, "queue_size"),
     FIELD(queue_size), "Requests that may wait for a slot under either limit above (429 beyond)"},
    {"queue-timeout-secs", SR_OPT_INT, "SECS", "60", 1, 86400, NULL,
     RUNTIME(REQUEST, "queue_timeout_secs"), FIELD(queue_timeout_secs),
     "Longest wait in that queue (408 after)"},
    {"request-timeout-secs", SR_OPT_INT, "SECS", "1800", 1, 604800, NULL, FIXED,
     FIELD(request_timeout_secs), "Longest time a request may take, streaming included (504)"},
    {"worker-connect-timeout-secs", SR_OPT_INT, "SECS", "5", 1, 3600, NULL, FIXED,
     FIELD(worker_connect_timeout_secs), "Time allowed to connect to a worker"},
    {"keepalive-timeout-secs", SR_OPT_INT, "SECS", "75", 1, 86400, NULL, FIXED,
     FIELD(keepalive_timeout_secs), "Idle client connections are closed after this"},
    {"client-header-timeout-secs", SR_OPT_INT, "SECS", "30", 1, 3600, NULL, FIXED,
     FIELD(client_header_timeout_secs), "Time a client has to send a request's headers (408)"},
    {"client-body-timeout-secs", SR_OPT_INT, "SECS", "60", 1, 86400, NULL, FIXED,
     FIELD(client_body_timeout_secs), "Time a client has to send a request's body (408)"},
    {"shutdown-grace-period-secs", SR_OPT_INT, "SECS", "180", 0, 86400, NULL, FIXED,
     FIELD(shutdown_grace_period_secs), "On SIGTERM/SIGINT, time in-flight requests get to finish"},
    {"retry-max-retries", SR_OPT_INT, "N", "5", 0, 100, NULL, RUNTIME(REQUEST, "retry_max_retries"),
     FIELD(retry_max_retries),
     "Retries on other workers when a worker fails before any byte reached the client"},
    {"health-check-interval-secs", SR_OPT_INT, "SECS", "10", 1, 86400, NULL, FIXED,
     FIELD(health_check_interval_secs), "Time between health checks of each worker"},
    {"health-check-timeout-secs", SR_OPT_INT, "SECS", "5", 1, 3600, NULL, FIXED,
     FIELD(health_check_timeout_secs), "A health check slower than this fails"},
    {"health-failure-threshold", SR_OPT_INT, "N", "3", 1, 1000, NULL, FIXED,
     FIELD(health_failure_threshold), "Consecutive failed checks that make a worker unhealthy"},
    {"health-success-threshold", SR_OPT_INT, "N", "2", 1, 1000, NULL, FIXED,
     FIELD(health_success_threshold),
     "Consecutive passing checks that make an unhealthy worker healthy again"},
    {"cb-failure-threshold", SR_OPT_INT, "N", "10", 1, 1000000, NULL, FIXED,
     FIELD(cb_failure_threshold),
     "Circuit breaker: failed requests in a row (5xx, connection error, timeout) that open it"},
    {"cb-success-threshold", SR_OPT_INT, "N", "3", 1, 1000, NULL, FIXED,
     FIELD(cb_success_threshold),
     "Circuit breaker: trial requests let through when half-open, and successes that close it"},
    {"cb-timeout-duration-secs", SR_OPT_INT, "SECS", "60", 1, 86400, NULL, FIXED,
     FIELD(cb_timeout_duration_secs), "Circuit breaker: time a worker stays open before trials"},
    {"cb-window-duration-secs", SR_OPT_INT, "SECS", "120", 1, 86400, NULL, FIXED,
     FIELD(cb_window_duration_secs),
     "Circuit breaker: the failures that open it must fall within this span"},
    {"disable-circuit-breaker", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, FIXED,
     FIELD(disable_circuit_breaker), "Never take a worker out of rotation for failed requests"},
    {"health-check-endpoint", SR_OPT_STRING, "PATH", "/health", 0, 0, NULL, FIXED,
     FIELD(health_check_endpoint), "Worker path probed by health checks"},
    {"worker-load-interval-ms", SR_OPT_INT, "MS", "500", 0, 3600000, NULL, FIXED,
     FIELD(worker_load_interval_ms),
     "Ask each worker for its own load (/get_load, else /metrics) this often; routing counts "
     "the requests it holds from other clients (0 = off)"},
    {"admin-api-key", SR_OPT_STRING, "KEY", NULL, 0, 0, NULL, FIXED, FIELD(admin_api_key),
     "Bearer key that lets non-loopback clients use /add_worker, /remove_worker, /list_workers "
     "(visible in ps: prefer --admin-api-key-file)"},
    {"admin-api-key-file", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED,
     FIELD(admin_api_key_file),
     "Read the --admin-api-key from a file (trailing whitespace trimmed); reread on SIGHUP"},
    {"tls-cert-path", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED, FIELD(tls_cert_path),
     "Serve HTTPS: certificate chain (PEM); reloaded on SIGHUP"},
    {"tls-key-path", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED, FIELD(tls_key_path),
     "Serve HTTPS: private key (PEM); reloaded on SIGHUP"},
    {"tls-ca-path", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED, FIELD(tls_ca_path),
     "Verify client certificates against this CA bundle (PEM)"},
    {"tls-require-client-cert", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, FIXED,
     FIELD(tls_require_client_cert), "Refuse clients without a certificate --tls-ca-path verifies"},
    {"api-key", SR_OPT_STRING_LIST, "KEY", NULL, 0, 0, NULL, FIXED, FIELD(api_keys),
     "Clients must send Authorization: Bearer KEY (repeatable; health probes stay open)"},
    {"api-key-file", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED, FIELD(api_key_file),
     "Read more API keys from a file, one per line (# comments); reread on SIGHUP"},
    {"admin-host", SR_OPT_STRING, "HOST", "127.0.0.1", 0, 0, NULL, FIXED, FIELD(admin_host),
     "Address of the gRPC admin API (RouterAdmin, grpc.health.v1; see sglctl)"},
    {"admin-port", SR_OPT_INT, "PORT", "-1", -1, 65535, NULL, FIXED, FIELD(admin_port),
     "Port of the gRPC admin API (0 = any free port, -1 = off)"},
    {"admin-token", SR_OPT_STRING, "TOKEN", NULL, 0, 0, NULL, FIXED, FIELD(admin_token),
     "Bearer token every admin RPC must carry (health checks excepted; visible in ps: prefer "
     "--admin-token-file)"},
    {"admin-token-file", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED, FIELD(admin_token_file),
     "Read the --admin-token from a file (trailing whitespace trimmed); reread on SIGHUP"},
    {"admin-allow-insecure", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, FIXED,
     FIELD(admin_allow_insecure), "Serve the admin API on a non-loopback address without a token"},
    {"admin-tls-cert-path", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED,
     FIELD(admin_tls_cert_path), "Admin API over TLS: certificate chain (PEM)"},
    {"admin-tls-key-path", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED,
     FIELD(admin_tls_key_path), "Admin API over TLS: private key (PEM)"},
    {"admin-tls-ca-path", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED, FIELD(admin_tls_ca_path),
     "Admin API: require client certificates signed by this CA (mutual TLS)"},
    {"admin-max-message-size", SR_OPT_INT, "BYTES", "4194304", 1024, 268435456, NULL, FIXED,
     FIELD(admin_max_message_size), "Largest admin request message accepted"},
    {"prometheus-host", SR_OPT_STRING, "HOST", "127.0.0.1", 0, 0, NULL, FIXED,
     FIELD(prometheus_host), "Address of the Prometheus metrics listener"},
    {"prometheus-port", SR_OPT_INT, "PORT", "29000", -1, 65535, NULL, FIXED, FIELD(prometheus_port),
     "Port of the metrics listener (0 = any free port, -1 = off)"},
    {"sync-nats-url", SR_OPT_STRING_LIST, "URL", NULL, 0, 0, NULL, FIXED, FIELD(sync_nats_urls),
     "Replica sync: a NATS server (nats://host:4222, tls://...; repeatable for a cluster); "
     "replicas of one --sync-group share placements and load (off when absent)"},
    {"sync-group", SR_OPT_STRING, "NAME", "default", 0, 0, NULL, FIXED, FIELD(sync_group),
     "Replica sync: the replicas that route as one (letters, digits, - and _)"},
    {"sync-nats-token", SR_OPT_STRING, "TOKEN", NULL, 0, 0, NULL, FIXED, FIELD(sync_nats_token),
     "Replica sync: NATS token (visible in ps: prefer --sync-nats-token-file)"},
    {"sync-nats-token-file", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED,
     FIELD(sync_nats_token_file), "Replica sync: read the NATS token from a file"},
    {"sync-nats-user", SR_OPT_STRING, "USER", NULL, 0, 0, NULL, FIXED, FIELD(sync_nats_user),
     "Replica sync: NATS user name (with a password)"},
    {"sync-nats-password", SR_OPT_STRING, "PASSWORD", NULL, 0, 0, NULL, FIXED,
     FIELD(sync_nats_password),
     "Replica sync: NATS password (visible in ps: prefer --sync-nats-password-file)"},
    {"sync-nats-password-file", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED,
     FIELD(sync_nats_password_file), "Replica sync: read the NATS password from a file"},
    {"sync-nats-tls-ca", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED, FIELD(sync_nats_tls_ca),
     "Replica sync: verify the NATS server against this CA bundle (PEM); implies TLS"},
    {"sync-nats-tls-cert", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED,
     FIELD(sync_nats_tls_cert), "Replica sync: client certificate for NATS (PEM; with a key)"},
    {"sync-nats-tls-key", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, FIXED, FIELD(sync_nats_tls_key),
     "Replica sync: private key of that certificate (PEM)"},
    {NULL, 0, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};

const struct sr_option *sr_config_options(void)
{
    return options;
}

const struct sr_option *sr_config_find_option(const char *name)
{
    return sr_options_find(options, name);
}

int sr_config_set(struct sr_config *cfg, const char *name, const char *value, char *err,
                  size_t errlen)
{
    return sr_options_set(options, cfg, name, value, err, errlen);
}

int sr_config_init(struct sr_config *cfg)
{
    return sr_options_init(options, cfg, sizeof(*cfg));
}

void sr_config_clear(struct sr_config *cfg)
{
    sr_options_clear(options, cfg, sizeof(*cfg));
}

int sr_config_copy_runtime(struct sr_config *dst, const struct sr_config *src)
{
    return sr_options_copy_runtime(options, dst, src);
}

void sr_config_apply_process(const struct sr_config *cfg)
{
    enum sr_log_level level;
    if (cfg->log_level && sr_log_parse_level(cfg->log_level, &level) == 0)
        sr_log_set_level(level);
}

int sr_config_parse_args(struct sr_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    return sr_options_parse_args(options, cfg, argc, argv, err, errlen);
}

int sr_config_from_args(struct sr_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    return sr_options_from_args(options, cfg, sizeof(*cfg), argc, argv, out, err);
}

void sr_config_print_help(FILE *out, const char *prog)
{
    sr_options_print_help(options, out, prog);
}

struct sr_policy_params sr_config_policy_params(const struct sr_config *cfg)
{
    return (struct sr_policy_params){
        .cache_threshold = cfg->cache_threshold,
        .cache_routing_prob = cfg->cache_routing_prob,
        .balance_abs_threshold = cfg->balance_abs_threshold,
        .balance_rel_threshold = cfg->balance_rel_threshold,
        .miss_margin = cfg->cache_miss_margin,
        .max_tree_bytes = (size_t)cfg->max_tree_size,
        .eviction_interval_ms = (uint64_t)cfg->eviction_interval_secs * 1000,
        .load_weight = cfg->cache_load_weight,
        .queue_weight = cfg->cache_queue_weight,
        .decode_weight = cfg->load_decode_weight,
        .report_max_age_ms = sr_config_load_max_age_ms(cfg),
    };
}

struct sr_limits sr_config_limits(const struct sr_config *cfg)
{
    return (struct sr_limits){
        .max_concurrent_requests = cfg->max_concurrent_requests,
        .max_concurrent_per_worker = cfg->max_concurrent_per_worker,
        .queue_size = cfg->queue_size,
        .queue_timeout_secs = cfg->queue_timeout_secs,
    };
}

uint64_t sr_config_load_max_age_ms(const struct sr_config *cfg)
{
    return cfg->worker_load_interval_ms > 0 ? 3 * (uint64_t)cfg->worker_load_interval_ms : 0;
}

struct sr_breaker_config sr_config_breaker(const struct sr_config *cfg)
{
    return (struct sr_breaker_config){
        .enabled = !cfg->disable_circuit_breaker,
        .failure_threshold = (uint32_t)cfg->cb_failure_threshold,
        .success_threshold = (uint32_t)cfg->cb_success_threshold,
        .timeout_ms = (uint64_t)cfg->cb_timeout_duration_secs * 1000,
        .window_ms = (uint64_t)cfg->cb_window_duration_secs * 1000,
    };
}
