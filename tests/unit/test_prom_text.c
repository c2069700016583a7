/* Unit tests for dataplane/prom_text: the Prometheus text format as the
 * engines write it (vLLM, llama.cpp, SGLang), sums over label sets, and
 * strictness: every malformed line fails the text with its number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "dataplane/prom_text.h"

#include <math.h>
#include <string.h>

struct seen {
    struct sr_prom_sample s[16];
    size_t n;
    int stop_at; /* return 7 at this sample (1-based); 0: never */
};

static int collect(void *ctx, const struct sr_prom_sample *s)
{
    struct seen *seen = ctx;
    if (seen->n < 16)
        seen->s[seen->n] = *s;
    seen->n++;
    return seen->stop_at && (int)seen->n == seen->stop_at ? 7 : 0;
}

static size_t parse_ok(const char *text, struct seen *seen)
{
    size_t bad = 0;
    int rc = sr_prom_text_parse(text, strlen(text), collect, seen, &bad);
    if (rc != 0)
        fail_msg("rejected at line %zu (rc %d): %s", bad, rc, text);
    return seen->n;
}

static size_t bad_line(const char *text)
{
    struct seen seen = {0};
    size_t bad = 0;
    int rc = sr_prom_text_parse(text, strlen(text), collect, &seen, &bad);
    if (rc != SR_ERR_INVALID)
        fail_msg("accepted (rc %d): %s", rc, text);
    return bad;
}

static bool name_is(const struct sr_prom_sample *s, const char *name)
{
    return s->name_len == strlen(name) && memcmp(s->name, name, s->name_len) == 0;
}

static void test_vllm_text(void **state)
{
    (void)state;
    struct seen seen = {0};
    const char *text =
        "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0\n"
        "vllm:num_requests_running{engine=\"1\",model_name=\"m\"} 2.0\n"
        "# TYPE vllm:e2e_request_latency_seconds histogram\n"
        "vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 9.0\n"
        "vllm:e2e_request_latency_seconds_sum{model_name=\"m\"} 1.5e1\n";
    assert_int_equal(parse_ok(text, &seen), 4);
    assert_true(name_is(&seen.s[0], "vllm:num_requests_running"));
    assert_int_equal(seen.s[0].labels_len, strlen("engine=\"0\",model_name=\"m\""));
    assert_memory_equal(seen.s[0].labels, "engine=\"0\"", 10);
    assert_true(seen.s[0].value == 3.0);
    assert_false(seen.s[0].has_timestamp);
    assert_true(seen.s[3].value == 15.0);

    const char *names[] = {"vllm:num_requests_running", "vllm:num_requests_waiting"};
    double sums[2];
    size_t counts[2];
    assert_int_equal(sr_prom_text_sum(text, strlen(text), names, 2, sums, counts, NULL), 0);
    assert_true(sums[0] == 5.0);
    assert_int_equal(counts[0], 2);
    assert_int_equal(counts[1], 0); /* absent, not zero */
}

static void test_llamacpp_text_without_labels(void **state)
{
    (void)state;
    struct seen seen = {0};
    assert_int_equal(parse_ok("# HELP llamacpp:requests_processing Number of requests "
                              "processing.\n# TYPE llamacpp:requests_processing gauge\n"
                              "llamacpp:requests_processing 1\nllamacpp:requests_deferred 0",
                              &seen),
                     2);
    assert_null(seen.s[0].labels);
    assert_int_equal(seen.s[0].labels_len, 0);
    assert_true(seen.s[1].value == 0); /* the last line may lack its LF */
}

static void test_lenient_where_the_format_is(void **state)
{
    (void)state;
    struct seen seen = {0};
    assert_int_equal(parse_ok("\n  \t\n"
                              "# a free comment, even with \\q or \"quotes\"\n"
                              "#\n"
                              "# HELP x\n"
                              "# HELP y text with \\\\ and \\n escapes\n"
                              "x{} 1\n"
                              "  x { a = \"v\" , b=\"w\", } \t -2.5e-3   1700000000000 \n"
                              "x{a=\"q\\\"uo\\\\te\\n\"} NaN\n"
                              "x +Inf\n"
                              "x -Inf -12\n"
                              "x .5\n"
                              "x 7.\n"
                              "# EOF\n",
                              &seen),
                     7);
    assert_true(seen.s[1].value == -2.5e-3);
    assert_true(seen.s[1].has_timestamp);
    assert_true(seen.s[1].timestamp_ms == 1700000000000LL);
    assert_true(isnan(seen.s[2].value));
    assert_true(isinf(seen.s[3].value) && seen.s[3].value > 0);
    assert_true(isinf(seen.s[4].value) && seen.s[4].value < 0);
    assert_true(seen.s[4].timestamp_ms == -12);
    assert_true(seen.s[5].value == 0.5);
    assert_true(seen.s[6].value == 7.0);
}

static void test_malformed_lines_are_named(void **state)
{
    (void)state;
    assert_int_equal(bad_line("x 1\ny\n"), 2);         /* no value */
    assert_int_equal(bad_line("x 1\n\nx 1 2 3\n"), 3); /* a third token */
    assert_int_equal(bad_line("x 1\r\n"), 1);          /* CR is not a blank */
    assert_int_equal(bad_line("1x 1\n"), 1);           /* name starts with a digit */
    assert_int_equal(bad_line("x-y 1\n"), 1);          /* '-' in a name */
    assert_int_equal(bad_line("x-1\n"), 1);            /* value glued to the name */
    assert_int_equal(bad_line("x{a=\"b\" 1\n"), 1);    /* unclosed braces */
    assert_int_equal(bad_line("x{a=\"b} 1\n"), 1);     /* unterminated value */
    assert_int_equal(bad_line("x{a=b} 1\n"), 1);       /* unquoted value */
    assert_int_equal(bad_line("x{a:b=\"c\"} 1\n"), 1); /* ':' in a label name */
    assert_int_equal(bad_line("x{,} 1\n"), 1);         /* a lone comma */
    assert_int_equal(bad_line("x{a=\"b\"c=\"d\"} 1\n"), 1);
    assert_int_equal(bad_line("x{a=\"\\t\"} 1\n"), 1); /* unknown escape */
    assert_int_equal(bad_line("x 0x10\n"), 1);         /* hex */
    assert_int_equal(bad_line("x inf\n"), 1);          /* spelled otherwise */
    assert_int_equal(bad_line("x 1e\n"), 1);
    assert_int_equal(bad_line("x .\n"), 1);
    assert_int_equal(bad_line("x 1 1.5\n"), 1); /* a fractional timestamp */
    assert_int_equal(bad_line("x 1 12345678901234567890\n"), 1);
    assert_int_equal(bad_line("# TYPE x\n"), 1);        /* no type */
    assert_int_equal(bad_line("# TYPE x gauges\n"), 1); /* no such type */
    assert_int_equal(bad_line("# TYPE x gauge extra\n"), 1);
    assert_int_equal(bad_line("# HELP\n"), 1);
    assert_int_equal(bad_line("# HELP 9x text\n"), 1);
    assert_int_equal(bad_line("# HELP x bad \\escape\n"), 1);
    const char nul[] = "x{a=\"\0\"} 1\n";
    size_t bad = 0;
    struct seen seen = {0};
    assert_int_equal(sr_prom_text_parse(nul, sizeof(nul) - 1, collect, &seen, &bad),
                     SR_ERR_INVALID);
    char longnum[100];
    memset(longnum, '1', sizeof(longnum));
    memcpy(longnum, "x ", 2);
    longnum[sizeof(longnum) - 1] = '\0';
    assert_int_equal(bad_line(longnum), 1); /* 97 digits: past the token ceiling */
}

static void test_callback_stops_the_parse(void **state)
{
    (void)state;
    struct seen seen = {.stop_at = 2};
    const char *text = "a 1\nb 2\nc 3\n";
    assert_int_equal(sr_prom_text_parse(text, strlen(text), collect, &seen, NULL), 7);
    assert_int_equal(seen.n, 2);
    /* A bad line after the stop is never read. */
    seen = (struct seen){.stop_at = 1};
    assert_int_equal(sr_prom_text_parse("a 1\n!!\n", 7, collect, &seen, NULL), 7);
}

static void test_empty_text_has_no_samples(void **state)
{
    (void)state;
    struct seen seen = {0};
    assert_int_equal(sr_prom_text_parse("", 0, collect, &seen, NULL), 0);
    assert_int_equal(seen.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vllm_text),
        cmocka_unit_test(test_llamacpp_text_without_labels),
        cmocka_unit_test(test_lenient_where_the_format_is),
        cmocka_unit_test(test_malformed_lines_are_named),
        cmocka_unit_test(test_callback_stops_the_parse),
        cmocka_unit_test(test_empty_text_has_no_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
