/* route_key: block digests of routing text (see route_key.h). */
#include "route_key.h"

#include <stdint.h>
#include <string.h>

/* Odd constants with well-mixed bits (digits of pi and e, in hex). */
static const uint64_t k[6] = {
    0x243f6a8885a308d3ull, 0x13198a2e03707345ull, 0xa4093822299f31d1ull,
    0x082efa98ec4e6c89ull, 0xb7e151628aed2a6bull, 0x9cf4f3c762e7160full,
};

static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* The two halves of the 128-bit product, folded: every output bit depends
 * on every input bit of both factors. */
static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
    __uint128_t p = (__uint128_t)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
}

/* One block of exactly SR_ROUTE_KEY_BLOCK bytes (zero-padded by the caller
 * when shorter), n its real length. Four independent products, so they
 * overlap in the pipeline. */
static uint32_t digest(const unsigned char *b, size_t n)
{
    uint64_t h0 = fold_mul(load_le64(b) ^ k[0], load_le64(b + 8) ^ k[1]);
    uint64_t h1 = fold_mul(load_le64(b + 16) ^ k[2], load_le64(b + 24) ^ k[3]);
    uint64_t h2 = fold_mul(load_le64(b + 32) ^ k[1], load_le64(b + 40) ^ k[4]);
    uint64_t h3 = fold_mul(load_le64(b + 48) ^ k[3], load_le64(b + 56) ^ k[5]);
    uint64_t h = fold_mul(h0 ^ k[4] ^ (uint64_t)n, h1 ^ k[5]);
    h = fold_mul(h ^ h2 ^ k[2], h3 ^ k[0]);
    return (uint32_t)(h ^ (h >> 32));
}

void sr_route_key_make(const void *text, size_t len, unsigned char *out)
{
    const unsigned char *p = text;
    while (len > 0) {
        unsigned char tail[SR_ROUTE_KEY_BLOCK];
        size_t n = len < SR_ROUTE_KEY_BLOCK ? len : SR_ROUTE_KEY_BLOCK;
        const unsigned char *b = p;
        if (n < SR_ROUTE_KEY_BLOCK) {
            memset(tail, 0, sizeof(tail));
            memcpy(tail, p, n);
            b = tail;
        }
        uint32_t d = digest(b, n);
        out[0] = (unsigned char)d;
        out[1] = (unsigned char)(d >> 8);
        out[2] = (unsigned char)(d >> 16);
        out[3] = (unsigned char)(d >> 24);
        out += SR_ROUTE_KEY_DIGEST;
        p += n;
        len -= n;
    }
}
