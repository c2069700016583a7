/* rooms: the prefill role's ready rooms (see rooms.h). */
#include "rooms.h"

#include "common/alloc.h"
#include "common/err.h"

#include <stddef.h>

/* Entries sit in a chained hash (by room) and in one FIFO list (by the
 * time they were put): every entry has the same ttl, so the list's head is
 * always the next to expire and the next to push out. */
struct entry {
    uint64_t room;
    struct sr_sim_room_info info;
    double put_at;
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* FIFO, oldest first */
};

struct sr_sim_rooms {
    struct entry **buckets;
    size_t mask;
    struct entry *oldest, *newest;
    uint32_t count, max;
    double ttl;
    uint64_t dropped;
};

static size_t bucket(const struct sr_sim_rooms *r, uint64_t room)
{
    /* Rooms are random, but nothing forces a client to make them so. */
    room ^= room >> 33;
    room *= 0xff51afd7ed558ccdULL;
    room ^= room >> 33;
    return (size_t)room & r->mask;
}

struct sr_sim_rooms *sr_sim_rooms_new(uint32_t max_rooms, double ttl)
{
    struct sr_sim_rooms *r = sr_calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    size_t n = 16;
    while (n < max_rooms && n < ((size_t)1 << 24))
        n <<= 1;
    r->buckets = sr_calloc(n, sizeof(*r->buckets));
    if (r->buckets == NULL) {
        sr_free(r);
        return NULL;
    }
    r->mask = n - 1;
    r->max = max_rooms ? max_rooms : 1;
    r->ttl = ttl;
    return r;
}

void sr_sim_rooms_free(struct sr_sim_rooms *r)
{
    if (r == NULL)
        return;
    for (struct entry *e = r->oldest, *next; e; e = next) {
        next = e->next;
        sr_free(e);
    }
    sr_free(r->buckets);
    sr_free(r);
}

/* Unlinks e from its chain and the list and frees it. */
static void drop(struct sr_sim_rooms *r, struct entry *e)
{
    struct entry **p = &r->buckets[bucket(r, e->room)];
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    if (e->prev)
        e->prev->next = e->next;
    else
        r->oldest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        r->newest = e->prev;
    r->count--;
    sr_free(e);
}

static void expire(struct sr_sim_rooms *r, double now)
{
    while (r->oldest && now - r->oldest->put_at > r->ttl) {
        drop(r, r->oldest);
        r->dropped++;
    }
}

static struct entry *find(const struct sr_sim_rooms *r, uint64_t room)
{
    struct entry *e = r->buckets[bucket(r, room)];
    while (e && e->room != room)
        e = e->hnext;
    return e;
}

int sr_sim_rooms_put(struct sr_sim_rooms *r, uint64_t room, const struct sr_sim_room_info *info,
                     double now)
{
    expire(r, now);
    struct entry *e = sr_malloc(sizeof(*e));
    if (e == NULL)
        return SR_ERR_NOMEM;
    struct entry *old = find(r, room);
    if (old)
        drop(r, old);
    if (r->count >= r->max) {
        drop(r, r->oldest);
        r->dropped++;
    }
    e->room = room;
    e->info = *info;
    e->put_at = now;
    size_t b = bucket(r, room);
    e->hnext = r->buckets[b];
    r->buckets[b] = e;
    e->next = NULL;
    e->prev = r->newest;
    if (r->newest)
        r->newest->next = e;
    else
        r->oldest = e;
    r->newest = e;
    r->count++;
    return 0;
}

bool sr_sim_rooms_take(struct sr_sim_rooms *r, uint64_t room, double now,
                       struct sr_sim_room_info *out)
{
    expire(r, now);
    struct entry *e = find(r, room);
    if (e == NULL)
        return false;
    *out = e->info;
    drop(r, e);
    return true;
}

uint32_t sr_sim_rooms_count(const struct sr_sim_rooms *r)
{
    return r->count;
}

uint64_t sr_sim_rooms_dropped(const struct sr_sim_rooms *r)
{
    return r->dropped;
}
