/*
 * put: small appenders for building responses in an evbuffer without
 * printf (the simulator must outrun the proxies it is used to measure).
 */
#ifndef SR_SIM_PUT_H
#define SR_SIM_PUT_H

#include <event2/buffer.h>
#include <stdint.h>
#include <string.h>

static inline void put_str(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, s, strlen(s));
}

/* Decimal digits of v into the end of buf; returns the first digit. */
static inline char *put_digits(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static inline void put_u64(struct evbuffer *b, uint64_t v)
{
    char buf[24];
    char *p = put_digits(buf + sizeof(buf), v);
    evbuffer_add(b, p, (size_t)(buf + sizeof(buf) - p));
}

/* Non-negative seconds with six decimals. */
static inline void put_seconds(struct evbuffer *b, double s)
{
    uint64_t us = s > 0 ? (uint64_t)(s * 1e6 + 0.5) : 0;
    char buf[32];
    char *end = buf + sizeof(buf);
    char *p = put_digits(end, 1000000 + us % 1000000); /* "1dddddd" */
    p[0] = '.';
    p = put_digits(p, us / 1000000);
    evbuffer_add(b, p, (size_t)(end - p));
}

#endif
