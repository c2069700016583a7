/* Unit tests for common/alloc: the failure-injection hook the other tests
 * rely on, and footprint accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"

static void test_fail_after_k(void **state)
{
    (void)state;
    sr_alloc_fail_after(2);
    void *a = sr_malloc(8), *b = sr_calloc(2, 8), *c = sr_malloc(8), *d = sr_strdup("x");
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_null(d);
    assert_int_equal(sr_alloc_count(), 4);
    sr_alloc_fail_after(-1);
    void *e = sr_realloc(a, 64);
    assert_non_null(e);
    sr_free(e);
    sr_free(b);
}

static void test_failed_realloc_keeps_the_block(void **state)
{
    (void)state;
    char *p = sr_strdup("kept");
    sr_alloc_fail_after(0);
    assert_null(sr_realloc(p, 1 << 20));
    sr_alloc_fail_after(-1);
    assert_string_equal(p, "kept");
    sr_free(p);
}

static void test_footprint(void **state)
{
    (void)state;
    sr_alloc_tune_for_server(); /* allocation keeps working after tuning */
    assert_int_equal(sr_alloc_footprint(NULL), 0);
    void *p = sr_malloc(100);
    assert_true(sr_alloc_footprint(p) >= 100);
    sr_free(p);
    sr_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_after_k),
        cmocka_unit_test(test_failed_realloc_keeps_the_block),
        cmocka_unit_test(test_footprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
