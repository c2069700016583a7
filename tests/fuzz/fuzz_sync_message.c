/* libFuzzer target: sync/wire's decoders on arbitrary messages, as a
 * replica receives them from NATS. Whatever a decoder accepts must walk to
 * its end inside the message, and encode back to the same bytes. */
#include "common/buf.h"
#include "sync/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void must(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sr_sync_header h;
    if (sr_sync_decode_header(data, size, &h) != 0)
        return 0;
    const uint8_t *end = data + size;
    struct sr_buf again;
    sr_buf_init(&again, size + 64);
    struct sr_sync_cursor c;
    size_t at;
    if (h.type == SR_SYNC_LOAD && sr_sync_decode_load(data, size, &c) == 0) {
        struct sr_sync_load_entry e;
        must(sr_sync_encode_load_start(&again, &h, &at) == 0);
        uint32_t n = 0;
        while (sr_sync_next_load(&c, &e)) {
            must(c.p <= end);
            must(sr_sync_encode_load_entry(&again, &e) == 0);
            n++;
        }
        sr_sync_patch_u32(&again, at, n);
        must(again.len == size && memcmp(again.data, data, size) == 0);
    } else if (h.type == SR_SYNC_TOKENS && sr_sync_decode_tokens(data, size, &c) == 0) {
        struct sr_sync_tokens_entry e;
        must(sr_sync_encode_load_start(&again, &h, &at) == 0);
        uint32_t n = 0;
        while (sr_sync_next_tokens(&c, &e)) {
            must(c.p <= end);
            must(sr_sync_encode_tokens_entry(&again, &e) == 0);
            n++;
        }
        sr_sync_patch_u32(&again, at, n);
        must(again.len == size && memcmp(again.data, data, size) == 0);
    } else if (h.type == SR_SYNC_PLACE || h.type == SR_SYNC_SNAPSHOT) {
        uint32_t flags;
        if (sr_sync_decode_batch(data, size, &flags, &c) == 0) {
            struct sr_sync_place e;
            uint32_t n = 0;
            must(sr_sync_encode_batch_start(&again, &h, flags, &at) == 0);
            while (sr_sync_next_place(&c, &e)) {
                must(e.key + e.key_len <= end && e.key_len % 4 == 0 && e.key_len > 0);
                must(sr_sync_encode_place(&again, &e) == 0);
                n++;
            }
            sr_sync_patch_u32(&again, at, n);
            must(again.len == size && memcmp(again.data, data, size) == 0);
        }
    }
    sr_buf_free(&again);
    return 0;
}
