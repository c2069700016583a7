/*
 * admin_service: the RouterAdmin gRPC service (proto/sglang/router/admin/v1)
 * and the standard grpc.health.v1.Health service, on a grpc_server in its
 * own thread.
 *
 * The service changes and reads router state only through common/: the
 * worker registry (snapshots, all-or-none changes), the runtime settings
 * (policy and tunables, validated by the option table), and the policy's
 * tree. What only the data plane can do (its request counters, asking every
 * worker to flush its cache) comes through the hooks its owner provides, so
 * controlplane/ never includes dataplane/. The replica sync (sync/sync.h)
 * is reached directly: GetSync reads its status, SetSync replaces its
 * settings (credentials go in, never out, and are never logged).
 */
#ifndef SR_ADMIN_SERVICE_H
#define SR_ADMIN_SERVICE_H

#include "common/registry.h"
#include "common/secret.h"
#include "common/settings.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct sr_admin_totals {
    long in_flight;         /* proxied requests not finished */
    long queued;            /* waiting for a concurrency slot */
    long concurrency_limit; /* requests proxied at once before others queue; 0 = none */
    unsigned long retries;  /* attempts after the first, since start */
    bool draining;          /* shutting down: health says NOT_SERVING */
};

/* flushed: URLs that confirmed; failed: "URL: why". Valid during the call. */
typedef void (*sr_admin_flush_done)(void *arg, const char *const *flushed, size_t nflushed,
                                    const char *const *failed, size_t nfailed);

struct sr_admin_hooks {
    void *ctx;
    void (*totals)(void *ctx, struct sr_admin_totals *out);
    /* POST /flush_cache to every worker of set, from base's loop; done is
     * called once, later. Returns a handle for cancel, or NULL (no memory). */
    void *(*flush_workers)(void *ctx, struct event_base *base, struct sr_worker_set *set,
                           sr_admin_flush_done done, void *arg);
    void (*cancel_flush)(void *handle);
    /* UpdateConfig changed something (called on the admin thread, after
     * the change is in force). NULL: nobody needs to know. */
    void (*settings_changed)(void *ctx);
};

struct sr_sync;

struct sr_admin_config {
    const char *host;
    long port;               /* 0 = any free port */
    struct sr_secret *token; /* required bearer token (reloadable; outlives the API), or NULL */
    bool allow_insecure;     /* serve a non-loopback address without a token */
    size_t max_message;      /* largest request accepted, bytes */
    /* TLS: certificate chain and key; with ca, client certificates are
     * required and verified (mutual TLS). All NULL: cleartext. */
    const char *tls_cert, *tls_key, *tls_ca;
    /* The replica sync (outlives the API), or NULL: GetSync then says "off"
     * and SetSync answers FAILED_PRECONDITION. */
    struct sr_sync *sync;
    /* How long a worker's own load report counts (external_load in Worker
     * messages; sr_config_load_max_age_ms); 0: never. */
    uint64_t load_max_age_ms;
};

struct sr_admin;

/* Binds and starts the admin thread. NULL with a one-line reason in err
 * (including a refusal to expose an unauthenticated API beyond loopback). */
struct sr_admin *sr_admin_start(const struct sr_admin_config *cfg, struct sr_registry *registry,
                                struct sr_settings *settings, const struct sr_admin_hooks *hooks,
                                char *err, size_t errlen);
int sr_admin_port(const struct sr_admin *a);
/* Graceful: open calls end UNAVAILABLE, GOAWAY, join. Accepts NULL. */
void sr_admin_stop(struct sr_admin *a);

#endif
