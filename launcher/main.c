/*
 * sglang-launch-server: the seed's co-launch mode, a drop-in for
 * `--dp-size N`. Starts N workers (SGLang, the simulated worker, or any
 * server from a command template) on free ports, waits until every one is
 * healthy, then runs sglang-router in front of them, and supervises:
 *
 *   options → ports → workers (own process groups, dying with the launcher)
 *   → health wait (progress, timeout, a worker that exits: error with the
 *   tail of its log, everything stopped) → router → supervise (a worker
 *   that dies is logged and, with --restart-workers, restarted with
 *   backoff; the router's health checks skip it meanwhile) → SIGINT/SIGTERM:
 *   the router drains, then workers get SIGTERM, then SIGKILL after the
 *   grace period.
 *
 * Router flags are given with a --router- prefix (--router-policy ...), as
 * the reference does; everything after "--" goes to every worker.
 */
#include "procs.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/options.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 256
#define MAX_ARGS    512
#define MAX_TEXT    (1 << 20) /* a command line, a path, a URL */

struct launch_config {
    char *model_path;
    long dp_size;
    char *host;
    long port;
    long tp_size;
    long worker_base_port;
    char *backend;
    char *worker_cmd;
    char *log_dir;
    long worker_startup_timeout_secs;
    bool restart_workers;
    long shutdown_grace_secs;
    char *llamacpp_python;
    long llamacpp_threads;
    long llamacpp_ctx;
    long llamacpp_slots;
    long llamacpp_cache_ram_mib;
};

static const char *const backends[] = {"auto", "sglang", "sim", "llamacpp", NULL};

#define FIELD(f) offsetof(struct launch_config, f)
static const struct sr_option options[] = {
    {"model-path", SR_OPT_STRING, "PATH", NULL, 0, 0, NULL, false, FIELD(model_path),
     "Model to serve (passed to every worker)"},
    {"dp-size", SR_OPT_INT, "N", "1", 1, MAX_WORKERS, NULL, false, FIELD(dp_size),
     "Number of data-parallel workers"},
    {"host", SR_OPT_STRING, "HOST", "127.0.0.1", 0, 0, NULL, false, FIELD(host),
     "Address of the router"},
    {"port", SR_OPT_INT, "PORT", "30000", 1, 65535, NULL, false, FIELD(port), "Port of the router"},
    {"tp-size", SR_OPT_INT, "T", "1", 1, 64, NULL, false, FIELD(tp_size),
     "GPUs per worker (sglang backend: --tp-size, --base-gpu-id rank*T)"},
    {"worker-base-port", SR_OPT_INT, "PORT", "31000", 1024, 65535, NULL, false,
     FIELD(worker_base_port), "First port tried for the workers (taken ports are skipped)"},
    {"backend", SR_OPT_CHOICE, NULL, "auto", 0, 0, backends, false, FIELD(backend),
     "Workers to run: sglang, sim (sglang-worker-sim), llamacpp (llama.cpp on CPU, a .gguf "
     "--model-path), or auto (sglang if importable, else sim)"},
    {"worker-cmd", SR_OPT_STRING, "TEMPLATE", NULL, 0, 0, NULL, false, FIELD(worker_cmd),
     "Run any OpenAI/SGLang-compatible server instead: a shell command with {port}, {rank}, "
     "{gpu_id}"},
    {"log-dir", SR_OPT_STRING, "DIR", NULL, 0, 0, NULL, false, FIELD(log_dir),
     "Per-worker logs (worker-<rank>.log, router.log); else output is prefixed by rank"},
    {"worker-startup-timeout-secs", SR_OPT_INT, "SECS", "1800", 1, 86400, NULL, false,
     FIELD(worker_startup_timeout_secs), "How long every worker has to become healthy"},
    {"restart-workers", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, false, FIELD(restart_workers),
     "Restart a worker that dies (backoff 1 s doubling to 30 s)"},
    {"shutdown-grace-secs", SR_OPT_INT, "SECS", "30", 1, 3600, NULL, false,
     FIELD(shutdown_grace_secs), "On stop: time for the router, then the workers, before SIGKILL"},
    {"llamacpp-python", SR_OPT_STRING, "PATH", "python3", 0, 0, NULL, false, FIELD(llamacpp_python),
     "llamacpp backend: the Python that has xllamacpp installed"},
    {"llamacpp-threads", SR_OPT_INT, "N", "1", 1, 256, NULL, false, FIELD(llamacpp_threads),
     "llamacpp backend: CPU threads per worker"},
    {"llamacpp-ctx", SR_OPT_INT, "TOKENS", "4096", 256, 1048576, NULL, false, FIELD(llamacpp_ctx),
     "llamacpp backend: context per slot"},
    {"llamacpp-slots", SR_OPT_INT, "N", "1", 1, 256, NULL, false, FIELD(llamacpp_slots),
     "llamacpp backend: requests a worker decodes in parallel"},
    {"llamacpp-cache-ram-mib", SR_OPT_INT, "MIB", "256", 0, 1048576, NULL, false,
     FIELD(llamacpp_cache_ram_mib),
     "llamacpp backend: host-RAM prompt cache per worker (0: a slot keeps its last prompt only)"},
    {NULL, 0, NULL, NULL, 0, 0, NULL, false, 0, NULL},
};

struct worker {
    struct sr_proc proc;
    int rank, port;
    bool healthy;
    int restarts;
    long long restart_at; /* ms; 0 = not waiting */
    char line[8192];      /* pipe mode: a partial line */
    size_t line_len;
};

struct launcher {
    struct launch_config cfg;
    char bindir[PATH_MAX];
    const char *backend; /* resolved */
    char **router_args;
    int nrouter_args;
    char **extra;
    int nextra;
    struct worker workers[MAX_WORKERS];
    struct sr_proc router;
    char router_line[8192];
    size_t router_line_len;
    int sigfd;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sglang-launch-server: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- arguments ---------------------------------------------------------------- */

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
        if (strncmp(argv[i], "--router-", 9) != 0) {
            own[(*nown)++] = argv[i];
            continue;
        }
        char *flag = fmt("--%s", argv[i] + 9);
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
            if (!(o && o->type == SR_OPT_URL_LIST))
                break;
        }
    }
    return 0;
}

/* The router's own parser checks the --router-* flags before anything runs. */
static int check_router_args(struct launcher *L)
{
    static const char *const reserved[] = {"--host", "--port", "--worker-urls"};
    for (int i = 0; i < L->nrouter_args; i++)
        for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
            if (strncmp(L->router_args[i], reserved[k], strlen(reserved[k])) == 0 &&
                (L->router_args[i][strlen(reserved[k])] == '\0' ||
                 L->router_args[i][strlen(reserved[k])] == '=')) {
                say("--router%s: set by the launcher (use --%s)", reserved[k] + 1, reserved[k] + 2);
                return -1;
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
        say("router flag %s", rc == SR_CONFIG_HELP ? "--help: see sglang-router --help" : err);
        return -1;
    }
    return 0;
}

/* The llamacpp backend runs `python -m sglang_router.llamacpp_worker`: the
 * package comes from $SGLANG_ROUTER_PYTHONPATH, the installed copy beside
 * the binaries (share/sglang-router/python), or the source tree. */
static int set_python_path(const struct launcher *L)
{
    char installed[PATH_MAX + 64];
    snprintf(installed, sizeof(installed), "%s/../share/sglang-router/python", L->bindir);
    const char *dir = getenv("SGLANG_ROUTER_PYTHONPATH");
    struct stat st;
    if (dir == NULL)
        dir = stat(installed, &st) == 0 ? installed : SR_SOURCE_PYTHON_DIR;
    const char *old = getenv("PYTHONPATH");
    char *value = old && old[0] ? fmt("%s:%s", dir, old) : fmt("%s", dir);
    if (value == NULL || setenv("PYTHONPATH", value, 1) != 0) {
        sr_free(value);
        return -1;
    }
    sr_free(value);
    if (stat(L->cfg.model_path, &st) != 0) {
        say("--model-path %s: %s (the llamacpp backend needs a .gguf file)", L->cfg.model_path,
            strerror(errno));
        return -1;
    }
    return 0;
}

static const char *resolve_backend(const struct launch_config *cfg)
{
    if (strcmp(cfg->backend, "auto") != 0)
        return cfg->backend;
    int rc = system("python3 -c 'import sglang' >/dev/null 2>&1");
    return rc == 0 ? "sglang" : "sim";
}

/* ---- workers -------------------------------------------------------------------- */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    struct sr_buf b;
    sr_buf_init(&b, MAX_TEXT);
    va_list ap;
    va_start(ap, f);
    int rc = sr_buf_vappendf(&b, f, ap);
    va_end(ap);
    if (rc == 0 && b.data == NULL)
        rc = sr_buf_reserve(&b, 0); /* "" is a string too */
    if (rc != 0) {
        sr_buf_free(&b);
        return NULL;
    }
    return sr_buf_take(&b, NULL);
}

/* Appends s shell-quoted ('...' with ' escaped). */
static int append_quoted(struct sr_buf *b, const char *s)
{
    int rc = sr_buf_append(b, "'", 1);
    for (const char *p = s; *p && rc == 0; p++)
        rc = *p == '\'' ? sr_buf_append(b, "'\\''", 4) : sr_buf_append(b, p, 1);
    return rc != 0 ? rc : sr_buf_append(b, "'", 1);
}

/* The template with {port}, {rank}, {gpu_id} replaced, plus the extra
 * args; NULL when out of memory or longer than MAX_TEXT. */
static char *worker_command(const struct launcher *L, const struct worker *w)
{
    char values[3][16];
    snprintf(values[0], sizeof(values[0]), "%d", w->port);
    snprintf(values[1], sizeof(values[1]), "%d", w->rank);
    snprintf(values[2], sizeof(values[2]), "%ld", (long)w->rank * L->cfg.tp_size);
    static const char *const keys[] = {"{port}", "{rank}", "{gpu_id}"};
    struct sr_buf b;
    sr_buf_init(&b, MAX_TEXT);
    int rc = sr_buf_append_str(&b, "exec ");
    for (const char *p = L->cfg.worker_cmd; *p && rc == 0;) {
        bool done = false;
        for (int k = 0; k < 3 && !done; k++) {
            size_t kl = strlen(keys[k]);
            if (strncmp(p, keys[k], kl) == 0) {
                rc = sr_buf_append_str(&b, values[k]);
                p += kl;
                done = true;
            }
        }
        if (!done)
            rc = sr_buf_append(&b, p++, 1);
    }
    for (int i = 0; i < L->nextra && rc == 0; i++) {
        rc = sr_buf_append(&b, " ", 1);
        if (rc == 0)
            rc = append_quoted(&b, L->extra[i]);
    }
    if (rc != 0) {
        sr_buf_free(&b);
        return NULL;
    }
    return sr_buf_take(&b, NULL);
}

static int start_worker(struct launcher *L, struct worker *w)
{
    char *argv[MAX_ARGS];
    char *owned[16] = {0};
    int argc = 0, nowned = 0;
    char port[16], rank[16], gpu[16], tp[16];
    snprintf(port, sizeof(port), "%d", w->port);
    snprintf(rank, sizeof(rank), "rank-%d", w->rank);
    snprintf(gpu, sizeof(gpu), "%ld", (long)w->rank * L->cfg.tp_size);
    snprintf(tp, sizeof(tp), "%ld", L->cfg.tp_size);
    if (L->cfg.worker_cmd) {
        argv[argc++] = "/bin/sh";
        argv[argc++] = "-c";
        argv[argc++] = owned[nowned++] = worker_command(L, w);
        if (argv[argc - 1] == NULL)
            return -1;
    } else if (strcmp(L->backend, "llamacpp") == 0) {
        static char threads[16], ctx[16], slots[16], cache[16];
        snprintf(threads, sizeof(threads), "%ld", L->cfg.llamacpp_threads);
        snprintf(ctx, sizeof(ctx), "%ld", L->cfg.llamacpp_ctx);
        snprintf(slots, sizeof(slots), "%ld", L->cfg.llamacpp_slots);
        snprintf(cache, sizeof(cache), "%ld", L->cfg.llamacpp_cache_ram_mib);
        char *base[] = {L->cfg.llamacpp_python,
                        "-m",
                        "sglang_router.llamacpp_worker",
                        "--model-path",
                        L->cfg.model_path,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        port,
                        "--threads",
                        threads,
                        "--ctx",
                        ctx,
                        "--slots",
                        slots,
                        "--cache-ram-mib",
                        cache};
        for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
            argv[argc++] = base[i];
    } else if (strcmp(L->backend, "sglang") == 0) {
        char *base[] = {"python3",
                        "-m",
                        "sglang.launch_server",
                        "--model-path",
                        L->cfg.model_path,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        port,
                        "--base-gpu-id",
                        gpu,
                        "--tp-size",
                        tp};
        for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
            argv[argc++] = base[i];
    } else {
        argv[argc++] = owned[nowned++] = fmt("%s/sglang-worker-sim", L->bindir);
        char *base[] = {"--host",      "127.0.0.1", "--port",       port,
                        "--worker-id", rank,        "--model-path", L->cfg.model_path};
        for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
            argv[argc++] = base[i];
    }
    for (int i = 0; !L->cfg.worker_cmd && i < L->nextra && argc < MAX_ARGS - 1; i++)
        argv[argc++] = L->extra[i];
    argv[argc] = NULL;
    char *log = L->cfg.log_dir ? fmt("%s/worker-%d.log", L->cfg.log_dir, w->rank) : NULL;
    w->healthy = false;
    w->line_len = 0;
    int rc = sr_proc_start(&w->proc, argv, log);
    if (rc != 0)
        say("cannot start worker rank %d: %s", w->rank, strerror(errno));
    sr_free(log);
    for (int i = 0; i < nowned; i++)
        sr_free(owned[i]);
    return rc;
}

static int start_router(struct launcher *L)
{
    char *argv[MAX_ARGS + MAX_WORKERS];
    int argc = 0;
    char port[16];
    snprintf(port, sizeof(port), "%ld", L->cfg.port);
    char *exe = fmt("%s/sglang-router", L->bindir);
    argv[argc++] = exe;
    argv[argc++] = "--host";
    argv[argc++] = L->cfg.host;
    argv[argc++] = "--port";
    argv[argc++] = port;
    for (int i = 0; i < L->nrouter_args; i++)
        argv[argc++] = L->router_args[i];
    argv[argc++] = "--worker-urls";
    char *urls[MAX_WORKERS];
    for (long i = 0; i < L->cfg.dp_size; i++)
        argv[argc++] = urls[i] = fmt("http://127.0.0.1:%d", L->workers[i].port);
    argv[argc] = NULL;
    char *log = L->cfg.log_dir ? fmt("%s/router.log", L->cfg.log_dir) : NULL;
    int rc = sr_proc_start(&L->router, argv, log);
    if (rc != 0)
        say("cannot start sglang-router: %s", strerror(errno));
    sr_free(log);
    sr_free(exe);
    for (long i = 0; i < L->cfg.dp_size; i++)
        sr_free(urls[i]);
    return rc;
}

/* Pipe mode: complete lines, prefixed. */
static void relay(struct sr_proc *p, char *line, size_t *line_len, size_t cap, const char *who)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(p->out_fd, buf, sizeof(buf))) > 0) {
        sr_proc_remember(p, buf, (size_t)n);
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n' || *line_len == cap - 1) {
                line[*line_len] = '\0';
                fprintf(stdout, "[%s] %s\n", who, line);
                *line_len = 0;
            } else {
                line[(*line_len)++] = buf[i];
            }
        }
    }
    fflush(stdout);
    if (n == 0) { /* the writer closed: stop watching */
        close(p->out_fd);
        p->out_fd = -1;
    }
}

static void stop_all(struct launcher *L, int sig)
{
    sr_proc_signal(&L->router, sig);
    for (long i = 0; i < L->cfg.dp_size; i++)
        sr_proc_signal(&L->workers[i].proc, sig);
}

static bool any_alive(struct launcher *L, bool workers_only)
{
    if (!workers_only && L->router.pid > 0)
        return true;
    for (long i = 0; i < L->cfg.dp_size; i++)
        if (L->workers[i].proc.pid > 0)
            return true;
    return false;
}

/* Reaps exited children; returns the worker index that exited (or -2 for
 * the router, -1 none) through the callback-free loop below. */
static void reap(struct launcher *L, void (*exited)(struct launcher *, int who, int status))
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == L->router.pid) {
            L->router.pid = 0;
            if (exited)
                exited(L, -2, status);
            continue;
        }
        for (long i = 0; i < L->cfg.dp_size; i++) {
            if (L->workers[i].proc.pid == pid) {
                L->workers[i].proc.pid = 0;
                if (exited)
                    exited(L, (int)i, status);
            }
        }
    }
}

/* One round of the event loop: signals, output, up to timeout_ms. Returns
 * the signal received (SIGINT/SIGTERM) or 0. */
static int wait_events(struct launcher *L, int timeout_ms,
                       void (*exited)(struct launcher *, int who, int status))
{
    struct pollfd fds[MAX_WORKERS + 2];
    int idx[MAX_WORKERS + 2];
    int n = 0;
    fds[n] = (struct pollfd){.fd = L->sigfd, .events = POLLIN};
    idx[n++] = -3;
    if (L->router.out_fd >= 0) {
        fds[n] = (struct pollfd){.fd = L->router.out_fd, .events = POLLIN};
        idx[n++] = -2;
    }
    for (long i = 0; i < L->cfg.dp_size; i++) {
        if (L->workers[i].proc.out_fd >= 0) {
            fds[n] = (struct pollfd){.fd = L->workers[i].proc.out_fd, .events = POLLIN};
            idx[n++] = (int)i;
        }
    }
    int got = 0;
    if (poll(fds, (nfds_t)n, timeout_ms) <= 0)
        return 0;
    for (int k = 0; k < n; k++) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (idx[k] == -3) {
            struct signalfd_siginfo si;
            while (read(L->sigfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                    reap(L, exited);
                else
                    got = (int)si.ssi_signo;
            }
        } else if (idx[k] == -2) {
            relay(&L->router, L->router_line, &L->router_line_len, sizeof(L->router_line),
                  "router");
        } else {
            struct worker *w = &L->workers[idx[k]];
            char who[32];
            snprintf(who, sizeof(who), "rank %d", w->rank);
            relay(&w->proc, w->line, &w->line_len, sizeof(w->line), who);
        }
    }
    return got;
}

/* Stops everything: the router first (it drains), then the workers;
 * SIGKILL for what outlives the grace period. */
static void shutdown_all(struct launcher *L)
{
    long long grace = L->cfg.shutdown_grace_secs * 1000;
    for (int phase = 0; phase < 2; phase++) {
        bool workers_only = phase == 1;
        if (phase == 0)
            sr_proc_signal(&L->router, SIGTERM);
        else
            for (long i = 0; i < L->cfg.dp_size; i++)
                sr_proc_signal(&L->workers[i].proc, SIGTERM);
        long long deadline = now_ms() + grace;
        while ((phase == 0 ? L->router.pid > 0 : any_alive(L, workers_only)) &&
               now_ms() < deadline) {
            if (wait_events(L, 100, NULL) != 0) { /* a second signal: at once */
                stop_all(L, SIGKILL);
                deadline = 0;
            }
            reap(L, NULL);
        }
        if (phase == 0 && L->router.pid > 0)
            sr_proc_signal(&L->router, SIGKILL);
    }
    stop_all(L, SIGKILL);
    while (any_alive(L, false)) {
        wait_events(L, 100, NULL);
        reap(L, NULL);
    }
}

static void fail_with_tail(struct launcher *L, const struct sr_proc *p, const char *what)
{
    char tail[2048];
    sr_proc_tail(p, tail, sizeof(tail));
    say("%s; the last lines of its output:\n%s", what, tail[0] ? tail : "(no output)\n");
    shutdown_all(L);
}

/* ---- phases -------------------------------------------------------------------- */

static int startup_exit = -1; /* set by on_startup_exit */

static void on_startup_exit(struct launcher *L, int who, int status)
{
    (void)L;
    if (startup_exit == -1)
        startup_exit = who;
    (void)status;
}

static int wait_healthy(struct launcher *L)
{
    long long deadline = now_ms() + L->cfg.worker_startup_timeout_secs * 1000;
    long long last_note = 0;
    long healthy = -1;
    for (;;) {
        int sig = wait_events(L, 250, on_startup_exit);
        if (sig) {
            say("signal %d during startup: stopping", sig);
            shutdown_all(L);
            return 0;
        }
        if (startup_exit >= 0) {
            struct worker *w = &L->workers[startup_exit];
            char what[160];
            snprintf(what, sizeof(what), "worker rank %d (port %d) exited during startup", w->rank,
                     w->port);
            fail_with_tail(L, &w->proc, what);
            return 1;
        }
        long now = 0, waiting = -1;
        for (long i = 0; i < L->cfg.dp_size; i++) {
            struct worker *w = &L->workers[i];
            if (!w->healthy)
                w->healthy = sr_http_probe(w->port, "/health", 200) == 200;
            now += w->healthy;
            if (!w->healthy && waiting < 0)
                waiting = i;
        }
        if (now == L->cfg.dp_size) {
            say("%ld/%ld workers healthy", now, L->cfg.dp_size);
            return -1;
        }
        if (now != healthy || now_ms() - last_note > 10000) {
            say("%ld/%ld workers healthy, waiting for rank %ld (port %d) ...", now, L->cfg.dp_size,
                waiting, L->workers[waiting].port);
            healthy = now;
            last_note = now_ms();
        }
        if (now_ms() > deadline) {
            struct worker *w = &L->workers[waiting];
            char what[200];
            snprintf(what, sizeof(what),
                     "worker rank %d (port %d) not healthy after %lds "
                     "(--worker-startup-timeout-secs)",
                     w->rank, w->port, L->cfg.worker_startup_timeout_secs);
            fail_with_tail(L, &w->proc, what);
            return 1;
        }
    }
}

static bool router_died;

static void on_running_exit(struct launcher *L, int who, int status)
{
    if (who == -2) {
        router_died = true;
        return;
    }
    struct worker *w = &L->workers[who];
    w->healthy = false;
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
    if (L->cfg.restart_workers) {
        long long delay = 1000LL << (w->restarts < 5 ? w->restarts : 5);
        if (delay > 30000)
            delay = 30000;
        w->restart_at = now_ms() + delay;
        say("worker rank %d (port %d) %s; restarting in %llds", w->rank, w->port, how,
            delay / 1000);
    } else {
        say("worker rank %d (port %d) %s; the router skips it (--restart-workers restarts it)",
            w->rank, w->port, how);
    }
}

static int supervise(struct launcher *L)
{
    for (;;) {
        int sig = wait_events(L, 250, on_running_exit);
        if (sig) {
            say("signal %d: the router drains, then the workers stop", sig);
            shutdown_all(L);
            return 0;
        }
        if (router_died) {
            fail_with_tail(L, &L->router, "sglang-router exited");
            return 1;
        }
        for (long i = 0; i < L->cfg.dp_size; i++) {
            struct worker *w = &L->workers[i];
            if (w->restart_at && now_ms() >= w->restart_at && w->proc.pid == 0) {
                w->restart_at = 0;
                w->restarts++;
                if (start_worker(L, w) == 0)
                    say("worker rank %d restarted (pid %d)", w->rank, (int)w->proc.pid);
            }
        }
    }
}

int main(int argc, char **argv)
{
    static struct launcher L;
    char *own[MAX_ARGS];
    int nown = 0;
    L.router_args = sr_calloc(MAX_ARGS, sizeof(char *));
    L.router.out_fd = -1;
    if (L.router_args == NULL || argc > MAX_ARGS || split_args(&L, argc, argv, own, &nown) != 0) {
        say("out of memory or too many arguments");
        return 1;
    }
    int status = sr_options_from_args(options, &L.cfg, sizeof(L.cfg), nown, own, stdout, stderr);
    if (status >= 0)
        return status;
    if (L.cfg.model_path == NULL && L.cfg.worker_cmd == NULL) {
        say("--model-path is required");
        return 2;
    }
    if (L.cfg.model_path == NULL)
        L.cfg.model_path = strdup("default");
    if (check_router_args(&L) != 0)
        return 2;
    ssize_t len = readlink("/proc/self/exe", L.bindir, sizeof(L.bindir) - 1);
    if (len <= 0)
        return 1;
    L.bindir[len] = '\0';
    *strrchr(L.bindir, '/') = '\0';
    if (L.cfg.log_dir && mkdir(L.cfg.log_dir, 0755) != 0 && errno != EEXIST) {
        say("--log-dir %s: %s", L.cfg.log_dir, strerror(errno));
        return 2;
    }
    L.backend = L.cfg.worker_cmd ? "command" : resolve_backend(&L.cfg);
    if (strcmp(L.backend, "llamacpp") == 0 && set_python_path(&L) != 0)
        return 2;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    L.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    if (L.sigfd < 0)
        return 1;

    int ports[MAX_WORKERS];
    for (long i = 0; i < L.cfg.dp_size; i++) {
        int skip[MAX_WORKERS + 1];
        memcpy(skip, ports, sizeof(int) * (size_t)i);
        skip[i] = (int)L.cfg.port;
        ports[i] =
            sr_free_port(i ? ports[i - 1] + 1 : (int)L.cfg.worker_base_port, skip, (size_t)i + 1);
        if (ports[i] < 0) {
            say("no free port for worker rank %ld from %ld", i, L.cfg.worker_base_port);
            return 1;
        }
        L.workers[i] = (struct worker){.rank = (int)i, .port = ports[i]};
        L.workers[i].proc.out_fd = -1;
    }
    say("starting %ld %s worker(s) on ports %d..%d, then the router on %s:%ld", L.cfg.dp_size,
        L.backend, ports[0], ports[L.cfg.dp_size - 1], L.cfg.host, L.cfg.port);
    for (long i = 0; i < L.cfg.dp_size; i++) {
        if (start_worker(&L, &L.workers[i]) != 0) {
            shutdown_all(&L);
            return 1;
        }
    }
    int rc = wait_healthy(&L);
    if (rc >= 0)
        return rc;
    if (start_router(&L) != 0) {
        shutdown_all(&L);
        return 1;
    }
    long long deadline = now_ms() + 30000;
    while (sr_http_probe((int)L.cfg.port, "/readiness", 200) != 200) {
        if (wait_events(&L, 100, on_running_exit) != 0 || router_died || now_ms() > deadline) {
            if (router_died || now_ms() > deadline) {
                fail_with_tail(&L, &L.router, "sglang-router did not become ready");
                return 1;
            }
            shutdown_all(&L);
            return 0;
        }
    }
    say("ready: http://%s:%ld (%ld workers)", L.cfg.host, L.cfg.port, L.cfg.dp_size);
    return supervise(&L);
}
