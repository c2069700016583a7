/* Unit tests for dataplane/routing_text: each route's text, escapes,
 * batches and ids, chat rendering, strictness on malformed JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "dataplane/routing_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct sr_text_buf buf;

static int teardown(void **state)
{
    (void)state;
    sr_text_buf_clear(&buf);
    return 0;
}

static struct sr_routing_text extract_ok(enum sr_text_source src, const char *body)
{
    struct sr_routing_text t;
    const char *why = NULL;
    int rc = sr_routing_text_extract(src, body, strlen(body), &buf, &t, &why);
    if (rc != 0)
        fail_msg("rejected %s: %s", body, why);
    return t;
}

static void assert_text(struct sr_routing_text t, const char *want)
{
    if (t.len != strlen(want) || memcmp(t.text, want, t.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)t.len, t.text, want);
}

static void test_generate(void **state)
{
    (void)state;
    assert_text(extract_ok(SR_TEXT_GENERATE, "{\"text\":\"Hello world\",\"sampling_params\":"
                                             "{\"max_new_tokens\":8,\"stop\":[\"a\",null]}}"),
                "Hello world");
    assert_text(
        extract_ok(SR_TEXT_GENERATE, " { \"rid\" : 1 , \"text\" : [ \"first\", \"second\" ] } "),
        "first");
    assert_text(extract_ok(SR_TEXT_GENERATE, "{\"input_ids\":[1, 22,333]}"), "1,22,333,");
    assert_text(extract_ok(SR_TEXT_GENERATE, "{\"input_ids\":[[5,6],[7]]}"), "5,6,");
    assert_text(extract_ok(SR_TEXT_GENERATE, "{\"sampling_params\":{}}"), "");
    /* Found by fuzzing: an empty first id list gave NULL + 0. */
    assert_text(extract_ok(SR_TEXT_GENERATE, "{\"input_ids\":[[],\"p\"]}"), "");
    struct sr_routing_text t = extract_ok(SR_TEXT_GENERATE, "{\"text\":\"x\",\"stream\":true}");
    assert_true(t.stream);
    t = extract_ok(SR_TEXT_GENERATE, "{\"stream\":false,\"text\":\"x\"}");
    assert_false(t.stream);
    /* A field of another route is not the text. */
    assert_text(extract_ok(SR_TEXT_GENERATE, "{\"prompt\":\"p\"}"), "");
}

/* The output limit the load model counts: each route's own field. */
static void test_max_tokens(void **state)
{
    (void)state;
    assert_int_equal(extract_ok(SR_TEXT_GENERATE, "{\"text\":\"x\",\"sampling_params\":"
                                                  "{\"temperature\":0,\"max_new_tokens\":37}}")
                         .max_tokens,
                     37);
    assert_int_equal(extract_ok(SR_TEXT_GENERATE, "{\"text\":\"x\"}").max_tokens, -1);
    /* Nested objects in sampling_params are skipped, not mistaken. */
    assert_int_equal(
        extract_ok(SR_TEXT_GENERATE,
                   "{\"sampling_params\":{\"json_schema\":{\"max_new_tokens\":1},\"n\":2}}")
            .max_tokens,
        -1);
    /* A batch's list of sampling params: no single limit. */
    assert_int_equal(
        extract_ok(SR_TEXT_GENERATE, "{\"sampling_params\":[{\"max_new_tokens\":5}]}").max_tokens,
        -1);
    /* OpenAI's fields; max_tokens on /generate is not SGLang's. */
    assert_int_equal(
        extract_ok(SR_TEXT_COMPLETIONS, "{\"prompt\":\"p\",\"max_tokens\":16}").max_tokens, 16);
    assert_int_equal(
        extract_ok(SR_TEXT_CHAT, "{\"messages\":[],\"max_completion_tokens\":900}").max_tokens,
        900);
    assert_int_equal(extract_ok(SR_TEXT_GENERATE, "{\"max_tokens\":16}").max_tokens, -1);
    /* null, negative, fractional, strings: no limit taken, nothing rejected. */
    assert_int_equal(extract_ok(SR_TEXT_CHAT, "{\"max_tokens\":null}").max_tokens, -1);
    assert_int_equal(extract_ok(SR_TEXT_CHAT, "{\"max_tokens\":-3}").max_tokens, -1);
    assert_int_equal(extract_ok(SR_TEXT_CHAT, "{\"max_tokens\":2.5}").max_tokens, -1);
    assert_int_equal(extract_ok(SR_TEXT_CHAT, "{\"max_tokens\":\"9\"}").max_tokens, -1);
    /* Huge values saturate instead of overflowing. */
    assert_true(extract_ok(SR_TEXT_CHAT, "{\"max_tokens\":99999999999999999999999999}").max_tokens >
                1000000000L);
    /* Malformed JSON inside sampling_params is still rejected. */
    struct sr_routing_text t;
    const char *why = NULL;
    const char *bad = "{\"sampling_params\":{\"max_new_tokens\" 3}}";
    assert_int_equal(sr_routing_text_extract(SR_TEXT_GENERATE, bad, strlen(bad), &buf, &t, &why),
                     SR_ERR_INVALID);
}

static void test_escapes_are_decoded(void **state)
{
    (void)state;
    assert_text(extract_ok(SR_TEXT_COMPLETIONS,
                           "{\"prompt\":\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\u4e2d\\ud83d\\ude00\"}"),
                "a\"b\\c/d\n\t\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
    /* Unescaped UTF-8 passes through as is, without a copy. */
    const char *body = "{\"prompt\":\"caf\xc3\xa9\"}";
    struct sr_routing_text t = extract_ok(SR_TEXT_COMPLETIONS, body);
    assert_ptr_equal(t.text, body + 11);
    assert_int_equal(t.len, 5);
    assert_text(extract_ok(SR_TEXT_COMPLETIONS, "{\"prompt\":[[1,2]],\"max_tokens\":3}"), "1,2,");
}

static void test_chat_renders_every_message_in_order(void **state)
{
    (void)state;
    const char *one =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},{\"type\":\"image_url\","
        "\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\",\"text\":\"there\"}],"
        "\"role\":\"user\"}],\"stream\":true}";
    struct sr_routing_text t = extract_ok(SR_TEXT_CHAT, one);
    assert_text(t, "<|system|>\nBe brief.\n<|user|>\nHi there\n");
    assert_true(t.stream);
    char first[256];
    snprintf(first, sizeof(first), "%.*s", (int)t.len, t.text);
    /* The next turn extends the previous turn's text. */
    const char *two =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":"
        "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi \"},{\"type\":\"text\","
        "\"text\":\"there\"}]},{\"role\":\"assistant\",\"content\":\"Hello\","
        "\"tool_calls\":null},{\"role\":\"user\",\"content\":\"Bye\"}]}";
    t = extract_ok(SR_TEXT_CHAT, two);
    assert_true(t.len > strlen(first));
    assert_memory_equal(t.text, first, strlen(first));
    assert_text(t,
                "<|system|>\nBe brief.\n<|user|>\nHi there\n<|assistant|>\nHello\n<|user|>\nBye\n");
}

static void test_malformed_bodies_are_rejected(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "   ",
        "[1]",
        "\"str\"",
        "{",
        "{\"text\"",
        "{\"text\":}",
        "{\"text\":\"abc}",
        "{\"text\":\"a\",}",
        "{\"text\":\"a\"} x",
        "{} x", /* an empty object skipped this check once */
        "{\"sampling_params\":{\"max_new_tokens\":1,}}",
        "{\"a\":tru}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":-}",
        "{\"a\":[1,]}",
        "{\"a\":{\"b\"}}",
        "{'a':1}",
        "{\"text\":5}",
        "{\"text\":{\"a\":1}}",
        "{\"input_ids\":[1.5]}",
        "{\"input_ids\":[\"a\"]}",
        "{\"text\":\"\\x\"}",
        "{\"text\":\"\\u12\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sr_routing_text t;
        const char *why = NULL;
        int rc = sr_routing_text_extract(SR_TEXT_GENERATE, bad[i], strlen(bad[i]), &buf, &t, &why);
        if (rc != SR_ERR_INVALID)
            fail_msg("accepted '%s'", bad[i]);
        assert_non_null(why);
    }
    static const char *bad_chat[] = {
        "{\"messages\":{}}",
        "{\"messages\":[1]}",
        "{\"messages\":[{\"role\":\"user\",}]}",
        "{\"messages\":[{\"content\":[{\"text\":}]}]}",
    };
    for (size_t i = 0; i < sizeof(bad_chat) / sizeof(bad_chat[0]); i++) {
        struct sr_routing_text t;
        const char *why = NULL;
        assert_int_equal(
            sr_routing_text_extract(SR_TEXT_CHAT, bad_chat[i], strlen(bad_chat[i]), &buf, &t, &why),
            SR_ERR_INVALID);
    }
}

static void test_deep_nesting_is_bounded(void **state)
{
    (void)state;
    char body[1024] = "{\"a\":";
    for (int i = 0; i < 200; i++)
        strcat(body, "[");
    struct sr_routing_text t;
    const char *why = NULL;
    assert_int_equal(sr_routing_text_extract(SR_TEXT_GENERATE, body, strlen(body), &buf, &t, &why),
                     SR_ERR_INVALID);
}

/* Not a timed assertion: prints the cost for a 4 KiB prompt (figures go to
 * tests/bench/RESULTS.md), and checks the result. */
static void test_speed_figure(void **state)
{
    (void)state;
    char *body = malloc(8192);
    /* 4 KiB of text with an escaped newline every 64 bytes, as prompts have. */
    char text[4097];
    for (int i = 0; i < 4096; i++)
        text[i] = i % 64 == 62 ? '\\' : i % 64 == 63 ? 'n' : "abcdefghij klmnop"[i % 17];
    text[4096] = '\0';
    int n = snprintf(body, 8192, "{\"model\":\"m\",\"prompt\":\"%s\",\"max_tokens\":16}", text);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    size_t total = 0;
    for (int i = 0; i < 20000; i++) {
        struct sr_routing_text t;
        const char *why;
        assert_int_equal(
            sr_routing_text_extract(SR_TEXT_COMPLETIONS, body, (size_t)n, &buf, &t, &why), 0);
        total += t.len;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(total, 20000u * (4096 - 64));
    double us =
        ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 20000 / 1e3;
    printf("BENCH routing_text_4k_prompt_us %.3f us\n", us);
    free(body);
}

static void test_model_batch_and_logprob_fields(void **state)
{
    (void)state;
    struct sr_routing_text t =
        extract_ok(SR_TEXT_CHAT, "{\"model\":\"org/m-1\",\"n\":3,\"messages\":[]}");
    assert_int_equal(t.model_len, 7);
    assert_memory_equal(t.model, "org/m-1", 7);
    assert_int_equal(t.batch, 3);
    t = extract_ok(SR_TEXT_CHAT, "{\"model\":null,\"n\":1,\"messages\":[]}");
    assert_null(t.model);
    assert_int_equal(t.batch, 0);
    t = extract_ok(SR_TEXT_GENERATE, "{\"text\":[\"a\",\"b\"],\"return_logprob\":true}");
    assert_int_equal(t.batch, 2);
    assert_true(t.return_logprob);
    assert_false(t.sets_bootstrap);
    t = extract_ok(SR_TEXT_GENERATE, "{\"input_ids\":[[1],[2],[3]]}");
    assert_int_equal(t.batch, 3);
    t = extract_ok(SR_TEXT_GENERATE, "{\"input_ids\":[1,2,3]}");
    assert_int_equal(t.batch, 0); /* one prompt of ids */
    t = extract_ok(SR_TEXT_COMPLETIONS, "{\"prompt\":[\"x\"],\"bootstrap_room\":1}");
    assert_int_equal(t.batch, 1); /* a list of one is a batch of one */
    assert_true(t.sets_bootstrap);
    t = extract_ok(SR_TEXT_GENERATE, "{\"text\":\"x\",\"return_logprob\":false,\"model\":7}");
    assert_false(t.return_logprob);
    assert_null(t.model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_generate, teardown),
        cmocka_unit_test_teardown(test_max_tokens, teardown),
        cmocka_unit_test_teardown(test_escapes_are_decoded, teardown),
        cmocka_unit_test_teardown(test_chat_renders_every_message_in_order, teardown),
        cmocka_unit_test_teardown(test_malformed_bodies_are_rejected, teardown),
        cmocka_unit_test_teardown(test_deep_nesting_is_bounded, teardown),
        cmocka_unit_test_teardown(test_model_batch_and_logprob_fields, teardown),
        cmocka_unit_test_teardown(test_speed_figure, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
