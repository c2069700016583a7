/*
 * kv_cache: the model of one worker's KV prefix cache, in tokens.
 *
 * Two engines, two shapes:
 *   - SGLang keeps the KV of recent prompts (and their generated tokens) in a
 *     radix tree and evicts least-recently-used leaves when it needs room.
 *     The model is the same thing at the granularity of tokens.h's cache
 *     keys: a one-tenant common/radix tree of keys. Once it holds more than
 *     its capacity it evicts least-recently-used text down to 15/16 of it
 *     (the slack amortises the eviction walk over many inserts).
 *   - llama.cpp without a host prompt cache keeps, per slot, only the
 *     sequence that slot last ran (max_sequences > 0): a new sequence that
 *     extends a held one (a prompt growing into prompt + output) replaces
 *     it, any other replaces the least recently stored one. A key longer
 *     than the capacity keeps its head.
 * A lookup reports the longest cached prefix in whole tokens.
 *
 * With a host prompt cache (host_cache.h) the engine decides which slot
 * runs which sequence, as llama.cpp does, and addresses the sequences slot
 * by slot (sr_sim_kv_slot_*) instead of through lookup and insert.
 *
 * Single-threaded (the simulator's event loop); owns its contents.
 */
#ifndef SR_SIM_KV_CACHE_H
#define SR_SIM_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct sr_sim_kv;

/* max_sequences 0: radix cache of capacity_tokens; otherwise that many
 * slots of at most capacity_tokens each. NULL when out of memory. */
struct sr_sim_kv *sr_sim_kv_new(uint64_t capacity_tokens, uint32_t max_sequences);
void sr_sim_kv_free(struct sr_sim_kv *kv);

/* Longest cached prefix of key, in tokens. */
uint32_t sr_sim_kv_lookup(struct sr_sim_kv *kv, const char *key, size_t len);
/* Records key as cached (refreshing its prefix's recency). 0 or SR_ERR_NOMEM. */
int sr_sim_kv_insert(struct sr_sim_kv *kv, const char *key, size_t len);
/* Forgets everything. 0 or SR_ERR_NOMEM (the old contents are kept). */
int sr_sim_kv_flush(struct sr_sim_kv *kv);

/* Sequence mode, slot by slot (slot < max_sequences). */
uint32_t sr_sim_kv_slots(const struct sr_sim_kv *kv);
/* The key the slot holds (owned by the cache, valid until it changes). */
const char *sr_sim_kv_slot_key(const struct sr_sim_kv *kv, uint32_t slot, size_t *len);
/* When the slot was last stored into (an increasing counter; 0: never). */
uint64_t sr_sim_kv_slot_stored_at(const struct sr_sim_kv *kv, uint32_t slot);
/* The slot now holds a copy of key (its head if longer than the
 * capacity). 0 or SR_ERR_NOMEM (the slot is unchanged). */
int sr_sim_kv_slot_store(struct sr_sim_kv *kv, uint32_t slot, const char *key, size_t len);
/* The slot now holds key, an sr_malloc'd buffer it takes over (a state
 * restored from the host cache; when it was stored does not change). */
void sr_sim_kv_slot_adopt(struct sr_sim_kv *kv, uint32_t slot, char *key, size_t len);

uint64_t sr_sim_kv_used_tokens(struct sr_sim_kv *kv);
/* Tokens the cache can hold in all (slots x capacity for sequences). */
uint64_t sr_sim_kv_capacity_tokens(const struct sr_sim_kv *kv);

#endif
