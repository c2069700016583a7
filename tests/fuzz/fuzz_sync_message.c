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
    if (h.type == SR_SYNC_PLACE) {
        struct sr_sync_place p;
        if (sr_sync_decode_place(data, size, &p) == 0) {
            must(p.key + p.key_len == end);
            must(sr_sync_encode_place(&again, &h, &p) == 0);
            must(again.len == size && memcmp(again.data, data, size) == 0);
        }
    } else if (h.type == SR_SYNC_LOAD && sr_sync_decode_load(data, size, &c) == 0) {
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
    } else if (h.type == SR_SYNC_SNAPSHOT) {
        uint32_t flags;
        if (sr_sync_decode_snapshot(data, size, &flags, &c) == 0) {
            uint64_t w;
            const unsigned char *key;
            uint32_t len, n = 0;
            must(sr_sync_encode_snapshot_start(&again, &h, flags, &at) == 0);
            while (sr_sync_next_snapshot(&c, &w, &key, &len)) {
                must(key + len <= end);
                must(sr_sync_encode_snapshot_entry(&again, w, key, len) == 0);
                n++;
            }
            sr_sync_patch_u32(&again, at, n);
            must(again.len == size && memcmp(again.data, data, size) == 0);
        }
    }
    sr_buf_free(&again);
    return 0;
}
