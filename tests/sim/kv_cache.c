/* kv_cache: LRU prefix cache model on a one-tenant radix tree (see kv_cache.h). */
#include "kv_cache.h"

#include "tokens.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/radix.h"

struct sr_sim_kv {
    struct sr_radix *tree;
    uint64_t capacity_bytes;
};

static struct sr_radix *new_tree(uint64_t capacity_bytes)
{
    uint64_t target = capacity_bytes - capacity_bytes / 16;
    struct sr_radix *t = sr_radix_new(target ? (size_t)target : 1);
    if (t != NULL)
        sr_radix_set_eviction_interval(t, 0); /* we evict at capacity ourselves */
    return t;
}

struct sr_sim_kv *sr_sim_kv_new(uint64_t capacity_tokens)
{
    struct sr_sim_kv *kv = sr_calloc(1, sizeof(*kv));
    if (kv == NULL)
        return NULL;
    kv->capacity_bytes = capacity_tokens * SR_SIM_BYTES_PER_TOKEN;
    kv->tree = new_tree(kv->capacity_bytes);
    if (kv->tree == NULL) {
        sr_free(kv);
        return NULL;
    }
    return kv;
}

void sr_sim_kv_free(struct sr_sim_kv *kv)
{
    if (kv == NULL)
        return;
    sr_radix_free(kv->tree);
    sr_free(kv);
}

uint32_t sr_sim_kv_lookup(struct sr_sim_kv *kv, const char *key, size_t len)
{
    uint32_t match = 0;
    if (sr_radix_match(kv->tree, key, len, &match, 1, NULL) < 0)
        return 0;
    return match / SR_SIM_BYTES_PER_TOKEN;
}

int sr_sim_kv_insert(struct sr_sim_kv *kv, const char *key, size_t len)
{
    if (len > kv->capacity_bytes)
        len = (size_t)kv->capacity_bytes; /* a prompt larger than the cache keeps its head */
    int rc = sr_radix_insert(kv->tree, key, len, 0);
    if (rc != 0)
        return rc;
    if (sr_radix_worker_bytes(kv->tree, 0) > kv->capacity_bytes && sr_radix_evict(kv->tree) < 0)
        return SR_ERR_NOMEM;
    return 0;
}

int sr_sim_kv_flush(struct sr_sim_kv *kv)
{
    struct sr_radix *fresh = new_tree(kv->capacity_bytes);
    if (fresh == NULL)
        return SR_ERR_NOMEM;
    sr_radix_free(kv->tree);
    kv->tree = fresh;
    return 0;
}

uint64_t sr_sim_kv_used_tokens(struct sr_sim_kv *kv)
{
    return sr_radix_worker_bytes(kv->tree, 0) / SR_SIM_BYTES_PER_TOKEN;
}

uint64_t sr_sim_kv_capacity_tokens(const struct sr_sim_kv *kv)
{
    return kv->capacity_bytes / SR_SIM_BYTES_PER_TOKEN;
}
