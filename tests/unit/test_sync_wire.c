/* Unit tests for sync/wire: the replica sync's messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "sync/wire.h"

#include <string.h>

static const struct sr_sync_header hdr = {SR_SYNC_PLACE, 0x11223344u, 0x0102030405060708ull,
                                          1700000000000ull};

static void test_place_batch_round_trip(void **state)
{
    (void)state;
    unsigned char key[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    struct sr_sync_place pl = {sr_sync_tag64("http://w:1"), 4096, key, sizeof(key)};
    struct sr_sync_place p2 = {sr_sync_tag64("http://w:2"), 7, key, 4};
    struct sr_buf b;
    sr_buf_init(&b, 1024);
    size_t at;
    assert_int_equal(sr_sync_encode_batch_start(&b, &hdr, 0, &at), 0);
    assert_int_equal(sr_sync_encode_place(&b, &pl), 0);
    assert_int_equal(sr_sync_encode_place(&b, &p2), 0);
    sr_sync_patch_u32(&b, at, 2);
    assert_int_equal(b.len, SR_SYNC_HEADER_LEN + SR_SYNC_BATCH_FIXED + sr_sync_place_size(12) +
                                sr_sync_place_size(4));
    struct sr_sync_header h;
    struct sr_sync_place out;
    struct sr_sync_cursor c;
    uint32_t flags;
    assert_int_equal(sr_sync_decode_header(b.data, b.len, &h), 0);
    assert_int_equal(h.type, SR_SYNC_PLACE);
    assert_int_equal(h.group, hdr.group);
    assert_true(h.replica == hdr.replica && h.sent_ms == hdr.sent_ms);
    assert_int_equal(sr_sync_decode_batch(b.data, b.len, &flags, &c), 0);
    assert_int_equal(flags, 0);
    assert_int_equal(sr_sync_next_place(&c, &out), 1);
    assert_true(out.worker == pl.worker);
    assert_int_equal(out.prefill, 4096);
    assert_int_equal(out.key_len, sizeof(key));
    assert_memory_equal(out.key, key, sizeof(key));
    assert_int_equal(sr_sync_next_place(&c, &out), 1);
    assert_true(out.worker == p2.worker && out.prefill == 7 && out.key_len == 4);
    assert_int_equal(sr_sync_next_place(&c, &out), 0);
    /* The little-endian layout is the contract: magic "SR", version 1. */
    assert_int_equal((unsigned char)b.data[0], 0x53);
    assert_int_equal((unsigned char)b.data[1], 0x52);
    assert_int_equal(b.data[2], 1);
    assert_int_equal(b.data[3], SR_SYNC_PLACE);
    /* Every truncation is refused. */
    for (size_t n = 0; n < b.len; n++)
        assert_true(sr_sync_decode_header(b.data, n, &h) != 0 ||
                    sr_sync_decode_batch(b.data, n, &flags, &c) != 0);
    /* A count above the entries, an entry running past the end, a key
     * that is not whole digests, trailing bytes. */
    sr_sync_patch_u32(&b, at, 3);
    assert_int_equal(sr_sync_decode_batch(b.data, b.len, &flags, &c), SR_ERR_INVALID);
    sr_sync_patch_u32(&b, at, 2);
    size_t klen_at = at + 4 + 12;
    sr_sync_patch_u32(&b, klen_at, 100);
    assert_int_equal(sr_sync_decode_batch(b.data, b.len, &flags, &c), SR_ERR_INVALID);
    sr_sync_patch_u32(&b, klen_at, 11);
    assert_int_equal(sr_sync_decode_batch(b.data, b.len, &flags, &c), SR_ERR_INVALID);
    sr_sync_patch_u32(&b, klen_at, 0);
    assert_int_equal(sr_sync_decode_batch(b.data, b.len, &flags, &c), SR_ERR_INVALID);
    sr_sync_patch_u32(&b, klen_at, 12);
    assert_int_equal(sr_buf_append(&b, "x", 1), 0);
    assert_int_equal(sr_sync_decode_batch(b.data, b.len, &flags, &c), SR_ERR_INVALID);
    sr_buf_free(&b);
}

static void test_bad_headers(void **state)
{
    (void)state;
    unsigned char m[SR_SYNC_HEADER_LEN] = {0x53, 0x52, 1, SR_SYNC_LOAD};
    struct sr_sync_header h;
    assert_int_equal(sr_sync_decode_header(m, sizeof(m), &h), 0);
    m[2] = 2; /* a future version */
    assert_int_equal(sr_sync_decode_header(m, sizeof(m), &h), SR_ERR_INVALID);
    m[2] = 1;
    m[3] = 9; /* unknown type */
    assert_int_equal(sr_sync_decode_header(m, sizeof(m), &h), SR_ERR_INVALID);
    m[3] = SR_SYNC_LOAD;
    m[0] = 'X';
    assert_int_equal(sr_sync_decode_header(m, sizeof(m), &h), SR_ERR_INVALID);
    assert_int_equal(sr_sync_decode_header("SR", 2, &h), SR_ERR_INVALID);
}

static void test_load_round_trip(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, 1024);
    size_t at;
    struct sr_sync_header h = hdr;
    h.type = SR_SYNC_LOAD;
    assert_int_equal(sr_sync_encode_load_start(&b, &h, &at), 0);
    struct sr_sync_load_entry e1 = {7, 3, 1000}, e2 = {9, 0, 0};
    assert_int_equal(sr_sync_encode_load_entry(&b, &e1), 0);
    assert_int_equal(sr_sync_encode_load_entry(&b, &e2), 0);
    sr_sync_patch_u32(&b, at, 2);
    struct sr_sync_cursor c;
    struct sr_sync_load_entry e;
    assert_int_equal(sr_sync_decode_load(b.data, b.len, &c), 0);
    assert_int_equal(sr_sync_next_load(&c, &e), 1);
    assert_true(e.worker == 7 && e.in_flight == 3 && e.prefill == 1000);
    assert_int_equal(sr_sync_next_load(&c, &e), 1);
    assert_true(e.worker == 9);
    assert_int_equal(sr_sync_next_load(&c, &e), 0);
    /* A count that does not match the bytes. */
    sr_sync_patch_u32(&b, at, 3);
    assert_int_equal(sr_sync_decode_load(b.data, b.len, &c), SR_ERR_INVALID);
    sr_sync_patch_u32(&b, at, 0xffffffffu);
    assert_int_equal(sr_sync_decode_load(b.data, b.len, &c), SR_ERR_INVALID);
    sr_buf_free(&b);
}

static void test_tokens_round_trip(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, 1024);
    size_t at;
    struct sr_sync_header h = hdr;
    h.type = SR_SYNC_TOKENS;
    assert_int_equal(sr_sync_encode_load_start(&b, &h, &at), 0);
    struct sr_sync_tokens_entry e1 = {7, 1234}, e2 = {9, 0};
    assert_int_equal(sr_sync_encode_tokens_entry(&b, &e1), 0);
    assert_int_equal(sr_sync_encode_tokens_entry(&b, &e2), 0);
    sr_sync_patch_u32(&b, at, 2);
    assert_int_equal(b.len, SR_SYNC_HEADER_LEN + 4 + 2 * 12);
    struct sr_sync_header got;
    assert_int_equal(sr_sync_decode_header(b.data, b.len, &got), 0);
    assert_int_equal(got.type, SR_SYNC_TOKENS);
    struct sr_sync_cursor c;
    struct sr_sync_tokens_entry e;
    assert_int_equal(sr_sync_decode_tokens(b.data, b.len, &c), 0);
    assert_int_equal(sr_sync_next_tokens(&c, &e), 1);
    assert_true(e.worker == 7 && e.tokens == 1234);
    assert_int_equal(sr_sync_next_tokens(&c, &e), 1);
    assert_true(e.worker == 9 && e.tokens == 0);
    assert_int_equal(sr_sync_next_tokens(&c, &e), 0);
    /* A count that does not match the bytes, and a LOAD's entry size. */
    sr_sync_patch_u32(&b, at, 3);
    assert_int_equal(sr_sync_decode_tokens(b.data, b.len, &c), SR_ERR_INVALID);
    sr_sync_patch_u32(&b, at, 2);
    assert_int_equal(sr_sync_decode_load(b.data, b.len, &c), SR_ERR_INVALID);
    sr_buf_free(&b);
}

static void test_snapshot_chunks_flag_the_last(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, 1024);
    size_t at;
    struct sr_sync_header h = hdr;
    h.type = SR_SYNC_SNAPSHOT;
    unsigned char k1[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct sr_sync_place e = {5, 0, k1, sizeof(k1)};
    assert_int_equal(sr_sync_encode_batch_start(&b, &h, SR_SYNC_SNAP_LAST, &at), 0);
    assert_int_equal(sr_sync_encode_place(&b, &e), 0);
    sr_sync_patch_u32(&b, at, 1);
    uint32_t flags;
    struct sr_sync_cursor c;
    struct sr_sync_place out;
    assert_int_equal(sr_sync_decode_batch(b.data, b.len, &flags, &c), 0);
    assert_int_equal(flags, SR_SYNC_SNAP_LAST);
    assert_int_equal(sr_sync_next_place(&c, &out), 1);
    assert_true(out.worker == 5 && out.key_len == 8);
    assert_memory_equal(out.key, k1, 8);
    sr_buf_free(&b);
}

static void test_tags(void **state)
{
    (void)state;
    assert_true(sr_sync_tag64("http://a:1") != sr_sync_tag64("http://a:2"));
    assert_true(sr_sync_tag32("default") != sr_sync_tag32("other"));
    assert_true(sr_sync_tag32("") == 2166136261u); /* FNV-1a's basis: the contract */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_place_batch_round_trip),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_load_round_trip),
        cmocka_unit_test(test_tokens_round_trip),
        cmocka_unit_test(test_snapshot_chunks_flag_the_last),
        cmocka_unit_test(test_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
