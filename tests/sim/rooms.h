/*
 * rooms: the prefill role's table of ready rooms. A room is SGLang's
 * bootstrap_room: the number a router gives both halves of one request so
 * the decode worker can find the KV its prefill worker computed. When a
 * prefill finishes, its room goes in here with the prompt's token count and
 * cached prefix, until a decode worker takes it (once), until it is older
 * than ttl, or until max_rooms newer rooms push it out (oldest first).
 *
 * No I/O: time is the caller's (model seconds, never decreasing), so unit
 * tests drive it directly. Ownership: the table owns its entries.
 * Single-threaded.
 */
#ifndef SR_SIM_ROOMS_H
#define SR_SIM_ROOMS_H

#include <stdbool.h>
#include <stdint.h>

struct sr_sim_room_info {
    uint32_t tokens;        /* prompt tokens whose KV is ready */
    uint32_t cached_tokens; /* of them, found in the prefill worker's cache */
};

struct sr_sim_rooms;

/* NULL when out of memory; max_rooms >= 1, ttl in seconds. */
struct sr_sim_rooms *sr_sim_rooms_new(uint32_t max_rooms, double ttl);
void sr_sim_rooms_free(struct sr_sim_rooms *r);

/* Room ready at now; replaces an entry of the same room (which then counts
 * as new). 0 or SR_ERR_NOMEM. */
int sr_sim_rooms_put(struct sr_sim_rooms *r, uint64_t room, const struct sr_sim_room_info *info,
                     double now);

/* Removes room and fills *out; false when it is not held (never put,
 * already taken, expired or pushed out). */
bool sr_sim_rooms_take(struct sr_sim_rooms *r, uint64_t room, double now,
                       struct sr_sim_room_info *out);

/* Rooms held now (expired ones are dropped at the next put or take). */
uint32_t sr_sim_rooms_count(const struct sr_sim_rooms *r);

/* Rooms dropped untaken so far: expired or pushed out. */
uint64_t sr_sim_rooms_dropped(const struct sr_sim_rooms *r);

#endif
