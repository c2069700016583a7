/* Unit tests for common/breaker: the circuit breaker's states, its window,
 * half-open trials, and how routing skips an open worker. Time is passed
 * in, so nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/breaker.h"
#include "common/policy.h"
#include "common/registry.h"
#include "common/worker.h"

#include <pthread.h>

static const struct sr_breaker_config cfg = {
    .enabled = true,
    .failure_threshold = 3,
    .success_threshold = 2,
    .timeout_ms = 1000,
    .window_ms = 5000,
};

static bool failure(struct sr_breaker *b, uint64_t now)
{
    uint32_t ticket;
    assert_true(sr_breaker_admit(b, &cfg, now, &ticket));
    return sr_breaker_record(b, &cfg, ticket, SR_BREAKER_FAILURE, now);
}

static bool succeed(struct sr_breaker *b, uint64_t now)
{
    uint32_t ticket;
    assert_true(sr_breaker_admit(b, &cfg, now, &ticket));
    return sr_breaker_record(b, &cfg, ticket, SR_BREAKER_SUCCESS, now);
}

/* Opens the breaker at time t (three failures). */
static void open_at(struct sr_breaker *b, uint64_t t)
{
    assert_false(failure(b, t));
    assert_false(failure(b, t));
    assert_true(failure(b, t));
    assert_int_equal(sr_breaker_state(b, t), SR_BREAKER_OPEN);
}

static void test_opens_after_failures_in_a_row(void **state)
{
    (void)state;
    struct sr_breaker b;
    assert_int_equal(sr_breaker_init(&b), 0);
    assert_int_equal(sr_breaker_state(&b, 0), SR_BREAKER_CLOSED);
    assert_false(failure(&b, 10));
    assert_false(failure(&b, 20));
    assert_false(succeed(&b, 30)); /* breaks the run */
    assert_false(failure(&b, 40));
    assert_false(failure(&b, 50));
    assert_int_equal(sr_breaker_state(&b, 50), SR_BREAKER_CLOSED);
    assert_true(failure(&b, 60));
    assert_int_equal(sr_breaker_state(&b, 60), SR_BREAKER_OPEN);
    assert_string_equal(sr_breaker_state_name(SR_BREAKER_OPEN), "open");
    assert_int_equal(sr_breaker_opened_total(&b), 1);
    assert_false(sr_breaker_allows(&b, 61));
    uint32_t ticket = 99;
    assert_false(sr_breaker_admit(&b, &cfg, 61, &ticket));
    /* Attempts dispatched before it opened end without effect. */
    assert_false(sr_breaker_record(&b, &cfg, 0, SR_BREAKER_SUCCESS, 62));
    assert_false(sr_breaker_record(&b, &cfg, 0, SR_BREAKER_FAILURE, 62));
    assert_int_equal(sr_breaker_state(&b, 62), SR_BREAKER_OPEN);
    assert_int_equal(sr_breaker_opened_total(&b), 1);
    sr_breaker_clear(&b);
}

static void test_failures_outside_the_window_start_a_new_run(void **state)
{
    (void)state;
    struct sr_breaker b;
    assert_int_equal(sr_breaker_init(&b), 0);
    assert_false(failure(&b, 1000));
    assert_false(failure(&b, 3000));
    assert_false(failure(&b, 6001)); /* 5001 ms after the first: a new run of one */
    assert_false(failure(&b, 7000));
    assert_int_equal(sr_breaker_state(&b, 7000), SR_BREAKER_CLOSED);
    assert_true(failure(&b, 11001)); /* third within 5000 ms of 6001 */
    assert_int_equal(sr_breaker_state(&b, 11001), SR_BREAKER_OPEN);
    sr_breaker_clear(&b);
}

static void test_half_open_admits_limited_trials_then_closes(void **state)
{
    (void)state;
    struct sr_breaker b;
    assert_int_equal(sr_breaker_init(&b), 0);
    open_at(&b, 100);
    assert_false(sr_breaker_allows(&b, 1099));
    assert_int_equal(sr_breaker_state(&b, 1099), SR_BREAKER_OPEN);
    assert_true(sr_breaker_allows(&b, 1100));
    assert_int_equal(sr_breaker_state(&b, 1100), SR_BREAKER_HALF_OPEN);
    uint32_t t1, t2, t3;
    assert_true(sr_breaker_admit(&b, &cfg, 1100, &t1));
    assert_true(sr_breaker_admit(&b, &cfg, 1100, &t2));
    assert_true(t1 != 0 && t1 == t2);
    assert_false(sr_breaker_allows(&b, 1100)); /* both slots taken */
    assert_false(sr_breaker_admit(&b, &cfg, 1100, &t3));
    /* A non-trial outcome (started while closed) is no evidence. */
    assert_false(sr_breaker_record(&b, &cfg, 0, SR_BREAKER_FAILURE, 1150));
    assert_int_equal(sr_breaker_state(&b, 1150), SR_BREAKER_HALF_OPEN);
    assert_false(sr_breaker_record(&b, &cfg, t1, SR_BREAKER_SUCCESS, 1200));
    assert_int_equal(sr_breaker_state(&b, 1200), SR_BREAKER_HALF_OPEN);
    assert_true(sr_breaker_record(&b, &cfg, t2, SR_BREAKER_SUCCESS, 1300));
    assert_int_equal(sr_breaker_state(&b, 1300), SR_BREAKER_CLOSED);
    assert_true(sr_breaker_allows(&b, 1300));
    assert_int_equal(sr_breaker_opened_total(&b), 1);
    /* Closed again with a fresh count. */
    assert_false(failure(&b, 1400));
    assert_false(failure(&b, 1400));
    assert_true(failure(&b, 1400));
    assert_int_equal(sr_breaker_opened_total(&b), 2);
    sr_breaker_clear(&b);
}

static void test_failed_trial_reopens(void **state)
{
    (void)state;
    struct sr_breaker b;
    assert_int_equal(sr_breaker_init(&b), 0);
    open_at(&b, 0);
    uint32_t t1, t2;
    assert_true(sr_breaker_admit(&b, &cfg, 1000, &t1));
    assert_true(sr_breaker_admit(&b, &cfg, 1000, &t2));
    assert_true(sr_breaker_record(&b, &cfg, t1, SR_BREAKER_FAILURE, 1500));
    assert_int_equal(sr_breaker_state(&b, 1500), SR_BREAKER_OPEN);
    assert_int_equal(sr_breaker_opened_total(&b), 2);
    /* The other trial of that period ends later: no effect. */
    assert_false(sr_breaker_record(&b, &cfg, t2, SR_BREAKER_SUCCESS, 1600));
    assert_int_equal(sr_breaker_state(&b, 2499), SR_BREAKER_OPEN);
    /* A new period; a stale ticket from the last one is still ignored. */
    uint32_t t3;
    assert_true(sr_breaker_admit(&b, &cfg, 2500, &t3));
    assert_true(t3 != t2);
    assert_false(sr_breaker_record(&b, &cfg, t2, SR_BREAKER_FAILURE, 2600));
    assert_int_equal(sr_breaker_state(&b, 2600), SR_BREAKER_HALF_OPEN);
    sr_breaker_clear(&b);
}

static void test_trial_without_verdict_frees_its_slot(void **state)
{
    (void)state;
    struct sr_breaker b;
    assert_int_equal(sr_breaker_init(&b), 0);
    open_at(&b, 0);
    uint32_t t1, t2, t3;
    assert_true(sr_breaker_admit(&b, &cfg, 1000, &t1));
    assert_true(sr_breaker_admit(&b, &cfg, 1000, &t2));
    assert_false(sr_breaker_admit(&b, &cfg, 1000, &t3));
    assert_false(sr_breaker_record(&b, &cfg, t1, SR_BREAKER_NO_VERDICT, 1100)); /* client left */
    assert_true(sr_breaker_admit(&b, &cfg, 1100, &t3));
    assert_false(sr_breaker_record(&b, &cfg, t2, SR_BREAKER_SUCCESS, 1200));
    assert_true(sr_breaker_record(&b, &cfg, t3, SR_BREAKER_SUCCESS, 1300));
    assert_int_equal(sr_breaker_state(&b, 1300), SR_BREAKER_CLOSED);
    /* Closed: no verdict changes nothing either. */
    assert_false(failure(&b, 1400));
    assert_false(failure(&b, 1400));
    assert_false(sr_breaker_record(&b, &cfg, 0, SR_BREAKER_NO_VERDICT, 1400));
    assert_true(failure(&b, 1400));
    sr_breaker_clear(&b);
}

static void test_disabled_never_opens(void **state)
{
    (void)state;
    struct sr_breaker_config off = cfg;
    off.enabled = false;
    struct sr_breaker b;
    assert_int_equal(sr_breaker_init(&b), 0);
    for (int i = 0; i < 100; i++) {
        uint32_t ticket;
        assert_true(sr_breaker_admit(&b, &off, (uint64_t)i, &ticket));
        assert_int_equal(ticket, 0);
        assert_false(sr_breaker_record(&b, &off, ticket, SR_BREAKER_FAILURE, (uint64_t)i));
    }
    assert_int_equal(sr_breaker_state(&b, 100), SR_BREAKER_CLOSED);
    assert_int_equal(sr_breaker_opened_total(&b), 0);
    sr_breaker_clear(&b);
}

/* Routing: every policy goes through sr_route_allows. */
static void test_routing_skips_open_workers(void **state)
{
    (void)state;
    struct sr_registry *reg = sr_registry_new();
    assert_non_null(reg);
    assert_int_equal(sr_registry_add(reg, "http://a:1", NULL), 0);
    assert_int_equal(sr_registry_add(reg, "http://b:1", NULL), 0);
    struct sr_worker_set *set = sr_registry_acquire(reg);
    struct sr_worker *a = set->workers[0], *b = set->workers[1];
    sr_worker_set_health(a, SR_HEALTH_HEALTHY);
    sr_worker_set_health(b, SR_HEALTH_HEALTHY);
    open_at(&a->breaker, 0);
    assert_true(sr_worker_routable(a)); /* health alone */
    assert_false(sr_worker_available(a, 500));
    struct sr_rng rng;
    sr_rng_seed(&rng, 7);
    struct sr_policy_params defaults = {.decode_weight = 1};
    struct sr_route_request req = {.workers = set, .rng = &rng, .now_ms = 500, .params = &defaults};
    for (int i = 0; i < 50; i++) {
        assert_ptr_equal(sr_route_pick_random(&req), b);
        assert_ptr_equal(sr_route_pick_least_loaded(&req, NULL, NULL, NULL), b);
    }
    const char *const names[] = {"random", "round_robin", "shortest_queue", "cache_aware",
                                 "cache_cost"};
    struct sr_policy_params params = {.cache_threshold = 0.5,
                                      .cache_routing_prob = 1,
                                      .balance_abs_threshold = 32,
                                      .balance_rel_threshold = 1.0001,
                                      .max_tree_bytes = 1 << 20};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        struct sr_policy *p = sr_policy_create(names[k], &params, NULL);
        assert_non_null(p);
        req.params = &params;
        req.text = "hello";
        req.text_len = 5;
        for (int i = 0; i < 10; i++) {
            struct sr_worker *w = NULL;
            assert_int_equal(sr_policy_select(p, &req, &w), 0);
            assert_ptr_equal(w, b);
        }
        sr_policy_destroy(p);
    }
    /* Every worker open: nothing is routable. */
    open_at(&b->breaker, 0);
    assert_null(sr_route_pick_random(&req));
    /* After the timeout both take trials again. */
    req.now_ms = 1000;
    assert_true(sr_worker_available(a, 1000));
    assert_non_null(sr_route_pick_random(&req));
    sr_worker_set_release(set);
    sr_registry_free(reg);
}

struct race {
    struct sr_breaker *b;
    int admitted;
};

static void *admit_many(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 1000; i++) {
        uint32_t ticket;
        if (sr_breaker_admit(r->b, &cfg, 5000, &ticket))
            r->admitted++;
    }
    return NULL;
}

static void test_trial_slots_are_exact_across_threads(void **state)
{
    (void)state;
    struct sr_breaker b;
    assert_int_equal(sr_breaker_init(&b), 0);
    open_at(&b, 0);
    pthread_t th[4];
    struct race r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct race){&b, 0};
        assert_int_equal(pthread_create(&th[i], NULL, admit_many, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += r[i].admitted;
    }
    assert_int_equal(total, (int)cfg.success_threshold);
    sr_breaker_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_failures_in_a_row),
        cmocka_unit_test(test_failures_outside_the_window_start_a_new_run),
        cmocka_unit_test(test_half_open_admits_limited_trials_then_closes),
        cmocka_unit_test(test_failed_trial_reopens),
        cmocka_unit_test(test_trial_without_verdict_frees_its_slot),
        cmocka_unit_test(test_disabled_never_opens),
        cmocka_unit_test(test_routing_skips_open_workers),
        cmocka_unit_test(test_trial_slots_are_exact_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
