/*
 * replicas: the router flags of each of N router replicas in front of the
 * same workers (--router-replicas N). Command lines only: no I/O and no
 * allocation (tests/unit/test_launch_replicas.c drives it).
 *
 * Replica i listens on --port + i. With N > 1 every replica syncs through
 * the launcher's nats-server (--sync-nats-url nats://127.0.0.1:NATS_PORT
 * --sync-group launch), and replicas i > 0 serve metrics on any free port
 * (--prometheus-port 0: the default, 29000, stays replica 0's), unless the
 * user's --router-* flags say otherwise:
 *   --router-sync-nats-url URL: the replicas sync through that server and
 *     the launcher runs no nats-server of its own;
 *   --router-sync-group NAME: that group instead of "launch";
 *   --router-prometheus-port P or --router-admin-port P with P > 0:
 *     replica i gets P + i (0 and -1 hold for every replica as given).
 * The launcher's values come after the user's flags (the router keeps the
 * last value of a flag that takes one). With N = 1 the command line is the
 * user's flags after --port, nothing added.
 *
 * Ownership: "flags" are the user's router flags (the --router- prefix
 * already replaced by "--", values as separate entries); a struct
 * sr_replica_argv points into them (borrowed: they must outlive it) and
 * into its own buffers.
 */
#ifndef SR_LAUNCH_REPLICAS_H
#define SR_LAUNCH_REPLICAS_H

#include <stdbool.h>
#include <stddef.h>

#define SR_REPLICAS_MAX      64
#define SR_REPLICAS_GROUP    "launch"
#define SR_REPLICA_MAX_FLAGS 512 /* the user's, at most */

struct sr_replica_argv {
    char *argv[SR_REPLICA_MAX_FLAGS + 16]; /* NULL-terminated */
    int argc;
    char port[24];
    char nats_url[48];
    char prometheus_port[24];
    char admin_port[24];
};

/* The value of the last --name among the flags ("--name V" or
 * "--name=V"), or NULL when not given. */
const char *sr_replicas_user_value(char *const *flags, int nflags, const char *name);

/* Whether the launcher runs a nats-server of its own: n > 1 and no
 * --sync-nats-url among the flags. */
bool sr_replicas_own_nats(char *const *flags, int nflags, int n);

/* Checks that the ports of n replicas from port exist (port + n - 1 <=
 * 65535), and so the --prometheus-port and --admin-port the user gave.
 * 0, or -1 with a one-line message naming the flag in err. */
int sr_replicas_check(char *const *flags, int nflags, int n, long port, char *err, size_t errlen);

/* The router flags of replica index of n (from "--port"; the caller puts
 * the program, --host and --worker-urls around them). nats_port is used
 * when the launcher runs its own nats-server. 0, or -1 when there are more
 * than SR_REPLICA_MAX_FLAGS flags. */
int sr_replica_argv(struct sr_replica_argv *out, char *const *flags, int nflags, int index, int n,
                    long port, int nats_port);

#endif
