/* Unit tests for common/rand: determinism, range and uniformity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/rand.h"

static void test_same_seed_same_sequence(void **state)
{
    (void)state;
    struct sr_rng a, b, c;
    sr_rng_seed(&a, 5);
    sr_rng_seed(&b, 5);
    sr_rng_seed(&c, 6);
    int differs = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = sr_rng_next(&a);
        assert_true(x == sr_rng_next(&b));
        differs += x != sr_rng_next(&c);
    }
    assert_true(differs > 90);
}

static void test_below_is_in_range_and_uniform(void **state)
{
    (void)state;
    struct sr_rng r;
    sr_rng_seed(&r, 1);
    int count[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint32_t v = sr_rng_below(&r, 7);
        assert_true(v < 7);
        count[v]++;
    }
    for (int i = 0; i < 7; i++)
        assert_in_range(count[i], 9500, 10500);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sr_rng_below(&r, 1), 0);
}

static void test_unit_interval(void **state)
{
    (void)state;
    struct sr_rng r;
    sr_rng_seed_auto(&r);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = sr_rng_unit(&r);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
    }
    assert_true(sum / 100000 > 0.49 && sum / 100000 < 0.51);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_sequence),
        cmocka_unit_test(test_below_is_in_range_and_uniform),
        cmocka_unit_test(test_unit_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
