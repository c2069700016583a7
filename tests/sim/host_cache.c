/* host_cache: llama.cpp's host prompt cache model (see host_cache.h). */
#include "host_cache.h"

#include "tokens.h"

#include "common/alloc.h"
#include "common/err.h"

#include <string.h>

struct entry {
    char *data;
    size_t len;
};

struct sr_sim_host_cache {
    struct entry *entries; /* oldest first */
    size_t n, cap;
    uint64_t limit_bytes, bytes_per_token;
};

/* What saving a state would do (alloc's rules): nothing unless store;
 * else the entries it extends go (obsolete), and so do the others before
 * index evict_end, oldest first, to make room. */
struct save_plan {
    bool store;
    size_t evict_end;
};

static size_t common_prefix(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static uint64_t tokens_of(size_t len)
{
    return len / SR_SIM_BYTES_PER_TOKEN;
}

static uint64_t weight(const struct sr_sim_host_cache *hc, size_t len)
{
    return tokens_of(len) * hc->bytes_per_token;
}

/* A cached state that the saved one contains (it is a prefix of it). */
static bool obsolete(const struct entry *e, const char *key, size_t len)
{
    return e->len <= len && common_prefix(e->data, e->len, key, len) == e->len;
}

static struct save_plan plan_save(const struct sr_sim_host_cache *hc, const char *key, size_t len)
{
    struct save_plan p = {false, 0};
    if (tokens_of(len) == 0)
        return p;
    for (size_t i = 0; i < hc->n; i++) /* "prompt is already in the cache" */
        if (common_prefix(hc->entries[i].data, hc->entries[i].len, key, len) == len)
            return p;
    uint64_t need = weight(hc, len);
    if (need > hc->limit_bytes) /* "exceeds cache size limit, skipping" */
        return p;
    p.store = true;
    uint64_t held = 0;
    for (size_t i = 0; i < hc->n; i++)
        if (!obsolete(&hc->entries[i], key, len))
            held += weight(hc, hc->entries[i].len);
    size_t i = 0; /* "making room for prompt cache entry, removing oldest entry" */
    while (i < hc->n && held + need > hc->limit_bytes) {
        if (!obsolete(&hc->entries[i], key, len))
            held -= weight(hc, hc->entries[i].len);
        i++;
    }
    p.evict_end = i;
    return p;
}

static bool dropped(const struct sr_sim_host_cache *hc, const struct save_plan *p, size_t i,
                    const char *key, size_t len)
{
    return p->store && (i < p->evict_end || obsolete(&hc->entries[i], key, len));
}

struct sr_sim_host_cache *sr_sim_host_cache_new(uint64_t limit_bytes, uint64_t bytes_per_token)
{
    struct sr_sim_host_cache *hc = sr_calloc(1, sizeof(*hc));
    if (hc == NULL)
        return NULL;
    hc->limit_bytes = limit_bytes;
    hc->bytes_per_token = bytes_per_token;
    return hc;
}

void sr_sim_host_cache_flush(struct sr_sim_host_cache *hc)
{
    for (size_t i = 0; i < hc->n; i++)
        sr_free(hc->entries[i].data);
    hc->n = 0;
}

void sr_sim_host_cache_free(struct sr_sim_host_cache *hc)
{
    if (hc == NULL)
        return;
    sr_sim_host_cache_flush(hc);
    sr_free(hc->entries);
    sr_free(hc);
}

int sr_sim_host_cache_save(struct sr_sim_host_cache *hc, const char *key, size_t len)
{
    struct save_plan p = plan_save(hc, key, len);
    if (!p.store)
        return 0;
    if (hc->n == hc->cap) {
        size_t cap = hc->cap ? 2 * hc->cap : 8;
        struct entry *grown = sr_realloc(hc->entries, cap * sizeof(*grown));
        if (grown == NULL)
            return SR_ERR_NOMEM;
        hc->entries = grown;
        hc->cap = cap;
    }
    char *copy = sr_malloc(len);
    if (copy == NULL)
        return SR_ERR_NOMEM;
    memcpy(copy, key, len);
    size_t kept = 0;
    for (size_t i = 0; i < hc->n; i++) {
        if (dropped(hc, &p, i, key, len))
            sr_free(hc->entries[i].data);
        else
            hc->entries[kept++] = hc->entries[i];
    }
    hc->entries[kept++] = (struct entry){copy, len};
    hc->n = kept;
    return 1;
}

long sr_sim_host_cache_pick(const struct sr_sim_host_cache *hc, const char *slot_key,
                            size_t slot_len, bool saved_first, const char *key, size_t len)
{
    struct save_plan p = {false, 0};
    if (saved_first)
        p = plan_save(hc, slot_key, slot_len);
    uint64_t new_tokens = tokens_of(len), slot_tokens = tokens_of(slot_len);
    if (new_tokens == 0)
        return -1;
    /* Ratios in float, as llama.cpp computes them. */
    uint64_t lcp = tokens_of(common_prefix(slot_key, slot_len, key, len));
    float f_keep_best = slot_tokens ? (float)lcp / (float)slot_tokens : -1.0f;
    float f_sim_best = (float)lcp / (float)new_tokens;
    long best = -1;
    for (size_t i = 0; i < hc->n; i++) {
        const struct entry *e = &hc->entries[i];
        if (dropped(hc, &p, i, slot_key, slot_len) || tokens_of(e->len) == 0)
            continue;
        lcp = tokens_of(common_prefix(e->data, e->len, key, len));
        float f_keep = (float)lcp / (float)tokens_of(e->len);
        float f_sim = (float)lcp / (float)new_tokens;
        if (f_keep < 0.25f) /* "don't trash large prompts" */
            continue;
        if (f_keep_best < f_keep && f_sim_best < f_sim) {
            f_keep_best = f_keep;
            f_sim_best = f_sim;
            best = (long)i;
        }
    }
    return best;
}

const char *sr_sim_host_cache_key(const struct sr_sim_host_cache *hc, long i, size_t *len)
{
    if (i < 0 || (size_t)i >= hc->n)
        return NULL;
    *len = hc->entries[i].len;
    return hc->entries[i].data;
}

char *sr_sim_host_cache_take(struct sr_sim_host_cache *hc, long i, size_t *len)
{
    if (i < 0 || (size_t)i >= hc->n)
        return NULL;
    char *data = hc->entries[i].data;
    *len = hc->entries[i].len;
    memmove(&hc->entries[i], &hc->entries[i + 1], (hc->n - (size_t)i - 1) * sizeof(*hc->entries));
    hc->n--;
    return data;
}

size_t sr_sim_host_cache_entries(const struct sr_sim_host_cache *hc)
{
    return hc->n;
}

uint64_t sr_sim_host_cache_tokens(const struct sr_sim_host_cache *hc)
{
    uint64_t t = 0;
    for (size_t i = 0; i < hc->n; i++)
        t += tokens_of(hc->entries[i].len);
    return t;
}

uint64_t sr_sim_host_cache_bytes(const struct sr_sim_host_cache *hc)
{
    return sr_sim_host_cache_tokens(hc) * hc->bytes_per_token;
}
