/* Unit tests for common/route_key: block digests of routing text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/route_key.h"

#include <string.h>

static void make(const char *text, size_t len, unsigned char *out)
{
    assert_true(sr_route_key_len(len) <= 4096);
    sr_route_key_make(text, len, out);
}

static void test_one_digest_per_started_block(void **state)
{
    (void)state;
    assert_int_equal(sr_route_key_len(0), 0);
    assert_int_equal(sr_route_key_len(1), 4);
    assert_int_equal(sr_route_key_len(64), 4);
    assert_int_equal(sr_route_key_len(65), 8);
    assert_int_equal(sr_route_key_len(64 * 100), 400);
    assert_int_equal(SR_ROUTE_KEY_UNIT, 16);
}

/* Prompts share a key prefix exactly as far as they share whole blocks. */
static void test_shared_blocks_share_digests(void **state)
{
    (void)state;
    char a[640], b[640];
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = b[i] = (char)('a' + i % 23);
    b[200] = '#'; /* in block 3 (bytes 192..255) */
    unsigned char ka[40], kb[40];
    make(a, sizeof(a), ka);
    make(b, sizeof(b), kb);
    assert_memory_equal(ka, kb, 3 * 4);
    assert_memory_not_equal(ka + 12, kb + 12, 4);
    assert_memory_equal(ka + 16, kb + 16, 6 * 4); /* later blocks equal again: no chaining */
}

/* The same bytes always give the same key (every replica agrees), and a
 * short tail differs from the full block it starts. */
static void test_deterministic_and_tail_length_counts(void **state)
{
    (void)state;
    const char *text = "You are a helpful assistant. Answer briefly and cite your sources.";
    unsigned char k1[8], k2[8], k3[8];
    make(text, strlen(text), k1);
    make(text, strlen(text), k2);
    assert_memory_equal(k1, k2, 8);
    make(text, 10, k3);
    make(text, 11, k2);
    assert_memory_not_equal(k3, k2, 4);
    /* Padding zeros are not text: "ab" and "ab\0" differ. */
    make("ab\0", 3, k3);
    make("ab", 2, k2);
    assert_memory_not_equal(k3, k2, 4);
    /* Known values: the format is a contract between replicas (a change
     * needs a new wire version, sync/wire.h). */
    unsigned char k[8];
    make("hello", 5, k);
    static const unsigned char hello[4] = {0x00, 0x21, 0xad, 0xde};
    assert_memory_equal(k, hello, 4);
    char t[100];
    for (int i = 0; i < 100; i++)
        t[i] = (char)('a' + i % 26);
    make(t, sizeof(t), k);
    static const unsigned char two[8] = {0x71, 0xc5, 0x92, 0x50, 0xd6, 0x1a, 0x79, 0x06};
    assert_memory_equal(k, two, 8);
}

/* One changed byte anywhere in a block changes its digest (no blind spot
 * in the block's layout). */
static void test_every_byte_counts(void **state)
{
    (void)state;
    unsigned char block[64], base[4], other[4];
    for (int i = 0; i < 64; i++)
        block[i] = (unsigned char)(i * 7 + 3);
    make((const char *)block, 64, base);
    for (int i = 0; i < 64; i++) {
        block[i] ^= 1;
        make((const char *)block, 64, other);
        assert_memory_not_equal(base, other, 4);
        block[i] ^= 1;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_digest_per_started_block),
        cmocka_unit_test(test_shared_blocks_share_digests),
        cmocka_unit_test(test_deterministic_and_tail_length_counts),
        cmocka_unit_test(test_every_byte_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
