/* Unit tests for common/policy and the policies in common/policy/: name lookup, the distribution
 * of random and round_robin, shortest_queue ties, every branch of the
 * cache-aware algorithm, the imbalance guard, tie-breaking, and the
 * recording of every decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"
#include "common/load.h"
#include "common/policy.h"
#include "common/route_key.h"

#include <stdio.h>
#include <string.h>

#define NW 4

struct fixture {
    struct sr_registry *reg;
    struct sr_worker_set *set;
    struct sr_worker *w[NW];
    struct sr_rng rng;
    struct sr_policy_params params;
    uint64_t now_ms;   /* the routing requests' time: the tests move it */
    long worker_limit; /* the routing requests' --max-concurrent-per-worker */
};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.reg = sr_registry_new();
    const char *urls[NW] = {"http://w0:1", "http://w1:1", "http://w2:1", "http://w3:1"};
    assert_int_equal(sr_registry_replace(f.reg, urls, NW, NULL), 0);
    f.set = sr_registry_acquire(f.reg);
    for (int i = 0; i < NW; i++) {
        f.w[i] = f.set->workers[i];
        sr_worker_set_health(f.w[i], SR_HEALTH_HEALTHY);
    }
    sr_rng_seed(&f.rng, 1234);
    /* The router's defaults (the tests below rely on 0.5, 1.0, 32, 1.0001). */
    struct sr_config defaults;
    assert_int_equal(sr_config_init(&defaults), 0);
    f.params = sr_config_policy_params(&defaults);
    sr_config_clear(&defaults);
    f.params.eviction_interval_ms = 0; /* passes only when a test asks */
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sr_worker_set_release(f->set);
    sr_registry_free(f->reg);
    return 0;
}

static struct sr_policy *make(struct fixture *f, const char *name)
{
    int err = 1;
    struct sr_policy *p = sr_policy_create(name, &f->params, &err);
    assert_non_null(p);
    assert_int_equal(err, 0);
    assert_string_equal(sr_policy_name(p), name);
    return p;
}

/* Index (0..NW-1) of the worker chosen for text, or a negative error. */
static int route_ex(struct fixture *f, struct sr_policy *p, const char *text,
                    const uint32_t *excluded, size_t nexcluded)
{
    struct sr_route_request req = {
        .workers = f->set,
        .text = text,
        .text_len = text ? strlen(text) : 0,
        .excluded = excluded,
        .nexcluded = nexcluded,
        .now_ms = f->now_ms,
        .rng = &f->rng,
        .params = &f->params,
        .worker_limit = f->worker_limit,
    };
    struct sr_worker *out = NULL;
    int rc = sr_policy_select(p, &req, &out);
    if (rc != 0)
        return rc;
    for (int i = 0; i < NW; i++)
        if (out == f->w[i])
            return i;
    fail_msg("selected a worker outside the set");
    return -1;
}

static int route(struct fixture *f, struct sr_policy *p, const char *text)
{
    return route_ex(f, p, text, NULL, 0);
}

static void set_loads(struct fixture *f, long a, long b, long c, long d)
{
    long l[NW] = {a, b, c, d};
    for (int i = 0; i < NW; i++)
        atomic_store(&f->w[i]->in_flight, l[i]);
}

static void test_names_map_to_policies(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; sr_policy_names[i]; i++)
        sr_policy_destroy(make(f, sr_policy_names[i]));
    int err = 0;
    assert_null(sr_policy_create("fastest", &f->params, &err));
    assert_int_equal(err, SR_ERR_NOT_FOUND);
    sr_policy_destroy(NULL);
}

/* The README's --policy row lists the name table of a default build; the
 * test-only oracle, in the table only with -DSR_WITH_ORACLE=ON, is named
 * in the row's text with that option. */
static void test_readme_lists_the_policy_names(void **state)
{
    (void)state;
    char want[256] = "| `--policy {";
    size_t used = strlen(want);
    bool oracle = false;
    for (size_t i = 0; sr_policy_names[i]; i++) {
        if (strcmp(sr_policy_names[i], "oracle") == 0) {
            oracle = true;
            continue;
        }
        used += (size_t)snprintf(want + used, sizeof(want) - used, "%s%s", i ? "," : "",
                                 sr_policy_names[i]);
    }
    snprintf(want + used, sizeof(want) - used, "}` |");
#ifdef SR_WITH_ORACLE
    assert_true(oracle);
#else
    assert_false(oracle);
#endif
    FILE *f = fopen(SR_SOURCE_DIR "/README.md", "r");
    assert_non_null(f);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strncmp(line, "| `--policy ", 12) == 0;
    fclose(f);
    assert_true(found);
    if (strncmp(line, want, strlen(want)) != 0)
        fail_msg("README's --policy row should start %s", want);
    assert_non_null(strstr(line, "`-DSR_WITH_ORACLE=ON`"));
    assert_non_null(strstr(line, "`oracle`"));
}

static void test_random_is_uniform_and_respects_health(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "random");
    int count[NW] = {0};
    for (int i = 0; i < 40000; i++)
        count[route(f, p, "x")]++;
    for (int i = 0; i < NW; i++)
        assert_in_range(count[i], 9500, 10500);

    sr_worker_set_health(f->w[1], SR_HEALTH_UNHEALTHY);
    uint32_t excluded[] = {f->w[2]->id};
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 1000; i++)
        count[route_ex(f, p, "x", excluded, 1)]++;
    assert_int_equal(count[1] + count[2], 0);
    assert_true(count[0] > 400 && count[3] > 400);

    for (int i = 0; i < NW; i++)
        sr_worker_set_health(f->w[i], SR_HEALTH_PENDING);
    assert_int_equal(route(f, p, "x"), SR_ERR_NO_WORKER);
    sr_policy_destroy(p);
}

static void test_round_robin_cycles_over_healthy_workers(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "round_robin");
    int first = route(f, p, NULL);
    for (int i = 1; i < 12; i++)
        assert_int_equal(route(f, p, NULL), (first + i) % NW);

    sr_worker_set_health(f->w[2], SR_HEALTH_UNHEALTHY);
    int count[NW] = {0}, prev = -1;
    for (int i = 0; i < 300; i++) {
        int k = route(f, p, NULL);
        assert_int_not_equal(k, prev);
        prev = k;
        count[k]++;
    }
    assert_int_equal(count[2], 0);
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[3], 100);
    for (int i = 0; i < NW; i++)
        sr_worker_set_health(f->w[i], SR_HEALTH_UNHEALTHY);
    assert_int_equal(route(f, p, NULL), SR_ERR_NO_WORKER);
    sr_policy_destroy(p);
}

static void test_shortest_queue_breaks_ties_randomly(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "shortest_queue");
    set_loads(f, 3, 1, 1, 5);
    int count[NW] = {0};
    for (int i = 0; i < 1000; i++)
        count[route(f, p, NULL)]++;
    assert_int_equal(count[0] + count[3], 0);
    assert_in_range(count[1], 400, 600);
    sr_policy_dispatch(p, f->w[1], 0, 0);
    assert_int_equal(sr_worker_load(f->w[1]), 2);
    assert_int_equal(route(f, p, NULL), 2);
    sr_policy_complete(p, f->w[1], SR_BREAKER_SUCCESS);
    assert_int_equal(sr_worker_load(f->w[1]), 1);
    set_loads(f, 0, 0, 0, 0);
    sr_policy_destroy(p);
}

static const char *const T =
    "You are a helpful assistant. Answer briefly and precisely. Question: what is a radix tree?";

static void test_cache_hit_goes_to_the_best_match(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_aware");
    int first = route(f, p, T);
    assert_true(sr_policy_worker_tree_bytes(p, f->w[first]) == strlen(T));
    for (int i = 0; i < 50; i++)
        assert_int_equal(route(f, p, T), first);
    struct sr_radix_stats st;
    assert_true(sr_policy_tree_stats(p, &st));
    assert_int_equal(st.text_bytes, strlen(T));
    sr_policy_destroy(p);
}

static void test_cache_miss_goes_to_the_smallest_tree(void **state)
{
    struct fixture *f = *state;
    int count[NW] = {0};
    for (int trial = 0; trial < 200; trial++) {
        struct sr_policy *p = make(f, "cache_aware");
        int first = route(f, p, T);
        int second = route(f, p, "Completely unrelated text with nothing in common.");
        assert_int_not_equal(second, first);
        count[first]++;
        sr_policy_destroy(p);
    }
    /* With empty trees every worker ties: the first choice is random. */
    for (int i = 0; i < NW; i++)
        assert_true(count[i] > 20);
}

static void test_cache_threshold_decides(void **state)
{
    struct fixture *f = *state;
    /* 40 shared bytes of 100: match rate 0.4. */
    char a[101], b[101];
    memset(a, 'p', 40), memset(a + 40, 'a', 60), a[100] = '\0';
    memset(b, 'p', 40), memset(b + 40, 'b', 60), b[100] = '\0';
    struct sr_policy *p = make(f, "cache_aware");
    int first = route(f, p, a);
    assert_int_not_equal(route(f, p, b), first); /* 0.4 <= 0.5: smallest tree */

    struct sr_policy *q = make(f, "cache_aware");
    f->params.cache_threshold = 0.3;
    first = route(f, q, a);
    assert_int_equal(route(f, q, b), first); /* 0.4 > 0.3: best match */
    f->params.cache_threshold = 0.5;
    sr_policy_destroy(p);
    sr_policy_destroy(q);
}

static void test_cache_routing_prob_zero_is_shortest_queue(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_aware");
    int first = route(f, p, T);
    f->params.cache_routing_prob = 0.0;
    set_loads(f, 2, 2, 2, 2);
    atomic_store(&f->w[(first + 1) % NW]->in_flight, 1);
    assert_int_equal(route(f, p, T), (first + 1) % NW);
    /* The decision was recorded for the worker that got it. */
    assert_int_equal(sr_policy_worker_tree_bytes(p, f->w[(first + 1) % NW]), strlen(T));

    /* Probability 0.5: about half the requests follow the cache. */
    f->params.cache_routing_prob = 0.5;
    struct sr_policy *q = make(f, "cache_aware");
    set_loads(f, 0, 0, 0, 0);
    first = route(f, q, T);
    set_loads(f, 1, 1, 1, 1);
    atomic_store(&f->w[(first + 2) % NW]->in_flight, 0);
    int cached = 0;
    for (int i = 0; i < 2000; i++) {
        int k = route(f, q, T);
        assert_true(k == first || k == (first + 2) % NW);
        cached += k == first;
        if (k != first) /* forget it, so `first` stays the only holder of T */
            sr_policy_worker_removed(q, f->w[k]);
    }
    assert_in_range(cached, 850, 1150);
    f->params.cache_routing_prob = 1.0;
    set_loads(f, 0, 0, 0, 0);
    sr_policy_destroy(p);
    sr_policy_destroy(q);
}

static void test_imbalance_guard(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_aware");
    int first = route(f, p, T);
    int other = (first + 3) % NW;

    set_loads(f, 20, 20, 20, 20);
    atomic_store(&f->w[first]->in_flight, 53); /* 53 - 20 > 32 and 53 > 20 * 1.0001 */
    atomic_store(&f->w[other]->in_flight, 19);
    assert_int_equal(route(f, p, T), other);
    assert_int_equal(sr_policy_worker_tree_bytes(p, f->w[other]), strlen(T));
    sr_policy_worker_removed(p, f->w[other]); /* keep `first` the only holder of T */

    atomic_store(&f->w[first]->in_flight, 51); /* 51 - 19 = 32: not imbalanced */
    assert_int_equal(route(f, p, T), first);

    /* A hit is judged by its own worker's load: another worker far above
     * the rest does not send it away ... */
    int third = (first + 1) % NW;
    set_loads(f, 20, 20, 20, 20);
    atomic_store(&f->w[other]->in_flight, 19);
    atomic_store(&f->w[third]->in_flight, 90); /* 90 - 19 > 32: the fleet is imbalanced */
    for (int i = 0; i < 10; i++)
        assert_int_equal(route(f, p, T), first);
    /* ... and a miss goes to the smallest tree among the workers that are
     * not overloaded: never to `third`, whose tree is as small as any. */
    int got[NW] = {0};
    for (int i = 0; i < 10; i++) {
        char miss[16]; /* no two share a first byte: every one a miss */
        snprintf(miss, sizeof(miss), "%c unseen", 'a' + i);
        got[route(f, p, miss)]++;
    }
    assert_int_equal(got[third], 0);
    /* Each miss grows its worker's tree by 8 bytes, so they alternate
     * between the two empty ones (first holds T, 92 bytes): the smallest
     * tree, not the least loaded (that is `other`). */
    assert_int_equal(got[first], 0);
    assert_int_equal(got[other], 5);
    assert_int_equal(got[(first + 2) % NW], 5);
    for (int k = 0; k < NW; k++)
        sr_policy_worker_removed(p, f->w[k]);

    /* The relative threshold must hold too. */
    f->params.balance_abs_threshold = 5;
    f->params.balance_rel_threshold = 3.0;
    set_loads(f, 20, 20, 20, 20);
    atomic_store(&f->w[first]->in_flight, 50); /* 50 > 20 + 5 but not > 20 * 3 */
    assert_int_equal(route(f, p, T), first);
    atomic_store(&f->w[first]->in_flight, 61);
    assert_int_not_equal(route(f, p, T), first);
    f->params.balance_abs_threshold = 32;
    f->params.balance_rel_threshold = 1.0001;
    set_loads(f, 0, 0, 0, 0);
    sr_policy_destroy(p);
}

/* --cache-miss-margin: a miss goes to the smallest tree only among the
 * workers within the margin of the least loaded; 0 is SGLang's router
 * 0.3.2 (a miss to the least loaded), the default the seed's rule. */
static void test_miss_margin_bounds_where_misses_go(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_aware");
    /* Worker 0 holds a long text: the largest tree, the fewest requests. */
    f->params.cache_routing_prob = 0.0;
    set_loads(f, 0, 9, 9, 9);
    assert_int_equal(route(f, p, T), 0);
    f->params.cache_routing_prob = 1.0;

    set_loads(f, 2, 3, 6, 6);
    f->params.miss_margin = 0; /* the least loaded, whatever its tree */
    for (int i = 0; i < 4; i++) {
        char miss[16];
        snprintf(miss, sizeof(miss), "%c unseen", 'a' + i);
        assert_int_equal(route(f, p, miss), 0);
    }
    f->params.miss_margin = 1; /* 0 and 1 qualify; 1's tree is smaller */
    assert_int_equal(route(f, p, "e unseen"), 1);
    f->params.miss_margin = 1000000000; /* the smallest tree: 2 or 3 */
    int got = route(f, p, "f unseen");
    assert_true(got == 2 || got == 3);
    /* A hit is not a miss: it stays home whatever the margin. */
    f->params.miss_margin = 0;
    set_loads(f, 9, 0, 0, 0);
    assert_int_equal(route(f, p, T), 0);
    set_loads(f, 0, 0, 0, 0);
    sr_policy_destroy(p);
}

static void test_equal_matches_are_broken_randomly(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_aware");
    /* Record T for workers 0 and 1 through shortest-queue decisions. */
    f->params.cache_routing_prob = 0.0;
    set_loads(f, 0, 9, 9, 9);
    assert_int_equal(route(f, p, T), 0);
    set_loads(f, 9, 0, 9, 9);
    assert_int_equal(route(f, p, T), 1);
    f->params.cache_routing_prob = 1.0;
    set_loads(f, 0, 0, 0, 0);
    int count[NW] = {0};
    for (int i = 0; i < 400; i++)
        count[route(f, p, T)]++;
    assert_int_equal(count[2] + count[3], 0);
    assert_in_range(count[0], 150, 250);
    sr_policy_destroy(p);
}

static void test_unroutable_best_match_is_skipped(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_aware");
    int first = route(f, p, T);
    uint32_t excluded[] = {f->w[first]->id};
    int second = route_ex(f, p, T, excluded, 1); /* a retry elsewhere */
    assert_int_not_equal(second, first);
    sr_worker_set_health(f->w[first], SR_HEALTH_UNHEALTHY);
    assert_int_equal(route(f, p, T), second);
    sr_worker_set_health(f->w[first], SR_HEALTH_HEALTHY);
    for (int i = 0; i < NW; i++)
        sr_worker_set_health(f->w[i], SR_HEALTH_UNHEALTHY);
    assert_int_equal(route(f, p, T), SR_ERR_NO_WORKER);
    for (int i = 0; i < NW; i++)
        sr_worker_set_health(f->w[i], SR_HEALTH_HEALTHY);
    sr_policy_destroy(p);
}

/* --max-concurrent-per-worker: a worker holding the limit is chosen by no
 * policy, not even for a cache hit; all of them full, none is. */
static void test_a_full_worker_is_not_chosen(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {"cache_aware", "cache_cost", "round_robin", "random",
                                        "shortest_queue"};
    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
        struct sr_policy *p = make(f, names[n]);
        f->worker_limit = 0;
        set_loads(f, 0, 0, 0, 0);
        int first = route(f, p, T);
        assert_in_range(first, 0, NW - 1);
        atomic_store(&f->w[first]->in_flight, 2);
        f->worker_limit = 2;
        for (int i = 0; i < 20; i++)
            assert_int_not_equal(route(f, p, T), first);
        set_loads(f, 2, 2, 2, 2);
        assert_int_equal(route(f, p, T), SR_ERR_NO_WORKER);
        f->worker_limit = 3;
        assert_in_range(route(f, p, T), 0, NW - 1);
        f->worker_limit = 0;
        set_loads(f, 0, 0, 0, 0);
        sr_policy_destroy(p);
    }
}

static void test_removed_worker_leaves_the_tree_and_maintenance_evicts(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_aware");
    int first = route(f, p, T);
    sr_policy_worker_removed(p, f->w[first]);
    assert_int_equal(sr_policy_worker_tree_bytes(p, f->w[first]), 0);

    first = route(f, p, T);
    assert_int_equal(sr_policy_worker_tree_bytes(p, f->w[first]), strlen(T));
    f->params.max_tree_bytes = 10;
    sr_policy_maintain(p, &f->params);
    assert_true(sr_policy_worker_tree_bytes(p, f->w[first]) <= 10);

    struct sr_policy *rr = make(f, "round_robin");
    struct sr_radix_stats st;
    assert_false(sr_policy_tree_stats(rr, &st));
    sr_policy_maintain(rr, &f->params); /* no-op, no crash */
    sr_policy_destroy(rr);
    sr_policy_destroy(p);
}

static void test_cache_aware_evicts_by_itself(void **state)
{
    struct fixture *f = *state;
    f->params.max_tree_bytes = 1000;
    f->params.eviction_interval_ms = 1;
    struct sr_policy *p = make(f, "cache_aware");
    char text[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(text, sizeof(text), "a unique prompt number %d, padded to be long", i);
        assert_true(route(f, p, text) >= 0);
        if (i % 200 == 0)
            f->now_ms += 2; /* the eviction interval passes */
    }
    struct sr_radix_stats st;
    assert_true(sr_policy_tree_stats(p, &st));
    assert_true(st.passes > 0);
    assert_true(st.evicted_bytes > 0);
    for (int i = 0; i < NW; i++)
        assert_true(sr_policy_worker_tree_bytes(p, f->w[i]) <= 2 * 1000 + sizeof(text));
    sr_policy_destroy(p);
}

/* Out of memory in the tree must not fail the request: the decision is
 * still made (from load alone if the tree cannot be walked). */
/* cache_cost: a miss goes to the least loaded worker, even when it holds
 * the biggest tree (the reference's "death spiral" sends it to the smallest
 * tree, often the busiest). */
static void test_cache_cost_miss_goes_to_the_least_loaded(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_cost");
    set_loads(f, 0, 0, 0, 0);
    int big = route(f, p, T); /* this worker now has the biggest tree */
    set_loads(f, 5, 5, 5, 5);
    atomic_store(&f->w[big]->in_flight, 0);
    assert_int_equal(route(f, p, "Completely unrelated text with nothing in common."), big);
    sr_policy_destroy(p);
}

/* A miss avoids the worker with prefill queued even when it has the fewest
 * requests: one long prompt weighs more than a few short ones. A hit stays
 * home while the queue there is worth less than the prefill it saves. */
static void test_cache_cost_weighs_queued_prefill(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_cost");
    size_t len = strlen(T);
    set_loads(f, 2, 2, 2, 1);
    atomic_store(&f->w[3]->pending_prefill, (long)(40 * len)); /* 40 prompts queued */
    for (int i = 0; i < 50; i++)
        assert_int_not_equal(route(f, p, "A prompt nobody has seen before, number one."), 3);
    atomic_store(&f->w[3]->pending_prefill, 0);

    set_loads(f, 0, 0, 0, 0);
    int home = route(f, p, T);
    atomic_store(&f->w[home]->pending_prefill, (long)(4 * len)); /* 4 * 0.125 < 1.0 saved */
    assert_int_equal(route(f, p, T), home);
    atomic_store(&f->w[home]->pending_prefill, (long)(12 * len)); /* 12 * 0.125 > 1.0 */
    assert_int_not_equal(route(f, p, T), home);
    for (int i = 0; i < NW; i++)
        atomic_store(&f->w[i]->pending_prefill, 0);
    sr_policy_destroy(p);
}

/* select reports what the chosen worker must prefill (the text minus its
 * match); dispatch queues it, started takes it back. */
static void test_cache_cost_reports_expected_prefill(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_cost");
    set_loads(f, 0, 0, 0, 0);
    size_t prefill = 0;
    struct sr_route_request req = {.workers = f->set,
                                   .text = T,
                                   .text_len = strlen(T),
                                   .rng = &f->rng,
                                   .params = &f->params,
                                   .prefill = &prefill};
    struct sr_worker *w = NULL;
    assert_int_equal(sr_policy_select(p, &req, &w), 0);
    assert_int_equal(prefill, strlen(T)); /* a miss: all of it */
    sr_policy_dispatch(p, w, prefill, 0);
    assert_int_equal(sr_worker_pending_prefill(w), (long)strlen(T));
    assert_int_equal(sr_worker_load(w), 1);

    char longer[256];
    snprintf(longer, sizeof(longer), "%s And a follow-up.", T);
    req.text = longer;
    req.text_len = strlen(longer);
    struct sr_worker *again = NULL;
    sr_policy_started(p, w, strlen(T)); /* its prefill is over: nothing queued there */
    assert_int_equal(sr_worker_pending_prefill(w), 0);
    assert_int_equal(sr_policy_select(p, &req, &again), 0);
    assert_ptr_equal(again, w); /* a hit, and the one request it stalls is cheaper than a miss */
    assert_int_equal(prefill, strlen(longer) - strlen(T));

    sr_policy_complete(p, w, SR_BREAKER_SUCCESS);
    assert_int_equal(sr_worker_pending_prefill(w), 0);
    assert_int_equal(sr_worker_load(w), 0);
    sr_policy_destroy(p);
}

/* An idle fleet spreads new prefixes at random instead of always picking
 * the first worker. */
static void test_cache_cost_spreads_ties(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_cost");
    set_loads(f, 0, 0, 0, 0);
    int count[NW] = {0};
    char text[64];
    for (int i = 0; i < 400; i++) {
        snprintf(text, sizeof(text), "%c distinct prompt number %d", 'A' + i % 26, i);
        count[route(f, p, text)]++;
    }
    for (int i = 0; i < NW; i++)
        assert_true(count[i] > 50);
    sr_policy_destroy(p);
}

static void test_allocation_failures_still_route(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_aware");
    char text[6000];
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    for (long k = 0; k < 8; k++) {
        text[k] = (char)('a' + k); /* a new branch each round: inserts allocate */
        sr_alloc_fail_after(k);
        int got = route(f, p, text);
        sr_alloc_fail_after(-1);
        assert_in_range(got, 0, NW - 1);
    }
    /* A path deeper than the walk's stack so far (a chain of 1-byte nodes,
     * 129 deep): with the stack's growth failing, load alone decides. */
    sr_policy_destroy(p);
    p = make(f, "cache_aware");
    char chain[201];
    for (int i = 1; i <= 129; i++) { /* the walks grow the stack to 128 */
        memset(chain, 'y', (size_t)i);
        chain[i] = '\0';
        assert_in_range(route(f, p, chain), 0, NW - 1);
    }
    memset(chain, 'y', 200);
    chain[200] = '\0';
    sr_alloc_fail_after(0);
    int got = route(f, p, chain);
    sr_alloc_fail_after(-1);
    assert_in_range(got, 0, NW - 1);
    sr_policy_destroy(p);
}

static void count_key(void *ctx, const unsigned char *key, size_t len)
{
    (void)key;
    assert_true(len % SR_ROUTE_KEY_DIGEST == 0);
    (*(size_t *)ctx)++;
}

/* Replica sync: a placement learned from a peer (its routing key: block
 * digests) routes like one made here, sizes and prefill stay in text
 * bytes, and match lengths count whole digests. */
static void test_learned_placements_route_like_own(void **state)
{
    struct fixture *f = *state;
    f->params.key_unit = SR_ROUTE_KEY_UNIT;
    struct sr_policy *here = make(f, "cache_aware"), *peer = make(f, "cache_aware");
    char prompt[1024];
    for (size_t i = 0; i < sizeof(prompt); i++)
        prompt[i] = (char)('a' + (i * 7) % 26);
    unsigned char key[sizeof(prompt) / SR_ROUTE_KEY_UNIT];
    sr_route_key_make(prompt, sizeof(prompt), key);
    size_t prefill = 0;
    struct sr_route_request req = {.workers = f->set,
                                   .text = key,
                                   .text_len = sizeof(key),
                                   .rng = &f->rng,
                                   .params = &f->params,
                                   .prefill = &prefill};
    struct sr_worker *chosen = NULL;
    assert_int_equal(sr_policy_select(peer, &req, &chosen), 0);
    assert_int_equal(prefill, sizeof(prompt)); /* a miss: all of the text */
    /* What the peer publishes, this replica learns. */
    assert_int_equal(sr_policy_learn(here, key, sizeof(key), chosen->id, 0), 0);
    for (int i = 0; i < 20; i++) {
        struct sr_worker *w = NULL;
        assert_int_equal(sr_policy_select(here, &req, &w), 0);
        assert_ptr_equal(w, chosen);
        assert_int_equal(prefill, 0); /* a full hit */
    }
    /* Half the prompt in common: half of it to prefill, in text bytes. */
    char other[1024];
    memcpy(other, prompt, 512);
    memset(other + 512, 'z', 512);
    unsigned char key2[sizeof(key)];
    sr_route_key_make(other, sizeof(other), key2);
    req.text = key2;
    struct sr_worker *w = NULL;
    f->params.cache_threshold = 0.4;
    assert_int_equal(sr_policy_select(here, &req, &w), 0);
    assert_ptr_equal(w, chosen);
    assert_int_equal(prefill, 512);
    /* A snapshot exports what a worker holds, as keys. */
    size_t keys = 0;
    assert_int_equal(sr_policy_export_worker(here, chosen->id, count_key, &keys), 0);
    assert_int_equal(keys, 2); /* both prompts: they part after 8 blocks */
    sr_policy_destroy(here);
    sr_policy_destroy(peer);
}

/* Learned placements obey --max-tree-size like local ones: in text bytes,
 * the tree holding 1/SR_ROUTE_KEY_UNIT of them as digests. */
static void test_learned_placements_are_evicted_within_the_limit(void **state)
{
    struct fixture *f = *state;
    f->params.key_unit = SR_ROUTE_KEY_UNIT;
    f->params.max_tree_bytes = 64 * 1024; /* text bytes per worker */
    struct sr_policy *p = make(f, "cache_aware");
    unsigned char key[256]; /* a 4 KiB prompt's digests */
    for (uint32_t i = 0; i < 200; i++) {
        for (size_t k = 0; k < sizeof(key); k++)
            key[k] = (unsigned char)(i * 131 + k * 7 + (k % 4 == 0 ? i : 0));
        assert_int_equal(sr_policy_learn(p, key, sizeof(key), f->w[1]->id, i), 0);
    }
    assert_true(sr_policy_worker_tree_bytes(p, f->w[1]) > 64 * 1024 / SR_ROUTE_KEY_UNIT);
    sr_policy_maintain(p, &f->params);
    assert_true(sr_policy_worker_tree_bytes(p, f->w[1]) <= 64 * 1024 / SR_ROUTE_KEY_UNIT);
    sr_policy_destroy(p);
}

/* The fleet's load (this router's and its peers') is what routing weighs. */
static void test_peer_load_counts(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "shortest_queue");
    set_loads(f, 0, 0, 0, 0);
    for (int i = 0; i < 3; i++)
        atomic_store(&f->w[i]->peer_in_flight, 5);
    for (int i = 0; i < 30; i++)
        assert_int_equal(route(f, p, "anything"), 3);
    for (int i = 0; i < NW; i++)
        atomic_store(&f->w[i]->peer_in_flight, 0);
    sr_policy_destroy(p);
}

/* The load model (load.h): the fewest requests held, and among equals the
 * least work in tokens. Every worker holds one request; w2's is a 100k
 * token prompt still to prefill: shortest_queue avoids it, where counting
 * requests alone would pick it one time in four. */
static void test_equal_requests_go_to_the_least_work(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "shortest_queue");
    set_loads(f, 1, 1, 1, 1);
    for (int i = 0; i < NW; i++)
        atomic_store(&f->w[i]->decode_left, 32);
    atomic_store(&f->w[2]->pending_prefill, (long)100000 * SR_BYTES_PER_TOKEN);
    for (int i = 0; i < 40; i++)
        assert_int_not_equal(route(f, p, "x"), 2);
    /* Fewer requests first: w2 with none left wins whatever the others. */
    atomic_store(&f->w[2]->in_flight, 0);
    atomic_store(&f->w[2]->pending_prefill, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(route(f, p, "x"), 2);
    /* decode_weight scales what generating weighs. */
    atomic_store(&f->w[2]->in_flight, 1);
    atomic_store(&f->w[2]->decode_left, 100000);
    for (int i = 0; i < 10; i++)
        assert_int_not_equal(route(f, p, "x"), 2);
    f->params.decode_weight = 0;
    bool seen = false;
    for (int i = 0; i < 60 && !seen; i++)
        seen = route(f, p, "x") == 2;
    assert_true(seen);
    f->params.decode_weight = 1;
    sr_policy_destroy(p);
    for (int i = 0; i < NW; i++)
        atomic_store(&f->w[i]->decode_left, 0);
    set_loads(f, 0, 0, 0, 0);
}

/* cache_aware's imbalance test counts what the worker itself reports
 * beyond the fleet's own requests: a best match on a worker deep in other
 * clients' requests is given up. */
static void test_imbalance_counts_reported_load(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_aware");
    const char *text = "a prompt that every worker but one has never seen before";
    set_loads(f, 0, 0, 0, 0);
    f->now_ms = 5000;
    int home = route(f, p, text);
    assert_true(home >= 0);
    set_loads(f, 1, 1, 1, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(route(f, p, text), home);            /* balanced: the match wins */
    sr_worker_report_load(f->w[home], 20, 40, -1, f->now_ms); /* 59 beyond our 1 */
    for (int i = 0; i < 10; i++)
        assert_int_not_equal(route(f, p, text), home);
    sr_worker_forget_report(f->w[home]);
    set_loads(f, 0, 0, 0, 0);
    f->now_ms = 0;
    sr_policy_destroy(p);
}

/* cache_cost: a long miss goes where it stalls the fewest requests; a hit
 * stays home unless the work queued there outweighs the prefill it saves. */
static void test_cache_cost_weighs_stalls_and_queue(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_cost");
    set_loads(f, 6, 6, 1, 6);
    for (int i = 0; i < 20; i++)
        assert_int_equal(route(f, p, "a miss for everyone"), 2);
    set_loads(f, 0, 0, 0, 0);
    int home = route(f, p, T);
    /* Affinity holds against requests held (a hit stalls nobody) ... */
    set_loads(f, 1, 1, 1, 1);
    atomic_store(&f->w[home]->in_flight, 30);
    assert_int_equal(route(f, p, T), home);
    /* ... until the work queued ahead costs more than the prefill saved. */
    size_t len = strlen(T);
    atomic_store(&f->w[home]->pending_prefill, (long)(12 * len)); /* 12 * 0.125 > 1.0 */
    assert_int_not_equal(route(f, p, T), home);
    atomic_store(&f->w[home]->pending_prefill, 0);
    set_loads(f, 0, 0, 0, 0);
    sr_policy_destroy(p);
}

/* Every request the policy was told of returns its decode to zero: tokens
 * streamed, the rest at the end. */
static void test_decode_accounting_returns_to_zero(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "cache_cost");
    struct sr_worker *w = f->w[1];
    sr_policy_dispatch(p, w, 400, 128);
    sr_policy_dispatch(p, w, 0, 16);
    assert_int_equal(sr_worker_decode_left(w), 144);
    sr_policy_decoded(p, w, 100); /* streamed */
    assert_int_equal(sr_worker_decode_left(w), 44);
    sr_policy_decoded(p, w, 28); /* the first ends early: the rest of its budget */
    sr_policy_started(p, w, 400);
    sr_policy_complete(p, w, SR_BREAKER_SUCCESS);
    sr_policy_decoded(p, w, 16); /* the second fails before answering */
    sr_policy_complete(p, w, SR_BREAKER_FAILURE);
    assert_int_equal(sr_worker_decode_left(w), 0);
    assert_int_equal(sr_worker_pending_prefill(w), 0);
    assert_int_equal(sr_worker_load(w), 0);
    sr_policy_destroy(p);
}

/* What the worker reports beyond the fleet's own counts, while fresh. */
static void test_reported_load_counts_while_fresh(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *p = make(f, "shortest_queue");
    set_loads(f, 2, 2, 2, 2);
    f->now_ms = 10000;
    /* w1 runs 2 of ours and says it holds 50: 48 from elsewhere. */
    sr_worker_report_load(f->w[1], 10, 40, -1, f->now_ms);
    assert_int_equal(sr_worker_external_load(f->w[1], f->now_ms, 3000), 48);
    for (int i = 0; i < 20; i++)
        assert_int_not_equal(route(f, p, "x"), 1);
    /* A report that says less than ours is no negative load. */
    sr_worker_report_load(f->w[1], 1, 0, -1, f->now_ms);
    assert_int_equal(sr_worker_external_load(f->w[1], f->now_ms, 3000), 0);
    /* Stale reports count for nothing. */
    sr_worker_report_load(f->w[1], 10, 40, -1, f->now_ms);
    f->now_ms += f->params.report_max_age_ms + 1;
    assert_int_equal(sr_worker_external_load(f->w[1], f->now_ms, f->params.report_max_age_ms), 0);
    bool seen = false;
    for (int i = 0; i < 60 && !seen; i++)
        seen = route(f, p, "x") == 1;
    assert_true(seen);
    sr_worker_forget_report(f->w[1]);
    assert_int_equal(atomic_load(&f->w[1]->reported_running), -1);
    set_loads(f, 0, 0, 0, 0);
    f->now_ms = 0;
    sr_policy_destroy(p);
}

#define T_(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T_(test_names_map_to_policies),
        T_(test_learned_placements_route_like_own),
        T_(test_peer_load_counts),
        T_(test_learned_placements_are_evicted_within_the_limit),
        T_(test_readme_lists_the_policy_names),
        T_(test_random_is_uniform_and_respects_health),
        T_(test_round_robin_cycles_over_healthy_workers),
        T_(test_shortest_queue_breaks_ties_randomly),
        T_(test_cache_hit_goes_to_the_best_match),
        T_(test_cache_miss_goes_to_the_smallest_tree),
        T_(test_cache_threshold_decides),
        T_(test_cache_routing_prob_zero_is_shortest_queue),
        T_(test_imbalance_guard),
        T_(test_miss_margin_bounds_where_misses_go),
        T_(test_equal_matches_are_broken_randomly),
        T_(test_unroutable_best_match_is_skipped),
        T_(test_a_full_worker_is_not_chosen),
        T_(test_removed_worker_leaves_the_tree_and_maintenance_evicts),
        T_(test_cache_aware_evicts_by_itself),
        T_(test_allocation_failures_still_route),
        T_(test_cache_cost_miss_goes_to_the_least_loaded),
        T_(test_cache_cost_spreads_ties),
        T_(test_cache_cost_weighs_queued_prefill),
        T_(test_cache_cost_reports_expected_prefill),
        T_(test_equal_requests_go_to_the_least_work),
        T_(test_imbalance_counts_reported_load),
        T_(test_cache_cost_weighs_stalls_and_queue),
        T_(test_decode_accounting_returns_to_zero),
        T_(test_reported_load_counts_while_fresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
