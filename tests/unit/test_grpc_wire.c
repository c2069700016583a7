/* Unit tests for controlplane/grpc_wire: framing, the NUL check before
 * unpacking, timeouts, status names, grpc-message encoding. */
#include "controlplane/grpc_wire.h"

#include "sglang/router/admin/v1/admin.pb-c.h"

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

#define DESC(name) (&sglang__router__admin__v1__##name##__descriptor)

static void test_strings_without_nul(void **state)
{
    (void)state;
    /* RemoveWorkersRequest { urls: "http://w:1" , urls: "http://w:1\0evil" } */
    static const uint8_t clean[] = "\x0a\x0ahttp://w:1";
    static const uint8_t nul[] = "\x0a\x0ahttp://w:1\x0a\x0fhttp://w:1\0evil";
    assert_true(
        sr_grpc_strings_without_nul(DESC(remove_workers_request), clean, sizeof(clean) - 1));
    assert_false(sr_grpc_strings_without_nul(DESC(remove_workers_request), nul, sizeof(nul) - 1));
    /* Nested: UpdateConfigRequest { config { policy: "random\0x" } } */
    static const uint8_t nested[] = "\x0a\x0a\x0a\x08random\0x";
    assert_false(
        sr_grpc_strings_without_nul(DESC(update_config_request), nested, sizeof(nested) - 1));
    /* A NUL in a bytes-like place that is not a string field passes. */
    static const uint8_t other[] = "\x12\x03a\0b"; /* field 2: unknown */
    assert_true(
        sr_grpc_strings_without_nul(DESC(remove_workers_request), other, sizeof(other) - 1));
    /* Not a message at all: unpacking reports it. */
    static const uint8_t junk[] = "\x0a\x7f";
    assert_true(sr_grpc_strings_without_nul(DESC(remove_workers_request), junk, sizeof(junk) - 1));
}

/* The check stepped over a fixed64 or fixed32 value without looking at
 * what was left: a message ending in a cut-short one moved its pointer past
 * the end of the buffer (undefined behaviour, though nothing was read). */
static void test_strings_fixed_cut_short(void **state)
{
    (void)state;
    uint8_t buf[16];
    memcpy(buf, "\x11\x01\x02\x03", 4); /* field 2, fixed64, 3 of 8 bytes */
    assert_true(sr_grpc_strings_without_nul(DESC(remove_workers_request), buf, 4));
    memcpy(buf, "\x15\x01", 2); /* field 2, fixed32, 1 of 4 bytes */
    assert_true(sr_grpc_strings_without_nul(DESC(remove_workers_request), buf, 2));
    /* Whole ones are stepped over and the fields after them are checked. */
    memcpy(buf, "\x11\x01\x02\x03\x04\x05\x06\x07\x08\x0a\x02\0x", 13);
    assert_false(sr_grpc_strings_without_nul(DESC(remove_workers_request), buf, 13));
}

/* Field numbers past 32 bits were truncated onto a real field; protobuf-c
 * refuses such tags, so the check now leaves them to it. */
static void test_strings_huge_field_number(void **state)
{
    (void)state;
    /* key = (2^32 + 1) << 3 | 2: field 1 once truncated */
    static const uint8_t msg[] = "\x8a\x80\x80\x80\x80\x01\x02a\0";
    assert_true(sr_grpc_strings_without_nul(DESC(remove_workers_request), msg, sizeof(msg) - 1));
    assert_null(
        protobuf_c_message_unpack(DESC(remove_workers_request), NULL, sizeof(msg) - 1, msg));
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
        cmocka_unit_test(test_strings_without_nul),
        cmocka_unit_test(test_strings_fixed_cut_short),
        cmocka_unit_test(test_strings_huge_field_number),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_message_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
