/*
 * nats: the local nats-server the router replicas sync through
 * (--router-replicas N > 1 without --router-sync-nats-url): where its
 * binary is and its command line. The launcher starts it with procs.h
 * (own process group, dying with the launcher, output to its log), waits
 * until it accepts connections (sr_tcp_accepts) and restarts it with
 * backoff when it dies, like a worker with --restart-workers.
 */
#ifndef SR_LAUNCH_NATS_H
#define SR_LAUNCH_NATS_H

#include "procs.h"

#include <stddef.h>

/* The nats-server to run: $SR_NATS_SERVER when set (it must be an
 * executable file: tests point it elsewhere), else the first executable
 * nats-server on $PATH, in /usr/sbin or /usr/bin (Debian's package puts it
 * in /usr/sbin). 0 with the path in path, or -1 with a one-line message in
 * err. */
int sr_nats_find(char *path, size_t cap, char *err, size_t errlen);

/* Starts exe -a 127.0.0.1 -p port (plain core NATS on loopback, no
 * monitoring port, nothing stored), output to log_path or a pipe as
 * sr_proc_start does. 0 or -1 (errno set). */
int sr_nats_start(struct sr_proc *p, const char *exe, int port, const char *log_path);

#endif
