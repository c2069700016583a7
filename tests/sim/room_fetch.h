/*
 * room_fetch: the decode role's side of the bootstrap protocol
 * (bootstrap.h): asks a prefill worker's bootstrap service for one room
 * with a long poll, GET /sim/bootstrap/room/<room>?wait_ms=<N>, without
 * ever blocking the event loop. Numeric hosts (IPv4, IPv6 with or without
 * brackets) are used as they are; names are resolved with libevent's
 * asynchronous resolver (evdns: /etc/hosts, then DNS). Connections go
 * through the router's HTTP/1 client (net/h1_client.h) and are kept alive
 * and reused per address (at most SR_SIM_FETCH_MAX_IDLE idle ones).
 *
 * Callbacks: the callback runs exactly once per fetch, never from inside
 * sr_sim_fetch_room(), unless the fetch is cancelled first; the fetch is
 * over (and freed) when its callback returns, so the callback must not
 * cancel it. The result's why is valid during the call.
 *
 * Ownership: the fetcher owns its fetches, idle connections and resolver;
 * freeing it cancels the fetches still running (no callbacks). One thread
 * (the base's).
 */
#ifndef SR_SIM_ROOM_FETCH_H
#define SR_SIM_ROOM_FETCH_H

#include <event2/event.h>
#include <stdint.h>

/* Idle connections kept: as many as long polls run at once in a busy
 * benchmark, so their ports are not churned through TIME_WAIT. */
#define SR_SIM_FETCH_MAX_IDLE 1024

struct sr_sim_fetch_result {
    int status;             /* the service's HTTP status; 0: no answer (see why) */
    uint32_t tokens;        /* 200: the prompt tokens whose KV is ready */
    uint32_t cached_tokens; /* 200: of them, cached on the prefill worker */
    const char *why;        /* no answer, or not 200: what happened */
};

typedef void (*sr_sim_fetch_cb)(void *ctx, const struct sr_sim_fetch_result *r);

struct sr_sim_fetcher;
struct sr_sim_fetch;

/* NULL when out of memory. */
struct sr_sim_fetcher *sr_sim_fetcher_new(struct event_base *base);
void sr_sim_fetcher_free(struct sr_sim_fetcher *f);

/* Asks host:port for room, waiting up to wait_ms (wall clock) for it. host
 * is NUL-terminated, at most 255 bytes. NULL when out of memory (no
 * callback). */
struct sr_sim_fetch *sr_sim_fetch_room(struct sr_sim_fetcher *f, const char *host, int port,
                                       uint64_t room, long wait_ms, sr_sim_fetch_cb cb, void *ctx);

/* Stops a fetch (its connection closes, so the service drops the wait); no
 * callback follows. */
void sr_sim_fetch_cancel(struct sr_sim_fetch *fetch);

#endif
