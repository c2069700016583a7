/* Unit tests for sync/fleet_load: the other replicas' load per worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sync/fleet_load.h"

static void total(struct sr_fleet_load *fl, uint64_t w, long want_flight, long want_prefill)
{
    long f, p;
    sr_fleet_load_total(fl, w, &f, &p);
    assert_int_equal(f, want_flight);
    assert_int_equal(p, want_prefill);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_replace_and_add_up),
        cmocka_unit_test(test_placements_until_the_next_report),
        cmocka_unit_test(test_silent_peers_expire),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
