/* Unit tests for controlplane/grpc_wire: framing, timeouts, status names,
 * grpc-message encoding. */
#include "controlplane/grpc_wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(sr_grpc_status_name(SR_GRPC_OK), "OK");
    assert_string_equal(sr_grpc_status_name(SR_GRPC_INVALID_ARGUMENT), "INVALID_ARGUMENT");
    assert_string_equal(sr_grpc_status_name(SR_GRPC_UNAUTHENTICATED), "UNAUTHENTICATED");
    assert_string_equal(sr_grpc_status_name(17), "UNKNOWN");
    assert_string_equal(sr_grpc_status_name(-1), "UNKNOWN");
}

static void test_framing(void **state)
{
    (void)state;
    uint8_t body[64];
    sr_grpc_prefix(body, 3);
    memcpy(body + 5, "abc", 3);
    const uint8_t *msg = NULL;
    size_t len = 0;
    assert_int_equal(sr_grpc_unframe(body, 8, &msg, &len), SR_GRPC_ONE_MESSAGE);
    assert_int_equal(len, 3);
    assert_memory_equal(msg, "abc", 3);
    assert_int_equal(sr_grpc_unframe(body, 0, &msg, &len), SR_GRPC_NO_MESSAGE);
    assert_int_equal(sr_grpc_unframe(body, 4, &msg, &len), SR_GRPC_TRUNCATED);
    assert_int_equal(sr_grpc_unframe(body, 7, &msg, &len), SR_GRPC_TRUNCATED);
    sr_grpc_prefix(body + 8, 0); /* a second (empty) message */
    assert_int_equal(sr_grpc_unframe(body, 13, &msg, &len), SR_GRPC_MANY);
    body[0] = 1;
    assert_int_equal(sr_grpc_unframe(body, 8, &msg, &len), SR_GRPC_COMPRESSED);

    uint32_t announced = 0;
    assert_false(sr_grpc_announced_length(body, 4, &announced));
    sr_grpc_prefix(body, 0x01020304);
    assert_true(sr_grpc_announced_length(body, 5, &announced));
    assert_int_equal(announced, 0x01020304);
    assert_int_equal(body[1], 1);
    assert_int_equal(body[4], 4);
}

static void test_timeouts(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_true(sr_grpc_parse_timeout("2S", 2, &ms));
    assert_int_equal(ms, 2000);
    assert_true(sr_grpc_parse_timeout("1H", 2, &ms));
    assert_int_equal(ms, 3600000);
    assert_true(sr_grpc_parse_timeout("3M", 2, &ms));
    assert_int_equal(ms, 180000);
    assert_true(sr_grpc_parse_timeout("250m", 4, &ms));
    assert_int_equal(ms, 250);
    assert_true(sr_grpc_parse_timeout("1500u", 5, &ms));
    assert_int_equal(ms, 2); /* rounded up */
    assert_true(sr_grpc_parse_timeout("1n", 2, &ms));
    assert_int_equal(ms, 1);
    assert_true(sr_grpc_parse_timeout("99999999S", 9, &ms));
    assert_false(sr_grpc_parse_timeout("123456789S", 10, &ms)); /* 9 digits */
    assert_false(sr_grpc_parse_timeout("S", 1, &ms));
    assert_false(sr_grpc_parse_timeout("10x", 3, &ms));
    assert_false(sr_grpc_parse_timeout("1 S", 3, &ms));
    assert_false(sr_grpc_parse_timeout("-1S", 3, &ms));

    char text[16];
    const uint64_t cases[] = {0, 1, 1500, 99999999, 100000000, 86400000ULL * 365 * 1000};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sr_grpc_format_timeout(cases[i], text);
        assert_true(sr_grpc_parse_timeout(text, strlen(text), &ms));
        assert_true(ms <= cases[i] || cases[i] == 0);
        assert_true(strlen(text) <= 9);
    }
}

static void test_message_encoding(void **state)
{
    (void)state;
    char out[64];
    size_t n = sr_grpc_percent_encode("100% bad\ncaf\xc3\xa9", out, sizeof(out));
    assert_string_equal(out, "100%25 bad%0Acaf%C3%A9");
    assert_int_equal(n, strlen(out));
    char back[64];
    strcpy(back, out);
    n = sr_grpc_percent_decode(back, strlen(back));
    assert_int_equal(n, strlen("100% bad\ncaf\xc3\xa9"));
    assert_memory_equal(back, "100% bad\ncaf\xc3\xa9", n);
    /* Truncation never splits an escape. */
    n = sr_grpc_percent_encode("%%%%", out, 8);
    assert_string_equal(out, "%25%25");
    /* Invalid escapes are kept. */
    strcpy(back, "50%zz%4");
    n = sr_grpc_percent_decode(back, strlen(back));
    assert_int_equal(n, 7);
    assert_memory_equal(back, "50%zz%4", 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_message_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
