/*
 * fleet_load: the other replicas' load on each worker, as this replica
 * knows it (the load half of replica sync; no I/O, time passed in).
 *
 * Each peer reports its own per-worker counts (in flight, pending prefill
 * bytes) every few tens of milliseconds; a report replaces everything
 * known of that peer. Beside each, a peer reports the tokens its requests
 * on each worker are still to generate (TOKENS, wire.h), which replace its
 * previous ones the same way; a peer that never did (a replica from before
 * TOKENS) has its requests counted as "untold". Between reports, each placement the peer announces
 * adds one request and its prefill to the worker it chose, so a burst is
 * seen at once and not only at the next report (which then reconciles
 * it: requests that ended are gone, none is counted twice for long). A
 * peer silent for longer than the time-to-live is forgotten, so a replica
 * that dies leaves no phantom load behind.
 *
 * Workers are named by tag (wire.h). Totals are per tag over live peers.
 *
 * Locking: one mutex; every function may be called from any thread.
 */
#ifndef SR_FLEET_LOAD_H
#define SR_FLEET_LOAD_H

#include "wire.h"

#include <stddef.h>
#include <stdint.h>

struct sr_fleet_load;

struct sr_fleet_peer {
    uint64_t id;
    uint64_t last_seen_ms;
    long in_flight; /* over all workers */
};

/* Every live peer's load on one worker. */
struct sr_fleet_total {
    long in_flight;
    long prefill; /* bytes */
    long decode;  /* tokens, from the peers that report them */
    long untold;  /* requests of the peers that report no tokens */
};

struct sr_fleet_load *sr_fleet_load_new(void);
void sr_fleet_load_free(struct sr_fleet_load *fl);

/* Peer's report at now_ms: its counts now. 0 or SR_ERR_NOMEM (the peer's
 * previous counts stay). */
int sr_fleet_load_report(struct sr_fleet_load *fl, uint64_t peer,
                         const struct sr_sync_load_entry *e, size_t n, uint64_t now_ms);
/* Peer's tokens report at now_ms. 0 or SR_ERR_NOMEM (the previous stay). */
int sr_fleet_load_tokens(struct sr_fleet_load *fl, uint64_t peer,
                         const struct sr_sync_tokens_entry *e, size_t n, uint64_t now_ms);
/* Peer sent a request with prefill bytes to worker at now_ms. */
int sr_fleet_load_placed(struct sr_fleet_load *fl, uint64_t peer, uint64_t worker, uint32_t prefill,
                         uint64_t now_ms);
/* Forgets peers silent since before now_ms - ttl_ms; returns how many. */
size_t sr_fleet_load_expire(struct sr_fleet_load *fl, uint64_t now_ms, uint64_t ttl_ms);
void sr_fleet_load_total(struct sr_fleet_load *fl, uint64_t worker, struct sr_fleet_total *out);
/* Copies up to max peers into out; returns how many there are. */
size_t sr_fleet_load_peers(struct sr_fleet_load *fl, struct sr_fleet_peer *out, size_t max);
/* Forgets every peer (sync turned off). */
void sr_fleet_load_clear(struct sr_fleet_load *fl);

#endif
