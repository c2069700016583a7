/*
 * sglang-launch-server: the seed's co-launch mode, a drop-in for
 * `--dp-size N`. Starts N workers (SGLang, the simulated worker, or any
 * server from a command template) on free ports, waits until every one is
 * healthy, then runs sglang-router in front of them (or R replicas of it
 * syncing through a local nats-server: --router-replicas R, replicas.h),
 * and supervises:
 *
 *   options → ports → workers (own process groups, dying with the launcher)
 *   → health wait (progress, timeout, a worker that exits: error with the
 *   tail of its log, everything stopped) → nats-server (R > 1) → routers
 *   → supervise (a worker that dies is logged and, with --restart-workers,
 *   restarted with backoff, the router's health checks skip it meanwhile;
 *   nats-server is always restarted with backoff, the replicas route alone
 *   meanwhile; a router that dies stops everything) → SIGINT/SIGTERM: the
 *   routers drain, then nats-server and then the workers get SIGTERM;
 *   SIGKILL for what outlives the grace period.
 *
 * With --prefill-size N --decode-size M instead of --dp-size, the workers
 * are N prefill and M decode workers (--disaggregation-mode, a bootstrap
 * port each for prefill) and the router runs with --pd-disaggregation.
 *
 * Router flags are given with a --router- prefix (--router-policy ...), as
 * the reference does; everything after "--" goes to every worker.
 */
#include "launcher.h"
#include "nats.h"

#include "common/alloc.h"
#include "common/config.h"
#include "common/options.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const backends[] = {"auto", "sglang", "sim", "llamacpp", NULL};

#define FIELD(f) offsetof(struct launch_config, f)
static const struct sr_option options[] = {
    {"model-path", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, NULL, FIELD(model_path),
     "Model to serve (passed to every worker)"},
    {"dp-size", SR_OPT_INT, "N", "1", 1, MAX_WORKERS, NULL, NULL, FIELD(dp_size),
     "Number of data-parallel workers"},
    {"host", SR_OPT_STRING, "HOST", "127.0.0.1", 0, 0, NULL, NULL, FIELD(host),
     "Address of the router"},
    {"port", SR_OPT_INT, "PORT", "30000", 1, 65535, NULL, NULL, FIELD(port),
     "Port of the router (of replica i: --port + i)"},
    {"tp-size", SR_OPT_INT, "T", "1", 1, 64, NULL, NULL, FIELD(tp_size),
     "GPUs per worker (sglang backend: --tp-size, --base-gpu-id rank*T)"},
    {"worker-base-port", SR_OPT_INT, "PORT", "31000", 1024, 65535, NULL, NULL,
     FIELD(worker_base_port), "First port tried for the workers (taken ports are skipped)"},
    {"backend", SR_OPT_CHOICE, NULL, "auto", 0, 0, backends, NULL, FIELD(backend),
     "Workers to run: sglang, sim (sglang-worker-sim), llamacpp (llama.cpp on CPU, a .gguf "
     "--model-path), or auto (sglang if importable, else sim)"},
    {"worker-cmd", SR_OPT_STRING, "TEMPLATE", NULL, 0, 0, NULL, NULL, FIELD(worker_cmd),
     "Run any OpenAI/SGLang-compatible server instead: a shell command with {port}, {rank}, "
     "{gpu_id}"},
    {"log-dir", SR_OPT_STRING, "DIR", NULL, 0, 0, NULL, NULL, FIELD(log_dir),
     "Per-process logs (worker-<rank>.log, router.log or router-<i>.log, nats-server.log); "
     "else output goes to stdout, each line prefixed by its process"},
    {"worker-startup-timeout-secs", SR_OPT_INT, "SECS", "1800", 1, 86400, NULL, NULL,
     FIELD(worker_startup_timeout_secs), "How long every worker has to become healthy"},
    {"restart-workers", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, NULL, FIELD(restart_workers),
     "Restart a worker that dies (backoff 1 s doubling to 30 s)"},
    {"shutdown-grace-secs", SR_OPT_INT, "SECS", "30", 1, 3600, NULL, NULL,
     FIELD(shutdown_grace_secs),
     "On stop: time for the routers, then nats-server, then the workers, before SIGKILL"},
    {"router-replicas", SR_OPT_INT, "N", "1", 1, SR_REPLICAS_MAX, NULL, NULL,
     FIELD(router_replicas),
     "Router replicas in front of the workers, replica i on --port + i; with N > 1 they sync "
     "through a local nats-server ($SR_NATS_SERVER, else from PATH, /usr/sbin, /usr/bin)"},
    {"prefill-size", SR_OPT_INT, "N", "0", 0, MAX_WORKERS, NULL, NULL, FIELD(prefill_size),
     "Prefill/decode disaggregation: N prefill workers (--disaggregation-mode prefill, each "
     "with a free --disaggregation-bootstrap-port), with --decode-size, instead of --dp-size; "
     "the router runs with --pd-disaggregation (sim and sglang backends)"},
    {"decode-size", SR_OPT_INT, "M", "0", 0, MAX_WORKERS, NULL, NULL, FIELD(decode_size),
     "... and M decode workers (--disaggregation-mode decode)"},
    {"llamacpp-python", SR_OPT_STRING, "PATH", "python3", 0, 0, NULL, NULL, FIELD(llamacpp_python),
     "llamacpp backend: the Python that has xllamacpp installed"},
    {"llamacpp-threads", SR_OPT_INT, "N", "1", 1, 256, NULL, NULL, FIELD(llamacpp_threads),
     "llamacpp backend: CPU threads per worker"},
    {"llamacpp-ctx", SR_OPT_INT, "TOKENS", "4096", 256, 1048576, NULL, NULL, FIELD(llamacpp_ctx),
     "llamacpp backend: context per slot"},
    {"llamacpp-slots", SR_OPT_INT, "N", "1", 1, 256, NULL, NULL, FIELD(llamacpp_slots),
     "llamacpp backend: requests a worker decodes in parallel"},
    {"llamacpp-cache-ram-mib", SR_OPT_INT, "MIB", "256", 0, 1048576, NULL, NULL,
     FIELD(llamacpp_cache_ram_mib),
     "llamacpp backend: host-RAM prompt cache per worker (0: a slot keeps its last prompt only)"},
    {NULL, 0, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};

/* ---- arguments ---------------------------------------------------------------- */

/* Whether arg is one of the launcher's own flags (--router-replicas). */
static bool own_flag(const char *arg)
{
    char name[64];
    size_t len = strcspn(arg + 2, "=");
    if (len >= sizeof(name))
        return false;
    memcpy(name, arg + 2, len);
    name[len] = '\0';
    return sr_options_find(options, name) != NULL;
}

/* Splits argv into the launcher's own flags, --router-* flags (prefix
 * removed, values kept) and what follows "--". */
static int split_args(struct launcher *L, int argc, char **argv, char **own, int *nown)
{
    *nown = 0;
    own[(*nown)++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            L->extra = argv + i + 1;
            L->nextra = argc - i - 1;
            break;
        }
        if (strncmp(argv[i], "--router-", 9) != 0 || own_flag(argv[i])) {
            own[(*nown)++] = argv[i];
            continue;
        }
        char *flag = sr_launch_fmt("--%s", argv[i] + 9);
        if (flag == NULL)
            return -1;
        L->router_args[L->nrouter_args++] = flag;
        char name[128];
        snprintf(name, sizeof(name), "%s", flag + 2);
        char *eq = strchr(name, '=');
        if (eq)
            continue;
        const struct sr_option *o = sr_config_find_option(name);
        if (o && o->type == SR_OPT_FLAG)
            continue;
        /* A value (several for a list) follows. */
        while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0 &&
               L->nrouter_args < MAX_ARGS - 8) {
            L->router_args[L->nrouter_args++] = argv[++i];
            if (!(o && (o->type == SR_OPT_URL_LIST || o->type == SR_OPT_WORKER_LIST ||
                        (o->type == SR_OPT_PREFILL_LIST && i + 1 < argc &&
                         (strcmp(argv[i + 1], "none") == 0 ||
                          (argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9'))))))
                break;
        }
    }
    return 0;
}

/* The router's own parser checks the --router-* flags before anything runs. */
static int check_router_args(struct launcher *L)
{
    static const struct {
        const char *flag, *instead;
    } reserved[] = {
        {"--host", "--host"},
        {"--port", "--port"},
        {"--worker-urls", "--dp-size"},
        {"--pd-disaggregation", "--prefill-size and --decode-size"},
        {"--prefill", "--prefill-size"},
        {"--decode", "--decode-size"},
    };
    for (int i = 0; i < L->nrouter_args; i++)
        for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++) {
            size_t n = strlen(reserved[k].flag);
            if (strncmp(L->router_args[i], reserved[k].flag, n) == 0 &&
                (L->router_args[i][n] == '\0' || L->router_args[i][n] == '=')) {
                sr_launch_say("--router%s: set by the launcher (use %s)", reserved[k].flag + 1,
                              reserved[k].instead);
                return -1;
            }
        }
    char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = "sglang-router";
    for (int i = 0; i < L->nrouter_args; i++)
        argv[argc++] = L->router_args[i];
    struct sr_config cfg;
    char err[512];
    if (sr_config_init(&cfg) != 0)
        return -1;
    int rc = sr_config_parse_args(&cfg, argc, argv, err, sizeof(err));
    sr_config_clear(&cfg);
    if (rc != 0) {
        sr_launch_say("router flag %s",
                      rc == SR_CONFIG_HELP ? "--help: see sglang-router --help" : err);
        return -1;
    }
    return 0;
}

/* ---- phases -------------------------------------------------------------------- */

static int startup_exit = -1; /* set by on_startup_exit */

static void on_startup_exit(struct launcher *L, int kind, int index, int status)
{
    (void)L;
    if (startup_exit == -1 && kind == WORKERS)
        startup_exit = index;
    (void)status;
}

static int wait_healthy(struct launcher *L)
{
    long long deadline = sr_launch_now_ms() + L->cfg.worker_startup_timeout_secs * 1000;
    long long last_note = 0;
    long healthy = -1;
    for (;;) {
        int sig = sr_launch_wait(L, 250, on_startup_exit);
        if (sig) {
            sr_launch_say("signal %d during startup: stopping", sig);
            sr_launch_stop(L);
            return 0;
        }
        if (startup_exit >= 0) {
            struct worker *w = &L->workers[startup_exit];
            char what[160];
            snprintf(what, sizeof(what), "worker rank %d (port %d) exited during startup", w->rank,
                     w->port);
            sr_launch_fail(L, &w->proc, what);
            return 1;
        }
        long now = 0, waiting = -1;
        for (long i = 0; i < L->nworkers; i++) {
            struct worker *w = &L->workers[i];
            if (!w->healthy)
                w->healthy = sr_http_probe(w->port, "/health", 200) == 200;
            now += w->healthy;
            if (!w->healthy && waiting < 0)
                waiting = i;
        }
        if (now == L->nworkers) {
            sr_launch_say("%ld/%d workers healthy", now, L->nworkers);
            return -1;
        }
        if (now != healthy || sr_launch_now_ms() - last_note > 10000) {
            sr_launch_say("%ld/%d workers healthy, waiting for rank %ld (port %d) ...", now,
                          L->nworkers, waiting, L->workers[waiting].port);
            healthy = now;
            last_note = sr_launch_now_ms();
        }
        if (sr_launch_now_ms() > deadline) {
            struct worker *w = &L->workers[waiting];
            char what[200];
            snprintf(what, sizeof(what),
                     "worker rank %d (port %d) not healthy after %lds "
                     "(--worker-startup-timeout-secs)",
                     w->rank, w->port, L->cfg.worker_startup_timeout_secs);
            sr_launch_fail(L, &w->proc, what);
            return 1;
        }
    }
}

static int router_died; /* replica index + 1, set by on_running_exit */

/* 1 s doubling to 30 s. */
static long long backoff_ms(int restarts)
{
    long long delay = 1000LL << (restarts < 5 ? restarts : 5);
    return delay > 30000 ? 30000 : delay;
}

static void on_running_exit(struct launcher *L, int kind, int index, int status)
{
    if (kind == ROUTERS) {
        if (!router_died)
            router_died = index + 1;
        return;
    }
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
    if (kind == NATS) {
        if (!L->nats_up)
            return; /* start_services() reports it */
        L->nats.restart_at = sr_launch_now_ms() + backoff_ms(L->nats.restarts);
        sr_launch_say(
            "nats-server (port %d) %s; restarting in %llds (the router replicas route alone "
            "meanwhile)",
            L->nats.port, how, backoff_ms(L->nats.restarts) / 1000);
        return;
    }
    struct worker *w = &L->workers[index];
    w->healthy = false;
    if (L->cfg.restart_workers) {
        w->restart_at = sr_launch_now_ms() + backoff_ms(w->restarts);
        sr_launch_say("worker rank %d (port %d) %s; restarting in %llds", w->rank, w->port, how,
                      backoff_ms(w->restarts) / 1000);
    } else {
        sr_launch_say(
            "worker rank %d (port %d) %s; the router skips it (--restart-workers restarts it)",
            w->rank, w->port, how);
    }
}

static void fail_router(struct launcher *L, int index, const char *what)
{
    char name[64], msg[160];
    snprintf(msg, sizeof(msg), "%s %s", sr_launch_router_name(L, index, name, sizeof(name)), what);
    sr_launch_fail(L, &L->routers[index].proc, msg);
}

static void restart_due(struct launcher *L)
{
    long long now = sr_launch_now_ms();
    for (long i = 0; i < L->nworkers; i++) {
        struct worker *w = &L->workers[i];
        if (w->restart_at && now >= w->restart_at && w->proc.pid == 0) {
            w->restart_at = 0;
            w->restarts++;
            if (sr_launch_start_worker(L, w) == 0)
                sr_launch_say("worker rank %d restarted (pid %d)", w->rank, (int)w->proc.pid);
        }
    }
    struct service *n = &L->nats;
    if (n->restart_at && now >= n->restart_at && n->proc.pid == 0) {
        n->restarts++;
        n->restart_at = sr_launch_start_nats(L) == 0 ? 0 : now + backoff_ms(n->restarts);
        if (n->restart_at == 0)
            sr_launch_say("nats-server restarted (pid %d)", (int)n->proc.pid);
    }
}

static int supervise(struct launcher *L)
{
    for (;;) {
        int sig = sr_launch_wait(L, 250, on_running_exit);
        if (sig) {
            sr_launch_say("signal %d: %s, then %sthe workers stop", sig,
                          L->nrouters > 1 ? "the routers drain" : "the router drains",
                          L->nats.port ? "nats-server and " : "");
            sr_launch_stop(L);
            return 0;
        }
        if (router_died) {
            fail_router(L, router_died - 1, "exited");
            return 1;
        }
        restart_due(L);
    }
}

/* nats-server (when the launcher runs one) until it accepts connections,
 * then the routers until every one is ready: -1, or the exit status. */
static int start_services(struct launcher *L)
{
    long long deadline = sr_launch_now_ms() + 30000;
    if (L->nats.port && sr_launch_start_nats(L) != 0) {
        sr_launch_stop(L);
        return 1;
    }
    while (L->nats.port && !sr_tcp_accepts(L->nats.port)) {
        int sig = sr_launch_wait(L, 50, on_running_exit);
        if (L->nats.proc.pid == 0 || sr_launch_now_ms() > deadline) {
            char what[160];
            snprintf(what, sizeof(what), "nats-server (port %d) %s", L->nats.port,
                     L->nats.proc.pid ? "not accepting connections after 30s"
                                      : "exited during startup");
            sr_launch_fail(L, &L->nats.proc, what);
            return 1;
        }
        if (sig) {
            sr_launch_stop(L);
            return 0;
        }
    }
    L->nats_up = true;
    for (int i = 0; i < L->nrouters; i++) {
        if (sr_launch_start_router(L, i) != 0) {
            sr_launch_stop(L);
            return 1;
        }
    }
    deadline = sr_launch_now_ms() + 30000;
    for (int i = 0; i < L->nrouters; i++) {
        while (sr_http_probe(L->routers[i].port, "/readiness", 200) != 200) {
            int sig = sr_launch_wait(L, 100, on_running_exit);
            if (router_died || sr_launch_now_ms() > deadline) {
                fail_router(L, router_died ? router_died - 1 : i, "did not become ready");
                return 1;
            }
            if (sig) {
                sr_launch_stop(L);
                return 0;
            }
        }
    }
    return -1;
}

/* The workers: --dp-size regular ones, or --prefill-size prefill and
 * --decode-size decode ones (ranks in that order). 0 or -1 (said why). */
static int check_fleet(struct launcher *L)
{
    long np = L->cfg.prefill_size, nd = L->cfg.decode_size;
    if (np == 0 && nd == 0) {
        L->nworkers = (int)L->cfg.dp_size;
        return 0;
    }
    if (np == 0 || nd == 0) {
        sr_launch_say("--prefill-size and --decode-size go together (a disaggregated fleet needs "
                      "prefill and decode workers)");
        return -1;
    }
    if (L->cfg.dp_size != 1) {
        sr_launch_say("--dp-size and --prefill-size/--decode-size: give one");
        return -1;
    }
    if (np + nd > MAX_WORKERS) {
        sr_launch_say("--prefill-size + --decode-size: at most %d workers", MAX_WORKERS);
        return -1;
    }
    if (strcmp(L->backend, "sim") != 0 && strcmp(L->backend, "sglang") != 0) {
        sr_launch_say("--prefill-size and --decode-size need --backend sim or sglang (workers "
                      "that take --disaggregation-mode); not %s",
                      L->cfg.worker_cmd ? "--worker-cmd" : L->backend);
        return -1;
    }
    L->nworkers = (int)(np + nd);
    for (int i = 0; i < L->nworkers; i++)
        L->workers[i].role = i < np ? SR_ROLE_PREFILL : SR_ROLE_DECODE;
    return 0;
}

/* Options and checks: -1 to go on, or the exit status. */
static int prepare(struct launcher *L, int argc, char **argv)
{
    char *own[MAX_ARGS];
    int nown = 0;
    L->router_args = sr_calloc(MAX_ARGS, sizeof(char *));
    if (L->router_args == NULL || argc > MAX_ARGS || split_args(L, argc, argv, own, &nown) != 0) {
        sr_launch_say("out of memory or too many arguments");
        return 1;
    }
    int status = sr_options_from_args(options, &L->cfg, sizeof(L->cfg), nown, own, stdout, stderr);
    if (status >= 0)
        return status;
    if (L->cfg.model_path == NULL && L->cfg.worker_cmd == NULL) {
        sr_launch_say("--model-path is required");
        return 2;
    }
    if (L->cfg.model_path == NULL && (L->cfg.model_path = sr_strdup("default")) == NULL)
        return 1;
    if (check_router_args(L) != 0)
        return 2;
    L->nrouters = (int)L->cfg.router_replicas;
    char err[512];
    if (sr_replicas_check(L->router_args, L->nrouter_args, L->nrouters, L->cfg.port, err,
                          sizeof(err)) != 0 ||
        (sr_replicas_own_nats(L->router_args, L->nrouter_args, L->nrouters) &&
         sr_nats_find(L->nats_exe, sizeof(L->nats_exe), err, sizeof(err)) != 0)) {
        sr_launch_say("%s", err);
        return 2;
    }
    for (int i = 0; i < L->nrouters; i++) {
        L->routers[i].port = (int)L->cfg.port + i;
        L->routers[i].proc.out_fd = -1;
        if (L->nrouters > 1 && sr_free_port(L->routers[i].port, NULL, 0) != L->routers[i].port) {
            sr_launch_say("--port %ld: port %d (router replica %d) is taken", L->cfg.port,
                          L->routers[i].port, i);
            return 2;
        }
    }
    L->nats.proc.out_fd = -1;
    ssize_t len = readlink("/proc/self/exe", L->bindir, sizeof(L->bindir) - 1);
    if (len <= 0)
        return 1;
    L->bindir[len] = '\0';
    *strrchr(L->bindir, '/') = '\0';
    if (L->cfg.log_dir && mkdir(L->cfg.log_dir, 0755) != 0 && errno != EEXIST) {
        sr_launch_say("--log-dir %s: %s", L->cfg.log_dir, strerror(errno));
        return 2;
    }
    L->backend = L->cfg.worker_cmd ? "command" : sr_launch_resolve_backend(&L->cfg);
    if (check_fleet(L) != 0 ||
        (strcmp(L->backend, "llamacpp") == 0 && sr_launch_set_python_path(L) != 0))
        return 2;
    return -1;
}

/* Free ports for the workers from --worker-base-port, then the prefill
 * workers' bootstrap ports and nats-server's (each the first free one
 * after the last), none of them a router's. */
static int choose_ports(struct launcher *L)
{
    int taken[2 * MAX_WORKERS + SR_REPLICAS_MAX];
    size_t ntaken = 0;
    for (int i = 0; i < L->nrouters; i++)
        taken[ntaken++] = L->routers[i].port;
    for (long i = 0; i < L->nworkers; i++) {
        int from = i ? L->workers[i - 1].port + 1 : (int)L->cfg.worker_base_port;
        int port = sr_free_port(from, taken, ntaken);
        if (port < 0) {
            sr_launch_say("no free port for worker rank %ld from %ld", i, L->cfg.worker_base_port);
            return -1;
        }
        taken[ntaken++] = port;
        enum sr_worker_role role = L->workers[i].role;
        L->workers[i] = (struct worker){.rank = (int)i, .port = port, .role = role};
        L->workers[i].proc.out_fd = -1;
    }
    for (long i = 0; i < L->nworkers; i++) {
        struct worker *w = &L->workers[i];
        if (w->role != SR_ROLE_PREFILL)
            continue;
        if ((w->bootstrap_port = sr_free_port(taken[ntaken - 1] + 1, taken, ntaken)) < 0) {
            sr_launch_say("no free bootstrap port for prefill worker rank %ld after %d", i,
                          taken[ntaken - 1]);
            return -1;
        }
        taken[ntaken++] = w->bootstrap_port;
    }
    if (!sr_replicas_own_nats(L->router_args, L->nrouter_args, L->nrouters))
        return 0;
    L->nats.port = sr_free_port(taken[ntaken - 1] + 1, taken, ntaken);
    if (L->nats.port < 0) {
        sr_launch_say("no free port for nats-server after %d", taken[ntaken - 1]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct launcher L;
    int rc = prepare(&L, argc, argv);
    if (rc >= 0)
        return rc;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    L.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    if (L.sigfd < 0 || choose_ports(&L) != 0)
        return 1;
    long first = L.workers[0].port, last = L.workers[L.nworkers - 1].port;
    char fleet[160];
    if (L.cfg.prefill_size > 0)
        snprintf(fleet, sizeof(fleet),
                 "%ld prefill + %ld decode %s workers on ports %ld..%ld (bootstrap ports "
                 "%d..%d)",
                 L.cfg.prefill_size, L.cfg.decode_size, L.backend, first, last,
                 L.workers[0].bootstrap_port, L.workers[L.cfg.prefill_size - 1].bootstrap_port);
    else
        snprintf(fleet, sizeof(fleet), "%d %s worker(s) on ports %ld..%ld", L.nworkers, L.backend,
                 first, last);
    if (L.nrouters == 1)
        sr_launch_say("starting %s, then the router on %s:%ld", fleet, L.cfg.host, L.cfg.port);
    else
        sr_launch_say("starting %s, then %d router replicas on %s:%ld..%ld", fleet, L.nrouters,
                      L.cfg.host, L.cfg.port, L.cfg.port + L.nrouters - 1);
    for (long i = 0; i < L.nworkers; i++) {
        if (sr_launch_start_worker(&L, &L.workers[i]) != 0) {
            sr_launch_stop(&L);
            return 1;
        }
    }
    rc = wait_healthy(&L);
    if (rc < 0)
        rc = start_services(&L);
    if (rc >= 0)
        return rc;
    for (int i = 0; i < L.nrouters && L.nrouters > 1; i++)
        sr_launch_say("router replica %d: http://%s:%d", i, L.cfg.host, L.routers[i].port);
    const char *group = sr_replicas_user_value(L.router_args, L.nrouter_args, "sync-group");
    if (L.nats.port)
        sr_launch_say("nats-server: nats://127.0.0.1:%d (--sync-group %s)", L.nats.port,
                      group ? group : SR_REPLICAS_GROUP);
    if (L.cfg.prefill_size > 0)
        sr_launch_say("ready: http://%s:%ld (%ld prefill + %ld decode workers)", L.cfg.host,
                      L.cfg.port, L.cfg.prefill_size, L.cfg.decode_size);
    else
        sr_launch_say("ready: http://%s:%ld (%d workers)", L.cfg.host, L.cfg.port, L.nworkers);
    return supervise(&L);
}
