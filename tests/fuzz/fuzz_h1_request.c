/* libFuzzer target: dataplane/h1_parser on arbitrary bytes, fed in pieces
 * whose sizes come from the input, with pipelined requests taken one at a
 * time as a connection would. Checks the views it hands out stay inside
 * what it owns (ASan) and that feeding never loops or overruns. */
#include "net/h1_parser.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] % 32 + 1; /* 1..32-byte pieces */
    data++;
    size--;
    struct sr_h1_limits limits = {
        .max_head_bytes = 4096, .max_headers = 32, .max_body_bytes = 8192};
    struct sr_h1_parser *p = sr_h1_parser_new(&limits);
    if (p == NULL)
        return 0;
    size_t off = 0;
    int requests = 0;
    while (off < size && requests < 64) {
        size_t len = size - off < piece ? size - off : piece;
        size_t used = 0;
        enum sr_h1_result r = sr_h1_parser_feed(p, (const char *)data + off, len, &used);
        if (used > len)
            __builtin_trap();
        off += used;
        if (r == SR_H1_ERROR) {
            int status = sr_h1_parser_error_status(p);
            if (status != 400 && status != 413 && status != 431 && status != 500)
                __builtin_trap();
            break;
        }
        if (r == SR_H1_REQUEST) {
            const struct sr_h1_request *req = sr_h1_parser_request(p);
            volatile size_t sum = 0; /* touch every view */
            for (size_t i = 0; i < req->nheaders; i++) {
                const struct sr_http_header *h = &req->headers[i];
                if (h->name_len)
                    sum += (unsigned char)h->name[h->name_len - 1];
                if (h->value_len)
                    sum += (unsigned char)h->value[h->value_len - 1];
            }
            if (req->body_len)
                sum += (unsigned char)req->body[req->body_len - 1];
            if (req->body[req->body_len] != '\0' || req->path_len > req->target_len)
                __builtin_trap();
            (void)sum;
            sr_h1_parser_next(p);
            requests++;
        }
    }
    sr_h1_parser_free(p);
    return 0;
}
