/* Unit tests for common/utf8: character-boundary flooring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/utf8.h"

#include <string.h>

static size_t floor_at(const char *s, size_t pos)
{
    return sr_utf8_floor((const unsigned char *)s, strlen(s), pos);
}

static void test_ascii_is_always_a_boundary(void **state)
{
    (void)state;
    for (size_t i = 0; i <= 5; i++)
        assert_int_equal(floor_at("hello", i), i);
    assert_int_equal(floor_at("hello", 99), 5);
}

static void test_multibyte_characters_are_never_split(void **state)
{
    (void)state;
    const char *s = "a\xc3\xa9"
                    "b\xe2\x82\xac"
                    "c\xf0\x9f\x98\x80";
    /* a=0 é=1..2 b=3 €=4..6 c=7 😀=8..11 */
    size_t want[] = {0, 1, 1, 3, 4, 4, 4, 7, 8, 8, 8, 8, 12};
    for (size_t i = 0; i <= 12; i++)
        assert_int_equal(floor_at(s, i), want[i]);
}

static void test_invalid_runs_back_off_at_most_three(void **state)
{
    (void)state;
    const char *s = "x\x80\x80\x80\x80\x80";
    assert_int_equal(floor_at(s, 5), 2);
    assert_int_equal(floor_at(s, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_is_always_a_boundary),
        cmocka_unit_test(test_multibyte_characters_are_never_split),
        cmocka_unit_test(test_invalid_runs_back_off_at_most_three),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
