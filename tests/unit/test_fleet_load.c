/* Unit tests for sync/fleet_load: the other replicas' load per worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sync/fleet_load.h"

static void total(struct sr_fleet_load *fl, uint64_t w, long want_flight, long want_prefill)
{
    struct sr_fleet_total t;
    sr_fleet_load_total(fl, w, &t);
    assert_int_equal(t.in_flight, want_flight);
    assert_int_equal(t.prefill, want_prefill);
}

static void decode(struct sr_fleet_load *fl, uint64_t w, long want_decode, long want_untold)
{
    struct sr_fleet_total t;
    sr_fleet_load_total(fl, w, &t);
    assert_int_equal(t.decode, want_decode);
    assert_int_equal(t.untold, want_untold);
}

static void test_reports_replace_and_add_up(void **state)
{
    (void)state;
    struct sr_fleet_load *fl = sr_fleet_load_new();
    assert_non_null(fl);
    struct sr_sync_load_entry a[] = {{10, 3, 300}, {20, 1, 0}};
    struct sr_sync_load_entry b[] = {{10, 2, 50}};
    assert_int_equal(sr_fleet_load_report(fl, 1, a, 2, 1000), 0);
    assert_int_equal(sr_fleet_load_report(fl, 2, b, 1, 1000), 0);
    total(fl, 10, 5, 350);
    total(fl, 20, 1, 0);
    total(fl, 30, 0, 0);
    /* A new report of a peer replaces its old one entirely. */
    struct sr_sync_load_entry a2[] = {{20, 4, 8}};
    assert_int_equal(sr_fleet_load_report(fl, 1, a2, 1, 1010), 0);
    total(fl, 10, 2, 50);
    total(fl, 20, 4, 8);
    sr_fleet_load_free(fl);
}

/* Placements count at once, and the next report reconciles them. */
static void test_placements_until_the_next_report(void **state)
{
    (void)state;
    struct sr_fleet_load *fl = sr_fleet_load_new();
    struct sr_sync_load_entry a[] = {{10, 1, 0}};
    assert_int_equal(sr_fleet_load_report(fl, 1, a, 1, 1000), 0);
    assert_int_equal(sr_fleet_load_placed(fl, 1, 10, 500, 1005), 0);
    assert_int_equal(sr_fleet_load_placed(fl, 1, 99, 100, 1005), 0); /* new worker */
    total(fl, 10, 2, 500);
    total(fl, 99, 1, 100);
    struct sr_sync_load_entry now[] = {{10, 1, 0}}; /* one ended, 99's too */
    assert_int_equal(sr_fleet_load_report(fl, 1, now, 1, 1020), 0);
    total(fl, 10, 1, 0);
    total(fl, 99, 0, 0);
    sr_fleet_load_free(fl);
}

/* A replica that goes silent leaves no phantom load behind. */
static void test_silent_peers_expire(void **state)
{
    (void)state;
    struct sr_fleet_load *fl = sr_fleet_load_new();
    struct sr_sync_load_entry a[] = {{10, 7, 70}};
    assert_int_equal(sr_fleet_load_report(fl, 1, a, 1, 1000), 0);
    assert_int_equal(sr_fleet_load_report(fl, 2, a, 1, 3500), 0);
    struct sr_fleet_peer peers[4];
    assert_int_equal(sr_fleet_load_peers(fl, peers, 4), 2);
    assert_int_equal(sr_fleet_load_expire(fl, 4000, 3000), 0);
    assert_int_equal(sr_fleet_load_placed(fl, 2, 10, 0, 5000), 0); /* heard again */
    assert_int_equal(sr_fleet_load_expire(fl, 4001, 3000), 1);     /* peer 1: 3001 ms */
    total(fl, 10, 8, 70);
    assert_int_equal(sr_fleet_load_peers(fl, peers, 4), 1);
    assert_true(peers[0].id == 2);
    assert_int_equal(peers[0].in_flight, 8);
    sr_fleet_load_clear(fl);
    total(fl, 10, 0, 0);
    sr_fleet_load_free(fl);
}

/* Peers' decode tokens: each TOKENS replaces the peer's previous ones; a
 * peer that never sent one has its requests counted as untold. */
static void test_tokens_reports(void **state)
{
    (void)state;
    struct sr_fleet_load *fl = sr_fleet_load_new();
    struct sr_sync_load_entry a[] = {{10, 3, 0}, {20, 1, 0}};
    assert_int_equal(sr_fleet_load_report(fl, 1, a, 2, 1000), 0);
    assert_int_equal(sr_fleet_load_report(fl, 2, a, 2, 1000), 0);
    decode(fl, 10, 0, 6); /* neither peer told */
    struct sr_sync_tokens_entry t1[] = {{20, 40}, {10, 900}};
    assert_int_equal(sr_fleet_load_tokens(fl, 1, t1, 2, 1001), 0);
    decode(fl, 10, 900, 3); /* peer 1 told; peer 2's three requests are not */
    decode(fl, 20, 40, 1);
    struct sr_sync_tokens_entry t2[] = {{10, 5}};
    assert_int_equal(sr_fleet_load_tokens(fl, 2, t2, 1, 1002), 0);
    decode(fl, 10, 905, 0);
    decode(fl, 20, 40, 0); /* peer 2 told nothing of 20: none left there */
    struct sr_sync_tokens_entry t3[] = {{10, 100}};
    assert_int_equal(sr_fleet_load_tokens(fl, 1, t3, 1, 1003), 0);
    decode(fl, 10, 105, 0);
    decode(fl, 20, 0, 0);
    assert_int_equal(sr_fleet_load_expire(fl, 5000, 3000), 2);
    decode(fl, 10, 0, 0);
    sr_fleet_load_free(fl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_replace_and_add_up),
        cmocka_unit_test(test_placements_until_the_next_report),
        cmocka_unit_test(test_silent_peers_expire),
        cmocka_unit_test(test_tokens_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
