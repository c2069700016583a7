/*
 * link: the replica sync's NATS connection (libnats over its libevent
 * adapter), on a thread of its own.
 *
 * The thread runs an event_base: libnats reads and writes the socket there,
 * a tick (while configured) retries a connection that failed or closed,
 * with backoff, and calls the owner's tick. Once connected, libnats itself
 * reconnects after a loss (for ever, 1 s apart) and the link reports the
 * state. Subjects: sglang-router.sync.<group>.state (placements and load
 * reports: one subject, so each sender's messages arrive in order) and
 * sglang-router.sync.<group>.snapshot (requests, to a queue group: one
 * replica answers); answers come to this link's own inbox. Echo is off: a
 * replica never hears itself.
 *
 * Handlers run on libnats's delivery threads (messages, up) or on the
 * link's thread (tick); they must not call sr_link_configure or
 * sr_link_free. Credentials are copied, wiped when replaced, never logged:
 * errors and the server list name URLs without their user information.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef SR_SYNC_LINK_H
#define SR_SYNC_LINK_H

#include <stdbool.h>
#include <stddef.h>

/* What sr_sync_apply() takes (the --sync-* flags, or the admin API's
 * SyncSettings). Strings are borrowed for the call; NULL or "" = unset. */
struct sr_sync_settings {
    const char *const *urls; /* none: sync off */
    size_t nurls;
    const char *group; /* NULL: "default" */
    const char *token;
    const char *user;
    const char *password;
    const char *tls_ca_pem; /* PEM text; any of the three turns TLS on */
    const char *tls_cert_pem;
    const char *tls_key_pem;
};

enum sr_sync_state {
    SR_SYNC_OFF = 0,
    SR_SYNC_CONNECTING,
    SR_SYNC_UP,
    SR_SYNC_DOWN,
    SR_SYNC_REFUSED, /* the server refused the credentials */
};
const char *sr_sync_state_name(enum sr_sync_state s);

struct sr_link;

struct sr_link_handlers {
    void *ctx;
    void (*on_state)(void *ctx, const void *data, size_t len);
    void (*on_snapshot_request)(void *ctx, const void *data, size_t len, const char *reply);
    void (*on_snapshot_chunk)(void *ctx, const void *data, size_t len);
    void (*on_up)(void *ctx); /* connected, or reconnected */
    void (*on_tick)(void *ctx);
    void (*on_kick)(void *ctx); /* after sr_link_kick(), on the link's thread */
    unsigned tick_ms;
    char name[64]; /* the connection's name, as NATS monitoring shows it */
};

/* Starts the thread; the link is off. NULL with *err set. */
struct sr_link *sr_link_new(const struct sr_link_handlers *h, int *err);
/* Leaves NATS, stops the thread; no handler runs afterwards. Accepts NULL. */
void sr_link_free(struct sr_link *link);

/* Checks the settings (URLs, group name, credentials that go together); a
 * one-line message naming the flag in err. 0 or SR_ERR_INVALID. */
int sr_link_check(const struct sr_sync_settings *set, char *err, size_t errlen);
/* Replaces the settings (NULL: off) and reconnects in the background; the
 * state is "connecting" (or "off"), with no last error, from the call on.
 * 0, SR_ERR_INVALID (err: nothing changes) or SR_ERR_NOMEM. */
int sr_link_configure(struct sr_link *link, const struct sr_sync_settings *set);

enum sr_sync_state sr_link_state(struct sr_link *link);
/* Largest message the server takes (1 MiB until connected). */
size_t sr_link_max_payload(struct sr_link *link);
/* To the state subject when subject is NULL. 0, or SR_ERR_IO when down. */
int sr_link_publish(struct sr_link *link, const char *subject, const void *data, size_t len);
/* Has on_kick run on the link's thread 2 ms from now, gathering what comes
 * meanwhile; kick once per gathering (a kick while one is pending pushes
 * it back). */
void sr_link_kick(struct sr_link *link);
/* A snapshot request, its answers to this link's inbox. */
int sr_link_request_snapshot(struct sr_link *link, const void *data, size_t len);
/* Copies of the servers (URLs without credentials) and the last error (or
 * NULL), freed with sr_free. 0 or SR_ERR_NOMEM. */
int sr_link_describe(struct sr_link *link, char ***servers, size_t *n, char **last_error);

#endif
