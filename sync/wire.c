/* wire: the replica sync's message codec (see wire.h). */
#include "wire.h"

#include "common/err.h"
#include "common/route_key.h"

#include <stdbool.h>
#include <string.h>

uint32_t sr_sync_tag32(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

uint64_t sr_sync_tag64(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

int sr_sync_decode_header(const void *msg, size_t len, struct sr_sync_header *h)
{
    const unsigned char *p = msg;
    if (len < SR_SYNC_HEADER_LEN || (p[0] | p[1] << 8) != SR_SYNC_MAGIC ||
        p[2] != SR_SYNC_VERSION || p[3] < SR_SYNC_PLACE || p[3] > SR_SYNC_TOKENS)
        return SR_ERR_INVALID;
    h->type = (enum sr_sync_type)p[3];
    h->group = get32(p + 4);
    h->replica = get64(p + 8);
    h->sent_ms = get64(p + 16);
    return 0;
}

static bool key_len_ok(uint32_t n)
{
    return n > 0 && n % SR_ROUTE_KEY_DIGEST == 0;
}

int sr_sync_decode_batch(const void *msg, size_t len, uint32_t *flags, struct sr_sync_cursor *c)
{
    const unsigned char *p = (const unsigned char *)msg + SR_SYNC_HEADER_LEN;
    const unsigned char *end = (const unsigned char *)msg + len;
    if (len < SR_SYNC_HEADER_LEN + SR_SYNC_BATCH_FIXED)
        return SR_ERR_INVALID;
    *flags = get32(p);
    uint32_t n = get32(p + 4);
    c->p = p + SR_SYNC_BATCH_FIXED;
    c->end = end;
    c->left = n;
    const unsigned char *q = c->p;
    for (uint32_t i = 0; i < n; i++) {
        if ((size_t)(end - q) < SR_SYNC_ENTRY_FIXED)
            return SR_ERR_INVALID;
        uint32_t k = get32(q + 12);
        if (!key_len_ok(k) || (size_t)(end - q) - SR_SYNC_ENTRY_FIXED < k)
            return SR_ERR_INVALID;
        q += SR_SYNC_ENTRY_FIXED + k;
    }
    return q == end ? 0 : SR_ERR_INVALID;
}

/* A body of u32 n and n fixed-size entries. */
static int decode_counted(const void *msg, size_t len, size_t entry, struct sr_sync_cursor *c)
{
    const unsigned char *p = (const unsigned char *)msg + SR_SYNC_HEADER_LEN;
    if (len < SR_SYNC_HEADER_LEN + 4)
        return SR_ERR_INVALID;
    uint32_t n = get32(p);
    size_t body = len - SR_SYNC_HEADER_LEN - 4;
    if (body % entry != 0 || body / entry != n)
        return SR_ERR_INVALID;
    c->p = p + 4;
    c->end = (const unsigned char *)msg + len;
    c->left = n;
    return 0;
}

int sr_sync_decode_load(const void *msg, size_t len, struct sr_sync_cursor *c)
{
    return decode_counted(msg, len, SR_SYNC_LOAD_ENTRY, c);
}

int sr_sync_decode_tokens(const void *msg, size_t len, struct sr_sync_cursor *c)
{
    return decode_counted(msg, len, SR_SYNC_TOKENS_ENTRY, c);
}

int sr_sync_next_place(struct sr_sync_cursor *c, struct sr_sync_place *e)
{
    if (c->left == 0)
        return 0;
    e->worker = get64(c->p);
    e->prefill = get32(c->p + 8);
    e->key_len = get32(c->p + 12);
    e->key = c->p + SR_SYNC_ENTRY_FIXED;
    c->p += SR_SYNC_ENTRY_FIXED + e->key_len;
    c->left--;
    return 1;
}

int sr_sync_next_load(struct sr_sync_cursor *c, struct sr_sync_load_entry *e)
{
    if (c->left == 0)
        return 0;
    e->worker = get64(c->p);
    e->in_flight = get32(c->p + 8);
    e->prefill = get32(c->p + 12);
    c->p += SR_SYNC_LOAD_ENTRY;
    c->left--;
    return 1;
}

int sr_sync_next_tokens(struct sr_sync_cursor *c, struct sr_sync_tokens_entry *e)
{
    if (c->left == 0)
        return 0;
    e->worker = get64(c->p);
    e->tokens = get32(c->p + 8);
    c->p += SR_SYNC_TOKENS_ENTRY;
    c->left--;
    return 1;
}

int sr_sync_encode_header(struct sr_buf *b, const struct sr_sync_header *h)
{
    int rc = sr_buf_reserve(b, SR_SYNC_HEADER_LEN);
    if (rc != 0)
        return rc;
    unsigned char *p = (unsigned char *)sr_buf_tail(b);
    p[0] = SR_SYNC_MAGIC & 0xff;
    p[1] = SR_SYNC_MAGIC >> 8;
    p[2] = SR_SYNC_VERSION;
    p[3] = (unsigned char)h->type;
    put32(p + 4, h->group);
    put64(p + 8, h->replica);
    put64(p + 16, h->sent_ms);
    sr_buf_commit(b, SR_SYNC_HEADER_LEN);
    return 0;
}

static int append_u32(struct sr_buf *b, uint32_t v)
{
    unsigned char p[4];
    put32(p, v);
    return sr_buf_append(b, p, sizeof(p));
}

int sr_sync_encode_batch_start(struct sr_buf *b, const struct sr_sync_header *h, uint32_t flags,
                               size_t *count_at)
{
    int rc = sr_sync_encode_header(b, h);
    if (rc == 0)
        rc = append_u32(b, flags);
    *count_at = b->len;
    return rc ? rc : append_u32(b, 0);
}

int sr_sync_encode_place(struct sr_buf *b, const struct sr_sync_place *e)
{
    int rc = sr_buf_reserve(b, sr_sync_place_size(e->key_len));
    if (rc != 0)
        return rc;
    unsigned char *p = (unsigned char *)sr_buf_tail(b);
    put64(p, e->worker);
    put32(p + 8, e->prefill);
    put32(p + 12, e->key_len);
    memcpy(p + SR_SYNC_ENTRY_FIXED, e->key, e->key_len);
    sr_buf_commit(b, sr_sync_place_size(e->key_len));
    return 0;
}

int sr_sync_encode_load_start(struct sr_buf *b, const struct sr_sync_header *h, size_t *count_at)
{
    int rc = sr_sync_encode_header(b, h);
    *count_at = b->len;
    return rc ? rc : append_u32(b, 0);
}

int sr_sync_encode_load_entry(struct sr_buf *b, const struct sr_sync_load_entry *e)
{
    unsigned char p[SR_SYNC_LOAD_ENTRY];
    put64(p, e->worker);
    put32(p + 8, e->in_flight);
    put32(p + 12, e->prefill);
    return sr_buf_append(b, p, sizeof(p));
}

int sr_sync_encode_tokens_entry(struct sr_buf *b, const struct sr_sync_tokens_entry *e)
{
    unsigned char p[SR_SYNC_TOKENS_ENTRY];
    put64(p, e->worker);
    put32(p + 8, e->tokens);
    return sr_buf_append(b, p, sizeof(p));
}

size_t sr_sync_encoded_place_size(const unsigned char *p)
{
    return sr_sync_place_size(get32(p + 12));
}

void sr_sync_patch_u32(struct sr_buf *b, size_t at, uint32_t n)
{
    put32((unsigned char *)b->data + at, n);
}
