/* commands: what each child of the launcher runs, and starting it (see
 * launcher.h). */
#include "launcher.h"
#include "nats.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/worker_spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The llamacpp backend runs `python -m sglang_router.llamacpp_worker`: the
 * package comes from $SGLANG_ROUTER_PYTHONPATH, the installed copy beside
 * the binaries (share/sglang-router/python), or the source tree. */
int sr_launch_set_python_path(const struct launcher *L)
{
    char installed[PATH_MAX + 64];
    snprintf(installed, sizeof(installed), "%s/../share/sglang-router/python", L->bindir);
    const char *dir = getenv("SGLANG_ROUTER_PYTHONPATH");
    struct stat st;
    if (dir == NULL)
        dir = stat(installed, &st) == 0 ? installed : SR_SOURCE_PYTHON_DIR;
    const char *old = getenv("PYTHONPATH");
    char *value = old && old[0] ? sr_launch_fmt("%s:%s", dir, old) : sr_launch_fmt("%s", dir);
    if (value == NULL || setenv("PYTHONPATH", value, 1) != 0) {
        sr_free(value);
        return -1;
    }
    sr_free(value);
    if (stat(L->cfg.model_path, &st) != 0) {
        sr_launch_say("--model-path %s: %s (the llamacpp backend needs a .gguf file)",
                      L->cfg.model_path, strerror(errno));
        return -1;
    }
    return 0;
}

const char *sr_launch_resolve_backend(const struct launch_config *cfg)
{
    if (strcmp(cfg->backend, "auto") != 0)
        return cfg->backend;
    int rc = system("python3 -c 'import sglang' >/dev/null 2>&1");
    return rc == 0 ? "sglang" : "sim";
}

/* ---- workers -------------------------------------------------------------------- */

char *sr_launch_fmt(const char *f, ...)
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

int sr_launch_start_worker(struct launcher *L, struct worker *w)
{
    char *argv[MAX_ARGS];
    char *owned[16] = {0};
    int argc = 0, nowned = 0;
    char port[16], rank[16], gpu[16], tp[16];
    char threads[16], ctx[16], slots[16], cache[16]; /* llamacpp */
    snprintf(port, sizeof(port), "%d", w->port);
    snprintf(rank, sizeof(rank), "rank-%d", w->rank);
    snprintf(gpu, sizeof(gpu), "%ld", (long)w->rank * L->cfg.tp_size);
    snprintf(tp, sizeof(tp), "%ld", L->cfg.tp_size);
    if (L->cfg.worker_cmd) {
        argv[argc++] = "/bin/sh";
        argv[argc++] = "-c";
        argv[argc++] = owned[nowned++] = worker_command(L, w);
        if (argv[argc - 1] == NULL)
            goto nomem;
    } else if (strcmp(L->backend, "llamacpp") == 0) {
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
        argv[argc++] = owned[nowned++] = sr_launch_fmt("%s/sglang-worker-sim", L->bindir);
        if (argv[argc - 1] == NULL)
            goto nomem;
        char *base[] = {"--host",      "127.0.0.1", "--port",       port,
                        "--worker-id", rank,        "--model-path", L->cfg.model_path};
        for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
            argv[argc++] = base[i];
    }
    /* A disaggregated fleet: SGLang's own flags, which the simulator shares. */
    char bootstrap[16];
    snprintf(bootstrap, sizeof(bootstrap), "%d", w->bootstrap_port);
    if (w->role != SR_ROLE_REGULAR) {
        argv[argc++] = "--disaggregation-mode";
        argv[argc++] = (char *)sr_worker_role_name(w->role);
    }
    if (w->role == SR_ROLE_PREFILL) {
        argv[argc++] = "--disaggregation-bootstrap-port";
        argv[argc++] = bootstrap;
    }
    for (int i = 0; !L->cfg.worker_cmd && i < L->nextra && argc < MAX_ARGS - 1; i++)
        argv[argc++] = L->extra[i];
    argv[argc] = NULL;
    char *log = L->cfg.log_dir ? sr_launch_fmt("%s/worker-%d.log", L->cfg.log_dir, w->rank) : NULL;
    w->healthy = false;
    w->line_len = 0;
    int rc = L->cfg.log_dir && log == NULL ? -1 : sr_proc_start(&w->proc, argv, log);
    if (rc != 0)
        sr_launch_say("cannot start worker rank %d: %s", w->rank,
                      L->cfg.log_dir && log == NULL ? "out of memory" : strerror(errno));
    sr_free(log);
    for (int i = 0; i < nowned; i++)
        sr_free(owned[i]);
    return rc;
nomem:
    sr_launch_say("cannot start worker rank %d: out of memory", w->rank);
    return -1;
}

/* "sglang-router", or "sglang-router replica I (port P)" when there are
 * several. */
const char *sr_launch_router_name(const struct launcher *L, int i, char *buf, size_t cap)
{
    if (L->nrouters == 1)
        return "sglang-router";
    snprintf(buf, cap, "sglang-router replica %d (port %d)", i, L->routers[i].port);
    return buf;
}

int sr_launch_start_router(struct launcher *L, int index)
{
    struct sr_replica_argv flags;
    char *argv[MAX_ARGS + 3 * MAX_WORKERS + 32];
    char *urls[MAX_WORKERS] = {0};
    char ports[MAX_WORKERS][8];
    int argc = 0, rc = -1;
    bool tried = false;
    char *exe = sr_launch_fmt("%s/sglang-router", L->bindir);
    char *log = NULL;
    if (L->cfg.log_dir)
        log = L->nrouters == 1 ? sr_launch_fmt("%s/router.log", L->cfg.log_dir)
                               : sr_launch_fmt("%s/router-%d.log", L->cfg.log_dir, index);
    if (exe == NULL || (L->cfg.log_dir && log == NULL) ||
        sr_replica_argv(&flags, L->router_args, L->nrouter_args, index, L->nrouters, L->cfg.port,
                        L->nats.port) != 0)
        goto out;
    argv[argc++] = exe;
    argv[argc++] = "--host";
    argv[argc++] = L->cfg.host;
    for (int i = 0; i < flags.argc; i++)
        argv[argc++] = flags.argv[i];
    /* The workers: --worker-urls URL..., or for a disaggregated fleet
     * --pd-disaggregation --prefill URL PORT ... --decode URL ... */
    if (L->cfg.prefill_size > 0)
        argv[argc++] = "--pd-disaggregation";
    else
        argv[argc++] = "--worker-urls";
    for (int i = 0; i < L->nworkers; i++) {
        const struct worker *w = &L->workers[i];
        if (w->role != SR_ROLE_REGULAR)
            argv[argc++] = w->role == SR_ROLE_PREFILL ? "--prefill" : "--decode";
        if ((argv[argc++] = urls[i] = sr_launch_fmt("http://127.0.0.1:%d", w->port)) == NULL)
            goto out;
        if (w->role == SR_ROLE_PREFILL) {
            snprintf(ports[i], sizeof(ports[i]), "%d", w->bootstrap_port);
            argv[argc++] = ports[i];
        }
    }
    argv[argc] = NULL;
    L->routers[index].line_len = 0;
    tried = true;
    rc = sr_proc_start(&L->routers[index].proc, argv, log);
out:
    if (rc != 0) {
        char name[64];
        sr_launch_say("cannot start %s: %s", sr_launch_router_name(L, index, name, sizeof(name)),
                      tried ? strerror(errno) : "out of memory");
    }
    sr_free(log);
    sr_free(exe);
    for (int i = 0; i < L->nworkers; i++)
        sr_free(urls[i]);
    return rc;
}

int sr_launch_start_nats(struct launcher *L)
{
    char *log = L->cfg.log_dir ? sr_launch_fmt("%s/nats-server.log", L->cfg.log_dir) : NULL;
    int rc = -1;
    L->nats.line_len = 0;
    if (L->cfg.log_dir == NULL || log != NULL)
        rc = sr_nats_start(&L->nats.proc, L->nats_exe, L->nats.port, log);
    if (rc != 0)
        sr_launch_say("cannot start %s: %s", L->nats_exe,
                      log || !L->cfg.log_dir ? strerror(errno) : "out of memory");
    sr_free(log);
    return rc;
}
