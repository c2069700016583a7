/*
 * wire: the replica sync's messages, encoded and decoded. A codec: no I/O,
 * no state, thread-safe; fuzzed (tests/fuzz/fuzz_sync_message.c).
 *
 * Every message starts with a 24-byte header, all integers little-endian:
 *   u16 magic "SR" (0x5253), u8 version (1), u8 type,
 *   u32 group tag (sr_sync_tag32 of the --sync-group name),
 *   u64 replica id (random per start), u64 sender's clock (Unix ms).
 * Bodies by type:
 *   PLACE, SNAPSHOT   u32 flags (SNAPSHOT: bit 0, the last chunk), u32 n,
 *                     then n placements: u64 worker tag, u32 prefill bytes
 *                     (0 in snapshots), u32 key length, the key (a whole
 *                     number of SR_ROUTE_KEY_DIGEST digests, at least one)
 *   LOAD              u32 n, then n x (u64 worker tag, u32 in flight,
 *                     u32 pending prefill bytes): the sender's own counts
 *   SNAPSHOT_REQUEST  empty
 *   TOKENS            u32 n, then n x (u64 worker tag, u32 tokens): the
 *                     tokens the sender's requests on each worker are still
 *                     expected to generate; sent beside each LOAD. A type
 *                     of its own so that LOAD keeps its version-1 form: a
 *                     replica from before TOKENS drops these (counted as
 *                     malformed) and keeps reading everything else.
 * A PLACE carries the placements a replica made since its last one (a
 * batch), a SNAPSHOT chunk part of what a replica's tree holds. Workers are
 * named by tag (sr_sync_tag64 of the canonical URL), so each replica maps
 * them to its own worker ids. A decoder accepts only a message whose
 * lengths add up exactly; anything else is SR_ERR_INVALID.
 */
#ifndef SR_SYNC_WIRE_H
#define SR_SYNC_WIRE_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define SR_SYNC_MAGIC        0x5253u
#define SR_SYNC_VERSION      1
#define SR_SYNC_HEADER_LEN   24
#define SR_SYNC_LOAD_ENTRY   16
#define SR_SYNC_TOKENS_ENTRY 12
#define SR_SYNC_BATCH_FIXED  8  /* PLACE and SNAPSHOT bodies before the entries */
#define SR_SYNC_ENTRY_FIXED  16 /* a placement before its key */
#define SR_SYNC_SNAP_LAST    1u

enum sr_sync_type {
    SR_SYNC_PLACE = 1,
    SR_SYNC_LOAD = 2,
    SR_SYNC_SNAPSHOT = 3,
    SR_SYNC_SNAPSHOT_REQUEST = 4,
    SR_SYNC_TOKENS = 5,
};

struct sr_sync_header {
    enum sr_sync_type type;
    uint32_t group;
    uint64_t replica;
    uint64_t sent_ms;
};

struct sr_sync_place {
    uint64_t worker;
    uint32_t prefill;
    const unsigned char *key; /* borrowed */
    uint32_t key_len;
};

struct sr_sync_load_entry {
    uint64_t worker;
    uint32_t in_flight;
    uint32_t prefill;
};

struct sr_sync_tokens_entry {
    uint64_t worker;
    uint32_t tokens;
};

/* A walk over the entries of a LOAD, TOKENS, PLACE or SNAPSHOT body (validated by
 * the decoder: the walk needs no checks). */
struct sr_sync_cursor {
    const unsigned char *p, *end;
    uint32_t left;
};

/* FNV-1a: group names and worker URLs as tags. */
uint32_t sr_sync_tag32(const char *s);
uint64_t sr_sync_tag64(const char *s);

/* Decoding: 0 or SR_ERR_INVALID; what is set points into msg. */
int sr_sync_decode_header(const void *msg, size_t len, struct sr_sync_header *h);
/* A PLACE or SNAPSHOT body. */
int sr_sync_decode_batch(const void *msg, size_t len, uint32_t *flags, struct sr_sync_cursor *c);
int sr_sync_decode_load(const void *msg, size_t len, struct sr_sync_cursor *c);
int sr_sync_decode_tokens(const void *msg, size_t len, struct sr_sync_cursor *c);
/* 1 with the entry set, 0 at the end. */
int sr_sync_next_place(struct sr_sync_cursor *c, struct sr_sync_place *e);
int sr_sync_next_load(struct sr_sync_cursor *c, struct sr_sync_load_entry *e);
int sr_sync_next_tokens(struct sr_sync_cursor *c, struct sr_sync_tokens_entry *e);

/* Encoding, appended to b (its ceiling applies: SR_ERR_TOO_LARGE). PLACE,
 * SNAPSHOT, LOAD and TOKENS are built in place: the start writes the header
 * and a zero count (at *count_at), entries follow, then the count is
 * patched. */
int sr_sync_encode_header(struct sr_buf *b, const struct sr_sync_header *h);
int sr_sync_encode_batch_start(struct sr_buf *b, const struct sr_sync_header *h, uint32_t flags,
                               size_t *count_at);
int sr_sync_encode_place(struct sr_buf *b, const struct sr_sync_place *e);
int sr_sync_encode_load_start(struct sr_buf *b, const struct sr_sync_header *h, size_t *count_at);
int sr_sync_encode_load_entry(struct sr_buf *b, const struct sr_sync_load_entry *e);
/* TOKENS: the same start as LOAD (h->type says which). */
int sr_sync_encode_tokens_entry(struct sr_buf *b, const struct sr_sync_tokens_entry *e);
/* The size of the encoded placement at p (written by sr_sync_encode_place
 * or validated by sr_sync_decode_batch). */
size_t sr_sync_encoded_place_size(const unsigned char *p);
/* Writes n at b->data + at (4 bytes). */
void sr_sync_patch_u32(struct sr_buf *b, size_t at, uint32_t n);
/* Bytes of one placement's entry. */
static inline size_t sr_sync_place_size(size_t key_len)
{
    return SR_SYNC_ENTRY_FIXED + key_len;
}

#endif
