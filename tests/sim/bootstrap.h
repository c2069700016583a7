/*
 * bootstrap: the prefill role's bootstrap service, on its own listener
 * (--disaggregation-bootstrap-port, SGLang's default 8998). A real SGLang
 * prefill server runs one too: decode workers ask it where the KV of a
 * request is. Here the question is one long-poll request per room, on the
 * same event loop as everything else:
 *
 *   GET /sim/bootstrap/room/<room>?wait_ms=<N>
 *     200 {"room":R,"tokens":T,"cached_tokens":C}  the room is ready (now,
 *         or as soon as its prefill finishes within N wall-clock ms)
 *     404 (error body)  not ready and N is 0 or absent
 *     408 (error body)  not ready within N ms
 *   GET /health  200
 *
 * A ready room is taken by the first request that gets it; until then it
 * waits in the room table (rooms.h) for --disaggregation-timeout-ms. A
 * waiting request whose client goes away is dropped.
 *
 * Ownership: the service borrows sim; each waiting request is a job of its
 * connection (server.h), freed when answered or when the connection
 * closes. Free the service after sr_sim_server_close_all(). One thread.
 */
#ifndef SR_SIM_BOOTSTRAP_H
#define SR_SIM_BOOTSTRAP_H

#include "rooms.h"
#include "sim.h"

#include <stdint.h>

/* Rooms kept at most: a bound on memory when decode workers never come. */
#define SR_SIM_BOOTSTRAP_MAX_ROOMS 100000

/* NULL when out of memory. */
struct sr_sim_bootstrap *sr_sim_bootstrap_new(struct sr_sim *sim);
void sr_sim_bootstrap_free(struct sr_sim_bootstrap *b);

/* A prefill finished: its room is ready (answers the requests waiting for
 * it, or is kept for the next). */
void sr_sim_bootstrap_ready(struct sr_sim_bootstrap *b, uint64_t room,
                            const struct sr_sim_room_info *info);

/* Rooms held now, rooms dropped untaken so far, requests waiting now. */
uint32_t sr_sim_bootstrap_rooms_held(const struct sr_sim_bootstrap *b);
uint64_t sr_sim_bootstrap_rooms_expired(const struct sr_sim_bootstrap *b);
uint32_t sr_sim_bootstrap_waiting(const struct sr_sim_bootstrap *b);

/* The routes of the bootstrap listener (sim.h). */
extern const struct sr_sim_routes sr_sim_bootstrap_routes;

#endif
