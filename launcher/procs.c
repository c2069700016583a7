/* procs: child processes, ports and readiness probes of the launcher (see
 * procs.h). */
#include "procs.h"

#include "common/buf.h"
#include "net/h1_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int sr_proc_start(struct sr_proc *p, char *const argv[], const char *log_path)
{
    int pipefd[2] = {-1, -1};
    int logfd = -1;
    p->out_fd = -1;
    p->tail_len = 0;
    p->log_path[0] = '\0';
    if (log_path) {
        logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (logfd < 0)
            return -1;
        snprintf(p->log_path, sizeof(p->log_path), "%s", log_path);
    } else if (pipe2(pipefd, O_CLOEXEC) != 0) {
        return -1;
    }
    pid_t launcher = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        if (logfd >= 0)
            close(logfd);
        if (pipefd[0] >= 0) {
            close(pipefd[0]);
            close(pipefd[1]);
        }
        errno = e;
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* The launcher's death (even SIGKILL) takes the worker down. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != launcher)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int out = logfd >= 0 ? logfd : pipefd[1];
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no race with a signal sent right away */
    p->pid = pid;
    if (logfd >= 0)
        close(logfd);
    if (pipefd[1] >= 0) {
        close(pipefd[1]);
        p->out_fd = pipefd[0];
        fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    }
    return 0;
}

void sr_proc_signal(const struct sr_proc *p, int sig)
{
    if (p->pid > 0)
        kill(-p->pid, sig);
}

void sr_proc_remember(struct sr_proc *p, const char *data, size_t len)
{
    size_t cap = sizeof(p->tail);
    if (len >= cap) {
        memcpy(p->tail, data + len - cap, cap);
        p->tail_len = cap;
        return;
    }
    if (p->tail_len + len > cap) {
        size_t drop = p->tail_len + len - cap;
        memmove(p->tail, p->tail + drop, p->tail_len - drop);
        p->tail_len -= drop;
    }
    memcpy(p->tail + p->tail_len, data, len);
    p->tail_len += len;
}

void sr_proc_tail(const struct sr_proc *p, char *out, size_t max)
{
    char buf[4096];
    size_t len = 0;
    if (p->log_path[0]) {
        FILE *f = fopen(p->log_path, "r");
        if (f) {
            fseek(f, 0, SEEK_END);
            long size = ftell(f);
            long from = size > (long)sizeof(buf) ? size - (long)sizeof(buf) : 0;
            fseek(f, from, SEEK_SET);
            len = fread(buf, 1, sizeof(buf), f);
            fclose(f);
        }
    } else {
        len = p->tail_len;
        memcpy(buf, p->tail, len);
    }
    size_t start = len > max - 1 ? len - (max - 1) : 0;
    /* Whole lines only. */
    if (start > 0) {
        const char *nl = memchr(buf + start, '\n', len - start);
        if (nl)
            start = (size_t)(nl - buf) + 1;
    }
    memcpy(out, buf + start, len - start);
    out[len - start] = '\0';
}

int sr_free_port(int start, const int *taken, size_t n)
{
    for (int port = start; port < 65536; port++) {
        bool used = false;
        for (size_t i = 0; i < n; i++)
            used |= taken[i] == port;
        if (used)
            continue;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return -1;
}

bool sr_tcp_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0; /* loopback: at once */
    /* A port in the ephemeral range can be handed to this very socket,
     * which then connects to itself: that is nobody listening. */
    struct sockaddr_in self;
    socklen_t len = sizeof(self);
    if (ok && getsockname(fd, (struct sockaddr *)&self, &len) == 0 && self.sin_port == a.sin_port)
        ok = false;
    close(fd);
    return ok;
}

/* ---- readiness probes, on the one HTTP/1 client -------------------------- */

struct probe {
    struct event_base *base;
    int status; /* 0 until answered */
};

static void on_head(void *ctx, const struct sr_h1_response *resp)
{
    struct probe *p = ctx;
    p->status = resp->status;
    event_base_loopbreak(p->base); /* the status is all we need */
}

static void on_body(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
}

static void on_done(void *ctx)
{
    struct probe *p = ctx;
    event_base_loopbreak(p->base);
}

static void on_error(void *ctx, const char *why, bool local)
{
    (void)why;
    (void)local;
    struct probe *p = ctx; /* the status stays 0 unless a head came */
    event_base_loopbreak(p->base);
}

static const struct sr_h1_client_handler probe_handler = {on_head, on_body, on_done, on_error};

int sr_http_probe(int port, const char *path, long timeout_ms)
{
    struct probe p = {.base = event_base_new()};
    if (p.base == NULL)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sr_h1_client_options opts = {.limits = {16 * 1024, 64, 64 * 1024}};
    struct sr_h1_client *c = sr_h1_client_new(p.base, (struct sockaddr *)&a, sizeof(a), &opts);
    char host[32];
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    struct sr_buf head;
    sr_buf_init(&head, 4096);
    if (c != NULL &&
        sr_h1_client_format_head(&head, "GET", path, host, "Connection: close\r\n", -1) == 0) {
        struct sr_h1_client_request req = {head.data, head.len, NULL, 0};
        if (sr_h1_client_send(c, &req, &probe_handler, &p) == 0) {
            struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
            event_base_loopexit(p.base, &tv); /* the deadline */
            event_base_dispatch(p.base);
        }
    }
    sr_h1_client_free(c);
    sr_buf_free(&head);
    event_base_free(p.base);
    return p.status;
}
