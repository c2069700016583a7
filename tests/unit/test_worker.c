/* Unit tests for common/worker: health hysteresis and load accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/registry.h"
#include "common/worker.h"

static struct sr_worker *one_worker(struct sr_registry **reg, struct sr_worker_set **set)
{
    *reg = sr_registry_new();
    assert_int_equal(sr_registry_add(*reg, "http://w:1", NULL), 0);
    *set = sr_registry_acquire(*reg);
    return (*set)->workers[0];
}

static void test_health_rise_and_fall(void **state)
{
    (void)state;
    struct sr_registry *reg;
    struct sr_worker_set *set;
    struct sr_worker *w = one_worker(&reg, &set);
    const int rise = 2, fall = 3;
    assert_int_equal(sr_worker_health(w), SR_HEALTH_PENDING);
    assert_false(sr_worker_routable(w));
    assert_true(sr_worker_report_check(w, true, rise, fall)); /* first pass: healthy */
    assert_true(sr_worker_routable(w));
    assert_false(sr_worker_report_check(w, false, rise, fall));
    assert_false(sr_worker_report_check(w, false, rise, fall));
    assert_int_equal(sr_worker_health(w), SR_HEALTH_HEALTHY);
    assert_true(sr_worker_report_check(w, false, rise, fall)); /* third failure */
    assert_int_equal(sr_worker_health(w), SR_HEALTH_UNHEALTHY);
    assert_false(sr_worker_report_check(w, true, rise, fall));  /* one pass is not enough */
    assert_false(sr_worker_report_check(w, false, rise, fall)); /* streak broken */
    assert_false(sr_worker_report_check(w, true, rise, fall));
    assert_true(sr_worker_report_check(w, true, rise, fall));
    assert_int_equal(sr_worker_health(w), SR_HEALTH_HEALTHY);
    assert_string_equal(sr_worker_health_name(sr_worker_health(w)), "healthy");
    sr_worker_set_release(set);
    sr_registry_free(reg);
}

static void test_pending_worker_that_fails_becomes_unhealthy(void **state)
{
    (void)state;
    struct sr_registry *reg;
    struct sr_worker_set *set;
    struct sr_worker *w = one_worker(&reg, &set);
    assert_false(sr_worker_report_check(w, false, 1, 2));
    assert_true(sr_worker_report_check(w, false, 1, 2));
    assert_int_equal(sr_worker_health(w), SR_HEALTH_UNHEALTHY);
    sr_worker_set_release(set);
    sr_registry_free(reg);
}

static void test_load_accounting(void **state)
{
    (void)state;
    struct sr_registry *reg;
    struct sr_worker_set *set;
    struct sr_worker *w = one_worker(&reg, &set);
    sr_worker_load_add(w);
    sr_worker_load_add(w);
    assert_int_equal(sr_worker_load(w), 2);
    sr_worker_load_done(w, SR_BREAKER_SUCCESS);
    sr_worker_load_done(w, SR_BREAKER_FAILURE);
    assert_int_equal(sr_worker_load(w), 0);
    assert_int_equal(atomic_load(&w->processed), 1);
    assert_int_equal(atomic_load(&w->failures), 1);
    /* A request whose client left before the worker answered (a reset
     * stream) was processed by nobody (issue 18). */
    sr_worker_load_add(w);
    sr_worker_load_done(w, SR_BREAKER_NO_VERDICT);
    assert_int_equal(sr_worker_load(w), 0);
    assert_int_equal(atomic_load(&w->processed), 1);
    assert_int_equal(atomic_load(&w->failures), 1);
    sr_worker_set_release(set);
    sr_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_rise_and_fall),
        cmocka_unit_test(test_pending_worker_that_fails_becomes_unhealthy),
        cmocka_unit_test(test_load_accounting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
