/*
 * sglang-worker-sim: a simulated SGLang worker (see tests/sim/README.md).
 * main: options → cache model → engine → listener → event loop; SIGINT and
 * SIGTERM end it with status 0.
 */
#include "api.h"
#include "bootstrap.h"
#include "room_fetch.h"
#include "server.h"
#include "sim.h"
#include "sim_config.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

double sr_sim_uptime_ms(const struct sr_sim *sim)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - sim->started.tv_sec) * 1e3 +
           (double)(now.tv_nsec - sim->started.tv_nsec) / 1e6;
}

static int json_literal(const char *s, char *out, size_t len)
{
    json_t *str = json_string(s);
    char *text = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
    json_decref(str);
    if (text == NULL || strlen(text) >= len) {
        free(text);
        return -1;
    }
    strcpy(out, text);
    free(text);
    return 0;
}

/* A profile NAME is NAME.conf in $SGLANG_SIM_PROFILE_DIR, beside the
 * installed binaries (share/sglang-router/sim-profiles) or in the source
 * tree; anything with a '/' or ending in .conf is a file path. */
static void profile_path(const char *profile, char *out, size_t len)
{
    size_t n = strlen(profile);
    if (strchr(profile, '/') || (n > 5 && strcmp(profile + n - 5, ".conf") == 0)) {
        snprintf(out, len, "%s", profile);
        return;
    }
    const char *env = getenv("SGLANG_SIM_PROFILE_DIR");
    if (env && env[0]) {
        snprintf(out, len, "%s/%s.conf", env, profile);
        return;
    }
    char exe[PATH_MAX];
    ssize_t got = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (got > 0) {
        exe[got] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(out, len, "%s/../share/sglang-router/sim-profiles/%s.conf", exe, profile);
        if (access(out, R_OK) == 0)
            return;
    }
    snprintf(out, len, "%s/%s.conf", SR_SIM_PROFILE_DIR, profile);
}

/* Defaults, then the profile (if --profile names one), then argv again so
 * that flags override the profile. -1 to go on, else the exit status. */
static int load_settings(struct sr_sim_config *cfg, int argc, char **argv)
{
    int status =
        sr_options_from_args(sr_sim_options(), cfg, sizeof(*cfg), argc, argv, stdout, stderr);
    if (status >= 0 || cfg->profile == NULL)
        return status;
    char path[PATH_MAX + 64], err[768];
    profile_path(cfg->profile, path, sizeof(path));
    sr_options_clear(sr_sim_options(), cfg, sizeof(*cfg));
    if (sr_options_init(sr_sim_options(), cfg, sizeof(*cfg)) != 0) {
        fprintf(stderr, "sglang-worker-sim: out of memory\n");
        return 1;
    }
    int rc = sr_options_load_file(sr_sim_options(), cfg, path, err, sizeof(err));
    if (rc == 0)
        rc = sr_options_parse_args(sr_sim_options(), cfg, argc, argv, err, sizeof(err));
    if (rc == 0)
        return -1;
    fprintf(stderr, "sglang-worker-sim: --profile: %s\n", err);
    sr_options_clear(sr_sim_options(), cfg, sizeof(*cfg));
    return rc == SR_ERR_NOMEM ? 1 : 2;
}

/* Settings that only make sense together. -1 to go on, else 2. */
static int check_settings(struct sr_sim_config *cfg)
{
    /* llama.cpp's host cache works on slots: one per running request. */
    if (cfg->host_cache_mib > 0 && cfg->cache_sequences < cfg->max_running_requests) {
        fprintf(stderr, "sglang-worker-sim: --host-cache-mib needs --cache-sequences (llama.cpp's "
                        "slots) of at least --max-running-requests\n");
        sr_options_clear(sr_sim_options(), cfg, sizeof(*cfg));
        return 2;
    }
    return -1;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    sr_log_warn("signal %d: exiting", (int)sig); /* seen in a test's log when a sim stops early */
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    struct sr_sim_config cfg;
    int status = load_settings(&cfg, argc, argv);
    if (status < 0)
        status = check_settings(&cfg);
    if (status >= 0)
        return status;
    enum sr_log_level level;
    if (sr_log_parse_level(cfg.log_level, &level) == 0)
        sr_log_set_level(level);
    signal(SIGPIPE, SIG_IGN);

    struct sr_sim sim = {.cfg = &cfg};
    if (strcmp(cfg.disaggregation_mode, "prefill") == 0)
        sim.role = SR_SIM_ROLE_PREFILL;
    else if (strcmp(cfg.disaggregation_mode, "decode") == 0)
        sim.role = SR_SIM_ROLE_DECODE;
    clock_gettime(CLOCK_MONOTONIC, &sim.started);
    sim.started_unix = (long long)time(NULL);
    sr_rng_seed(&sim.rng, (uint64_t)cfg.seed);
    struct sr_sim_engine_params params = {
        .max_running = (uint32_t)cfg.max_running_requests,
        .max_queued = (uint32_t)cfg.max_queued_requests,
        .prefill_tokens_per_sec = cfg.prefill_tokens_per_sec,
        .prefill_overhead_ms = cfg.prefill_overhead_ms,
        .prefill_cached_token_us = cfg.prefill_cached_token_us,
        .decode_step_ms = cfg.decode_step_ms,
        .decode_step_growth = cfg.decode_step_growth,
        .decode_context_us = cfg.decode_context_us,
        .host_cache_save_us = cfg.host_cache_save_us,
        .host_cache_restore_us = cfg.host_cache_restore_us,
        .time_scale = cfg.time_scale,
        .zero_latency = cfg.zero_latency,
    };
    status = 1;
    struct evconnlistener *listener = NULL, *bootstrap_listener = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    /* Precise timers: libevent's default monotonic clock on Linux is the
     * coarse one (4 ms ticks), too rough for token-by-token timing. */
    struct event_config *ecfg = event_config_new();
    if (ecfg == NULL)
        goto out;
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    sim.base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (sim.base == NULL)
        goto out;
    sim.kv = sr_sim_kv_new((uint64_t)cfg.kv_capacity_tokens, (uint32_t)cfg.cache_sequences);
    if (cfg.host_cache_mib > 0)
        sim.hc = sr_sim_host_cache_new((uint64_t)cfg.host_cache_mib << 20,
                                       (uint64_t)cfg.kv_bytes_per_token);
    if (sim.kv && (sim.hc || cfg.host_cache_mib == 0))
        sim.engine = sr_sim_engine_new(sim.base, sim.kv, sim.hc, &params);
    sim.scratch = evbuffer_new();
    if (sim.role == SR_SIM_ROLE_PREFILL)
        sim.bootstrap = sr_sim_bootstrap_new(&sim);
    if (sim.role == SR_SIM_ROLE_DECODE)
        sim.fetcher = sr_sim_fetcher_new(sim.base);
    if (sim.engine == NULL || sim.scratch == NULL ||
        (sim.role == SR_SIM_ROLE_PREFILL && sim.bootstrap == NULL) ||
        (sim.role == SR_SIM_ROLE_DECODE && sim.fetcher == NULL)) {
        fprintf(stderr, "sglang-worker-sim: out of memory\n");
        goto out;
    }
    struct sr_sim_endpoint api = {&sim, &sr_sim_api_routes};
    int port = 0;
    listener = sr_sim_server_listen(&api, cfg.port, &port);
    if (listener == NULL)
        goto out;
    /* The prefill role's bootstrap service: its own port, the same loop. */
    struct sr_sim_endpoint bootstrap = {&sim, &sr_sim_bootstrap_routes};
    if (sim.role == SR_SIM_ROLE_PREFILL) {
        bootstrap_listener = sr_sim_server_listen(&bootstrap, cfg.disaggregation_bootstrap_port,
                                                  &sim.bootstrap_port);
        if (bootstrap_listener == NULL)
            goto out;
    }
    if (cfg.worker_id)
        snprintf(sim.worker_id, sizeof(sim.worker_id), "%s", cfg.worker_id);
    else
        snprintf(sim.worker_id, sizeof(sim.worker_id), "%s:%d", cfg.host, port);
    const char *model = cfg.served_model_name ? cfg.served_model_name : cfg.model_path;
    if (json_literal(sim.worker_id, sim.worker_id_json, sizeof(sim.worker_id_json)) != 0 ||
        json_literal(model, sim.model_name_json, sizeof(sim.model_name_json)) != 0) {
        fprintf(stderr, "sglang-worker-sim: --worker-id or model name too long\n");
        goto out;
    }
    sigint = evsignal_new(sim.base, SIGINT, on_signal, sim.base);
    sigterm = evsignal_new(sim.base, SIGTERM, on_signal, sim.base);
    if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0)
        goto out;
    printf("sglang-worker-sim %s listening on http://%s:%d\n", sim.worker_id, cfg.host, port);
    if (sim.role == SR_SIM_ROLE_PREFILL)
        printf("sglang-worker-sim %s bootstrap listening on http://%s:%d\n", sim.worker_id,
               cfg.host, sim.bootstrap_port);
    fflush(stdout);
    if (event_base_dispatch(sim.base) < 0) {
        sr_log_error("event loop failed: %s", strerror(errno)); /* closes every connection */
        goto out;
    }
    status = 0;
out:
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (listener)
        evconnlistener_free(listener);
    if (bootstrap_listener)
        evconnlistener_free(bootstrap_listener);
    sr_sim_server_close_all(&sim); /* jobs first: they hold room fetches */
    sr_sim_fetcher_free(sim.fetcher);
    sr_sim_bootstrap_free(sim.bootstrap);
    if (sim.scratch)
        evbuffer_free(sim.scratch);
    free(sim.last_request);
    sr_sim_engine_free(sim.engine);
    sr_sim_host_cache_free(sim.hc);
    sr_sim_kv_free(sim.kv);
    if (sim.base)
        event_base_free(sim.base);
    sr_options_clear(sr_sim_options(), &cfg, sizeof(cfg));
    return status;
}
