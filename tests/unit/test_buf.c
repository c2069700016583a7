/* Unit tests for common/buf: the ceiling, failure leaves the buffer as it
 * was, NUL termination, consume/take, and sr_grow's doubling and cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#include <string.h>

static void test_append_up_to_the_ceiling(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, 10);
    assert_int_equal(sr_buf_append_str(&b, "hello"), 0);
    assert_int_equal(sr_buf_append(&b, "world", 5), 0);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    assert_int_equal(sr_buf_append(&b, "!", 1), SR_ERR_TOO_LARGE);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.data, "helloworld");
    assert_int_equal(sr_buf_append(&b, "", 0), 0);
    sr_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.max, 10);
}

static void test_reserve_refuses_overflowing_sizes(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, SIZE_MAX);
    assert_int_equal(sr_buf_append_str(&b, "x"), 0);
    assert_int_equal(sr_buf_reserve(&b, SIZE_MAX), SR_ERR_TOO_LARGE);
    assert_string_equal(b.data, "x");
    sr_buf_free(&b);
}

static void test_failed_growth_keeps_the_bytes(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, 1 << 20);
    assert_int_equal(sr_buf_append_str(&b, "kept"), 0);
    sr_alloc_fail_after(0);
    char big[4096];
    memset(big, 'a', sizeof big);
    assert_int_equal(sr_buf_append(&b, big, sizeof big), SR_ERR_NOMEM);
    sr_alloc_fail_after(-1);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    sr_buf_free(&b);
}

static void test_appendf_and_ceiling(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, 12);
    assert_int_equal(sr_buf_appendf(&b, "%s=%d", "n", 42), 0);
    assert_string_equal(b.data, "n=42");
    assert_int_equal(sr_buf_appendf(&b, " %s", "too long to fit"), SR_ERR_TOO_LARGE);
    assert_string_equal(b.data, "n=42");
    sr_buf_free(&b);
}

static void test_tail_commit_consume_take(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, 100);
    assert_int_equal(sr_buf_reserve(&b, 6), 0);
    memcpy(sr_buf_tail(&b), "abcdef", 6);
    sr_buf_commit(&b, 6);
    assert_string_equal(b.data, "abcdef");
    sr_buf_consume(&b, 2);
    assert_string_equal(b.data, "cdef");
    size_t len = 0;
    char *p = sr_buf_take(&b, &len);
    assert_int_equal(len, 4);
    assert_string_equal(p, "cdef");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    sr_free(p);
    sr_buf_consume(&b, 0);
    sr_buf_reset(&b);
    sr_buf_free(&b);
}

static void test_grow_doubles_and_caps(void **state)
{
    (void)state;
    int *items = NULL;
    size_t cap = 0;
    assert_int_equal(sr_grow((void **)&items, &cap, 1, sizeof *items, 4, 20), 0);
    assert_int_equal(cap, 4);
    assert_int_equal(sr_grow((void **)&items, &cap, 5, sizeof *items, 4, 20), 0);
    assert_int_equal(cap, 8);
    assert_int_equal(sr_grow((void **)&items, &cap, 17, sizeof *items, 4, 20), 0);
    assert_int_equal(cap, 20);
    assert_int_equal(sr_grow((void **)&items, &cap, 21, sizeof *items, 4, 20), SR_ERR_TOO_LARGE);
    assert_int_equal(cap, 20);
    items[19] = 7;
    sr_alloc_fail_after(0);
    size_t cap2 = cap;
    int *p = items;
    assert_int_equal(sr_grow((void **)&items, &cap2, 19, sizeof *items, 4, 40), 0);
    assert_int_equal(sr_grow((void **)&items, &cap2, 30, sizeof *items, 4, 40), SR_ERR_NOMEM);
    sr_alloc_fail_after(-1);
    assert_ptr_equal(items, p);
    assert_int_equal(cap2, 20);
    assert_int_equal(sr_grow((void **)&items, &cap, SIZE_MAX / 2, sizeof *items, 4, SIZE_MAX),
                     SR_ERR_TOO_LARGE);
    sr_free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_up_to_the_ceiling),
        cmocka_unit_test(test_reserve_refuses_overflowing_sizes),
        cmocka_unit_test(test_failed_growth_keeps_the_bytes),
        cmocka_unit_test(test_appendf_and_ceiling),
        cmocka_unit_test(test_tail_commit_consume_take),
        cmocka_unit_test(test_grow_doubles_and_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
