/*
 * sglang-router: the cache-aware reverse proxy for SGLang workers.
 * main: options → shared state (registry, policy) → listening sockets →
 * loop threads → on the main thread: health checks, the workers' load
 * reports, metrics, signals →
 * drain on SIGTERM/SIGINT (in-flight requests finish within the grace
 * period; a second signal stops at once) → exit 0. SIGHUP rereads the TLS
 * certificate and every secret file.
 *
 * main is the one place that knows both the data plane and the control
 * plane: it serves the admin API's hooks (controlplane/admin_service.h)
 * with what the data plane offers (admin_glue.h).
 */
#include "admin_glue.h"
#include "health.h"
#include "load_poll.h"
#include "loop.h"
#include "metrics_http.h"
#include "model_discovery.h"
#include "router.h"
#include "serve.h"
#include "tls.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/worker_spec.h"

#include "sync/flags.h"
#include "sync/sync.h"

#include "controlplane/admin_service.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netdb.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct main_state {
    struct sr_router *router;
    struct event_base *base;
    struct sr_tls_files tls_files;
    struct sr_secret *admin_token; /* --admin-token(-file), or NULL */
    struct event *grace;
    int signals;
};

/* The listening socket on host:port (loop 0 accepts; see loop.h). */
static int listen_on(const char *host, long port, int *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[16];
    snprintf(service, sizeof(service), "%ld", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        sr_log_error("cannot resolve --host %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        sr_log_error("cannot listen on %s:%ld: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct main_state *m = arg;
    sr_log_warn("grace period over: closing what is still in flight");
    for (size_t i = 0; i < m->router->nloops; i++)
        event_base_loopbreak(m->router->loops[i]->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct main_state *m = arg;
    if (++m->signals > 1) {
        on_grace_over(-1, 0, m);
        return;
    }
    sr_log_info("signal %d: draining (up to %lds; a second signal stops at once)", (int)sig,
                m->router->cfg->shutdown_grace_period_secs);
    sr_loop_drain_all(m->router);
    struct timeval tv = {m->router->cfg->shutdown_grace_period_secs, 0};
    event_add(m->grace, &tv);
}

/* Rereads one secret file (what: "API keys", ...); a file that cannot be
 * used keeps the secrets in force. Messages never carry a secret. */
static bool reload_secret(struct sr_secret *s, const char *what)
{
    const char *path = sr_secret_path(s);
    if (path == NULL)
        return false;
    char err[400];
    if (sr_secret_reload(s, err, sizeof(err)) == 0)
        sr_log_info("SIGHUP: %s reloaded from %s (%zu in force)", what, path, sr_secret_count(s));
    else
        sr_log_warn("SIGHUP: keeping the current %s: %s", what, err);
    return true;
}

/* SIGHUP: the public port's certificate and key, and every secret file,
 * are read again. Open connections keep the certificate they started with;
 * new secrets apply to requests and RPCs checked from now on. */
static void on_hangup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct main_state *m = arg;
    bool any = false;
    if (m->router->tls) {
        char err[400];
        if (sr_tls_reload(m->router->tls, err, sizeof(err)) == 0)
            sr_log_info("SIGHUP: TLS certificate reloaded from %s", m->tls_files.cert);
        else
            sr_log_error("SIGHUP: keeping the current TLS certificate: %s", err);
        any = true;
    }
    any |= reload_secret(m->router->api_keys, "API keys");
    any |= reload_secret(m->router->admin_api_key, "admin API key");
    any |= reload_secret(m->admin_token, "admin token");
    if (!any)
        sr_log_info("SIGHUP: no TLS certificate or secret file to reload");
}

/* Ends the main loop once every loop thread has stopped. */
static void *watch_loops(void *arg)
{
    struct main_state *m = arg;
    for (size_t i = 0; i < m->router->nloops; i++)
        sr_loop_join(m->router->loops[i]);
    event_base_loopbreak(m->base);
    return NULL;
}

/* ---- the admin API's hooks, served by the data plane ---------------------------- */

static void admin_totals(void *ctx, struct sr_admin_totals *out)
{
    struct sr_router_totals t;
    sr_admin_glue_totals(ctx, &t);
    *out = (struct sr_admin_totals){
        .in_flight = t.in_flight,
        .queued = t.queued,
        .concurrency_limit = t.concurrency_limit,
        .retries = t.retries,
        .draining = t.draining,
    };
}

static void *admin_flush(void *ctx, struct event_base *base, struct sr_worker_set *set,
                         sr_admin_flush_done done, void *arg)
{
    return sr_admin_glue_flush(ctx, base, set, done, arg);
}

static void admin_flush_cancel(void *handle)
{
    sr_admin_glue_flush_cancel(handle);
}

static void admin_settings_changed(void *ctx)
{
    sr_admin_glue_settings_changed(ctx);
}

static void forget_removed(void *ctx, struct sr_worker *w)
{
    sr_settings_forget_worker(ctx, w);
}

/* One secret holder from a flag and its file form (they exclude each
 * other, but for --api-key, repeatable, whose file adds keys). *out stays
 * NULL when neither is given. false with a one-line message on stderr. */
static bool load_secret(struct sr_secret **out, const char *flag, const char *const *fixed,
                        size_t nfixed, const char *path, enum sr_secret_format fmt, bool exclusive)
{
    if (nfixed == 0 && path == NULL)
        return true;
    if (exclusive && nfixed > 0 && path) {
        fprintf(stderr, "sglang-router: %.*s and %s: give one of them\n",
                (int)(strlen(flag) - strlen("-file")), flag, flag);
        return false;
    }
    char err[400];
    *out = sr_secret_new(fixed, nfixed, flag, path, fmt, err, sizeof(err));
    if (*out == NULL)
        fprintf(stderr, "sglang-router: %s\n", err);
    return *out != NULL;
}

/* The API keys, the admin API key and the admin token, from their flags
 * and files (read now, and again on SIGHUP). */
static bool load_secrets(struct sr_router *r, struct main_state *m, const struct sr_config *cfg)
{
    const char *admin_key = cfg->admin_api_key, *token = cfg->admin_token;
    return load_secret(&r->api_keys, "--api-key-file", (const char *const *)cfg->api_keys.items,
                       cfg->api_keys.n, cfg->api_key_file, SR_SECRET_LINES, false) &&
           load_secret(&r->admin_api_key, "--admin-api-key-file", &admin_key, admin_key != NULL,
                       cfg->admin_api_key_file, SR_SECRET_ONE, true) &&
           load_secret(&m->admin_token, "--admin-token-file", &token, token != NULL,
                       cfg->admin_token_file, SR_SECRET_ONE, true);
}

/* Raises the soft open-file limit to the hard one (what nginx's
 * worker_rlimit_nofile and HAProxy do by default) and returns it. */
static long raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl.rlim_cur = rl.rlim_max;
        else
            sr_log_warn("cannot raise the open-file limit to %llu: %s",
                        (unsigned long long)rl.rlim_max, strerror(errno));
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 100000000 ? 100000000 : (long)rl.rlim_cur;
}

/* --max-connections 0: half of what the open-file limit leaves after 64
 * descriptors for listeners, the admin API, metrics and health checks (a
 * client connection may hold a worker connection as well). */
static long connection_limit(const struct sr_config *cfg, long fd_limit)
{
    if (cfg->max_connections > 0)
        return cfg->max_connections;
    long n = (fd_limit - 64) / 2;
    return n < 16 ? 16 : n;
}

/* The CPUs this process may run on (a container's cpuset, not the host's). */
static long default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* Replica sync: always there (the admin API may turn it on later), joined
 * to NATS at start when --sync-nats-url is given. false after a message on
 * stderr (a bad flag, an unreadable file). */
static bool start_sync(struct sr_router *r, const struct sr_config *cfg)
{
    int err = 0;
    r->sync = sr_sync_new(r->registry, r->settings, &err);
    if (r->sync == NULL) {
        fprintf(stderr, "sglang-router: cannot start the replica sync: %s\n", sr_strerror(err));
        return false;
    }
    if (cfg->sync_nats_urls.n == 0)
        return true;
    char why[400];
    struct sr_sync_flags flags;
    int rc = sr_sync_flags_read(cfg, &flags, why, sizeof(why));
    if (rc == 0) {
        rc = sr_sync_apply(r->sync, &flags.set, why, sizeof(why));
        sr_sync_flags_clear(&flags);
    }
    if (rc != 0) {
        fprintf(stderr, "sglang-router: %s\n", rc == SR_ERR_NOMEM ? "out of memory" : why);
        return false;
    }
    sr_log_info("sync: replicas of group %s share placements and load over NATS", cfg->sync_group);
    return true;
}

/* The workers of --worker-urls, --prefill and --decode, in one step. */
static bool load_workers(struct sr_registry *reg, const struct sr_config *cfg)
{
    if ((cfg->prefill_urls.n || cfg->decode_urls.n) && !cfg->pd_disaggregation) {
        fprintf(stderr, "sglang-router: --prefill and --decode need --pd-disaggregation\n");
        return false;
    }
    const struct sr_strlist *lists[SR_ROLES] = {&cfg->worker_urls, &cfg->prefill_urls,
                                                &cfg->decode_urls};
    static const char *const flags[SR_ROLES] = {"--worker-urls", "--prefill", "--decode"};
    size_t n = cfg->worker_urls.n + cfg->prefill_urls.n + cfg->decode_urls.n, k = 0;
    struct sr_worker_spec_text *texts = sr_calloc(n + 1, sizeof(*texts));
    struct sr_worker_spec *specs = sr_calloc(n + 1, sizeof(*specs));
    bool ok = texts && specs;
    const char *why = NULL;
    for (int role = 0; ok && role < SR_ROLES; role++) {
        for (size_t i = 0; ok && i < lists[role]->n; i++, k++) {
            if (sr_worker_spec_parse(lists[role]->items[i], (enum sr_worker_role)role, &texts[k],
                                     &why) != 0) {
                fprintf(stderr, "sglang-router: %s %s: %s\n", flags[role], lists[role]->items[i],
                        why ? why : "out of memory");
                ok = false;
            }
            specs[k] = texts[k].spec;
        }
    }
    if (ok && n > 0 && sr_registry_replace_specs(reg, specs, n, &why) != 0) {
        fprintf(stderr, "sglang-router: workers: %s\n", why ? why : "out of memory");
        ok = false;
    }
    if (ok && cfg->pd_disaggregation && cfg->worker_urls.n) {
        struct sr_worker_set *set = sr_registry_acquire(reg);
        const struct sr_worker_pool *pool = NULL;
        for (size_t p = 0; p < set->npools; p++) {
            pool = &set->pools[p];
            if (sr_worker_pool_disaggregated(pool) && pool->role[SR_ROLE_REGULAR]->count)
                sr_log_warn("--worker-urls with --pd-disaggregation: %zu worker(s) of model %s are "
                            "not used while that model has prefill/decode workers (name another "
                            "model with URL@MODEL to serve one whole beside it)",
                            pool->role[SR_ROLE_REGULAR]->count,
                            pool->model ? pool->model : "(not named)");
        }
        sr_worker_set_release(set);
    }
    if (ok && cfg->pd_disaggregation && (!cfg->prefill_urls.n || !cfg->decode_urls.n))
        sr_log_warn("--pd-disaggregation without both --prefill and --decode workers: requests "
                    "to a model fail until the admin API adds them");
    for (size_t i = 0; texts && i < n; i++)
        sr_worker_spec_text_clear(&texts[i]);
    sr_free(texts);
    sr_free(specs);
    if (!ok && why == NULL && (!texts || !specs))
        fprintf(stderr, "sglang-router: out of memory\n");
    return ok;
}

int main(int argc, char **argv)
{
    struct sr_config cfg;
    int status = sr_config_from_args(&cfg, argc, argv, stdout, stderr);
    if (status >= 0)
        return status;
    sr_config_apply_process(&cfg);
    sr_alloc_tune_for_server();
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();

    long fd_limit = raise_fd_limit();
    status = 1;
    struct sr_router r = {.cfg = &cfg,
                          .max_connections = connection_limit(&cfg, fd_limit),
                          .breaker = sr_config_breaker(&cfg)};
    struct main_state m = {.router = &r};
    struct sr_health *health = NULL;
    struct sr_load_poll *load_poll = NULL;
    struct sr_model_discovery *models = NULL;
    bool load_poll_failed = false;
    struct sr_metrics_http *metrics = NULL;
    struct sr_admin *admin = NULL;
    struct event *sigint = NULL, *sigterm = NULL, *sighup = NULL;
    pthread_t watcher;
    bool watching = false;
    clock_gettime(CLOCK_MONOTONIC, &r.started);
    r.started_wall = time(NULL);

    int err = 0;
    if (!load_secrets(&r, &m, &cfg)) {
        status = 2;
        goto out;
    }
    r.registry = sr_registry_new();
    r.addrs = sr_addr_book_new();
    static const char *const public_alpn[] = {"h2", "http/1.1", NULL};
    m.tls_files = (struct sr_tls_files){.cert = cfg.tls_cert_path,
                                        .key = cfg.tls_key_path,
                                        .ca = cfg.tls_ca_path,
                                        .require_client_cert = cfg.tls_require_client_cert,
                                        .alpn = public_alpn};
    if (cfg.tls_cert_path || cfg.tls_key_path || cfg.tls_ca_path || cfg.tls_require_client_cert) {
        char why_tls[400];
        if (!cfg.tls_cert_path || !cfg.tls_key_path)
            snprintf(why_tls, sizeof(why_tls), "TLS needs --tls-cert-path and --tls-key-path");
        else if (cfg.tls_require_client_cert && !cfg.tls_ca_path)
            snprintf(why_tls, sizeof(why_tls), "--tls-require-client-cert needs --tls-ca-path");
        else
            r.tls = sr_tls_new(&m.tls_files, why_tls, sizeof(why_tls));
        if (r.tls == NULL) {
            fprintf(stderr, "sglang-router: %s\n", why_tls);
            status = 2;
            goto out;
        }
    }
    r.settings = sr_settings_new(&cfg, &err);
    if (r.registry == NULL || r.addrs == NULL || r.settings == NULL) {
        fprintf(stderr, "sglang-router: cannot start: %s\n", sr_strerror(err ? err : SR_ERR_NOMEM));
        goto out;
    }
    /* A removed worker leaves every policy's tree at once (before its id
     * can be reused by a newcomer). */
    struct sr_registry_listener on_change = {.removed = forget_removed, .ctx = r.settings};
    sr_registry_set_listener(r.registry, &on_change);
    if (!load_workers(r.registry, &cfg)) {
        status = 2;
        goto out;
    }

    if (!start_sync(&r, &cfg)) {
        status = 2;
        goto out;
    }

    r.nloops = (size_t)(cfg.threads > 0 ? cfg.threads : default_threads());
    r.loops = sr_calloc(r.nloops, sizeof(*r.loops));
    if (r.loops == NULL)
        goto out;
    int port = 0;
    int fd = listen_on(cfg.host, cfg.port, &port);
    if (fd < 0)
        goto out;
    for (size_t i = 0; i < r.nloops; i++) {
        r.loops[i] = sr_loop_new(&r, i, i == 0 ? fd : -1, &sr_serve_hooks);
        if (r.loops[i] == NULL) {
            if (i == 0)
                close(fd);
            fprintf(stderr, "sglang-router: out of memory\n");
            goto out;
        }
    }

    struct event_config *ec = event_config_new();
    if (ec) {
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
        m.base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    if (m.base == NULL)
        goto out;
    int metrics_port = -1;
    if (cfg.prometheus_port >= 0 &&
        (metrics = sr_metrics_http_new(&r, m.base, &metrics_port)) == NULL) {
        /* Most often a second router on the host, on the default port. */
        fprintf(stderr,
                "sglang-router: cannot serve metrics on %s:%ld (is another router using it?): "
                "set --prometheus-port to a free port, 0 for any free port, or -1 to turn the "
                "metrics listener off\n",
                cfg.prometheus_host, cfg.prometheus_port);
        goto out;
    }
    health = sr_health_new(&r, m.base);
    load_poll = sr_load_poll_new(&r, m.base, &load_poll_failed);
    models = sr_model_discovery_new(&r, m.base);
    m.grace = evtimer_new(m.base, on_grace_over, &m);
    sigint = evsignal_new(m.base, SIGINT, on_signal, &m);
    sigterm = evsignal_new(m.base, SIGTERM, on_signal, &m);
    sighup = evsignal_new(m.base, SIGHUP, on_hangup, &m);
    if (health == NULL || load_poll_failed || models == NULL || m.grace == NULL || sigint == NULL ||
        sigterm == NULL || sighup == NULL || evsignal_add(sigint, NULL) != 0 ||
        evsignal_add(sigterm, NULL) != 0 || evsignal_add(sighup, NULL) != 0)
        goto out;

    for (size_t i = 0; i < r.nloops; i++) {
        if (sr_loop_start(r.loops[i]) != 0) {
            fprintf(stderr, "sglang-router: cannot start thread %zu\n", i);
            sr_loop_drain_all(&r);
            for (size_t k = 0; k < i; k++)
                sr_loop_join(r.loops[k]);
            r.nloops = i; /* the rest never ran */
            goto out;
        }
    }
    if (cfg.admin_port >= 0) {
        struct sr_admin_config ac = {
            .host = cfg.admin_host,
            .port = cfg.admin_port,
            .token = m.admin_token,
            .allow_insecure = cfg.admin_allow_insecure,
            .max_message = (size_t)cfg.admin_max_message_size,
            .tls_cert = cfg.admin_tls_cert_path,
            .tls_key = cfg.admin_tls_key_path,
            .tls_ca = cfg.admin_tls_ca_path,
            .sync = r.sync,
            .load_max_age_ms = sr_config_load_max_age_ms(&cfg),
        };
        struct sr_admin_hooks hooks = {.ctx = &r,
                                       .totals = admin_totals,
                                       .flush_workers = admin_flush,
                                       .cancel_flush = admin_flush_cancel,
                                       .settings_changed = admin_settings_changed};
        char why_not[400];
        admin = sr_admin_start(&ac, r.registry, r.settings, &hooks, why_not, sizeof(why_not));
        if (admin == NULL) {
            fprintf(stderr, "sglang-router: %s\n", why_not);
            status = 2;
            sr_loop_drain_all(&r);
            for (size_t k = 0; k < r.nloops; k++)
                sr_loop_join(r.loops[k]);
            goto out;
        }
    }
    watching = pthread_create(&watcher, NULL, watch_loops, &m) == 0;
    if (cfg.pd_disaggregation)
        printf("sglang-router listening on %s://%s:%d (%zu threads, policy %s, %zu prefill + %zu "
               "decode workers)\n",
               r.tls ? "https" : "http", cfg.host, port, r.nloops, cfg.policy, cfg.prefill_urls.n,
               cfg.decode_urls.n);
    else
        printf("sglang-router listening on %s://%s:%d (%zu threads, policy %s, %zu workers)\n",
               r.tls ? "https" : "http", cfg.host, port, r.nloops, cfg.policy, cfg.worker_urls.n);
    sr_log_info("open-file limit %ld: up to %ld client connections", fd_limit, r.max_connections);
    if (metrics)
        printf("sglang-router metrics on http://%s:%d/metrics\n", cfg.prometheus_host,
               metrics_port);
    if (admin)
        printf("sglang-router admin gRPC on %s:%d\n", cfg.admin_host, sr_admin_port(admin));
    fflush(stdout);
    event_base_dispatch(m.base);
    if (watching)
        pthread_join(watcher, NULL);
    sr_log_info("stopped");
    status = 0;
out:
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (sighup)
        event_free(sighup);
    /* What is left is bounded (the admin API's last calls, at most its
     * stop grace; frees): a repeated stop signal must not turn a clean
     * exit into a kill. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (m.grace)
        event_free(m.grace);
    sr_admin_stop(admin);
    sr_load_poll_free(load_poll);
    sr_model_discovery_free(models);
    sr_health_free(health);
    sr_metrics_http_free(metrics);
    for (size_t i = 0; r.loops && i < r.nloops; i++)
        sr_loop_free(r.loops[i]);
    sr_free(r.loops);
    sr_sync_free(r.sync); /* after the loops: they publish through it */
    if (m.base)
        event_base_free(m.base);
    sr_registry_free(r.registry);
    sr_settings_free(r.settings);
    sr_tls_free(r.tls);
    sr_secret_free(r.api_keys);
    sr_secret_free(r.admin_api_key);
    sr_secret_free(m.admin_token);
    sr_addr_book_free(r.addrs);
    sr_config_clear(&cfg);
    return status;
}
