/* Unit tests for dataplane/h2_meter: the budget for HTTP/2 frames that carry
 * no request (issue 18's floods), fed byte streams as a client sends them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dataplane/h2_meter.h"

#include <string.h>

static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* One frame header (and payload of n zero bytes) into out; returns its size. */
static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, uint32_t stream, size_t n)
{
    out[0] = (uint8_t)(n >> 16);
    out[1] = (uint8_t)(n >> 8);
    out[2] = (uint8_t)n;
    out[3] = type;
    out[4] = flags;
    out[5] = (uint8_t)(stream >> 24);
    out[6] = (uint8_t)(stream >> 16);
    out[7] = (uint8_t)(stream >> 8);
    out[8] = (uint8_t)stream;
    memset(out + 9, 0, n);
    return 9 + n;
}

static struct sr_h2_meter started(uint64_t now)
{
    struct sr_h2_meter m;
    sr_h2_meter_init(&m, now);
    assert_int_equal(sr_h2_meter_feed(&m, preface, 24, now), 0);
    return m;
}

/* Sends the same frame until the meter refuses; returns how many went. */
static int flood(struct sr_h2_meter *m, uint8_t type, uint8_t flags, size_t payload, uint64_t now)
{
    uint8_t buf[64];
    size_t n = frame(buf, type, flags, 1, payload);
    for (int i = 0; i < 100000; i++)
        if (sr_h2_meter_feed(m, buf, n, now) != 0)
            return i;
    return -1;
}

static void test_each_useless_frame_kind_spends_the_budget(void **state)
{
    (void)state;
    static const struct {
        uint8_t type, flags;
        size_t payload;
        const char *why;
    } kinds[] = {
        {0x0, 0x0, 0, "empty DATA frames"},
        {0x2, 0x0, 5, "PRIORITY frames"},
        {0x8, 0x0, 4, "WINDOW_UPDATE frames"},
        {0xfa, 0x0, 3, "frames of unknown types"},
    };
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        struct sr_h2_meter m = started(1000);
        assert_int_equal(flood(&m, kinds[k].type, kinds[k].flags, kinds[k].payload, 1000),
                         SR_H2_METER_BURST);
        assert_string_equal(m.why, kinds[k].why);
        uint8_t any[16];
        assert_int_equal(sr_h2_meter_feed(&m, any, frame(any, 0x6, 0, 0, 0), 5000),
                         -1); /* sticky */
    }
}

static void test_requests_and_real_data_are_free(void **state)
{
    (void)state;
    struct sr_h2_meter m = started(0);
    uint8_t buf[64];
    for (int i = 0; i < 5000; i++) {
        /* HEADERS, a DATA frame with a body, an empty DATA that ends the stream,
         * and the two WINDOW_UPDATEs a reader sends per DATA frame received. */
        assert_int_equal(sr_h2_meter_feed(&m, buf, frame(buf, 0x1, 0x4, 1, 8), 0), 0);
        assert_int_equal(sr_h2_meter_feed(&m, buf, frame(buf, 0x0, 0x0, 1, 20), 0), 0);
        assert_int_equal(sr_h2_meter_feed(&m, buf, frame(buf, 0x0, 0x1, 1, 0), 0), 0);
        sr_h2_meter_data_sent(&m);
        for (int w = 0; w < 4; w++) /* 2 for the request, 2 for our DATA */
            assert_int_equal(sr_h2_meter_feed(&m, buf, frame(buf, 0x8, 0, w & 1, 4), 0), 0);
    }
    assert_true(m.tokens >= SR_H2_METER_BURST - 0.5);
}

static void test_budget_refills_with_time(void **state)
{
    (void)state;
    struct sr_h2_meter m = started(0);
    uint8_t buf[32];
    size_t len = frame(buf, 0x2, 0, 1, 5);
    for (int i = 0; i < SR_H2_METER_BURST; i++)
        assert_int_equal(sr_h2_meter_feed(&m, buf, len, 0), 0);
    /* A second later: SR_H2_METER_RATE more, and no more than that. */
    for (int i = 0; i < SR_H2_METER_RATE; i++)
        assert_int_equal(sr_h2_meter_feed(&m, buf, len, 1000), 0);
    assert_int_equal(sr_h2_meter_feed(&m, buf, len, 1000), -1);
}

static void test_frames_split_at_every_byte(void **state)
{
    (void)state;
    uint8_t stream[24 + 3 * 64];
    memcpy(stream, preface, 24);
    size_t n = 24;
    n += frame(stream + n, 0x1, 0x4, 1, 40); /* a payload that looks like frame headers */
    memset(stream + n - 40, 0x02, 40);
    n += frame(stream + n, 0x2, 0, 1, 5);
    struct sr_h2_meter m;
    sr_h2_meter_init(&m, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sr_h2_meter_feed(&m, stream + i, 1, 0), 0);
    assert_true(m.tokens > SR_H2_METER_BURST - 1.5 && m.tokens < SR_H2_METER_BURST - 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_useless_frame_kind_spends_the_budget),
        cmocka_unit_test(test_requests_and_real_data_are_free),
        cmocka_unit_test(test_budget_refills_with_time),
        cmocka_unit_test(test_frames_split_at_every_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
