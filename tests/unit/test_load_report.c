/* Unit tests for dataplane/load_report: SGLang's /get_load (per-rank array,
 * the old token-only object), the /metrics gauges of SGLang, vLLM and
 * llama.cpp, and what makes a body unusable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "dataplane/load_report.h"

#include <string.h>

static int get_load(const char *body, struct sr_load_report *out)
{
    return sr_load_report_from_get_load(body, strlen(body), out);
}

static int metrics(const char *text, struct sr_load_report *out)
{
    return sr_load_report_from_metrics(text, strlen(text), out);
}

static void test_sglang_array_sums_the_ranks(void **state)
{
    (void)state;
    struct sr_load_report r;
    /* num_reqs is running + waiting: 7 = 4 running + 3 waiting. */
    assert_int_equal(get_load("[{\"dp_rank\":0,\"num_reqs\":7,\"num_waiting_reqs\":3,"
                              "\"num_tokens\":900,\"num_pending_tokens\":5,\"ts_tic\":1.5}]",
                              &r),
                     SR_LOAD_REQUESTS);
    assert_int_equal(r.running, 4);
    assert_int_equal(r.waiting, 3);
    assert_int_equal(r.tokens, 900);
    assert_string_equal(r.engine, "sglang");
    assert_int_equal(get_load("[{\"dp_rank\":0,\"num_reqs\":2,\"num_waiting_reqs\":0,"
                              "\"num_tokens\":10},"
                              "{\"dp_rank\":1,\"num_reqs\":5,\"num_waiting_reqs\":5,"
                              "\"num_tokens\":20}]",
                              &r),
                     SR_LOAD_REQUESTS);
    assert_int_equal(r.running, 2);
    assert_int_equal(r.waiting, 5);
    assert_int_equal(r.tokens, 30);
    /* A version that counts pages, not tokens: the requests still count. */
    assert_int_equal(
        get_load("[{\"dp_rank\":0,\"num_reqs\":1,\"num_waiting_reqs\":0,\"num_pages\":3}]", &r),
        SR_LOAD_REQUESTS);
    assert_int_equal(r.running, 1);
    assert_int_equal(r.tokens, -1);
}

static void test_old_object_is_tokens_only(void **state)
{
    (void)state;
    struct sr_load_report r;
    assert_int_equal(get_load("{\"load\": 4096}", &r), SR_LOAD_TOKENS_ONLY);
    assert_int_equal(r.tokens, 4096);
    assert_int_equal(r.running, -1);
    assert_int_equal(r.waiting, -1);
}

static void test_unusable_get_load_bodies(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "{\"detail\":\"Not Found\"}",
        "[]", /* no fresh rank */
        "[1]",
        "[{\"num_reqs\":1}]",
        "[{\"num_reqs\":1,\"num_waiting_reqs\":2}]", /* more waiting than in all */
        "[{\"num_reqs\":-1,\"num_waiting_reqs\":0}]",
        "[{\"num_reqs\":1.0,\"num_waiting_reqs\":0}]",
        "[{\"num_reqs\":\"1\",\"num_waiting_reqs\":0}]",
        "[{\"num_reqs\":1,\"num_waiting_reqs\":0,\"num_tokens\":null}]",
        "[{\"num_reqs\":1,\"num_waiting_reqs\":0,\"num_tokens\":-5}]",
        "[{\"num_reqs\":1,\"num_waiting_reqs\":0,\"num_reqs\":2}]", /* duplicate key */
        "[{\"num_reqs\":1000000001,\"num_waiting_reqs\":0}]",
        "[{\"num_reqs\":600000000,\"num_waiting_reqs\":0},"
        "{\"num_reqs\":600000000,\"num_waiting_reqs\":0}]", /* the sum overflows the ceiling */
        "{\"load\":-1}",
        "{\"load\":\"3\"}",
        "[{\"num_reqs\":1,\"num_waiting_reqs\":0}] trailing",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sr_load_report r;
        if (get_load(bad[i], &r) != SR_ERR_INVALID)
            fail_msg("accepted: %s", bad[i]);
    }
}

static void test_metrics_of_each_engine(void **state)
{
    (void)state;
    struct sr_load_report r;
    assert_int_equal(metrics("# TYPE sglang:num_running_reqs gauge\n"
                             "sglang:num_running_reqs{model_name=\"m\"} 3\n"
                             "sglang:num_queue_reqs{model_name=\"m\"} 9\n"
                             "sglang:token_usage{model_name=\"m\"} 0.5\n",
                             &r),
                     0);
    assert_int_equal(r.running, 3);
    assert_int_equal(r.waiting, 9);
    assert_int_equal(r.tokens, -1);
    assert_string_equal(r.engine, "sglang");
    /* vLLM: floats, one label set per engine, summed. */
    assert_int_equal(metrics("vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 2.0\n"
                             "vllm:num_requests_running{engine=\"1\",model_name=\"m\"} 1.0\n"
                             "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 4.0\n"
                             "vllm:num_requests_waiting{engine=\"1\",model_name=\"m\"} 0.0\n"
                             "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} 0.25\n",
                             &r),
                     0);
    assert_int_equal(r.running, 3);
    assert_int_equal(r.waiting, 4);
    assert_string_equal(r.engine, "vllm");
    assert_int_equal(metrics("llamacpp:kv_cache_tokens 512\nllamacpp:requests_processing 1\n"
                             "llamacpp:requests_deferred 6\n",
                             &r),
                     0);
    assert_int_equal(r.running, 1);
    assert_int_equal(r.waiting, 6);
    assert_string_equal(r.engine, "llamacpp");
}

static void test_metrics_without_a_whole_family(void **state)
{
    (void)state;
    struct sr_load_report r;
    assert_int_equal(metrics("", &r), SR_ERR_NOT_FOUND);
    assert_int_equal(metrics("process_cpu_seconds_total 1.5\n", &r), SR_ERR_NOT_FOUND);
    /* One gauge of a family is not enough (and families do not mix). */
    assert_int_equal(
        metrics("vllm:num_requests_running 1\nsglang:num_queue_reqs{model_name=\"m\"} 2\n", &r),
        SR_ERR_NOT_FOUND);
    /* A broken line anywhere spoils the whole text. */
    assert_int_equal(metrics("llamacpp:requests_processing 1\nllamacpp:requests_deferred 0\n"
                             "garbage line\n",
                             &r),
                     SR_ERR_INVALID);
    /* Gauges that are not counts. */
    static const char *const bad[] = {
        "llamacpp:requests_processing 1.5\nllamacpp:requests_deferred 0\n",
        "llamacpp:requests_processing -1\nllamacpp:requests_deferred 0\n",
        "llamacpp:requests_processing NaN\nllamacpp:requests_deferred 0\n",
        "llamacpp:requests_processing 1\nllamacpp:requests_deferred +Inf\n",
        "llamacpp:requests_processing 1e10\nllamacpp:requests_deferred 0\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (metrics(bad[i], &r) != SR_ERR_INVALID)
            fail_msg("accepted: %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sglang_array_sums_the_ranks),
        cmocka_unit_test(test_old_object_is_tokens_only),
        cmocka_unit_test(test_unusable_get_load_bodies),
        cmocka_unit_test(test_metrics_of_each_engine),
        cmocka_unit_test(test_metrics_without_a_whole_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
