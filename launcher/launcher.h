/*
 * launcher: the state of sglang-launch-server shared by its files, and
 * what they offer each other:
 *   main.c      options, arguments, ports and the phases (start, health
 *               wait, nats-server and routers, supervise);
 *   commands.c  what each child runs (a worker of each backend, a router
 *               replica, nats-server) and starting it;
 *   children.c  the running children: their output, their exits, signals
 *               and the stop order (routers, nats-server, workers).
 * With --prefill-size N --decode-size M the workers are a disaggregated
 * fleet: ranks 0..N-1 prefill workers (each with a KV bootstrap port),
 * ranks N..N+M-1 decode workers, and the router runs with
 * --pd-disaggregation --prefill URL PORT ... --decode URL ...
 * One struct launcher, owned by main(); single-threaded (signals arrive
 * through a signalfd). Strings in the config are owned by it; router_args
 * and extra point into argv or into strings the launcher allocated.
 */
#ifndef SR_LAUNCH_LAUNCHER_H
#define SR_LAUNCH_LAUNCHER_H

#include "procs.h"
#include "replicas.h"

#include "common/worker.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

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
    long router_replicas;
    long prefill_size; /* with decode_size: a disaggregated fleet instead of dp_size */
    long decode_size;
};

struct worker {
    struct sr_proc proc;
    int rank, port;
    enum sr_worker_role role; /* prefill ranks first, then decode (PD); else regular */
    int bootstrap_port;       /* a prefill worker's KV bootstrap port */
    bool healthy;
    int restarts;
    long long restart_at; /* ms; 0 = not waiting */
    char line[8192];      /* pipe mode: a partial line */
    size_t line_len;
};

/* A router replica or the nats-server. */
struct service {
    struct sr_proc proc;
    int port;
    int restarts;         /* nats-server only */
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
    int nworkers; /* --dp-size, or --prefill-size + --decode-size */
    struct service routers[SR_REPLICAS_MAX];
    int nrouters;
    struct service nats; /* port 0: none (one router, or the user's NATS) */
    char nats_exe[PATH_MAX];
    bool nats_up; /* has accepted connections once */
    int sigfd;
};

/* The kinds of children, in the order they stop. */
enum sr_launch_kind { ROUTERS, NATS, WORKERS, ALL };

/* children.c: messages (stderr, prefixed) and the monotonic clock. */
void sr_launch_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long long sr_launch_now_ms(void);

/* Told which child exited (its kind, its index among its kind) and how. */
typedef void (*sr_launch_exited_fn)(struct launcher *L, int kind, int index, int status);

/* children.c: one round of the event loop: signals, the children's output
 * (pipe mode), exits (reported to exited when given), for up to
 * timeout_ms. Returns the signal received (SIGINT/SIGTERM) or 0. */
int sr_launch_wait(struct launcher *L, int timeout_ms, sr_launch_exited_fn exited);
/* Stops every child: the routers first (they drain), then nats-server,
 * then the workers; SIGKILL for what outlives --shutdown-grace-secs, and
 * at once on a second signal. */
void sr_launch_stop(struct launcher *L);
/* Says what went wrong with the tail of p's output, then stops all. */
void sr_launch_fail(struct launcher *L, const struct sr_proc *p, const char *what);

/* commands.c: a string formatted into a buffer of ours (sr_free it), or
 * NULL when out of memory or longer than MAX_TEXT. */
char *sr_launch_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
/* The backend to run ("auto" resolved); the llamacpp backend's PYTHONPATH
 * and model check (0 or -1, said why). */
const char *sr_launch_resolve_backend(const struct launch_config *cfg);
int sr_launch_set_python_path(const struct launcher *L);
/* Starting a child: 0, or -1 (said why). */
int sr_launch_start_worker(struct launcher *L, struct worker *w);
int sr_launch_start_router(struct launcher *L, int index);
int sr_launch_start_nats(struct launcher *L);
/* "sglang-router", or "sglang-router replica I (port P)" when there are
 * several, into buf. */
const char *sr_launch_router_name(const struct launcher *L, int i, char *buf, size_t cap);

#endif
