/* Unit tests for common/log and common/err: level parsing, the threshold,
 * the one-line format, and error names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs the logging calls with stderr sent to a temporary file; returns
 * what was written (caller frees). */
static char *capture(void (*fn)(void))
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(fileno(stderr));
    dup2(fileno(tmp), fileno(stderr));
    fn();
    fflush(stderr);
    dup2(saved, fileno(stderr));
    close(saved);
    long n = ftell(tmp);
    char *text = calloc(1, (size_t)n + 1);
    rewind(tmp);
    assert_int_equal(fread(text, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return text;
}

static void log_some(void)
{
    sr_log_set_level(SR_LOG_WARN);
    sr_log_info("hidden %d", 1);
    sr_log_warn("shown %d", 2);
    sr_log_error("%s", "also shown");
    sr_log_set_level(SR_LOG_INFO);
}

static void test_threshold_and_format(void **state)
{
    (void)state;
    char *out = capture(log_some);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "Z warn  shown 2\n"));
    assert_non_null(strstr(out, "Z error also shown\n"));
    assert_int_equal(out[4], '-'); /* 2026-11-25T... */
    assert_int_equal(out[10], 'T');
    free(out);
}

static void log_long(void)
{
    char big[4000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sr_log_error("%s", big);
}

static void test_long_lines_are_cut_not_split(void **state)
{
    (void)state;
    char *out = capture(log_long);
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* one line */
    assert_true(strlen(out) <= 1024);
    free(out);
}

static void test_level_names(void **state)
{
    (void)state;
    enum sr_log_level l;
    assert_int_equal(sr_log_parse_level("debug", &l), 0);
    assert_int_equal(l, SR_LOG_DEBUG);
    assert_int_equal(sr_log_parse_level("off", &l), 0);
    assert_int_equal(l, SR_LOG_OFF);
    assert_int_equal(sr_log_parse_level("loud", &l), SR_ERR_INVALID);
}

static void test_error_names(void **state)
{
    (void)state;
    for (int e = SR_OK; e >= SR_ERR_IO; e--)
        assert_string_not_equal(sr_strerror(e), "unknown error");
    assert_string_equal(sr_strerror(-1000), "unknown error");
    assert_string_equal(sr_strerror(SR_ERR_NO_WORKER), "no healthy worker available");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold_and_format),
        cmocka_unit_test(test_long_lines_are_cut_not_split),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_error_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
