/*
 * sync: router replicas that route as one, over NATS.
 *
 * Every replica of a --sync-group publishes each routing decision (the
 * worker and the prompt's routing key: a chain of block digests, see
 * common/route_key.h) and its own per-worker load; every other replica
 * learns the placement into its tree as if it had routed the request
 * itself, and adds the peers' load to its workers' counts (the routing
 * view: common/worker.h). A replica that starts, or reconnects, asks one
 * peer for a snapshot of the view (NATS request-reply to a queue group).
 * Core NATS only (at-most-once, nothing stored): a lost message costs one
 * placement; the load view is reconciled by every load report and a
 * replica silent for a few seconds contributes nothing.
 *
 * Faults never reach clients: routing always goes on from the local view.
 * NATS unreachable, lost or restarted: a log line, the state "down" (or
 * "refused" for credentials) in sr_sync_status() and /metrics, retries, and
 * a snapshot after reconnection. Messages of another group, malformed or
 * oversized ones, and ones naming an unknown worker are dropped and
 * counted.
 *
 * Threads: the NATS connection runs on a thread of its own (an event_base
 * with libnats's libevent adapter); its messages are handled on libnats's
 * delivery threads. sr_sync_placed() is called by loop threads on the
 * request path; it never blocks (it encodes into the caller's scratch and
 * hands the bytes to libnats, or drops them while the link is down). Every
 * function may be called from any thread.
 *
 * Ownership: the sync borrows the registry and the settings (they must
 * outlive it); settings passed to sr_sync_apply() are copied. Credentials
 * are never logged nor reported.
 */
#ifndef SR_SYNC_H
#define SR_SYNC_H

#include "link.h"

#include "common/registry.h"
#include "common/settings.h"
#include "common/worker.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_sync;

struct sr_sync_peer {
    char id[17]; /* 16 hex digits */
    double last_seen_secs;
    long in_flight; /* over all workers, from its last load report */
};

/* Everything is owned by the struct; release with sr_sync_status_clear(). */
struct sr_sync_status {
    enum sr_sync_state state;
    char *group;
    char **servers; /* the URLs without credentials */
    size_t nservers;
    char replica_id[17];
    struct sr_sync_peer *peers;
    size_t npeers;
    uint64_t messages_sent, bytes_sent;
    uint64_t messages_received, bytes_received;
    uint64_t dropped_malformed, dropped_oversized, dropped_group, dropped_worker;
    uint64_t placements_learned;
    uint64_t snapshots_received, snapshots_served;
    double lag_seconds;
    char *last_error; /* NULL when none */
};

/* NULL with *err set (SR_ERR_NOMEM, SR_ERR_IO: the thread). Starts off. */
struct sr_sync *sr_sync_new(struct sr_registry *registry, struct sr_settings *settings, int *err);
/* Leaves NATS and stops the thread. Accepts NULL. */
void sr_sync_free(struct sr_sync *sync);

/* Checks the settings (URLs, group name, credentials that go together); a
 * one-line message naming the flag or field in err. 0 or SR_ERR_INVALID. */
int sr_sync_check(const struct sr_sync_settings *set, char *err, size_t errlen);
/* Replaces the settings: leaves the current connection, joins the new one
 * in the background (the state says how it goes: "connecting" or "off"
 * from the call on). While sync is configured routing keys are block
 * digests (the trees are emptied when that starts or stops). 0,
 * SR_ERR_INVALID (err as above; nothing changes) or SR_ERR_NOMEM. */
int sr_sync_apply(struct sr_sync *sync, const struct sr_sync_settings *set, char *err,
                  size_t errlen);

/* A routing decision of this replica: worker w was sent the prompt whose
 * routing key is key[0, key_len), with prefill bytes to compute. No-op
 * while sync is not up. */
void sr_sync_placed(struct sr_sync *sync, const struct sr_worker *w, const void *key,
                    size_t key_len, size_t prefill);

/* 0 or SR_ERR_NOMEM (out then holds nothing to release). */
int sr_sync_status(struct sr_sync *sync, struct sr_sync_status *out);
void sr_sync_status_clear(struct sr_sync_status *st);

#endif
