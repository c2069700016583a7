/*
 * bench-tree: cost of cache-aware routing decisions and of the radix tree.
 *
 * Workload: 16 healthy workers, prompts made of one of 200 shared prefixes
 * (2 KiB, or half the prompt when the prompt is shorter) plus a unique
 * suffix. A decision is sr_policy_select() of the cache_aware policy: the
 * load scan, one tree walk (match), the choice and the insert, exactly as
 * the data plane does it. Prompts are generated before the clock starts.
 *
 * Figures are for the steady state: before timing, the tree is filled past
 * its capacity (max_tree_size per worker, and the hard cap at twice that),
 * so the timed decisions reuse memory freed by eviction and include the
 * amortised cost of the inline eviction, as in a long-running router.
 *
 * Prints one line per figure: "BENCH <name> <value> <unit>".
 * Usage: bench-tree [--smoke] [--cold] [--nats=URL] [FIGURE ...]
 *   --smoke: tiny sizes, finishes in a second; --cold: the decision_ns
 *   figures start from an empty tree (count / 10 untimed decisions) and
 *   time a tree that grows, without eviction: the mode to compare with a
 *   tree that has no comparable eviction; FIGURE: print only the figures
 *   whose names start with these words (e.g. decisions_per_sec); --nats=URL:
 *   the sync_decision figures publish each placement to that NATS server.
 */
#include "common/alloc.h"
#include "common/config.h"
#include "common/policy.h"
#include "common/rand.h"
#include "common/route_key.h"
#include "common/settings.h"

#include "sync/sync.h"
#include "sync/wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKERS    16
#define PREFIXES   200
#define PREFIX_LEN 2048
#define POOL       (32u << 20)

struct bench {
    struct sr_registry *reg;
    struct sr_worker_set *set;
    struct sr_policy_params params;
    unsigned char *prefix[PREFIXES];
    unsigned char *pool;
    struct sr_rng rng;
    int cold; /* --cold: no steady state, the tree grows while timed */
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The routing requests' time, as the data plane passes it (the tree reads
 * no clock of its own). */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "bench-tree: out of memory\n");
        exit(1);
    }
    return p;
}

static void fill_text(struct sr_rng *rng, unsigned char *out, size_t n)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,0123456789";
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)chars[sr_rng_below(rng, sizeof(chars) - 1)];
}

/* One prompt: a shared prefix, a random 16-character tag (so the suffix
 * diverges at once), then a slice of a random pool. */
static void gen_prompt_rng(struct bench *b, struct sr_rng *rng, unsigned char *out, size_t size)
{
    size_t plen = size / 2 < PREFIX_LEN ? size / 2 : PREFIX_LEN;
    memcpy(out, b->prefix[sr_rng_below(rng, PREFIXES)], plen);
    size_t rest = size - plen;
    unsigned char tag[16];
    uint64_t r = sr_rng_next(rng);
    for (int i = 0; i < 16; i++, r >>= 4)
        tag[i] = (unsigned char)"0123456789abcdef"[r & 15];
    size_t t = rest < 16 ? rest : 16;
    memcpy(out + plen, tag, t);
    size_t off = sr_rng_below(rng, (uint32_t)(POOL - rest));
    memcpy(out + plen + t, b->pool + off, rest - t);
}

static void gen_prompt(struct bench *b, unsigned char *out, size_t size)
{
    gen_prompt_rng(b, &b->rng, out, size);
}

/* count prompts of `size` bytes, one contiguous array. */
static unsigned char *make_prompts(struct bench *b, size_t size, size_t count)
{
    unsigned char *all = xmalloc(size * count);
    for (size_t i = 0; i < count; i++)
        gen_prompt(b, all + i * size, size);
    return all;
}

static struct sr_policy *new_policy(struct bench *b)
{
    int err;
    struct sr_policy *p = sr_policy_create("cache_aware", &b->params, &err);
    if (p == NULL) {
        fprintf(stderr, "bench-tree: cannot create policy\n");
        exit(1);
    }
    return p;
}

static struct sr_worker *decide_with(struct bench *b, struct sr_policy *p, struct sr_rng *rng,
                                     const unsigned char *text, size_t len,
                                     const struct sr_policy_params *params)
{
    struct sr_route_request req = {
        .workers = b->set,
        .text = text,
        .text_len = len,
        .now_ms = now_ms(),
        .rng = rng,
        .params = params,
    };
    struct sr_worker *w;
    if (sr_policy_select(p, &req, &w) != 0) {
        fprintf(stderr, "bench-tree: routing failed\n");
        exit(1);
    }
    return w;
}

static void decide(struct bench *b, struct sr_policy *p, struct sr_rng *rng,
                   const unsigned char *text, size_t len)
{
    (void)decide_with(b, p, rng, text, len, &b->params);
}

/* Drives p's tree past capacity with prompts of `size` bytes, until the
 * shared counter of unique bytes reaches the target: afterwards every worker
 * has been through the hard cap and the caller's malloc arena recycles
 * memory freed by eviction. Several threads may warm up together. */
static void warm_up(struct bench *b, struct sr_policy *p, struct sr_rng *rng, size_t size,
                    atomic_size_t *unique)
{
    unsigned char *prompt = xmalloc(size);
    size_t plen = size / 2 < PREFIX_LEN ? size / 2 : PREFIX_LEN;
    size_t target = WORKERS * b->params.max_tree_bytes * 5 / 2;
    while (atomic_fetch_add(unique, size - plen) < target) {
        gen_prompt_rng(b, rng, prompt, size);
        decide(b, p, rng, prompt, size);
    }
    free(prompt);
}

static struct sr_policy *steady_policy(struct bench *b, size_t size)
{
    struct sr_policy *p = new_policy(b);
    atomic_size_t unique = 0;
    warm_up(b, p, &b->rng, size, &unique);
    return p;
}

/* ns per prompt byte for `count` steady-state decisions on `size` bytes. */
static double per_byte(struct bench *b, size_t size, size_t count, struct sr_radix_stats *stats)
{
    struct sr_policy *p;
    if (b->cold) { /* count / 10 untimed decisions seed the shared prefixes */
        p = new_policy(b);
        unsigned char *prompt = xmalloc(size);
        for (size_t i = 0; i < count / 10; i++) {
            gen_prompt(b, prompt, size);
            decide(b, p, &b->rng, prompt, size);
        }
        free(prompt);
    } else {
        p = steady_policy(b, size);
    }
    unsigned char *prompts = make_prompts(b, size, count);
    double t0 = now_ns();
    for (size_t i = 0; i < count; i++)
        decide(b, p, &b->rng, prompts + i * size, size);
    double ns = now_ns() - t0;
    if (stats)
        sr_policy_tree_stats(p, stats);
    sr_policy_destroy(p);
    free(prompts);
    return ns / ((double)count * (double)size);
}

/* Replica sync's cost per decision: the data plane's work for one prompt
 * of `size` bytes without sync (select on the text) and with it (the block
 * digests, select on them, and the placement published through a real
 * NATS connection when nats_url is given, else only encoded). Both trees
 * get the same untimed decisions first. Prints the process's CPU time per
 * decision (every thread's: the sync's own thread publishes) and the
 * ratio. */
/* A replica sync joined to nats_url (group "bench"), once up; the caller
 * frees it and settings. One per process: libnats closes for good when
 * one is freed. */
static struct sr_sync *bench_sync(struct bench *b, const char *nats_url,
                                  struct sr_settings **settings)
{
    struct sr_config cfg;
    int err;
    char why[300];
    struct sr_sync_settings set = {.urls = &nats_url, .nurls = 1, .group = "bench"};
    struct sr_sync *sync = NULL;
    if (sr_config_init(&cfg) != 0 || (*settings = sr_settings_new(&cfg, &err)) == NULL ||
        (sync = sr_sync_new(b->reg, *settings, &err)) == NULL ||
        sr_sync_apply(sync, &set, why, sizeof(why)) != 0) {
        fprintf(stderr, "bench-tree: cannot start the sync\n");
        exit(1);
    }
    sr_config_clear(&cfg);
    struct sr_sync_status st = {0};
    for (int i = 0; i < 500 && st.state != SR_SYNC_UP; i++) {
        struct timespec ms10 = {0, 10000000};
        nanosleep(&ms10, NULL);
        sr_sync_status_clear(&st);
        (void)sr_sync_status(sync, &st);
    }
    if (st.state != SR_SYNC_UP) {
        fprintf(stderr, "bench-tree: NATS at %s not reachable\n", nats_url);
        exit(1);
    }
    sr_sync_status_clear(&st);
    return sync;
}

static void sync_cost(struct bench *b, size_t size, size_t count, struct sr_sync *sync)
{
    struct sr_policy_params keyed = b->params;
    keyed.key_unit = SR_ROUTE_KEY_UNIT;
    int err;
    struct sr_policy *raw = new_policy(b), *dig = sr_policy_create("cache_aware", &keyed, &err);
    if (dig == NULL) {
        fprintf(stderr, "bench-tree: out of memory\n");
        exit(1);
    }
    unsigned char *prompts = make_prompts(b, size, count);
    unsigned char *key = xmalloc(sr_route_key_len(size));
    size_t klen = sr_route_key_len(size);
    struct sr_buf msg;
    sr_buf_init(&msg, sr_sync_place_size(klen));
    for (size_t i = 0; i < count / 2; i++) { /* warm: the same history for both */
        decide(b, raw, &b->rng, prompts + i * size, size);
        sr_route_key_make(prompts + i * size, size, key);
        (void)decide_with(b, dig, &b->rng, key, klen, &keyed);
    }
    struct sr_sync_status st0 = {0}, st1 = {0};
    if (sync)
        (void)sr_sync_status(sync, &st0);
    double t0 = cpu_ns();
    for (size_t i = count / 2; i < count; i++)
        decide(b, raw, &b->rng, prompts + i * size, size);
    double t1 = cpu_ns();
    for (size_t i = count / 2; i < count; i++) {
        sr_route_key_make(prompts + i * size, size, key);
        struct sr_worker *w = decide_with(b, dig, &b->rng, key, klen, &keyed);
        if (sync) {
            sr_sync_placed(sync, w, key, klen, size);
        } else {
            struct sr_sync_place pl = {4, 5, key, (uint32_t)klen};
            sr_buf_reset(&msg);
            (void)sr_sync_encode_place(&msg, &pl);
        }
    }
    if (sync) { /* the last batch leaves the link's thread */
        struct timespec ms20 = {0, 20000000};
        nanosleep(&ms20, NULL);
    }
    double t2 = cpu_ns();
    double n = (double)(count - count / 2);
    if (sync) { /* all of it was published, nothing dropped */
        (void)sr_sync_status(sync, &st1);
        printf("BENCH sync_published_bytes_per_decision_%zuk %.0f bytes (key %zu)\n", size >> 10,
               (double)(st1.bytes_sent - st0.bytes_sent) / n, klen);
        sr_sync_status_clear(&st0);
        sr_sync_status_clear(&st1);
    }
    printf("BENCH sync_decision_cpu_ns_%zuk_without %.0f ns\n", size >> 10, (t1 - t0) / n);
    printf("BENCH sync_decision_cpu_ns_%zuk_with %.0f ns\n", size >> 10, (t2 - t1) / n);
    printf("BENCH sync_decision_ratio_%zuk %.3f x (%s)\n", size >> 10, (t2 - t1) / (t1 - t0),
           sync ? "published to NATS" : "encoded, not published");
    sr_policy_destroy(raw);
    sr_policy_destroy(dig);
    free(prompts);
    free(key);
    sr_buf_free(&msg);
}

/* One eviction pass over a tree holding `text_bytes` of text, halving it. */
static double evict_ms(struct bench *b, size_t text_bytes)
{
    const size_t size = 4096;
    struct sr_policy *p = new_policy(b);
    unsigned char *prompt = xmalloc(size);
    struct sr_radix_stats st = {0};
    while (st.text_bytes < text_bytes) {
        for (int i = 0; i < 64; i++) {
            gen_prompt(b, prompt, size);
            decide(b, p, &b->rng, prompt, size);
        }
        sr_policy_tree_stats(p, &st);
    }
    struct sr_policy_params half = b->params;
    half.max_tree_bytes = st.text_bytes / WORKERS / 2;
    double t0 = now_ns();
    sr_policy_maintain(p, &half);
    double ms = (now_ns() - t0) / 1e6;
    struct sr_radix_stats after;
    sr_policy_tree_stats(p, &after);
    fprintf(stderr, "evict: %zu -> %zu text bytes, %zu -> %zu nodes\n", st.text_bytes,
            after.text_bytes, st.node_count, after.node_count);
    sr_policy_destroy(p);
    free(prompt);
    return ms;
}

struct runner {
    struct bench *b;
    struct sr_policy *p;
    const unsigned char *prompts;
    size_t size, count;
    uint64_t seed;
    atomic_size_t *unique;
    pthread_barrier_t *ready;
    double work_us; /* other per-request work between decisions */
};

/* Stands in for the rest of a request's handling (parsing, syscalls):
 * CPU work that touches no shared state. */
static void other_work(double us)
{
    double end = now_ns() + us * 1e3;
    while (now_ns() < end)
        ;
}

static void *run_decisions(void *arg)
{
    struct runner *r = arg;
    struct sr_rng rng;
    sr_rng_seed(&rng, r->seed);
    warm_up(r->b, r->p, &rng, r->size, r->unique);
    pthread_barrier_wait(r->ready);
    for (size_t i = 0; i < r->count; i++) {
        decide(r->b, r->p, &rng, r->prompts + i * r->size, r->size);
        if (r->work_us > 0)
            other_work(r->work_us);
    }
    return NULL;
}

/* Threads warm the tree up together (each thread's allocator reaches its
 * steady state too), then all route their own prompts at once, each doing
 * work_us of other work per request. */
static double decisions_per_sec(struct bench *b, int threads, size_t per_thread, double work_us)
{
    const size_t size = 4096;
    struct sr_policy *p = new_policy(b);
    unsigned char *prompts = make_prompts(b, size, per_thread * (size_t)threads);
    atomic_size_t unique = 0;
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, (unsigned)threads + 1);
    struct runner r[8];
    pthread_t th[8];
    for (int i = 0; i < threads; i++) {
        r[i] = (struct runner){.b = b,
                               .p = p,
                               .prompts = prompts + (size_t)i * per_thread * size,
                               .size = size,
                               .count = per_thread,
                               .seed = (uint64_t)i + 100,
                               .unique = &unique,
                               .ready = &ready,
                               .work_us = work_us};
        pthread_create(&th[i], NULL, run_decisions, &r[i]);
    }
    pthread_barrier_wait(&ready);
    double t0 = now_ns();
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double secs = (now_ns() - t0) / 1e9;
    pthread_barrier_destroy(&ready);
    sr_policy_destroy(p);
    free(prompts);
    return (double)per_thread * threads / secs;
}

struct evictor_arg {
    struct sr_policy *p;
    struct sr_policy_params params;
    atomic_int done;
    double ms;
};

static void *evict_once(void *arg)
{
    struct evictor_arg *e = arg;
    double t0 = now_ns();
    sr_policy_maintain(e->p, &e->params);
    e->ms = (now_ns() - t0) / 1e6;
    atomic_store(&e->done, 1);
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Per-decision latency (us) of `count` decisions: p99.9 and max. */
static void latency(double *lat, size_t n, double *p999, double *max)
{
    qsort(lat, n, sizeof(*lat), by_value);
    *p999 = lat[(size_t)((double)n * 0.999)];
    *max = lat[n - 1];
}

/* Routing while a full eviction pass runs on another thread over the
 * largest steady-state tree (1 KiB prompts: the most nodes), evicting half
 * of every worker's history; compared with routing alone. */
static void stall_during_eviction(struct bench *b, size_t count)
{
    const size_t size = 1024;
    struct sr_policy *p = steady_policy(b, size);
    struct sr_radix_stats st;
    sr_policy_tree_stats(p, &st);
    unsigned char *prompts = make_prompts(b, size, 2 * count);
    double *lat = xmalloc(count * sizeof(*lat));
    for (size_t i = 0; i < count; i++) {
        double t0 = now_ns();
        decide(b, p, &b->rng, prompts + i * size, size);
        lat[i] = (now_ns() - t0) / 1e3;
    }
    double base999, basemax;
    latency(lat, count, &base999, &basemax);

    struct evictor_arg e = {.p = p, .params = b->params};
    e.params.max_tree_bytes = b->params.max_tree_bytes / 2;
    atomic_init(&e.done, 0);
    pthread_t th;
    pthread_create(&th, NULL, evict_once, &e);
    size_t n = 0;
    while (!atomic_load(&e.done) && n < count) {
        double t0 = now_ns();
        decide(b, p, &b->rng, prompts + (count + n) * size, size);
        lat[n++] = (now_ns() - t0) / 1e3;
    }
    pthread_join(th, NULL);
    double p999, max;
    latency(lat, n, &p999, &max);
    fprintf(stderr, "stall: pass over %zu nodes, %zu text bytes; %zu decisions during it\n",
            st.node_count, st.text_bytes, n);
    printf("BENCH evict_pass_ms_big_tree %.1f ms\n", e.ms);
    printf("BENCH decision_p999_us_no_pass %.1f us\n", base999);
    printf("BENCH decision_p999_us_during_pass %.1f us\n", p999);
    printf("BENCH decision_max_us_no_pass %.1f us\n", basemax);
    printf("BENCH decision_max_us_during_pass %.1f us\n", max);
    sr_policy_destroy(p);
    free(prompts);
    free(lat);
}

/* True when the figure was asked for (or no figure was named). */
static int wanted_in(int argc, char **argv, const char *name)
{
    int named = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0)
            continue;
        named = 1;
        if (strncmp(name, argv[i], strlen(argv[i])) == 0)
            return 1;
    }
    return !named;
}

#define wanted(name) wanted_in(argc, argv, name)

int main(int argc, char **argv)
{
    int smoke = 0, cold = 0;
    const char *nats_url = NULL;
    for (int i = 1; i < argc; i++) {
        smoke |= strcmp(argv[i], "--smoke") == 0;
        cold |= strcmp(argv[i], "--cold") == 0;
        if (strncmp(argv[i], "--nats=", 7) == 0)
            nats_url = argv[i] + 7;
    }
    sr_alloc_tune_for_server(); /* as sglang-router's main does */
    struct bench b = {.cold = cold};
    sr_rng_seed(&b.rng, 42);
    struct sr_config defaults; /* the router's defaults, from the option table */
    if (sr_config_init(&defaults) != 0) {
        fprintf(stderr, "bench-tree: out of memory\n");
        return 1;
    }
    b.params = sr_config_policy_params(&defaults);
    sr_config_clear(&defaults);
    if (smoke)
        b.params.max_tree_bytes = 64u << 10;
    b.reg = sr_registry_new();
    char url[64];
    for (int i = 0; i < WORKERS; i++) {
        snprintf(url, sizeof(url), "http://10.0.0.%d:8000", i + 1);
        if (b.reg == NULL || sr_registry_add(b.reg, url, NULL) != 0) {
            fprintf(stderr, "bench-tree: cannot set up workers\n");
            return 1;
        }
    }
    b.set = sr_registry_acquire(b.reg);
    for (size_t i = 0; i < b.set->count; i++)
        sr_worker_set_health(b.set->workers[i], SR_HEALTH_HEALTHY);
    for (int i = 0; i < PREFIXES; i++) {
        b.prefix[i] = xmalloc(PREFIX_LEN);
        fill_text(&b.rng, b.prefix[i], PREFIX_LEN);
    }
    b.pool = xmalloc(POOL);
    fill_text(&b.rng, b.pool, POOL);

    size_t scale = smoke ? 50 : 1;
    struct sr_radix_stats st4k = {0};
    if (wanted("decision_ns_per_byte_1k"))
        printf("BENCH decision_ns_per_byte_1k %.3f ns/byte\n",
               per_byte(&b, 1024, 40000 / scale, NULL));
    if (wanted("decision_ns_per_byte_4k") || wanted("tree_bytes_per_text_byte"))
        printf("BENCH decision_ns_per_byte_4k %.3f ns/byte\n",
               per_byte(&b, 4096, 20000 / scale, &st4k));
    if (wanted("decision_ns_per_byte_64k"))
        printf("BENCH decision_ns_per_byte_64k %.3f ns/byte\n",
               per_byte(&b, 65536, 2000 / scale, NULL));
    if (st4k.text_bytes)
        printf("BENCH tree_bytes_per_text_byte %.3f ratio\n",
               (double)st4k.memory_bytes / (double)st4k.text_bytes);
    if (wanted("evict_ms"))
        printf("BENCH evict_ms %.2f ms\n", evict_ms(&b, (smoke ? 1u : 16u) << 20));
    if (wanted("evict_pass_ms_big_tree") || wanted("decision_p999") || wanted("decision_max"))
        stall_during_eviction(&b, 100000 / scale);
    if (wanted("decisions_per_sec_1thread"))
        printf("BENCH decisions_per_sec_1thread %.0f decisions/s\n",
               decisions_per_sec(&b, 1, 20000 / scale, 0));
    if (wanted("decisions_per_sec_2threads"))
        printf("BENCH decisions_per_sec_2threads %.0f decisions/s\n",
               decisions_per_sec(&b, 2, 20000 / scale, 0));
    if (wanted("scaling_2threads_with_10us_work")) {
        /* A router thread spends tens of microseconds per request outside
         * the tree: with 10 us of it, does a second thread still double the
         * rate, or does the tree's lock hold it back? */
        double one = decisions_per_sec(&b, 1, 10000 / scale, 10);
        double two = decisions_per_sec(&b, 2, 10000 / scale, 10);
        printf("BENCH scaling_2threads_with_10us_work %.2f x\n", two / one);
    }

    if (wanted("sync_decision")) {
        struct sr_settings *settings = NULL;
        struct sr_sync *sync = nats_url ? bench_sync(&b, nats_url, &settings) : NULL;
        sync_cost(&b, 4096, 20000 / scale, sync);
        sync_cost(&b, 16384, 10000 / scale, sync);
        sr_sync_free(sync);
        sr_settings_free(settings);
    }

    for (int i = 0; i < PREFIXES; i++)
        free(b.prefix[i]);
    free(b.pool);
    sr_worker_set_release(b.set);
    sr_registry_free(b.reg);
    return 0;
}
