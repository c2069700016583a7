/* fleet_load: the other replicas' load per worker (see fleet_load.h). */
#include "fleet_load.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PEERS   1024
#define MAX_WORKERS (1u << 20)

struct entry {
    uint64_t worker;
    long in_flight;
    long prefill;
};

struct tokens {
    uint64_t worker;
    long tokens;
};

struct peer {
    uint64_t id;
    uint64_t last_seen_ms;
    struct entry *entries; /* sorted by worker tag */
    size_t n, cap;
    struct tokens *tokens; /* sorted by worker tag; NULL until its first TOKENS */
    size_t ntokens, tokens_cap;
    bool told;
};

struct sr_fleet_load {
    pthread_mutex_t lock;
    struct peer *peers;
    size_t npeers, cap;
};

struct sr_fleet_load *sr_fleet_load_new(void)
{
    struct sr_fleet_load *fl = sr_calloc(1, sizeof(*fl));
    if (fl != NULL)
        pthread_mutex_init(&fl->lock, NULL);
    return fl;
}

static void drop_peer(struct sr_fleet_load *fl, size_t i)
{
    sr_free(fl->peers[i].entries);
    sr_free(fl->peers[i].tokens);
    fl->peers[i] = fl->peers[--fl->npeers];
}

void sr_fleet_load_clear(struct sr_fleet_load *fl)
{
    pthread_mutex_lock(&fl->lock);
    while (fl->npeers > 0)
        drop_peer(fl, 0);
    pthread_mutex_unlock(&fl->lock);
}

void sr_fleet_load_free(struct sr_fleet_load *fl)
{
    if (fl == NULL)
        return;
    sr_fleet_load_clear(fl);
    sr_free(fl->peers);
    pthread_mutex_destroy(&fl->lock);
    sr_free(fl);
}

/* The peer's record, created if new (lock held); NULL when out of memory
 * or over MAX_PEERS. */
static struct peer *peer_at(struct sr_fleet_load *fl, uint64_t id, uint64_t now_ms)
{
    for (size_t i = 0; i < fl->npeers; i++)
        if (fl->peers[i].id == id) {
            if (now_ms > fl->peers[i].last_seen_ms)
                fl->peers[i].last_seen_ms = now_ms;
            return &fl->peers[i];
        }
    if (sr_grow((void **)&fl->peers, &fl->cap, fl->npeers + 1, sizeof(*fl->peers), 4, MAX_PEERS))
        return NULL;
    struct peer *p = &fl->peers[fl->npeers++];
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->last_seen_ms = now_ms;
    return p;
}

/* Both per-peer arrays (struct entry, struct tokens) hold records that
 * start with their uint64_t worker tag and are kept sorted by it. */
static uint64_t tag_at(const void *base, size_t size, size_t i)
{
    uint64_t tag;
    memcpy(&tag, (const char *)base + i * size, sizeof(tag));
    return tag;
}

/* Index of worker among n records, or where it would go (*found false). */
static size_t lower_bound(const void *base, size_t n, size_t size, uint64_t worker, bool *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tag_at(base, size, mid) < worker)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n && tag_at(base, size, lo) == worker;
    return lo;
}

static int cmp_tag(const void *a, const void *b)
{
    uint64_t x = tag_at(a, sizeof(x), 0), y = tag_at(b, sizeof(y), 0);
    return x < y ? -1 : x > y;
}

/* Room for n records in *arr (of *cap); 0 or SR_ERR_NOMEM. */
static int reserve(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n > MAX_WORKERS)
        return SR_ERR_NOMEM;
    return n > *cap ? sr_grow(arr, cap, n, size, 8, MAX_WORKERS) : 0;
}

static size_t find(const struct peer *p, uint64_t worker, bool *found)
{
    return lower_bound(p->entries, p->n, sizeof(*p->entries), worker, found);
}

static long tokens_of(const struct peer *p, uint64_t worker)
{
    bool found;
    size_t at = lower_bound(p->tokens, p->ntokens, sizeof(*p->tokens), worker, &found);
    return found ? p->tokens[at].tokens : 0;
}

int sr_fleet_load_report(struct sr_fleet_load *fl, uint64_t id, const struct sr_sync_load_entry *e,
                         size_t n, uint64_t now_ms)
{
    int rc = SR_ERR_NOMEM;
    pthread_mutex_lock(&fl->lock);
    struct peer *p = peer_at(fl, id, now_ms);
    if (p == NULL)
        goto out;
    if (reserve((void **)&p->entries, &p->cap, n, sizeof(*p->entries)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        p->entries[i] = (struct entry){e[i].worker, (long)e[i].in_flight, (long)e[i].prefill};
    p->n = n;
    qsort(p->entries, n, sizeof(*p->entries), cmp_tag);
    rc = 0;
out:
    pthread_mutex_unlock(&fl->lock);
    return rc;
}

int sr_fleet_load_tokens(struct sr_fleet_load *fl, uint64_t id,
                         const struct sr_sync_tokens_entry *e, size_t n, uint64_t now_ms)
{
    int rc = SR_ERR_NOMEM;
    pthread_mutex_lock(&fl->lock);
    struct peer *p = peer_at(fl, id, now_ms);
    if (p == NULL)
        goto out;
    if (reserve((void **)&p->tokens, &p->tokens_cap, n, sizeof(*p->tokens)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        p->tokens[i] = (struct tokens){e[i].worker, (long)e[i].tokens};
    p->ntokens = n;
    p->told = true;
    qsort(p->tokens, n, sizeof(*p->tokens), cmp_tag);
    rc = 0;
out:
    pthread_mutex_unlock(&fl->lock);
    return rc;
}

int sr_fleet_load_placed(struct sr_fleet_load *fl, uint64_t id, uint64_t worker, uint32_t prefill,
                         uint64_t now_ms)
{
    int rc = SR_ERR_NOMEM;
    pthread_mutex_lock(&fl->lock);
    struct peer *p = peer_at(fl, id, now_ms);
    if (p == NULL)
        goto out;
    bool found;
    size_t at = find(p, worker, &found);
    if (!found) {
        if (reserve((void **)&p->entries, &p->cap, p->n + 1, sizeof(*p->entries)) != 0)
            goto out;
        memmove(&p->entries[at + 1], &p->entries[at], (p->n - at) * sizeof(*p->entries));
        p->entries[at] = (struct entry){worker, 0, 0};
        p->n++;
    }
    p->entries[at].in_flight++;
    p->entries[at].prefill += prefill;
    rc = 0;
out:
    pthread_mutex_unlock(&fl->lock);
    return rc;
}

size_t sr_fleet_load_expire(struct sr_fleet_load *fl, uint64_t now_ms, uint64_t ttl_ms)
{
    size_t gone = 0;
    pthread_mutex_lock(&fl->lock);
    for (size_t i = 0; i < fl->npeers;) {
        if (fl->peers[i].last_seen_ms + ttl_ms < now_ms) {
            drop_peer(fl, i);
            gone++;
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&fl->lock);
    return gone;
}

void sr_fleet_load_total(struct sr_fleet_load *fl, uint64_t worker, struct sr_fleet_total *out)
{
    struct sr_fleet_total t = {0, 0, 0, 0};
    pthread_mutex_lock(&fl->lock);
    for (size_t i = 0; i < fl->npeers; i++) {
        const struct peer *p = &fl->peers[i];
        bool found;
        size_t at = find(p, worker, &found);
        if (found) {
            t.in_flight += p->entries[at].in_flight;
            t.prefill += p->entries[at].prefill;
            if (!p->told)
                t.untold += p->entries[at].in_flight;
        }
        if (p->told)
            t.decode += tokens_of(p, worker);
    }
    pthread_mutex_unlock(&fl->lock);
    *out = t;
}

size_t sr_fleet_load_peers(struct sr_fleet_load *fl, struct sr_fleet_peer *out, size_t max)
{
    pthread_mutex_lock(&fl->lock);
    size_t n = fl->npeers;
    for (size_t i = 0; i < n && i < max; i++) {
        const struct peer *p = &fl->peers[i];
        long total = 0;
        for (size_t k = 0; k < p->n; k++)
            total += p->entries[k].in_flight;
        out[i] = (struct sr_fleet_peer){p->id, p->last_seen_ms, total};
    }
    pthread_mutex_unlock(&fl->lock);
    return n;
}
