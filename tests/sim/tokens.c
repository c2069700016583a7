/* tokens: the token model (see tokens.h). */
#include "tokens.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#include <stdint.h>
#include <string.h>

/* Filler vocabulary: every entry is exactly 4 bytes. */
static const char vocab[][5] = {
    " the", " and", " for", " you", " are", " but", " not", " all", " can", " her", " was",
    " one", " our", " out", " day", " get", " has", " him", " his", " how", " man", " new",
    " now", " old", " see", " two", " way", " who", " boy", " did", " its", " let", " put",
    " say", " she", " too", " use", " map", " sun", " sky", " sea", " key", " row", " tea",
    " cup", " art", " law", " war", " car", " air", " end", " job", " run", " big", " red",
    " yes", " far", " few", " low", " top", " job", " set", " fix", " mix",
};

uint32_t sr_sim_text_tokens(size_t len)
{
    size_t t = (len + SR_SIM_BYTES_PER_TOKEN - 1) / SR_SIM_BYTES_PER_TOKEN;
    if (t == 0)
        return 1;
    return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static int reserve(struct sr_sim_key *k, size_t more)
{
    if (more > SIZE_MAX - k->len)
        return SR_ERR_NOMEM;
    return sr_grow((void **)&k->data, &k->cap, k->len + more, 1, 256, SIZE_MAX) == 0 ? 0
                                                                                     : SR_ERR_NOMEM;
}

int sr_sim_key_add_text(struct sr_sim_key *k, const char *text, size_t len)
{
    if (len == 0)
        return 0;
    if (reserve(k, len) != 0)
        return SR_ERR_NOMEM;
    memcpy(k->data + k->len, text, len);
    k->len += len;
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sr_sim_key_add_id(struct sr_sim_key *k, int64_t id)
{
    if (reserve(k, 4) != 0)
        return SR_ERR_NOMEM;
    uint64_t v = (uint64_t)id;
    for (int i = 0; i < 4; i++)
        k->data[k->len++] = b64[(v >> (6 * (3 - i))) & 63];
    return 0;
}

int sr_sim_key_add_hash_block(struct sr_sim_key *k, int64_t hash_id)
{
    const size_t block = SR_SIM_HASH_BLOCK_TOKENS * SR_SIM_BYTES_PER_TOKEN;
    if (reserve(k, block) != 0)
        return SR_ERR_NOMEM;
    /* 16 hex digits of the id, repeated: two ids differ in the first 16. */
    char hex[16];
    uint64_t v = (uint64_t)hash_id;
    for (int i = 15; i >= 0; i--, v >>= 4)
        hex[i] = "0123456789abcdef"[v & 15];
    for (size_t off = 0; off < block; off += sizeof(hex))
        memcpy(k->data + k->len + off, hex, sizeof(hex));
    k->len += block;
    return 0;
}

void sr_sim_key_clear(struct sr_sim_key *k)
{
    sr_free(k->data);
    memset(k, 0, sizeof(*k));
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t sr_sim_key_digest(const char *data, size_t len)
{
    /* Length plus the last 64 bytes: cheap on long prompts, and prompts
     * that share a long prefix still get different answers. */
    uint64_t h = mix(len + 0x9e3779b97f4a7c15ULL);
    size_t start = len > 64 ? len - 64 : 0;
    for (size_t i = start; i < len; i++)
        h = mix(h ^ (unsigned char)data[i]);
    return h;
}

const char *sr_sim_output_token(uint64_t digest, uint32_t i)
{
    return vocab[mix(digest + i) % (sizeof(vocab) / sizeof(vocab[0]))];
}

/* Ids as a Llama-3 tokenizer's: below 128,000, the filler words from 1,000. */
#define VOCAB_IDS 128000u

uint32_t sr_sim_prompt_token_id(const char *key, size_t len, uint32_t i, int ids)
{
    size_t at = (size_t)i * SR_SIM_BYTES_PER_TOKEN;
    if (at >= len)
        return 0;
    size_t n = len - at < SR_SIM_BYTES_PER_TOKEN ? len - at : SR_SIM_BYTES_PER_TOKEN;
    if (ids && n == SR_SIM_BYTES_PER_TOKEN) {
        uint32_t v = 0;
        for (size_t k = 0; k < n; k++) {
            const char *p = memchr(b64, key[at + k], 64);
            v = v << 6 | (uint32_t)(p ? p - b64 : 0);
        }
        return v;
    }
    uint64_t h = 0;
    for (size_t k = 0; k < n; k++)
        h = h << 8 | (unsigned char)key[at + k];
    return (uint32_t)(mix(h + 1) % VOCAB_IDS);
}

uint32_t sr_sim_output_token_id(uint64_t digest, uint32_t i)
{
    return 1000u + (uint32_t)(mix(digest + i) % (sizeof(vocab) / sizeof(vocab[0])));
}

double sr_sim_token_logprob(uint64_t token_seed)
{
    return -(double)(mix(token_seed ^ 0x5bd1e995u) % 4000 + 1) / 1000.0;
}
