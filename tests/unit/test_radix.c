/* Unit tests for common/radix: exact cases, UTF-8 boundaries, large inputs,
 * many workers, LRU eviction, the hard cap, allocation failures, concurrency,
 * and a randomized comparison against a simple reference model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/radix.h"
#include "common/rand.h"
#include "common/utf8.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NL 64 /* worker slots the tests look at */

static void assert_sound(struct sr_radix *t)
{
    const char *why = "";
    int rc = sr_radix_check(t, &why);
    if (rc != 0)
        fail_msg("tree invariant broken: %s", why);
}

static int64_t match(struct sr_radix *t, const char *s, uint32_t *lens)
{
    return sr_radix_match(t, s, strlen(s), lens, NL, NULL);
}

static int insert(struct sr_radix *t, const char *s, uint32_t w)
{
    return sr_radix_insert(t, s, strlen(s), w, 0);
}

static void test_match_reports_every_worker(void **state)
{
    (void)state;
    struct sr_radix *t = sr_radix_new(1 << 20);
    uint32_t lens[NL];
    assert_int_equal(insert(t, "hello world", 0), 0);
    assert_int_equal(insert(t, "hello there", 1), 0);
    assert_int_equal(insert(t, "goodbye", 2), 0);

    int64_t best = -2;
    assert_int_equal(sr_radix_match(t, "hello wombat", 12, lens, NL, &best), 8);
    assert_int_equal(lens[0], 8); /* "hello wo" */
    assert_int_equal(lens[1], 6); /* "hello " */
    assert_int_equal(lens[2], 0);
    assert_int_equal(best, 0);

    assert_int_equal(match(t, "zzz", lens), 0);
    for (int i = 0; i < NL; i++)
        assert_int_equal(lens[i], 0);
    assert_int_equal(sr_radix_match(t, "zzz", 3, lens, NL, &best), 0);
    assert_int_equal(best, -1);

    /* A prefix of a stored text matches completely. */
    assert_int_equal(match(t, "hell", lens), 4);
    assert_int_equal(lens[0], 4);
    assert_int_equal(lens[1], 4);
    assert_sound(t);
    sr_radix_free(t);
}

static void test_stored_sizes_and_stats(void **state)
{
    (void)state;
    struct sr_radix *t = sr_radix_new(1 << 20);
    assert_int_equal(insert(t, "abcdef", 0), 0);
    assert_int_equal(insert(t, "abcxyz", 1), 0);
    assert_int_equal(insert(t, "abc", 2), 0);
    assert_int_equal(sr_radix_worker_bytes(t, 0), 6);
    assert_int_equal(sr_radix_worker_bytes(t, 1), 6);
    assert_int_equal(sr_radix_worker_bytes(t, 2), 3);
    assert_int_equal(sr_radix_worker_bytes(t, 40), 0);
    struct sr_radix_stats st;
    sr_radix_get_stats(t, &st);
    assert_int_equal(st.node_count, 3); /* "abc" -> "def", "xyz" */
    assert_int_equal(st.text_bytes, 9);
    assert_int_equal(st.inserts, 3);
    assert_true(st.memory_bytes > 0);
    /* Re-inserting known text changes no size. */
    assert_int_equal(insert(t, "abcdef", 0), 0);
    assert_int_equal(sr_radix_worker_bytes(t, 0), 6);
    assert_sound(t);
    sr_radix_free(t);
}

static void test_utf8_boundaries(void **state)
{
    (void)state;
    struct sr_radix *t = sr_radix_new(1 << 20);
    uint32_t lens[NL];
    /* 2-byte: "café" vs "cafè" share the lead byte 0xC3 only. */
    assert_int_equal(insert(t, "caf\xc3\xa9", 0), 0);
    assert_int_equal(match(t, "caf\xc3\xa8", lens), 3);
    assert_int_equal(lens[0], 3);
    /* 3-byte: "€" (E2 82 AC) vs "₭" (E2 82 AD): two shared bytes. */
    assert_int_equal(insert(t, "x\xe2\x82\xac", 1), 0);
    assert_int_equal(match(t, "x\xe2\x82\xad", lens), 1);
    assert_int_equal(lens[1], 1);
    /* 4-byte: U+1F600 (F0 9F 98 80) vs U+1F601 (F0 9F 98 81). */
    assert_int_equal(insert(t, "y\xf0\x9f\x98\x80z", 2), 0);
    assert_int_equal(match(t, "y\xf0\x9f\x98\x81z", lens), 1);
    assert_int_equal(lens[2], 1);
    /* Whole characters still match whole. */
    assert_int_equal(match(t, "y\xf0\x9f\x98\x80q", lens), 5);
    /* A query that is itself cut inside a character matches to its end. */
    assert_int_equal(match(t, "caf\xc3", lens), 4);
    assert_sound(t);
    sr_radix_free(t);
}

/* Digest keys (common/route_key.h): matches count whole digests only,
 * wherever the bytes of two digests happen to agree. */
static void test_granule_floors_to_whole_digests(void **state)
{
    (void)state;
    struct sr_radix *t = sr_radix_new(1 << 20);
    sr_radix_set_granule(t, 4);
    uint32_t lens[NL];
    assert_int_equal(sr_radix_insert(t, "AAAABBBBCCCC", 12, 0, 0), 0);
    /* Agrees for 4 + 2 bytes: one digest. */
    assert_int_equal(sr_radix_match(t, "AAAABBxxCCCC", 12, lens, NL, NULL), 4);
    assert_int_equal(lens[0], 4);
    /* 0xC3 in a digest is not a character to keep whole. */
    assert_int_equal(sr_radix_insert(t, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, 1, 0), 0);
    assert_int_equal(sr_radix_match(t, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, lens, NL, NULL), 8);
    assert_int_equal(lens[1], 8);
    assert_sound(t);
    sr_radix_free(t);
}

static void test_empty_text(void **state)
{
    (void)state;
    struct sr_radix *t = sr_radix_new(1 << 20);
    uint32_t lens[NL];
    assert_int_equal(sr_radix_insert(t, "", 0, 3, 0), 0);
    assert_int_equal(sr_radix_match(t, "", 0, lens, NL, NULL), 0);
    assert_int_equal(lens[3], 0);
    struct sr_radix_stats st;
    sr_radix_get_stats(t, &st);
    assert_int_equal(st.node_count, 0);
    assert_int_equal(sr_radix_worker_bytes(t, 3), 0);
    assert_int_equal(insert(t, "a", 3), 0);
    assert_int_equal(sr_radix_match(t, "", 0, lens, NL, NULL), 0);
    assert_sound(t);
    sr_radix_free(t);
}

static void test_one_mebibyte_text(void **state)
{
    (void)state;
    const size_t n = 1 << 20;
    unsigned char *text = malloc(n);
    struct sr_rng rng;
    sr_rng_seed(&rng, 7);
    for (size_t i = 0; i < n; i++)
        text[i] = (unsigned char)('a' + sr_rng_below(&rng, 26));
    struct sr_radix *t = sr_radix_new(4 * n);
    uint32_t lens[NL];
    assert_int_equal(sr_radix_insert(t, text, n, 1, 0), 0);
    assert_int_equal(sr_radix_match(t, text, n, lens, NL, NULL), (int64_t)n);
    assert_int_equal(lens[1], n);
    text[n / 2] = '#';
    assert_int_equal(sr_radix_match(t, text, n, lens, NL, NULL), (int64_t)n / 2);
    assert_int_equal(sr_radix_insert(t, text, n, 2, 0), 0);
    assert_int_equal(sr_radix_match(t, text, n, lens, NL, NULL), (int64_t)n);
    assert_int_equal(lens[1], n / 2);
    assert_int_equal(lens[2], n);
    struct sr_radix_stats st;
    sr_radix_get_stats(t, &st);
    assert_int_equal(st.text_bytes, n + n / 2);
    assert_sound(t);
    sr_radix_free(t);
    free(text);
}

static void test_thousand_workers(void **state)
{
    (void)state;
    enum { W = 1000 };
    struct sr_radix *t = sr_radix_new(1 << 20);
    const char *prefix = "<|system|>You are a helpful assistant.<|user|>";
    char text[128];
    static uint32_t lens[W + 8];
    for (uint32_t w = 0; w < W; w++) {
        snprintf(text, sizeof(text), "%squestion %u", prefix, w);
        assert_int_equal(insert(t, text, w), 0);
    }
    size_t plen = strlen(prefix);
    for (uint32_t w = 100; w < W; w += 97) { /* 3 digits: no id is a prefix of another */
        snprintf(text, sizeof(text), "%squestion %u", prefix, w);
        int64_t best = -1;
        assert_int_equal(sr_radix_match(t, text, strlen(text), lens, W + 8, &best),
                         (int64_t)strlen(text));
        assert_int_equal(best, w);
        assert_int_equal(lens[w], strlen(text));
        assert_true(lens[(w + 1) % W] >= plen + 9); /* "question " */
    }
    assert_sound(t);
    for (uint32_t w = 0; w < W; w += 2)
        assert_int_equal(sr_radix_remove_worker(t, w), 0);
    snprintf(text, sizeof(text), "%squestion %u", prefix, 10);
    /* Worker 10 is gone, but 101 (kept) extends "question 10". */
    assert_int_equal(sr_radix_match(t, text, strlen(text), lens, W + 8, NULL),
                     (int64_t)strlen(text));
    assert_int_equal(lens[10], 0);
    assert_int_equal(lens[101], strlen(text));
    assert_int_equal(lens[11], strlen(text) - 1);
    assert_sound(t);
    for (uint32_t w = 1; w < W; w += 2)
        assert_int_equal(sr_radix_remove_worker(t, w), 0);
    struct sr_radix_stats st;
    sr_radix_get_stats(t, &st);
    assert_int_equal(st.node_count, 0);
    assert_int_equal(st.text_bytes, 0);
    assert_sound(t);
    sr_radix_free(t);
}

static void test_remove_worker_frees_everything(void **state)
{
    (void)state;
    struct sr_radix *t = sr_radix_new(1 << 20);
    struct sr_radix_stats before, after;
    assert_int_equal(insert(t, "seed", 5), 0); /* sizes the slot arrays */
    assert_int_equal(sr_radix_remove_worker(t, 5), 0);
    sr_radix_get_stats(t, &before);
    assert_int_equal(insert(t, "shared prefix / one", 5), 0);
    assert_int_equal(insert(t, "shared prefix / two", 5), 0);
    assert_int_equal(insert(t, "shared prefix / three", 6), 0);
    assert_int_equal(sr_radix_remove_worker(t, 5), 0);
    assert_int_equal(sr_radix_worker_bytes(t, 5), 0);
    assert_int_equal(sr_radix_worker_bytes(t, 6), strlen("shared prefix / three"));
    assert_int_equal(sr_radix_remove_worker(t, 6), 0);
    assert_int_equal(sr_radix_remove_worker(t, 60000), 0); /* unknown: no-op */
    sr_radix_get_stats(t, &after);
    assert_int_equal(after.node_count, 0);
    assert_int_equal(after.memory_bytes, before.memory_bytes);
    assert_sound(t);
    sr_radix_free(t);
}

static void test_eviction_is_lru(void **state)
{
    (void)state;
    char a[101], b[101], c[101], d[101];
    memset(a, 'a', 100), memset(b, 'b', 100), memset(c, 'c', 100), memset(d, 'd', 100);
    a[100] = b[100] = c[100] = d[100] = '\0';
    struct sr_radix *t = sr_radix_new(250);
    uint32_t lens[NL];
    assert_int_equal(insert(t, a, 0), 0);
    assert_int_equal(insert(t, b, 0), 0);
    assert_int_equal(insert(t, c, 0), 0);
    assert_int_equal(insert(t, a, 1), 0); /* another worker's copy stays */
    assert_int_equal(sr_radix_evict(t), 100);
    assert_int_equal(match(t, a, lens), 100);
    assert_int_equal(lens[0], 0);
    assert_int_equal(lens[1], 100);
    assert_int_equal(match(t, b, lens), 100);
    assert_int_equal(match(t, c, lens), 100);
    assert_int_equal(sr_radix_worker_bytes(t, 0), 200);

    assert_int_equal(insert(t, b, 0), 0); /* b is now newer than c */
    assert_int_equal(insert(t, d, 0), 0);
    assert_int_equal(sr_radix_evict(t), 100);
    assert_int_equal(match(t, c, lens), 0);
    assert_int_equal(match(t, b, lens), 100);
    assert_int_equal(match(t, d, lens), 100);
    assert_int_equal(sr_radix_evict(t), 0); /* nothing over the limit */
    assert_sound(t);

    /* Shrinking the target at runtime takes effect on the next pass. */
    sr_radix_set_max_bytes(t, 100);
    assert_int_equal(sr_radix_evict(t), 100);
    assert_int_equal(match(t, d, lens), 100);
    assert_int_equal(lens[0], 100);
    assert_sound(t);
    sr_radix_free(t);
}

/* Many leaves in random order: exactly the most recent ones survive. */
static void test_eviction_keeps_the_most_recent(void **state)
{
    (void)state;
    enum { N = 200, KEEP = 37 };
    struct sr_radix *t = sr_radix_new(1 << 20);
    struct sr_rng rng;
    sr_rng_seed(&rng, 99);
    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)sr_rng_below(&rng, (uint32_t)i + 1), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    /* Distinct first bytes: every text is one 8-byte leaf under the root. */
    char text[32];
    for (int i = 0; i < N; i++) {
        snprintf(text, sizeof(text), "%c-leaf-x", order[i] + 1);
        assert_int_equal(insert(t, text, 0), 0);
    }
    size_t before = sr_radix_worker_bytes(t, 0);
    assert_int_equal(before, N * 8);
    sr_radix_set_max_bytes(t, (size_t)KEEP * 8);
    assert_true(sr_radix_evict(t) > 0);
    uint32_t lens[NL];
    for (int i = 0; i < N; i++) {
        snprintf(text, sizeof(text), "%c-leaf-x", order[i] + 1);
        match(t, text, lens);
        if (i >= N - KEEP)
            assert_int_equal(lens[0], 8);
        else
            assert_true(lens[0] < 8);
    }
    assert_sound(t);
    sr_radix_free(t);
}

/* Fills text[0, n) with random letters and terminates it. */
static void random_letters(struct sr_rng *rng, char *text, size_t n)
{
    for (size_t k = 0; k < n; k++)
        text[k] = (char)('a' + sr_rng_below(rng, 26));
    text[n] = '\0';
}

/* A pass drops what is needed, not much more: each worker ends just under
 * its limit (within a histogram bucket's worth of history). */
static void test_eviction_is_precise(void **state)
{
    (void)state;
    const size_t max = 500000;
    struct sr_radix *t = sr_radix_new(1 << 30);
    struct sr_rng rng;
    sr_rng_seed(&rng, 8);
    char text[101];
    for (int i = 0; i < 100000; i++) {
        random_letters(&rng, text, 100);
        assert_int_equal(sr_radix_insert(t, text, 100, (uint32_t)(i % 4), 0), 0);
    }
    sr_radix_set_max_bytes(t, max);
    assert_true(sr_radix_evict(t) > 0);
    for (uint32_t w = 0; w < 4; w++) {
        size_t bytes = sr_radix_worker_bytes(t, w);
        assert_true(bytes <= max);
        assert_true(bytes >= max - 2000);
    }
    assert_sound(t);
    sr_radix_free(t);
}

static void test_eviction_trims_shared_paths_leaf_first(void **state)
{
    (void)state;
    struct sr_radix *t = sr_radix_new(1 << 20);
    uint32_t lens[NL];
    assert_int_equal(insert(t, "common-prefix:alpha", 0), 0);
    assert_int_equal(insert(t, "common-prefix:beta", 0), 0);
    sr_radix_set_max_bytes(t, 19);
    /* Evicting the older leaf ("alpha") is enough: 14 + 4 = 18 <= 19. */
    assert_int_equal(sr_radix_evict(t), 5);
    assert_int_equal(match(t, "common-prefix:alpha", lens), 14);
    assert_int_equal(match(t, "common-prefix:beta", lens), 18);
    sr_radix_set_max_bytes(t, 3);
    assert_int_equal(sr_radix_evict(t), 18);
    assert_int_equal(sr_radix_worker_bytes(t, 0), 0);
    struct sr_radix_stats st;
    sr_radix_get_stats(t, &st);
    assert_int_equal(st.node_count, 0);
    assert_sound(t);
    sr_radix_free(t);
}

static void test_hard_cap_bounds_memory_between_passes(void **state)
{
    (void)state;
    const size_t max = 4096;
    struct sr_radix *t = sr_radix_new(max);
    char text[401];
    struct sr_rng rng;
    sr_rng_seed(&rng, 3);
    uint32_t lens[NL];
    for (int i = 0; i < 1000; i++) {
        random_letters(&rng, text, 400);
        assert_int_equal(insert(t, text, 0), 0);
        /* Growth stops once the worker is past the cap (one prompt over). */
        assert_true(sr_radix_worker_bytes(t, 0) <= 2 * max + 400);
    }
    struct sr_radix_stats st;
    sr_radix_get_stats(t, &st);
    assert_true(st.refused_inserts > 0); /* while the passes made room */
    assert_true(st.passes > 0);
    assert_sound(t);

    /* A full pass brings the worker to its target; recording goes on. */
    assert_true(sr_radix_evict(t) > 0);
    assert_true(sr_radix_worker_bytes(t, 0) <= max);
    text[0] = '#';
    assert_int_equal(insert(t, text, 0), 0);
    assert_int_equal(match(t, text, lens), 400);
    assert_sound(t);
    sr_radix_free(t);
}

/* Passes start by themselves (hard cap, interval) and inserts drive them. */
static void test_inserts_drive_eviction_passes(void **state)
{
    (void)state;
    const size_t max = 4096;
    struct sr_radix *t = sr_radix_new(max);
    char text[401];
    struct sr_rng rng;
    sr_rng_seed(&rng, 4);
    struct sr_radix_stats st = {0};
    /* No interval: the hard cap alone starts a pass. */
    for (int i = 0; i < 5000 && st.passes == 0; i++) {
        random_letters(&rng, text, 400);
        assert_int_equal(sr_radix_insert(t, text, 400, 0, 0), 0);
        assert_true(sr_radix_worker_bytes(t, 0) <= 2 * max + 400);
        sr_radix_get_stats(t, &st);
    }
    assert_int_equal(st.passes, 1);
    assert_true(st.evicted_bytes > 0);
    assert_sound(t);

    /* A short interval: passes keep the worker near its target. The time
     * is the test's own: one millisecond every 100 inserts. */
    sr_radix_set_eviction_interval(t, 1);
    for (int i = 0; i < 2000; i++) {
        random_letters(&rng, text, 400);
        assert_int_equal(sr_radix_insert(t, text, 400, 0, (uint64_t)(i / 100)), 0);
    }
    struct sr_radix_stats later;
    sr_radix_get_stats(t, &later);
    assert_true(later.passes > st.passes + 5);
    assert_sound(t);
    sr_radix_free(t);
}

/* The tree reads no clock: a periodic pass is due when the time the
 * inserts carry has moved one interval past the first insert after the
 * interval was set, and not before, however many inserts come. */
static void test_periodic_passes_follow_the_callers_time(void **state)
{
    (void)state;
    const size_t max = 1000;
    struct sr_radix *t = sr_radix_new(max);
    sr_radix_set_eviction_interval(t, 50);
    char text[101];
    struct sr_rng rng;
    sr_rng_seed(&rng, 9);
    struct sr_radix_stats st;
    uint64_t now = 1000;
    /* Over the target but under the hard cap: only the interval starts a pass. */
    for (int i = 0; i < 15; i++) {
        random_letters(&rng, text, 100);
        assert_int_equal(sr_radix_insert(t, text, 100, 0, now + (uint64_t)i), 0);
    }
    assert_true(sr_radix_worker_bytes(t, 0) > max);
    assert_true(sr_radix_worker_bytes(t, 0) <= 2 * max);
    sr_radix_get_stats(t, &st);
    assert_int_equal(st.passes, 0); /* 14 ms passed of 50 */
    /* Refreshing the last text adds no bytes, so the hard cap stays away. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(sr_radix_insert(t, text, 100, 0, now + 49), 0);
    sr_radix_get_stats(t, &st);
    assert_int_equal(st.passes, 0); /* many inserts, still inside the interval */
    for (int i = 0; i < 100 && st.passes == 0; i++) {
        assert_int_equal(sr_radix_insert(t, text, 100, 0, now + 50), 0);
        sr_radix_get_stats(t, &st);
    }
    assert_int_equal(st.passes, 1); /* due at 1050, carried by the inserts */
    assert_true(st.evicted_bytes > 0);
    assert_sound(t);
    sr_radix_free(t);
}

struct pick_ctx {
    int64_t answer;
    uint32_t seen[NL];
    size_t longest, text_len, nslots;
};

static int64_t pick(void *ctx, const struct sr_radix_view *v)
{
    struct pick_ctx *p = ctx;
    for (uint32_t i = 0; i < NL; i++)
        p->seen[i] = sr_radix_view_match(v, i);
    p->longest = v->longest;
    p->text_len = v->text_len;
    p->nslots = v->nslots;
    return p->answer;
}

static void test_match_insert_uses_the_choice(void **state)
{
    (void)state;
    struct sr_radix *t = sr_radix_new(1 << 20);
    uint32_t lens[NL];
    assert_int_equal(insert(t, "prefix-shared-AAAA", 1), 0);
    struct pick_ctx p = {.answer = 4};
    uint32_t chosen = 99;
    const char *q = "prefix-shared-BBBB";
    assert_int_equal(sr_radix_match_insert(t, q, strlen(q), 0, pick, &p, &chosen), 0);
    assert_int_equal(chosen, 4);
    assert_int_equal(p.seen[1], 14);
    assert_int_equal(p.seen[4], 0);
    assert_int_equal(p.longest, 14);
    assert_int_equal(p.text_len, strlen(q));
    assert_int_equal(match(t, q, lens), (int64_t)strlen(q));
    assert_int_equal(lens[4], strlen(q));
    assert_int_equal(lens[1], 14);

    /* A refusal inserts nothing and is passed through. */
    p.answer = SR_ERR_NO_WORKER;
    const char *r = "something else";
    assert_int_equal(sr_radix_match_insert(t, r, strlen(r), 0, pick, &p, &chosen),
                     SR_ERR_NO_WORKER);
    assert_int_equal(match(t, r, lens), 0);
    /* A worker id beyond the current slots grows them. */
    p.answer = 5000;
    assert_int_equal(sr_radix_match_insert(t, r, strlen(r), 0, pick, &p, &chosen), 0);
    assert_int_equal(sr_radix_worker_bytes(t, 5000), strlen(r));
    assert_sound(t);
    sr_radix_free(t);
}

/* ---- randomized comparison against a reference model ---------------- */

#define MW   5    /* workers */
#define MAXT 4096 /* texts per worker in the model */

struct model {
    unsigned char *text[MW][MAXT];
    size_t len[MW][MAXT];
    size_t n[MW];
};

static void model_add(struct model *m, uint32_t w, const unsigned char *s, size_t len)
{
    if (len == 0)
        return;
    assert_true(m->n[w] < MAXT);
    m->text[w][m->n[w]] = malloc(len);
    memcpy(m->text[w][m->n[w]], s, len);
    m->len[w][m->n[w]++] = len;
}

static void model_clear(struct model *m, uint32_t w)
{
    for (size_t i = 0; i < m->n[w]; i++)
        free(m->text[w][i]);
    m->n[w] = 0;
}

static size_t prefix_len(const unsigned char *a, size_t na, const unsigned char *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

static uint32_t model_match(const struct model *m, uint32_t w, const unsigned char *q, size_t n)
{
    size_t best = 0;
    for (size_t i = 0; i < m->n[w]; i++) {
        size_t l = prefix_len(m->text[w][i], m->len[w][i], q, n);
        best = l > best ? l : best;
    }
    return (uint32_t)sr_utf8_floor(q, n, best);
}

/* True if s is a prefix of some model text of w. */
static int model_covers(const struct model *m, uint32_t w, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < m->n[w]; i++)
        if (m->len[w][i] >= n && memcmp(m->text[w][i], s, n) == 0)
            return 1;
    return 0;
}

struct collected {
    const struct model *m;
    uint32_t w;
    struct model *into;
    int uncovered;
    size_t count;
};

static void collect_text(void *ctx, const unsigned char *s, size_t n)
{
    struct collected *c = ctx;
    if (!model_covers(c->m, c->w, s, n))
        c->uncovered++;
    c->count++;
    model_add(c->into, c->w, s, n);
}

/* Number of model texts of w that are not a prefix of another one. */
static size_t model_maximal(const struct model *m, uint32_t w)
{
    size_t count = 0;
    for (size_t i = 0; i < m->n[w]; i++) {
        int maximal = 1;
        for (size_t j = 0; j < m->n[w] && maximal; j++) {
            if (i == j || m->len[w][j] < m->len[w][i])
                continue;
            if (memcmp(m->text[w][j], m->text[w][i], m->len[w][i]) == 0 &&
                (m->len[w][j] > m->len[w][i] || j < i))
                maximal = 0;
        }
        count += (size_t)maximal;
    }
    return count;
}

/* Checks that the tree holds, for each worker, exactly texts the model
 * covers, and (when exact) as many maximal texts as the model; then
 * replaces the model by the tree's content. */
static void resync(struct sr_radix *t, struct model *m, int exact)
{
    static struct model fresh;
    memset(&fresh, 0, sizeof(fresh));
    for (uint32_t w = 0; w < MW; w++) {
        struct collected c = {.m = m, .w = w, .into = &fresh};
        assert_int_equal(sr_radix_foreach_text(t, w, collect_text, &c), 0);
        assert_int_equal(c.uncovered, 0);
        if (exact)
            assert_int_equal(c.count, model_maximal(m, w));
        model_clear(m, w);
        memcpy(m->text[w], fresh.text[w], sizeof(fresh.text[w]));
        memcpy(m->len[w], fresh.len[w], sizeof(fresh.len[w]));
        m->n[w] = fresh.n[w];
    }
}

static const char *const alphabet[] = {"a", "b", "\xc3\xa9", "\xe2\x82\xac"};

static size_t random_text(struct sr_rng *rng, const struct model *m, unsigned char *out)
{
    size_t n = 0;
    uint32_t w = sr_rng_below(rng, MW);
    if (m->n[w] > 0 && sr_rng_below(rng, 3) != 0) {
        /* Extend or diverge from a known text: deep sharing. */
        size_t i = sr_rng_below(rng, (uint32_t)m->n[w]);
        n = sr_rng_below(rng, (uint32_t)m->len[w][i] + 1);
        n = n > 3000 ? 3000 : n;
        memcpy(out, m->text[w][i], n);
    }
    size_t extra = sr_rng_below(rng, 12);
    for (size_t k = 0; k < extra; k++) {
        const char *c = alphabet[sr_rng_below(rng, 4)];
        memcpy(out + n, c, strlen(c));
        n += strlen(c);
    }
    return n;
}

struct any_pick {
    uint32_t worker;
};

static int64_t pick_fixed(void *ctx, const struct sr_radix_view *v)
{
    (void)v;
    return ((struct any_pick *)ctx)->worker;
}

static void run_random(uint64_t seed, int ops, int inject_failures)
{
    static struct model m;
    memset(&m, 0, sizeof(m));
    struct sr_rng rng;
    sr_rng_seed(&rng, seed);
    static const size_t limits[] = {40, 120, 400, 1 << 20};
    struct sr_radix *t = sr_radix_new(1 << 20);
    unsigned char buf[4096];
    uint32_t lens[NL];

    for (int op = 0; op < ops; op++) {
        struct sr_radix_stats before, after;
        sr_radix_get_stats(t, &before);
        uint32_t w = sr_rng_below(&rng, MW);
        size_t n = random_text(&rng, &m, buf);
        uint32_t r = sr_rng_below(&rng, 100);
        int failed = 0;
        if (inject_failures)
            sr_alloc_fail_after(sr_rng_below(&rng, 4));
        if (r < 40) {
            int rc = sr_radix_insert(t, buf, n, w, 0);
            failed = rc != 0;
            if (rc == 0)
                model_add(&m, w, buf, n);
        } else if (r < 50) {
            struct any_pick p = {w};
            uint32_t chosen;
            int rc = sr_radix_match_insert(t, buf, n, 0, pick_fixed, &p, &chosen);
            failed = rc != 0;
            if (rc == 0)
                model_add(&m, w, buf, n);
        } else if (r < 85) {
            sr_alloc_fail_after(-1);
            int64_t longest = sr_radix_match(t, buf, n, lens, NL, NULL);
            uint32_t want_longest = 0;
            for (uint32_t k = 0; k < MW; k++) {
                uint32_t want = model_match(&m, k, buf, n);
                if (lens[k] != want)
                    fail_msg("op %d: worker %u matched %u, model says %u", op, k, lens[k], want);
                want_longest = want > want_longest ? want : want_longest;
            }
            assert_int_equal(longest, want_longest);
        } else if (r < 90) {
            int rc = sr_radix_remove_worker(t, w);
            failed = rc != 0;
            if (rc == 0)
                model_clear(&m, w);
        } else if (r < 95) {
            sr_radix_set_max_bytes(t, limits[sr_rng_below(&rng, 4)]);
            failed = sr_radix_evict(t) < 0;
        } else {
            sr_alloc_fail_after(-1);
            resync(t, &m, 1);
        }
        sr_alloc_fail_after(-1);
        assert_sound(t);
        /* A failed insert may have recorded a prefix of its text. */
        if (failed && r < 50)
            model_add(&m, w, buf, n);
        sr_radix_get_stats(t, &after);
        /* An insert refused at the hard cap records nothing new. */
        if (!failed && r < 50 && n > 0 && after.refused_inserts != before.refused_inserts)
            free(m.text[w][--m.n[w]]);
        if (failed || after.evicted_bytes != before.evicted_bytes)
            resync(t, &m, 0);
    }
    for (uint32_t w = 0; w < MW; w++)
        model_clear(&m, w);
    sr_radix_free(t);
}

static void test_random_against_model(void **state)
{
    (void)state;
    uint64_t seeds = getenv("SR_RADIX_SEEDS") ? strtoull(getenv("SR_RADIX_SEEDS"), NULL, 10) : 4;
    for (uint64_t seed = 1; seed <= seeds; seed++)
        run_random(seed, 5000, 0);
}

static void test_allocation_failures_leave_a_sound_tree(void **state)
{
    (void)state;
    uint64_t seeds = getenv("SR_RADIX_SEEDS") ? strtoull(getenv("SR_RADIX_SEEDS"), NULL, 10) : 3;
    for (uint64_t seed = 11; seed < 11 + seeds; seed++)
        run_random(seed, 3000, 1);
}

/* Every allocation of the constructor may fail without leaking. */
static void test_new_survives_allocation_failures(void **state)
{
    (void)state;
    for (long k = 0; k < 16; k++) {
        sr_alloc_fail_after(k);
        struct sr_radix *t = sr_radix_new(100);
        sr_alloc_fail_after(-1);
        sr_radix_free(t);
    }
}

struct thread_arg {
    struct sr_radix *tree;
    uint64_t seed;
    int failures;
    atomic_int *routers_left;
};

static void *route_thread(void *p)
{
    struct thread_arg *a = p;
    struct sr_rng rng;
    sr_rng_seed(&rng, a->seed);
    char text[256];
    uint32_t lens[NL];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(text, sizeof(text), "system prompt %u / user %u / turn %u / %u",
                         sr_rng_below(&rng, 8), sr_rng_below(&rng, 64), sr_rng_below(&rng, 4),
                         sr_rng_below(&rng, 1000000));
        struct any_pick pk = {sr_rng_below(&rng, 16)};
        uint32_t chosen;
        if (sr_radix_match_insert(a->tree, text, (size_t)n, 0, pick_fixed, &pk, &chosen) != 0)
            a->failures++;
        /* Other threads may evict or remove meanwhile: only sanity here. */
        if (sr_radix_match(a->tree, text, (size_t)n, lens, NL, NULL) > n)
            a->failures++;
        if (i % 997 == 0 && sr_radix_remove_worker(a->tree, sr_rng_below(&rng, 16)) != 0)
            a->failures++;
    }
    atomic_fetch_sub(a->routers_left, 1);
    return NULL;
}

static void *evict_thread(void *p)
{
    struct thread_arg *a = p;
    while (atomic_load(a->routers_left) > 0)
        if (sr_radix_evict(a->tree) < 0)
            a->failures++;
    return NULL;
}

static void test_concurrent_routing_and_eviction(void **state)
{
    (void)state;
    /* Big enough that a pass spans many lock-release chunks. */
    struct sr_radix *t = sr_radix_new(8000);
    atomic_int left = 3;
    struct thread_arg args[4] = {
        {t, 1, 0, &left}, {t, 2, 0, &left}, {t, 3, 0, &left}, {t, 4, 0, &left}};
    pthread_t th[4];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, route_thread, &args[i]);
    pthread_create(&th[3], NULL, evict_thread, &args[3]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(args[i].failures, 0);
    struct sr_radix_stats st;
    sr_radix_get_stats(t, &st);
    assert_true(st.evicted_bytes > 0);
    assert_sound(t);
    sr_radix_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_reports_every_worker),
        cmocka_unit_test(test_stored_sizes_and_stats),
        cmocka_unit_test(test_utf8_boundaries),
        cmocka_unit_test(test_granule_floors_to_whole_digests),
        cmocka_unit_test(test_empty_text),
        cmocka_unit_test(test_one_mebibyte_text),
        cmocka_unit_test(test_thousand_workers),
        cmocka_unit_test(test_remove_worker_frees_everything),
        cmocka_unit_test(test_eviction_is_lru),
        cmocka_unit_test(test_eviction_keeps_the_most_recent),
        cmocka_unit_test(test_eviction_is_precise),
        cmocka_unit_test(test_eviction_trims_shared_paths_leaf_first),
        cmocka_unit_test(test_hard_cap_bounds_memory_between_passes),
        cmocka_unit_test(test_inserts_drive_eviction_passes),
        cmocka_unit_test(test_periodic_passes_follow_the_callers_time),
        cmocka_unit_test(test_match_insert_uses_the_choice),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_allocation_failures_leave_a_sound_tree),
        cmocka_unit_test(test_new_survives_allocation_failures),
        cmocka_unit_test(test_concurrent_routing_and_eviction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
