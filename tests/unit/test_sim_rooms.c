/* Unit tests for tests/sim/rooms: the prefill role's ready rooms (taken
 * once, expired by age, pushed out oldest first, out of memory). Time is
 * passed in, so nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rooms.h"

#include "common/alloc.h"
#include "common/err.h"

static struct sr_sim_room_info info(uint32_t tokens, uint32_t cached)
{
    struct sr_sim_room_info i = {tokens, cached};
    return i;
}

static void test_taken_once(void **state)
{
    (void)state;
    struct sr_sim_rooms *r = sr_sim_rooms_new(8, 10.0);
    assert_non_null(r);
    struct sr_sim_room_info in = info(100, 40), out = {0};
    assert_int_equal(sr_sim_rooms_put(r, UINT64_C(9223372036854775807), &in, 1.0), 0);
    assert_false(sr_sim_rooms_take(r, 7, 1.0, &out));
    assert_true(sr_sim_rooms_take(r, UINT64_C(9223372036854775807), 2.0, &out));
    assert_int_equal(out.tokens, 100);
    assert_int_equal(out.cached_tokens, 40);
    assert_false(sr_sim_rooms_take(r, UINT64_C(9223372036854775807), 2.0, &out));
    assert_int_equal(sr_sim_rooms_count(r), 0);
    assert_int_equal(sr_sim_rooms_dropped(r), 0);
    sr_sim_rooms_free(r);
}

static void test_expire_by_age(void **state)
{
    (void)state;
    struct sr_sim_rooms *r = sr_sim_rooms_new(8, 10.0);
    struct sr_sim_room_info in = info(1, 0), out;
    assert_int_equal(sr_sim_rooms_put(r, 1, &in, 0.0), 0);
    assert_int_equal(sr_sim_rooms_put(r, 2, &in, 5.0), 0);
    assert_true(sr_sim_rooms_take(r, 1, 10.0, &out)); /* exactly ttl old: still there */
    assert_int_equal(sr_sim_rooms_put(r, 3, &in, 5.0), 0);
    assert_false(sr_sim_rooms_take(r, 2, 15.5, &out));
    assert_false(sr_sim_rooms_take(r, 3, 15.5, &out));
    assert_int_equal(sr_sim_rooms_dropped(r), 2);
    assert_int_equal(sr_sim_rooms_count(r), 0);
    sr_sim_rooms_free(r);
}

static void test_bounded_count_drops_oldest(void **state)
{
    (void)state;
    struct sr_sim_rooms *r = sr_sim_rooms_new(3, 100.0);
    struct sr_sim_room_info out;
    for (uint64_t i = 0; i < 5; i++) {
        struct sr_sim_room_info in = info((uint32_t)i + 1, 0);
        assert_int_equal(sr_sim_rooms_put(r, i, &in, (double)i), 0);
    }
    assert_int_equal(sr_sim_rooms_count(r), 3);
    assert_int_equal(sr_sim_rooms_dropped(r), 2);
    assert_false(sr_sim_rooms_take(r, 0, 5.0, &out));
    assert_false(sr_sim_rooms_take(r, 1, 5.0, &out));
    for (uint64_t i = 2; i < 5; i++) {
        assert_true(sr_sim_rooms_take(r, i, 5.0, &out));
        assert_int_equal(out.tokens, i + 1);
    }
    sr_sim_rooms_free(r);
}

static void test_put_again_replaces_and_renews(void **state)
{
    (void)state;
    struct sr_sim_rooms *r = sr_sim_rooms_new(2, 10.0);
    struct sr_sim_room_info a = info(1, 0), b = info(2, 1), out;
    assert_int_equal(sr_sim_rooms_put(r, 5, &a, 0.0), 0);
    assert_int_equal(sr_sim_rooms_put(r, 6, &a, 1.0), 0);
    assert_int_equal(sr_sim_rooms_put(r, 5, &b, 2.0), 0); /* 5 is now the newest */
    assert_int_equal(sr_sim_rooms_count(r), 2);
    assert_int_equal(sr_sim_rooms_put(r, 7, &a, 3.0), 0); /* pushes out 6, not 5 */
    assert_false(sr_sim_rooms_take(r, 6, 3.0, &out));
    assert_true(sr_sim_rooms_take(r, 5, 3.0, &out));
    assert_int_equal(out.tokens, 2);
    sr_sim_rooms_free(r);
}

/* Many rooms in one chain (a bucket count of 16 and more rooms): every one
 * still found, and removal from the middle of a chain keeps the rest. */
static void test_collisions(void **state)
{
    (void)state;
    struct sr_sim_rooms *r = sr_sim_rooms_new(1000, 100.0);
    struct sr_sim_room_info out;
    for (uint64_t i = 0; i < 1000; i++) {
        struct sr_sim_room_info in = info((uint32_t)i, 0);
        assert_int_equal(sr_sim_rooms_put(r, i * 1024, &in, 0.0), 0);
    }
    for (uint64_t i = 0; i < 1000; i += 2)
        assert_true(sr_sim_rooms_take(r, i * 1024, 0.0, &out));
    for (uint64_t i = 1; i < 1000; i += 2) {
        assert_true(sr_sim_rooms_take(r, i * 1024, 0.0, &out));
        assert_int_equal(out.tokens, i);
    }
    assert_int_equal(sr_sim_rooms_count(r), 0);
    sr_sim_rooms_free(r);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    sr_alloc_fail_after(0);
    assert_null(sr_sim_rooms_new(4, 1.0));
    sr_alloc_fail_after(1);
    assert_null(sr_sim_rooms_new(4, 1.0)); /* the buckets */
    sr_alloc_fail_after(-1);
    struct sr_sim_rooms *r = sr_sim_rooms_new(4, 1.0);
    struct sr_sim_room_info in = info(1, 0), out;
    assert_int_equal(sr_sim_rooms_put(r, 1, &in, 0.0), 0);
    sr_alloc_fail_after(0);
    assert_int_equal(sr_sim_rooms_put(r, 2, &in, 0.0), SR_ERR_NOMEM);
    sr_alloc_fail_after(-1);
    assert_true(sr_sim_rooms_take(r, 1, 0.0, &out));
    assert_false(sr_sim_rooms_take(r, 2, 0.0, &out));
    sr_sim_rooms_free(r);
    sr_sim_rooms_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken_once),
        cmocka_unit_test(test_expire_by_age),
        cmocka_unit_test(test_bounded_count_drops_oldest),
        cmocka_unit_test(test_put_again_replaces_and_renews),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
