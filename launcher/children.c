/* children: the launcher's running children: their output, their exits,
 * signals and the stop order (see launcher.h). */
#include "launcher.h"

#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sr_launch_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sglang-launch-server: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

long long sr_launch_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static int count_of(const struct launcher *L, int kind)
{
    if (kind == ROUTERS)
        return L->nrouters;
    return kind == NATS ? 1 : L->nworkers;
}

static struct sr_proc *proc_of(struct launcher *L, int kind, int i)
{
    if (kind == ROUTERS)
        return &L->routers[i].proc;
    return kind == NATS ? &L->nats.proc : &L->workers[i].proc;
}

static void signal_kind(struct launcher *L, int kind, int sig)
{
    for (int k = kind == ALL ? ROUTERS : kind; k <= (kind == ALL ? WORKERS : kind); k++)
        for (int i = 0; i < count_of(L, k); i++)
            sr_proc_signal(proc_of(L, k, i), sig);
}

static bool any_alive(struct launcher *L, int kind)
{
    for (int k = kind == ALL ? ROUTERS : kind; k <= (kind == ALL ? WORKERS : kind); k++)
        for (int i = 0; i < count_of(L, k); i++)
            if (proc_of(L, k, i)->pid > 0)
                return true;
    return false;
}

/* Reaps exited children, telling exited (when given) about each. */
static void reap(struct launcher *L, sr_launch_exited_fn exited)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int k = ROUTERS; k <= WORKERS; k++) {
            for (int i = 0; i < count_of(L, k); i++) {
                struct sr_proc *p = proc_of(L, k, i);
                if (p->pid != pid)
                    continue;
                p->pid = 0;
                if (exited)
                    exited(L, k, i, status);
            }
        }
    }
}

/* Pipe mode: a child's output, prefixed by who it is. */
static void relay_child(struct launcher *L, int kind, int i)
{
    char who[32];
    if (kind == WORKERS) {
        struct worker *w = &L->workers[i];
        snprintf(who, sizeof(who), "rank %d", w->rank);
        relay(&w->proc, w->line, &w->line_len, sizeof(w->line), who);
        return;
    }
    struct service *s = kind == NATS ? &L->nats : &L->routers[i];
    if (kind == NATS)
        snprintf(who, sizeof(who), "nats");
    else if (L->nrouters == 1)
        snprintf(who, sizeof(who), "router");
    else
        snprintf(who, sizeof(who), "router %d", i);
    relay(&s->proc, s->line, &s->line_len, sizeof(s->line), who);
}

/* One round of the event loop: signals, output, up to timeout_ms. Returns
 * the signal received (SIGINT/SIGTERM) or 0. */
int sr_launch_wait(struct launcher *L, int timeout_ms, sr_launch_exited_fn exited)
{
    struct pollfd fds[MAX_WORKERS + SR_REPLICAS_MAX + 2];
    struct {
        int kind, index;
    } src[MAX_WORKERS + SR_REPLICAS_MAX + 2];
    int n = 0;
    fds[n++] = (struct pollfd){.fd = L->sigfd, .events = POLLIN};
    for (int k = ROUTERS; k <= WORKERS; k++) {
        for (int i = 0; i < count_of(L, k); i++) {
            if (proc_of(L, k, i)->out_fd < 0)
                continue;
            src[n].kind = k;
            src[n].index = i;
            fds[n++] = (struct pollfd){.fd = proc_of(L, k, i)->out_fd, .events = POLLIN};
        }
    }
    int got = 0;
    if (poll(fds, (nfds_t)n, timeout_ms) <= 0)
        return 0;
    for (int j = 0; j < n; j++) {
        if (!(fds[j].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (j > 0) {
            relay_child(L, src[j].kind, src[j].index);
            continue;
        }
        struct signalfd_siginfo si;
        while (read(L->sigfd, &si, sizeof(si)) == sizeof(si)) {
            if (si.ssi_signo == SIGCHLD)
                reap(L, exited);
            else
                got = (int)si.ssi_signo;
        }
    }
    return got;
}

/* Stops everything: the routers first (they drain), then nats-server,
 * then the workers; SIGKILL for what outlives the grace period. */
void sr_launch_stop(struct launcher *L)
{
    long long grace = L->cfg.shutdown_grace_secs * 1000;
    for (int k = ROUTERS; k <= WORKERS; k++) {
        signal_kind(L, k, SIGTERM);
        long long deadline = sr_launch_now_ms() + grace;
        while (any_alive(L, k) && sr_launch_now_ms() < deadline) {
            if (sr_launch_wait(L, 100, NULL) != 0) { /* a second signal: at once */
                signal_kind(L, ALL, SIGKILL);
                deadline = 0;
            }
            reap(L, NULL);
        }
        signal_kind(L, k, SIGKILL);
    }
    while (any_alive(L, ALL)) {
        sr_launch_wait(L, 100, NULL);
        reap(L, NULL);
    }
}

void sr_launch_fail(struct launcher *L, const struct sr_proc *p, const char *what)
{
    char tail[2048];
    sr_proc_tail(p, tail, sizeof(tail));
    sr_launch_say("%s; the last lines of its output:\n%s", what, tail[0] ? tail : "(no output)\n");
    sr_launch_stop(L);
}
