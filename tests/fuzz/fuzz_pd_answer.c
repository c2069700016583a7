/* libFuzzer target: what the router does with worker answers and client
 * bodies in disaggregated serving. The input is split at its first 0xff
 * byte into a prefill answer and a decode answer: dataplane/pd_logprobs
 * merges them as whole answers and as streams fed in uneven pieces (the
 * stream's output must not depend on how the decode bytes were cut), and
 * dataplane/pd_body adds the bootstrap fields to the input when it ends
 * in '}' (the output must be the input with the fields spliced in). */
#include "common/err.h"
#include "dataplane/pd_body.h"
#include "dataplane/pd_logprobs.h"

#include <stdint.h>
#include <string.h>

static void merged(const char *pre, size_t plen, const char *dec, size_t dlen, bool stream,
                   size_t piece, struct sr_buf *out)
{
    struct sr_pd_merge m;
    sr_pd_merge_init(&m, stream, 1 << 20);
    sr_pd_merge_prefill(&m, pre, plen);
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < dlen; at += piece) {
        size_t n = dlen - at < piece ? dlen - at : piece;
        rc = sr_pd_merge_decode(&m, dec + at, n, out);
    }
    if (rc == 0)
        rc = sr_pd_merge_finish(&m, out);
    if (rc != 0 && rc != SR_ERR_TOO_LARGE && rc != SR_ERR_NOMEM)
        __builtin_trap();
    sr_pd_merge_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *split = memchr(text, 0xff, size);
    size_t plen = split ? (size_t)(split - text) : size / 2;
    const char *dec = split ? split + 1 : text + plen;
    size_t dlen = size - (size_t)(dec - text);

    struct sr_buf whole, one, seven;
    sr_buf_init(&whole, 1 << 22);
    sr_buf_init(&one, 1 << 22);
    sr_buf_init(&seven, 1 << 22);
    merged(text, plen, dec, dlen, false, dlen ? dlen : 1, &whole);
    merged(text, plen, dec, dlen, true, 1, &one);
    merged(text, plen, dec, dlen, true, 7, &seven);
    if (one.len != seven.len || (one.len && memcmp(one.data, seven.data, one.len) != 0))
        __builtin_trap();
    sr_buf_free(&whole);
    sr_buf_free(&one);
    sr_buf_free(&seven);

    struct sr_buf body;
    sr_buf_init(&body, size + 4096);
    uint64_t rooms[3] = {1, 2, 3};
    if (sr_pd_body_build(&body, text, size, "h", 8998, rooms, size % 4 == 3 ? 0 : size % 4) == 0) {
        /* The input's bytes up to its last member and from its '}' on are kept. */
        if (body.len <= size || memcmp(body.data + body.len - 1, text + size - 1, 1) != 0)
            __builtin_trap();
    }
    sr_buf_free(&body);
    return 0;
}
