/* libFuzzer target: net/h1_response on arbitrary bytes, fed in pieces whose
 * sizes come from the input, pausing after some body pieces and re-feeding
 * the rest as the HTTP/1 client does, responses taken one at a time, the
 * end of the stream at the end. Checks the views it hands out stay inside
 * what it owns (ASan), that no more body arrives than was fed, and that
 * feeding never loops or overruns. */
#include "net/h1_response.h"

#include <stddef.h>
#include <stdint.h>

struct state {
    struct sr_h1_response_parser *p;
    size_t body, fed;
    unsigned pause_mask, pieces;
};

static int on_head(void *ctx, const struct sr_h1_response *r)
{
    (void)ctx;
    volatile size_t sum = 0; /* touch every view */
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct sr_http_header *h = &r->headers[i];
        if (h->name_len)
            sum += (unsigned char)h->name[h->name_len - 1];
        if (h->value_len)
            sum += (unsigned char)h->value[h->value_len - 1];
    }
    (void)sum;
    if (r->status < 0 || r->status > 999)
        __builtin_trap();
    return 0;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct state *s = ctx;
    volatile unsigned char last = len ? (unsigned char)data[len - 1] : 0;
    (void)last;
    s->body += len;
    if (s->body > s->fed)
        __builtin_trap();
    if (s->pause_mask & (1u << (s->pieces++ % 8)))
        sr_h1_response_parser_pause(s->p);
    return 0;
}

static const struct sr_h1_response_callbacks callbacks = {on_head, on_body};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t piece = (size_t)data[0] % 32 + 1; /* 1..32-byte pieces */
    struct state s = {.pause_mask = data[1]};
    data += 2;
    size -= 2;
    struct sr_h1_response_limits limits = {
        .max_head_bytes = 4096, .max_headers = 32, .max_body_bytes = 8192};
    s.p = sr_h1_response_parser_new(&limits, &callbacks, &s);
    if (s.p == NULL)
        return 0;
    size_t off = 0;
    int responses = 0, stalls = 0;
    enum sr_h1r_result r = SR_H1R_NEED_MORE;
    while (off < size && responses < 64 && stalls < 4) {
        size_t len = size - off < piece ? size - off : piece;
        size_t used = 0;
        s.fed = off + len;
        r = sr_h1_response_parser_feed(s.p, (const char *)data + off, len, &used);
        if (used > len)
            __builtin_trap();
        stalls = used == 0 ? stalls + 1 : 0;
        off += used;
        if (r == SR_H1R_ERROR)
            break;
        if (r == SR_H1R_DONE) {
            sr_h1_response_parser_reset(s.p);
            s.body = 0;
            responses++;
        }
    }
    if (r != SR_H1R_ERROR)
        (void)sr_h1_response_parser_eof(s.p);
    (void)sr_h1_response_parser_keep_alive(s.p);
    (void)sr_h1_response_parser_error(s.p);
    sr_h1_response_parser_free(s.p);
    return 0;
}
