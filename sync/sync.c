/*
 * sync: router replicas that route as one, over NATS (see sync.h).
 *
 * The link's thread (link.c) runs an event_base with a 20 ms tick: it
 * connects (and reconnects after a close, with backoff); here the tick
 * publishes this replica's load report when it changed (REPORT_MIN_MS
 * apart, or every HEARTBEAT_MS), forgets silent peers and asks a peer for a
 * snapshot after each (re)connection, and the kick publishes the
 * placements loop threads left in the outbox. libnats reads and writes the
 * socket on that base (its libevent adapter) and hands messages to its
 * delivery threads, which apply them here.
 */
#include "sync.h"

#include "fleet_load.h"
#include "link.h"
#include "wire.h"

#include "common/alloc.h"
#include "common/breaker.h"
#include "common/err.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/route_key.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS      20
#define HEARTBEAT_MS 500
/* A changed load report waits this long after the last one: placements
 * carry each new request at once, reports only reconcile. */
#define REPORT_MIN_MS     50
#define PEER_TTL_MS       3000
#define SNAPSHOT_RETRY_MS 2000
#define SNAPSHOT_TRIES    5
#define SNAPSHOT_CHUNK    (256 * 1024)
#define SNAPSHOT_MAX      (64u * 1024 * 1024) /* placements served in one snapshot, bytes */
#define MAX_MESSAGE       (8u * 1024 * 1024)  /* larger is oversized (NATS allows 64 MiB) */
#define MAX_KEY           (4u * 1024 * 1024)  /* a received key longer than this is oversized */
#define OUTBOX_MAX        (8u * 1024 * 1024)  /* placements waiting for the link's thread */

struct tagged {
    uint64_t tag;
    struct sr_worker *w; /* borrowed from the index's set */
};

struct sr_sync {
    struct sr_registry *registry;
    struct sr_settings *settings;
    struct sr_fleet_load *load;
    struct sr_link *link;
    uint64_t replica;
    char replica_hex[17];
    atomic_uint group_tag; /* of the group in force */

    pthread_mutex_t lock; /* the group, the index, the snapshot and load report state */
    /* Placements made here, published in batches by the link's thread:
     * loop threads append under out_lock and kick it when the outbox was
     * empty, so a busy router sends one message per many decisions. */
    pthread_mutex_t out_lock;
    struct sr_buf outbox, sending;
    bool out_armed;
    char *group; /* in force; NULL while off */
    /* Worker tags of the registry snapshot in force. */
    struct sr_worker_set *set;
    struct tagged *index;
    size_t nindex;
    /* Snapshot asked of a peer since the last (re)connection. */
    bool snapshot_wanted;
    int snapshot_tries;
    uint64_t snapshot_asked_ms;
    size_t snapshot_learned;
    /* Load report: what was sent last, and when. */
    uint64_t load_sum;
    uint64_t load_sent_ms;

    atomic_ullong messages_sent, bytes_sent, messages_received, bytes_received;
    atomic_ullong dropped_malformed, dropped_oversized, dropped_group, dropped_worker;
    atomic_ullong placements_learned, snapshots_received, snapshots_served;
    atomic_ullong lag_us; /* moving average */
};

const char *sr_sync_state_name(enum sr_sync_state s)
{
    static const char *const names[] = {"off", "connecting", "up", "down", "refused"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct sr_sync_header header(struct sr_sync *s, enum sr_sync_type type, uint32_t group)
{
    return (struct sr_sync_header){type, group, s->replica, wall_ms()};
}

static void count_sent(struct sr_sync *s, size_t len)
{
    atomic_fetch_add_explicit(&s->messages_sent, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->bytes_sent, len, memory_order_relaxed);
}

/* ---- workers by tag ---------------------------------------------------- */

static int cmp_tagged(const void *a, const void *b)
{
    uint64_t x = ((const struct tagged *)a)->tag, y = ((const struct tagged *)b)->tag;
    return x < y ? -1 : x > y;
}

/* Brings the index up to the registry's version (lock held). */
static void index_refresh(struct sr_sync *s)
{
    if (s->set != NULL && s->set->version == sr_registry_version(s->registry))
        return;
    struct sr_worker_set *set = sr_registry_acquire(s->registry);
    if (set == NULL)
        return;
    struct tagged *index = sr_calloc(set->count ? set->count : 1, sizeof(*index));
    if (index == NULL) {
        sr_worker_set_release(set);
        return;
    }
    for (size_t i = 0; i < set->count; i++)
        index[i] = (struct tagged){sr_sync_tag64(set->workers[i]->url), set->workers[i]};
    qsort(index, set->count, sizeof(*index), cmp_tagged);
    sr_worker_set_release(s->set);
    sr_free(s->index);
    s->set = set;
    s->index = index;
    s->nindex = set->count;
}

/* The worker with that tag (lock held), or NULL. */
static struct sr_worker *index_find(struct sr_sync *s, uint64_t tag)
{
    size_t lo = 0, hi = s->nindex;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->index[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nindex && s->index[lo].tag == tag ? s->index[lo].w : NULL;
}

/* The peers' load on w, from the fleet view, into its routing counters. */
static void apply_peer_load(struct sr_sync *s, struct sr_worker *w, uint64_t tag)
{
    struct sr_fleet_total t;
    sr_fleet_load_total(s->load, tag, &t);
    atomic_store_explicit(&w->peer_in_flight, t.in_flight, memory_order_relaxed);
    atomic_store_explicit(&w->peer_prefill, t.prefill, memory_order_relaxed);
    atomic_store_explicit(&w->peer_decode, t.decode, memory_order_relaxed);
    atomic_store_explicit(&w->peer_untold, t.untold, memory_order_relaxed);
}

static void apply_all_peer_load(struct sr_sync *s)
{
    for (size_t i = 0; i < s->nindex; i++)
        apply_peer_load(s, s->index[i].w, s->index[i].tag);
}

/* ---- messages from peers (libnats delivery threads) -------------------- */

static void note_lag(struct sr_sync *s, uint64_t sent_ms)
{
    uint64_t now = wall_ms();
    uint64_t lag = now > sent_ms ? (now - sent_ms) * 1000 : 0;
    uint64_t old = atomic_load_explicit(&s->lag_us, memory_order_relaxed);
    atomic_store_explicit(&s->lag_us, old ? (old * 7 + lag) / 8 : lag, memory_order_relaxed);
}

/* Header checks common to every message; false when dropped (counted). */
static bool accept_header(struct sr_sync *s, const void *data, size_t len, struct sr_sync_header *h)
{
    atomic_fetch_add_explicit(&s->messages_received, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->bytes_received, len, memory_order_relaxed);
    if (len > MAX_MESSAGE) {
        atomic_fetch_add_explicit(&s->dropped_oversized, 1, memory_order_relaxed);
        return false;
    }
    if (sr_sync_decode_header(data, len, h) != 0) {
        atomic_fetch_add_explicit(&s->dropped_malformed, 1, memory_order_relaxed);
        return false;
    }
    if (h->group != atomic_load_explicit(&s->group_tag, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&s->dropped_group, 1, memory_order_relaxed);
        return false;
    }
    return h->replica != s->replica;
}

/* Learns one placement into the policy in force (lock held). */
static bool learn(struct sr_sync *s, uint64_t tag, const void *key, uint32_t key_len)
{
    if (key_len > MAX_KEY) {
        atomic_fetch_add_explicit(&s->dropped_oversized, 1, memory_order_relaxed);
        return false;
    }
    struct sr_worker *w = index_find(s, tag);
    if (w == NULL || atomic_load_explicit(&w->removed, memory_order_acquire)) {
        atomic_fetch_add_explicit(&s->dropped_worker, 1, memory_order_relaxed);
        return false;
    }
    /* The policy that chooses workers of its role keeps the placement. */
    if (sr_policy_learn(sr_settings_role_policy(s->settings, w->role), key, key_len, w->id,
                        sr_breaker_now_ms()) == 0)
        atomic_fetch_add_explicit(&s->placements_learned, 1, memory_order_relaxed);
    return true;
}

/* Learns the placements of a PLACE batch or a SNAPSHOT chunk (lock held);
 * a PLACE's also count as the sender's load until its next report.
 * Returns how many were learned. */
static size_t learn_batch(struct sr_sync *s, const struct sr_sync_header *h,
                          struct sr_sync_cursor *c, uint64_t now)
{
    struct sr_sync_place e;
    size_t learned = 0;
    while (sr_sync_next_place(c, &e)) {
        if (!learn(s, e.worker, e.key, e.key_len))
            continue;
        learned++;
        if (h->type == SR_SYNC_PLACE) {
            sr_fleet_load_placed(s->load, h->replica, e.worker, e.prefill, now);
            apply_peer_load(s, index_find(s, e.worker), e.worker);
        }
    }
    return learned;
}

static void on_state_message(void *ctx, const void *data, size_t len)
{
    struct sr_sync *s = ctx;
    struct sr_sync_header h;
    if (!accept_header(s, data, len, &h))
        return;
    note_lag(s, h.sent_ms);
    uint64_t now = sr_breaker_now_ms();
    uint32_t flags;
    struct sr_sync_cursor c;
    pthread_mutex_lock(&s->lock);
    index_refresh(s);
    if (h.type == SR_SYNC_PLACE && sr_sync_decode_batch(data, len, &flags, &c) == 0) {
        (void)learn_batch(s, &h, &c, now);
    } else if (h.type == SR_SYNC_LOAD && sr_sync_decode_load(data, len, &c) == 0) {
        struct sr_sync_load_entry few[64];
        struct sr_sync_load_entry *e = c.left <= 64 ? few : sr_calloc(c.left, sizeof(*e));
        size_t n = 0;
        while (e != NULL && sr_sync_next_load(&c, &e[n]))
            n++;
        if (e != NULL)
            sr_fleet_load_report(s->load, h.replica, e, n, now);
        if (e != few)
            sr_free(e);
        apply_all_peer_load(s);
    } else if (h.type == SR_SYNC_TOKENS && sr_sync_decode_tokens(data, len, &c) == 0) {
        struct sr_sync_tokens_entry few[64];
        struct sr_sync_tokens_entry *e = c.left <= 64 ? few : sr_calloc(c.left, sizeof(*e));
        size_t n = 0;
        while (e != NULL && sr_sync_next_tokens(&c, &e[n]))
            n++;
        if (e != NULL)
            sr_fleet_load_tokens(s->load, h.replica, e, n, now);
        if (e != few)
            sr_free(e);
        apply_all_peer_load(s);
    } else {
        atomic_fetch_add_explicit(&s->dropped_malformed, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->lock);
}

static void on_snapshot_chunk(void *ctx, const void *data, size_t len)
{
    struct sr_sync *s = ctx;
    if (len == 0) {
        /* NATS's "no responders" status (an empty message): nobody serves
         * snapshots yet. ask_snapshot() asks again while peers are heard
         * (they may still be resubscribing after a reconnection). */
        return;
    }
    struct sr_sync_header h;
    uint32_t flags;
    struct sr_sync_cursor c;
    if (!accept_header(s, data, len, &h))
        return;
    if (h.type != SR_SYNC_SNAPSHOT || sr_sync_decode_batch(data, len, &flags, &c) != 0) {
        atomic_fetch_add_explicit(&s->dropped_malformed, 1, memory_order_relaxed);
        return;
    }
    pthread_mutex_lock(&s->lock);
    index_refresh(s);
    s->snapshot_learned += learn_batch(s, &h, &c, sr_breaker_now_ms());
    if (flags & SR_SYNC_SNAP_LAST) {
        s->snapshot_wanted = false;
        atomic_fetch_add_explicit(&s->snapshots_received, 1, memory_order_relaxed);
        sr_log_info("sync: warm from replica %016llx's snapshot: %zu placements",
                    (unsigned long long)h.replica, s->snapshot_learned);
    }
    pthread_mutex_unlock(&s->lock);
}

/* Collects every placement of the policy in force as SNAPSHOT entries. */
struct collect {
    struct sr_buf *all;
    uint64_t tag;
};

static void collect_key(void *ctx, const unsigned char *key, size_t len)
{
    struct collect *c = ctx;
    len -= len % SR_ROUTE_KEY_DIGEST;
    if (len > 0 && len <= MAX_KEY) {
        struct sr_sync_place e = {c->tag, 0, key, (uint32_t)len};
        (void)sr_sync_encode_place(c->all, &e);
    }
}

/* Publishes the placement entries of `all` (encoded back to back) as
 * messages of the type given, each under about `chunk` bytes; a SNAPSHOT's
 * last one is flagged. To the state subject when subject is NULL. */
static void publish_entries(struct sr_sync *s, const char *subject, enum sr_sync_type type,
                            const struct sr_buf *all, size_t chunk)
{
    const unsigned char *p = (const unsigned char *)all->data, *end = p + all->len;
    uint32_t group = atomic_load(&s->group_tag);
    struct sr_buf msg;
    sr_buf_init(&msg, chunk + MAX_KEY + 64);
    do {
        const unsigned char *q = p;
        uint32_t n = 0;
        while (q < end) { /* whole entries, at least one, up to chunk bytes */
            size_t e = sr_sync_encoded_place_size(q);
            if (q != p && (size_t)(q - p) + e > chunk)
                break;
            q += e;
            n++;
        }
        size_t count_at;
        struct sr_sync_header h = header(s, type, group);
        uint32_t flags = type == SR_SYNC_SNAPSHOT && q == end ? SR_SYNC_SNAP_LAST : 0;
        sr_buf_reset(&msg);
        if (sr_sync_encode_batch_start(&msg, &h, flags, &count_at) != 0 ||
            sr_buf_append(&msg, p, (size_t)(q - p)) != 0)
            break;
        sr_sync_patch_u32(&msg, count_at, n);
        if (sr_link_publish(s->link, subject, msg.data, msg.len) == 0)
            count_sent(s, msg.len);
        p = q;
    } while (p < end);
    sr_buf_free(&msg);
}

static void on_snapshot_request(void *ctx, const void *data, size_t len, const char *reply)
{
    struct sr_sync *s = ctx;
    struct sr_sync_header h;
    if (!accept_header(s, data, len, &h))
        return;
    if (h.type != SR_SYNC_SNAPSHOT_REQUEST || reply == NULL) {
        atomic_fetch_add_explicit(&s->dropped_malformed, 1, memory_order_relaxed);
        return;
    }
    struct sr_buf all;
    sr_buf_init(&all, SNAPSHOT_MAX);
    pthread_mutex_lock(&s->lock);
    index_refresh(s);
    for (size_t i = 0; i < s->nindex; i++) {
        struct collect c = {&all, s->index[i].tag};
        struct sr_worker *w = s->index[i].w;
        (void)sr_policy_export_worker(sr_settings_role_policy(s->settings, w->role), w->id,
                                      collect_key, &c);
    }
    pthread_mutex_unlock(&s->lock);
    publish_entries(s, reply, SR_SYNC_SNAPSHOT, &all, SNAPSHOT_CHUNK);
    atomic_fetch_add_explicit(&s->snapshots_served, 1, memory_order_relaxed);
    sr_log_info("sync: served a snapshot (%zu bytes) to replica %016llx", all.len,
                (unsigned long long)h.replica);
    sr_buf_free(&all);
}

static void on_link_up(void *ctx)
{
    struct sr_sync *s = ctx;
    pthread_mutex_lock(&s->lock);
    s->snapshot_wanted = true;
    s->snapshot_tries = 0;
    s->snapshot_asked_ms = 0;
    s->snapshot_learned = 0;
    s->load_sent_ms = 0;
    pthread_mutex_unlock(&s->lock);
}

/* ---- the link's tick (its own thread) ---------------------------------- */

static uint32_t clamp_u32(long v)
{
    return v <= 0 ? 0 : v > (long)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* This replica's own counts per worker, when they changed or every
 * HEARTBEAT_MS (lock held): a LOAD, and a TOKENS beside it. */
static void publish_load(struct sr_sync *s, uint64_t now)
{
    struct sr_buf b, t;
    sr_buf_init(&b, SR_SYNC_HEADER_LEN + 4 + 65536u * SR_SYNC_LOAD_ENTRY);
    sr_buf_init(&t, SR_SYNC_HEADER_LEN + 4 + 65536u * SR_SYNC_TOKENS_ENTRY);
    size_t count_at, tokens_count_at;
    uint32_t n = 0;
    uint64_t sum = 1469598103934665603ull;
    uint32_t group = atomic_load(&s->group_tag);
    struct sr_sync_header h = header(s, SR_SYNC_LOAD, group);
    struct sr_sync_header ht = header(s, SR_SYNC_TOKENS, group);
    int rc = sr_sync_encode_load_start(&b, &h, &count_at);
    if (rc == 0)
        rc = sr_sync_encode_load_start(&t, &ht, &tokens_count_at);
    for (size_t i = 0; rc == 0 && i < s->nindex && n < 65536; i++) {
        struct sr_worker *w = s->index[i].w;
        struct sr_sync_load_entry e = {s->index[i].tag, clamp_u32(sr_worker_load(w)),
                                       clamp_u32(sr_worker_pending_prefill(w))};
        struct sr_sync_tokens_entry te = {s->index[i].tag, clamp_u32(sr_worker_decode_left(w))};
        sum = (sum ^ e.worker ^ ((uint64_t)e.in_flight << 32 | e.prefill)) * 1099511628211ull;
        sum = (sum ^ te.tokens) * 1099511628211ull;
        rc = sr_sync_encode_load_entry(&b, &e);
        if (rc == 0)
            rc = sr_sync_encode_tokens_entry(&t, &te);
        n++;
    }
    if (rc == 0 && ((sum != s->load_sum && now >= s->load_sent_ms + REPORT_MIN_MS) ||
                    now >= s->load_sent_ms + HEARTBEAT_MS)) {
        sr_sync_patch_u32(&b, count_at, n);
        sr_sync_patch_u32(&t, tokens_count_at, n);
        if (sr_link_publish(s->link, NULL, b.data, b.len) == 0) {
            count_sent(s, b.len);
            s->load_sum = sum;
            s->load_sent_ms = now;
            if (sr_link_publish(s->link, NULL, t.data, t.len) == 0)
                count_sent(s, t.len);
        }
    }
    sr_buf_free(&b);
    sr_buf_free(&t);
}

static void ask_snapshot(struct sr_sync *s, uint64_t now)
{
    if (!s->snapshot_wanted || now < s->snapshot_asked_ms + SNAPSHOT_RETRY_MS)
        return;
    /* Nobody answers the first replica: asking again is only worth it while
     * peers are known. */
    struct sr_fleet_peer one;
    if (s->snapshot_tries >= SNAPSHOT_TRIES ||
        (s->snapshot_tries > 0 && sr_fleet_load_peers(s->load, &one, 1) == 0)) {
        s->snapshot_wanted = false;
        return;
    }
    struct sr_buf b;
    sr_buf_init(&b, SR_SYNC_HEADER_LEN);
    struct sr_sync_header h = header(s, SR_SYNC_SNAPSHOT_REQUEST, atomic_load(&s->group_tag));
    if (sr_sync_encode_header(&b, &h) == 0 && sr_link_request_snapshot(s->link, b.data, b.len) == 0)
        count_sent(s, b.len);
    sr_buf_free(&b);
    s->snapshot_tries++;
    s->snapshot_asked_ms = now;
}

static void on_tick(void *ctx)
{
    struct sr_sync *s = ctx;
    uint64_t now = sr_breaker_now_ms();
    pthread_mutex_lock(&s->lock);
    index_refresh(s);
    if (s->group != NULL && sr_link_state(s->link) == SR_SYNC_UP) {
        publish_load(s, now);
        ask_snapshot(s, now);
    }
    if (sr_fleet_load_expire(s->load, now, PEER_TTL_MS) > 0)
        apply_all_peer_load(s);
    pthread_mutex_unlock(&s->lock);
}

/* On the link's thread: everything placed since the last kick, in as few
 * messages as fit. */
static void on_kick(void *ctx)
{
    struct sr_sync *s = ctx;
    pthread_mutex_lock(&s->out_lock);
    struct sr_buf batch = s->outbox;
    s->outbox = s->sending;
    s->out_armed = false;
    pthread_mutex_unlock(&s->out_lock);
    if (batch.len > 0)
        publish_entries(s, NULL, SR_SYNC_PLACE, &batch, sr_link_max_payload(s->link) - 64);
    sr_buf_reset(&batch);
    pthread_mutex_lock(&s->out_lock);
    s->sending = batch;
    pthread_mutex_unlock(&s->out_lock);
}

/* ---- the API ----------------------------------------------------------- */

struct sr_sync *sr_sync_new(struct sr_registry *registry, struct sr_settings *settings, int *err)
{
    struct sr_sync *s = sr_calloc(1, sizeof(*s));
    int rc = SR_ERR_NOMEM;
    if (s == NULL)
        goto fail;
    s->registry = registry;
    s->settings = settings;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->out_lock, NULL);
    sr_buf_init(&s->outbox, OUTBOX_MAX);
    sr_buf_init(&s->sending, OUTBOX_MAX);
    struct sr_rng rng;
    sr_rng_seed_auto(&rng);
    uint64_t id = sr_rng_next(&rng);
    s->replica = id ? id : 1;
    snprintf(s->replica_hex, sizeof(s->replica_hex), "%016llx", (unsigned long long)id);
    if ((s->load = sr_fleet_load_new()) == NULL)
        goto fail;
    struct sr_link_handlers h = {
        .ctx = s,
        .on_state = on_state_message,
        .on_snapshot_request = on_snapshot_request,
        .on_snapshot_chunk = on_snapshot_chunk,
        .on_up = on_link_up,
        .on_tick = on_tick,
        .on_kick = on_kick,
        .tick_ms = TICK_MS,
    };
    snprintf(h.name, sizeof(h.name), "sglang-router %s", s->replica_hex);
    if ((s->link = sr_link_new(&h, &rc)) == NULL)
        goto fail;
    return s;
fail:
    sr_sync_free(s);
    if (err)
        *err = rc;
    return NULL;
}

void sr_sync_free(struct sr_sync *s)
{
    if (s == NULL)
        return;
    sr_link_free(s->link); /* no callback runs after this */
    sr_fleet_load_free(s->load);
    sr_worker_set_release(s->set);
    sr_free(s->index);
    sr_free(s->group);
    sr_buf_free(&s->outbox);
    sr_buf_free(&s->sending);
    pthread_mutex_destroy(&s->out_lock);
    pthread_mutex_destroy(&s->lock);
    sr_free(s);
}

int sr_sync_check(const struct sr_sync_settings *set, char *err, size_t errlen)
{
    return sr_link_check(set, err, errlen);
}

int sr_sync_apply(struct sr_sync *s, const struct sr_sync_settings *set, char *err, size_t errlen)
{
    int rc = sr_link_check(set, err, errlen);
    if (rc != 0)
        return rc;
    bool on = set->nurls > 0;
    const char *name = set->group && *set->group ? set->group : "default";
    char *group = on ? sr_strdup(name) : NULL;
    if (on && group == NULL)
        return SR_ERR_NOMEM;
    pthread_mutex_lock(&s->lock);
    sr_free(s->group);
    s->group = group;
    atomic_store(&s->group_tag, on ? sr_sync_tag32(group) : 0);
    pthread_mutex_unlock(&s->lock);
    /* Keys are digests while sync is configured, whether or not NATS is
     * reachable, so a flapping link never empties the trees. */
    sr_settings_set_key_unit(s->settings, on ? SR_ROUTE_KEY_UNIT : 1);
    rc = sr_link_configure(s->link, on ? set : NULL);
    if (!on) {
        sr_fleet_load_clear(s->load);
        pthread_mutex_lock(&s->lock);
        apply_all_peer_load(s);
        pthread_mutex_unlock(&s->lock);
    }
    return rc;
}

void sr_sync_placed(struct sr_sync *s, const struct sr_worker *w, const void *key, size_t key_len,
                    size_t prefill)
{
    if (s == NULL || sr_link_state(s->link) != SR_SYNC_UP)
        return;
    /* A prefix of a key is a sound placement: keep what fits in a message. */
    size_t room = sr_link_max_payload(s->link) - SR_SYNC_HEADER_LEN - SR_SYNC_BATCH_FIXED -
                  SR_SYNC_ENTRY_FIXED;
    if (key_len > room)
        key_len = room - room % SR_ROUTE_KEY_DIGEST;
    if (key_len == 0)
        return;
    struct sr_sync_place e = {sr_sync_tag64(w->url),
                              prefill > UINT32_MAX ? UINT32_MAX : (uint32_t)prefill, key,
                              (uint32_t)key_len};
    pthread_mutex_lock(&s->out_lock);
    bool queued = sr_sync_encode_place(&s->outbox, &e) == 0; /* full: dropped */
    bool kick = queued && !s->out_armed;
    s->out_armed |= kick;
    pthread_mutex_unlock(&s->out_lock);
    if (kick)
        sr_link_kick(s->link);
}

int sr_sync_status(struct sr_sync *s, struct sr_sync_status *out)
{
    memset(out, 0, sizeof(*out));
    out->state = sr_link_state(s->link);
    memcpy(out->replica_id, s->replica_hex, sizeof(out->replica_id));
#define LOAD(f) atomic_load_explicit(&s->f, memory_order_relaxed)
    out->messages_sent = LOAD(messages_sent);
    out->bytes_sent = LOAD(bytes_sent);
    out->messages_received = LOAD(messages_received);
    out->bytes_received = LOAD(bytes_received);
    out->dropped_malformed = LOAD(dropped_malformed);
    out->dropped_oversized = LOAD(dropped_oversized);
    out->dropped_group = LOAD(dropped_group);
    out->dropped_worker = LOAD(dropped_worker);
    out->placements_learned = LOAD(placements_learned);
    out->snapshots_received = LOAD(snapshots_received);
    out->snapshots_served = LOAD(snapshots_served);
    out->lag_seconds = (double)LOAD(lag_us) / 1e6;
#undef LOAD
    int rc = sr_link_describe(s->link, &out->servers, &out->nservers, &out->last_error);
    pthread_mutex_lock(&s->lock);
    if (rc == 0 && s->group != NULL && (out->group = sr_strdup(s->group)) == NULL)
        rc = SR_ERR_NOMEM;
    pthread_mutex_unlock(&s->lock);
    struct sr_fleet_peer peers[64];
    size_t n = sr_fleet_load_peers(s->load, peers, 64);
    n = n < 64 ? n : 64;
    if (rc == 0 && n > 0 && (out->peers = sr_calloc(n, sizeof(*out->peers))) == NULL)
        rc = SR_ERR_NOMEM;
    uint64_t now = sr_breaker_now_ms();
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct sr_sync_peer *p = &out->peers[out->npeers++];
        snprintf(p->id, sizeof(p->id), "%016llx", (unsigned long long)peers[i].id);
        p->last_seen_secs =
            now > peers[i].last_seen_ms ? (double)(now - peers[i].last_seen_ms) / 1000.0 : 0;
        p->in_flight = peers[i].in_flight;
    }
    if (rc != 0)
        sr_sync_status_clear(out);
    return rc;
}

void sr_sync_status_clear(struct sr_sync_status *st)
{
    for (size_t i = 0; i < st->nservers; i++)
        sr_free(st->servers[i]);
    sr_free(st->servers);
    sr_free(st->group);
    sr_free(st->peers);
    sr_free(st->last_error);
    memset(st, 0, sizeof(*st));
}
