/* kv_cache: the prefix cache model, an LRU radix tree or llama.cpp-style
 * slots (see kv_cache.h). */
#include "kv_cache.h"

#include "tokens.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/radix.h"

#include <string.h>

struct held_sequence {
    char *data;
    size_t len;
    uint64_t stored_at; /* insert counter: the oldest is replaced */
};

struct sr_sim_kv {
    struct sr_radix *tree; /* radix mode */
    uint64_t capacity_bytes;
    struct held_sequence *seqs; /* sequence mode: nseqs slots */
    uint32_t nseqs;
    uint64_t inserts;
};

static size_t common_prefix(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static struct sr_radix *new_tree(uint64_t capacity_bytes)
{
    uint64_t target = capacity_bytes - capacity_bytes / 16;
    struct sr_radix *t = sr_radix_new(target ? (size_t)target : 1);
    if (t != NULL)
        sr_radix_set_eviction_interval(t, 0); /* we evict at capacity ourselves */
    return t;
}

struct sr_sim_kv *sr_sim_kv_new(uint64_t capacity_tokens, uint32_t max_sequences)
{
    struct sr_sim_kv *kv = sr_calloc(1, sizeof(*kv));
    if (kv == NULL)
        return NULL;
    kv->capacity_bytes = capacity_tokens * SR_SIM_BYTES_PER_TOKEN;
    if (max_sequences > 0) {
        kv->nseqs = max_sequences;
        kv->seqs = sr_calloc(max_sequences, sizeof(*kv->seqs));
    } else {
        kv->tree = new_tree(kv->capacity_bytes);
    }
    if (kv->tree == NULL && kv->seqs == NULL) {
        sr_free(kv);
        return NULL;
    }
    return kv;
}

static void drop_sequences(struct sr_sim_kv *kv)
{
    for (uint32_t i = 0; i < kv->nseqs; i++) {
        sr_free(kv->seqs[i].data);
        kv->seqs[i] = (struct held_sequence){0};
    }
}

void sr_sim_kv_free(struct sr_sim_kv *kv)
{
    if (kv == NULL)
        return;
    if (kv->seqs) {
        drop_sequences(kv);
        sr_free(kv->seqs);
    }
    sr_radix_free(kv->tree);
    sr_free(kv);
}

uint32_t sr_sim_kv_lookup(struct sr_sim_kv *kv, const char *key, size_t len)
{
    uint32_t match = 0;
    if (kv->seqs) {
        for (uint32_t i = 0; i < kv->nseqs; i++) {
            size_t n = common_prefix(kv->seqs[i].data, kv->seqs[i].len, key, len);
            if (n > match)
                match = (uint32_t)n;
        }
    } else if (sr_radix_match(kv->tree, key, len, &match, 1, NULL) < 0) {
        return 0;
    }
    return match / SR_SIM_BYTES_PER_TOKEN;
}

static int store_at(struct sr_sim_kv *kv, struct held_sequence *slot, const char *key, size_t len)
{
    char *copy = sr_malloc(len ? len : 1);
    if (copy == NULL)
        return SR_ERR_NOMEM;
    memcpy(copy, key, len);
    sr_free(slot->data);
    *slot = (struct held_sequence){copy, len, ++kv->inserts};
    return 0;
}

/* Sequence mode: key replaces the held sequence it extends (or that
 * extends it), else the least recently stored one. */
static int store_sequence(struct sr_sim_kv *kv, const char *key, size_t len)
{
    struct held_sequence *slot = NULL;
    for (uint32_t i = 0; i < kv->nseqs && slot == NULL; i++) {
        struct held_sequence *h = &kv->seqs[i];
        if (h->len > 0 && common_prefix(h->data, h->len, key, len) == (h->len < len ? h->len : len))
            slot = h;
    }
    if (slot == NULL) { /* the oldest; empty slots were never stored (0) */
        slot = &kv->seqs[0];
        for (uint32_t i = 1; i < kv->nseqs; i++)
            if (kv->seqs[i].stored_at < slot->stored_at)
                slot = &kv->seqs[i];
    }
    return store_at(kv, slot, key, len);
}

int sr_sim_kv_insert(struct sr_sim_kv *kv, const char *key, size_t len)
{
    if (len > kv->capacity_bytes)
        len = (size_t)kv->capacity_bytes; /* a prompt larger than the cache keeps its head */
    if (kv->seqs)
        return store_sequence(kv, key, len);
    /* Time 0: with no eviction interval, the tree's clock decides nothing. */
    int rc = sr_radix_insert(kv->tree, key, len, 0, 0);
    if (rc != 0)
        return rc;
    if (sr_radix_worker_bytes(kv->tree, 0) > kv->capacity_bytes && sr_radix_evict(kv->tree) < 0)
        return SR_ERR_NOMEM;
    return 0;
}

int sr_sim_kv_flush(struct sr_sim_kv *kv)
{
    if (kv->seqs) {
        drop_sequences(kv);
        return 0;
    }
    struct sr_radix *fresh = new_tree(kv->capacity_bytes);
    if (fresh == NULL)
        return SR_ERR_NOMEM;
    sr_radix_free(kv->tree);
    kv->tree = fresh;
    return 0;
}

uint32_t sr_sim_kv_slots(const struct sr_sim_kv *kv)
{
    return kv->nseqs;
}

const char *sr_sim_kv_slot_key(const struct sr_sim_kv *kv, uint32_t slot, size_t *len)
{
    *len = kv->seqs[slot].len;
    return kv->seqs[slot].data;
}

uint64_t sr_sim_kv_slot_stored_at(const struct sr_sim_kv *kv, uint32_t slot)
{
    return kv->seqs[slot].stored_at;
}

int sr_sim_kv_slot_store(struct sr_sim_kv *kv, uint32_t slot, const char *key, size_t len)
{
    if (len > kv->capacity_bytes)
        len = (size_t)kv->capacity_bytes;
    return store_at(kv, &kv->seqs[slot], key, len);
}

void sr_sim_kv_slot_adopt(struct sr_sim_kv *kv, uint32_t slot, char *key, size_t len)
{
    sr_free(kv->seqs[slot].data);
    kv->seqs[slot].data = key;
    kv->seqs[slot].len = len;
}

uint64_t sr_sim_kv_used_tokens(struct sr_sim_kv *kv)
{
    if (kv->seqs) {
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < kv->nseqs; i++)
            bytes += kv->seqs[i].len;
        return bytes / SR_SIM_BYTES_PER_TOKEN;
    }
    return sr_radix_worker_bytes(kv->tree, 0) / SR_SIM_BYTES_PER_TOKEN;
}

uint64_t sr_sim_kv_capacity_tokens(const struct sr_sim_kv *kv)
{
    return kv->capacity_bytes / SR_SIM_BYTES_PER_TOKEN * (kv->nseqs ? kv->nseqs : 1);
}
