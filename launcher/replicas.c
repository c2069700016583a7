/* replicas: the router flags of each router replica (see replicas.h). */
#include "replicas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sr_replicas_user_value(char *const *flags, int nflags, const char *name)
{
    const char *value = NULL;
    size_t len = strlen(name);
    for (int i = 0; i < nflags; i++) {
        const char *f = flags[i];
        if (strncmp(f, "--", 2) != 0 || strncmp(f + 2, name, len) != 0)
            continue;
        if (f[2 + len] == '=')
            value = f + 3 + len;
        else if (f[2 + len] == '\0')
            value = i + 1 < nflags && strncmp(flags[i + 1], "--", 2) != 0 ? flags[i + 1] : "";
    }
    return value;
}

bool sr_replicas_own_nats(char *const *flags, int nflags, int n)
{
    return n > 1 && sr_replicas_user_value(flags, nflags, "sync-nats-url") == NULL;
}

/* The user's port for --name when it is a fixed one (> 0), else 0. */
static long user_port(char *const *flags, int nflags, const char *name)
{
    const char *v = sr_replicas_user_value(flags, nflags, name);
    long port = v ? strtol(v, NULL, 10) : 0;
    return port > 0 ? port : 0;
}

int sr_replicas_check(char *const *flags, int nflags, int n, long port, char *err, size_t errlen)
{
    if (port + n - 1 > 65535) {
        snprintf(err, errlen, "--port %ld: %d router replicas need ports %ld..%ld", port, n, port,
                 port + n - 1);
        return -1;
    }
    static const char *const names[] = {"prometheus-port", "admin-port"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        long p = user_port(flags, nflags, names[k]);
        if (p > 0 && p + n - 1 > 65535) {
            snprintf(err, errlen, "--router-%s %ld: %d router replicas need ports %ld..%ld",
                     names[k], p, n, p, p + n - 1);
            return -1;
        }
    }
    return 0;
}

int sr_replica_argv(struct sr_replica_argv *out, char *const *flags, int nflags, int index, int n,
                    long port, int nats_port)
{
    if (nflags > SR_REPLICA_MAX_FLAGS)
        return -1;
    out->argc = 0;
    snprintf(out->port, sizeof(out->port), "%ld", port + index);
    out->argv[out->argc++] = "--port";
    out->argv[out->argc++] = out->port;
    for (int i = 0; i < nflags; i++)
        out->argv[out->argc++] = flags[i];
    if (n > 1) {
        if (sr_replicas_own_nats(flags, nflags, n)) {
            snprintf(out->nats_url, sizeof(out->nats_url), "nats://127.0.0.1:%d", nats_port);
            out->argv[out->argc++] = "--sync-nats-url";
            out->argv[out->argc++] = out->nats_url;
        }
        if (sr_replicas_user_value(flags, nflags, "sync-group") == NULL) {
            out->argv[out->argc++] = "--sync-group";
            out->argv[out->argc++] = SR_REPLICAS_GROUP;
        }
        long metrics = user_port(flags, nflags, "prometheus-port");
        bool metrics_given = sr_replicas_user_value(flags, nflags, "prometheus-port") != NULL;
        if (index > 0 && (metrics > 0 || !metrics_given)) {
            snprintf(out->prometheus_port, sizeof(out->prometheus_port), "%ld",
                     metrics > 0 ? metrics + index : 0);
            out->argv[out->argc++] = "--prometheus-port";
            out->argv[out->argc++] = out->prometheus_port;
        }
        long admin = user_port(flags, nflags, "admin-port");
        if (index > 0 && admin > 0) {
            snprintf(out->admin_port, sizeof(out->admin_port), "%ld", admin + index);
            out->argv[out->argc++] = "--admin-port";
            out->argv[out->argc++] = out->admin_port;
        }
    }
    out->argv[out->argc] = NULL;
    return 0;
}
