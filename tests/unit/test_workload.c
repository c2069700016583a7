/* Unit tests for the load generator's workloads: determinism, the
 * shared-prefix structure its parameters promise, and trace text sharing
 * exactly what the hash ids share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "tests/bench/loadgen/workload.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t common_prefix(const struct sr_wl_request *a, const struct sr_wl_request *b)
{
    size_t n = a->prompt_len < b->prompt_len ? a->prompt_len : b->prompt_len, i = 0;
    while (i < n && a->prompt[i] == b->prompt[i])
        i++;
    return i;
}

static struct sr_wl_params shared(uint64_t seed)
{
    return (struct sr_wl_params){.kind = SR_WL_SHARED_PREFIX,
                                 .seed = seed,
                                 .groups = 4,
                                 .prompts_per_group = 5,
                                 .system_tokens = 100,
                                 .question_tokens = 20,
                                 .output_tokens = 8};
}

static void test_shared_prefix_structure(void **state)
{
    (void)state;
    struct sr_wl_params p = shared(7);
    struct sr_workload w;
    char err[200];
    assert_int_equal(sr_workload_build(&p, &w, err, sizeof(err)), 0);
    assert_int_equal(w.n, 20);
    size_t per_group[4] = {0};
    for (size_t i = 0; i < w.n; i++) {
        assert_int_equal(w.reqs[i].prompt_len, (100 + 20) * 4);
        assert_int_equal(w.reqs[i].output_tokens, 8);
        per_group[w.reqs[i].group]++;
        for (size_t j = 0; j < w.n; j++) {
            if (i == j)
                continue;
            size_t c = common_prefix(&w.reqs[i], &w.reqs[j]);
            if (w.reqs[i].group == w.reqs[j].group) {
                assert_true(c >= 400); /* the whole system prompt */
                assert_true(c < 480);  /* but not the question */
            } else {
                assert_true(c < 400);
            }
        }
    }
    for (int g = 0; g < 4; g++)
        assert_int_equal(per_group[g], 5);
    /* Shuffled: the first five are not all one group. */
    bool mixed = false;
    for (size_t i = 1; i < 5; i++)
        mixed |= w.reqs[i].group != w.reqs[0].group;
    assert_true(mixed);
    sr_workload_free(&w);
}

static void test_deterministic_by_seed(void **state)
{
    (void)state;
    struct sr_wl_params p = shared(11);
    struct sr_workload a, b, c;
    char err[200];
    assert_int_equal(sr_workload_build(&p, &a, err, sizeof(err)), 0);
    assert_int_equal(sr_workload_build(&p, &b, err, sizeof(err)), 0);
    p.seed = 12;
    assert_int_equal(sr_workload_build(&p, &c, err, sizeof(err)), 0);
    bool differs = false;
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.reqs[i].group, b.reqs[i].group);
        assert_memory_equal(a.reqs[i].prompt, b.reqs[i].prompt, a.reqs[i].prompt_len);
        differs |= memcmp(a.reqs[i].prompt, c.reqs[i].prompt, a.reqs[i].prompt_len) != 0;
    }
    assert_true(differs);
    sr_workload_free(&a);
    sr_workload_free(&b);
    sr_workload_free(&c);
}

static void test_multi_turn_messages(void **state)
{
    (void)state;
    struct sr_wl_params p = {.kind = SR_WL_MULTI_TURN,
                             .seed = 3,
                             .users = 3,
                             .turns = 4,
                             .message_tokens = 10,
                             .output_tokens = 5};
    struct sr_workload w;
    char err[200];
    assert_int_equal(sr_workload_build(&p, &w, err, sizeof(err)), 0);
    assert_int_equal(w.n, 12);
    for (size_t i = 0; i < w.n; i++) {
        assert_int_equal(w.reqs[i].turn, i / 3); /* turn by turn */
        assert_int_equal(w.reqs[i].group, i % 3);
        assert_int_equal(w.reqs[i].prompt_len, 40);
    }
    assert_memory_not_equal(w.reqs[0].prompt, w.reqs[3].prompt, 40);
    sr_workload_free(&w);
}

static void test_trace_text_shares_what_the_ids_share(void **state)
{
    (void)state;
    char path[] = "/tmp/test_workload_traceXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "{\"timestamp\": 0, \"input_length\": 1500, \"output_length\": 3, "
               "\"hash_ids\": [1, 2, 3]}\n"
               "{\"timestamp\": 250, \"input_length\": 1536, \"output_length\": 4, "
               "\"hash_ids\": [1, 2, 9]}\n"
               "\n"
               "{\"timestamp\": 900, \"input_length\": 600, \"output_length\": 1, "
               "\"hash_ids\": [7, 8]}\n");
    fclose(f);
    struct sr_wl_params p = {.kind = SR_WL_TRACE, .seed = 5, .trace_path = path};
    struct sr_workload w;
    char err[200];
    assert_int_equal(sr_workload_build(&p, &w, err, sizeof(err)), 0);
    assert_int_equal(w.n, 3);
    assert_true(w.reqs[1].arrival_ms == 250);
    assert_int_equal(w.reqs[0].prompt_len, 1500 * 4);
    assert_int_equal(w.reqs[1].nhash, 3);
    assert_int_equal(w.reqs[1].hash_ids[2], 9);
    size_t block = 512 * 4;
    size_t c = common_prefix(&w.reqs[0], &w.reqs[1]);
    assert_true(c >= 2 * block); /* ids 1, 2 */
    assert_true(c < 3 * block);  /* 3 vs 9 */
    assert_true(common_prefix(&w.reqs[0], &w.reqs[2]) < block);
    sr_workload_free(&w);

    /* A quarter scale: lengths and blocks shrink together, the sharing stays. */
    p.length_scale = 0.25;
    assert_int_equal(sr_workload_build(&p, &w, err, sizeof(err)), 0);
    assert_int_equal(w.reqs[0].prompt_len, 375 * 4);
    assert_int_equal(w.reqs[1].output_tokens, 1);
    assert_int_equal(w.reqs[2].output_tokens, 1); /* never below one */
    block = 128 * 4;
    c = common_prefix(&w.reqs[0], &w.reqs[1]);
    assert_true(c >= 2 * block);
    assert_true(c < 3 * block);
    sr_workload_free(&w);
    p.length_scale = 0;

    p.max_requests = 2;
    assert_int_equal(sr_workload_build(&p, &w, err, sizeof(err)), 0);
    assert_int_equal(w.n, 2);
    sr_workload_free(&w);

    f = fopen(path, "w");
    fprintf(f, "{\"timestamp\": 0}\n");
    fclose(f);
    assert_int_equal(sr_workload_build(&p, &w, err, sizeof(err)), SR_ERR_INVALID);
    assert_non_null(strstr(err, "line 1"));
    unlink(path);
    p.trace_path = "/nonexistent/trace.jsonl";
    assert_int_equal(sr_workload_build(&p, &w, err, sizeof(err)), SR_ERR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_prefix_structure),
        cmocka_unit_test(test_deterministic_by_seed),
        cmocka_unit_test(test_multi_turn_messages),
        cmocka_unit_test(test_trace_text_shares_what_the_ids_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
