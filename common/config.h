/*
 * config: the router's settings and the one option table that defines them.
 *
 * Each option is declared once (name, type, metavar, default, bounds,
 * whether and how it may change at runtime with its RouterConfig field in
 * the admin API, help). The same table drives argv parsing, --help,
 * validation messages, the runtime settings (common/settings.h), the admin
 * API's GetConfig/UpdateConfig and sglctl's `config` command (walking the
 * rows; controlplane/config_pb.h), and the README flag table (checked by
 * tests/unit/test_config.c). Defaults exist only in the table.
 *
 * The parsing rules and error messages are those of common/options: one
 * line naming the flag, exit status 2.
 *
 * Ownership: struct sr_config owns its strings; release with
 * sr_config_clear(). Not thread-safe: build a config, then share it
 * read-only.
 */
#ifndef SR_CONFIG_H
#define SR_CONFIG_H

#include "breaker.h"
#include "options.h"
#include "policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sr_config {
    char *host;
    long port;
    struct sr_strlist worker_urls; /* worker specs "URL[@MODEL]" (worker_spec.h), canonical */
    /* prefill/decode disaggregation */
    bool pd_disaggregation;
    struct sr_strlist prefill_urls; /* "URL[@MODEL] PORT|none" */
    struct sr_strlist decode_urls;  /* "URL[@MODEL]" */
    char *prefill_policy;           /* NULL: --policy */
    char *decode_policy;            /* NULL: --policy */
    char *policy;
    double cache_threshold;
    double cache_routing_prob;
    long eviction_interval_secs;
    long max_tree_size;
    long balance_abs_threshold;
    double balance_rel_threshold;
    long cache_miss_margin;
    double cache_load_weight;
    double cache_queue_weight;
    double load_decode_weight;
    char *log_level;
    /* server */
    long threads; /* 0 = one per CPU */
    bool pin_threads;
    long max_payload_size;
    long max_header_size;
    long max_connections;              /* 0 = derived from RLIMIT_NOFILE (main.c) */
    long max_concurrent_requests;      /* 0 = no limit */
    long max_concurrent_per_worker;    /* times the healthy workers; 0 = no limit */
    long response_buffer_budget_bytes; /* response bytes held for clients, in all */
    long slow_client_grace_secs;       /* over budget: a stalled client is closed after this */
    long queue_size;
    long queue_timeout_secs;
    long request_timeout_secs;
    long worker_connect_timeout_secs;
    long keepalive_timeout_secs;
    long client_header_timeout_secs;
    long client_body_timeout_secs;
    long shutdown_grace_period_secs;
    long retry_max_retries;
    /* health checks */
    long health_check_interval_secs;
    long health_check_timeout_secs;
    long health_failure_threshold;
    long health_success_threshold;
    char *health_check_endpoint;
    /* the workers' own load reports (dataplane/load_poll.h); 0 = off */
    long worker_load_interval_ms;
    /* circuit breaker (breaker.h); fixed at start */
    long cb_failure_threshold;
    long cb_success_threshold;
    long cb_timeout_duration_secs;
    long cb_window_duration_secs;
    bool disable_circuit_breaker;
    /* admin, metrics, logs */
    char *admin_api_key;
    char *admin_api_key_file;   /* excludes admin_api_key */
    struct sr_strlist api_keys; /* --api-key only (the file's are in the holder) */
    char *tls_cert_path;
    char *tls_key_path;
    char *tls_ca_path;
    bool tls_require_client_cert;
    char *api_key_file;
    char *admin_host;
    long admin_port; /* -1 = off; 0 = any free port */
    char *admin_token;
    char *admin_token_file; /* excludes admin_token */
    bool admin_allow_insecure;
    char *admin_tls_cert_path;
    char *admin_tls_key_path;
    char *admin_tls_ca_path;
    long admin_max_message_size;
    char *prometheus_host;
    long prometheus_port; /* 0 = any free port; -1 = off */
    bool log_requests;
    /* replica sync over NATS (sync/); off while sync_nats_urls is empty */
    struct sr_strlist sync_nats_urls;
    char *sync_group;
    char *sync_nats_token;
    char *sync_nats_token_file; /* excludes sync_nats_token */
    char *sync_nats_user;
    char *sync_nats_password;
    char *sync_nats_password_file; /* excludes sync_nats_password */
    char *sync_nats_tls_ca;
    char *sync_nats_tls_cert;
    char *sync_nats_tls_key;
};

/* Returned by sr_config_parse_args when --help / -h was given. */
#define SR_CONFIG_HELP SR_OPTIONS_HELP

/* The table, terminated by an entry with name == NULL. */
const struct sr_option *sr_config_options(void);
const struct sr_option *sr_config_find_option(const char *name);

/* Fills cfg with every default. 0 or SR_ERR_NOMEM. */
int sr_config_init(struct sr_config *cfg);
void sr_config_clear(struct sr_config *cfg);

/* Sets one option from text; on error writes a one-line message naming the
 * flag into err. 0, SR_ERR_INVALID, SR_ERR_NOT_FOUND or SR_ERR_NOMEM. */
int sr_config_set(struct sr_config *cfg, const char *name, const char *value, char *err,
                  size_t errlen);

/* Copies the options marked runtime-changeable from src into dst; both
 * initialised. 0 or SR_ERR_NOMEM. */
int sr_config_copy_runtime(struct sr_config *dst, const struct sr_config *src);

/* Sets the process-wide state of the SR_CHANGE_PROCESS options (the log
 * threshold) from cfg: at start, and when the settings change. */
void sr_config_apply_process(const struct sr_config *cfg);

/* Parses argv[1, argc) on top of cfg (which holds defaults). 0,
 * SR_CONFIG_HELP, or a negative error with the message in err. */
int sr_config_parse_args(struct sr_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* The whole command-line contract of a program's main(): fills cfg (from
 * defaults and argv) and returns -1 when the program should go on, or the
 * exit status it should end with: 0 after --help (usage on out), 2 after a
 * bad argument ("<prog>: <one-line message>" on err), 1 when out of memory.
 * On a non-negative return cfg holds nothing to release. */
int sr_config_from_args(struct sr_config *cfg, int argc, char **argv, FILE *out, FILE *err);

/* Writes the usage text, every flag with its default. */
void sr_config_print_help(FILE *out, const char *prog);

/* The policy tunables of cfg. */
struct sr_policy_params sr_config_policy_params(const struct sr_config *cfg);

/* The concurrency limit and its queue (the SR_CHANGE_REQUEST rows of those
 * names; dataplane/pipeline.h applies them). */
struct sr_limits {
    long max_concurrent_requests;   /* 0 = no limit */
    long max_concurrent_per_worker; /* times the healthy workers; 0 = no limit */
    long queue_size;                /* requests that may wait for a slot */
    long queue_timeout_secs;        /* longest wait for one */
};
struct sr_limits sr_config_limits(const struct sr_config *cfg);

/* How old a worker's own load report may be and still count
 * (sr_worker_external_load's max_age_ms): three --worker-load-interval-ms,
 * so one late or lost poll does not drop it; 0 while the poll is off (then
 * no worker ever reports). */
uint64_t sr_config_load_max_age_ms(const struct sr_config *cfg);

/* The circuit breaker settings of cfg. */
struct sr_breaker_config sr_config_breaker(const struct sr_config *cfg);

#endif
