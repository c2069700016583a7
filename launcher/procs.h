/*
 * procs: the child processes of sglang-launch-server: starting them (own
 * process group, the parent-death signal, output to a log file or a pipe),
 * the tail of a log, free ports, and blocking readiness probes: a TCP
 * connect, and HTTP (the one HTTP/1 client, net/h1_client, on an event base
 * of its own).
 */
#ifndef SR_LAUNCH_PROCS_H
#define SR_LAUNCH_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sr_proc {
    pid_t pid;  /* 0: not running */
    int out_fd; /* read end of its output pipe, or -1 (output goes to log_path) */
    char log_path[512];
    char tail[4096]; /* the last output seen (pipe mode), for error messages */
    size_t tail_len;
};

/* Starts argv[0] (a path or a name looked up in PATH) in its own process
 * group, dying with the launcher (PR_SET_PDEATHSIG SIGTERM). Output goes to
 * log_path when given (appended), else to a pipe (p->out_fd). 0 or -1
 * (errno set). */
int sr_proc_start(struct sr_proc *p, char *const argv[], const char *log_path);

/* Signals the whole process group. */
void sr_proc_signal(const struct sr_proc *p, int sig);

/* Remembers output read from the pipe (the last 4 KiB). */
void sr_proc_remember(struct sr_proc *p, const char *data, size_t len);

/* The last lines of its output (from the log file or what was
 * remembered), at most max bytes, into out (NUL-terminated). */
void sr_proc_tail(const struct sr_proc *p, char *out, size_t max);

/* A TCP port on 127.0.0.1 from start upward that nothing listens on now,
 * skipping the n ports in taken; -1 if none below 65536. */
int sr_free_port(int start, const int *taken, size_t n);

/* Whether something accepts TCP connections on 127.0.0.1:port now. */
bool sr_tcp_accepts(int port);

/* GET path on 127.0.0.1:port within timeout_ms: the HTTP status (as soon
 * as the status line and headers are in), or 0. */
int sr_http_probe(int port, const char *path, long timeout_ms);

#endif
