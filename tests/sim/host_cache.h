/*
 * host_cache: the model of llama.cpp's host prompt cache (`--cache-ram N`
 * MiB): whole prompt states copied out of a slot into host RAM, and copied
 * back into a slot when a new prompt matches them better than what the
 * slot holds.
 *
 * What llama.cpp does (tools/server/server-task.cpp, struct
 * server_prompt_cache, as built into xllamacpp 2026.10.11549; its log
 * strings are in that wheel's library):
 *   - alloc() (a slot's state being saved): skipped when a cached state
 *     already contains it (the saved tokens are a prefix of an entry) or
 *     when it alone exceeds the limit; otherwise every entry that is a
 *     prefix of it is removed as obsolete, the oldest entries are removed
 *     until it fits ("making room for prompt cache entry, removing oldest
 *     entry"), and it is appended as the newest.
 *   - load() (a slot about to run a new prompt): starting from what the
 *     slot holds (f_keep = common prefix / slot tokens, -1 for an empty
 *     slot; f_sim = common prefix / new prompt tokens), entries are walked
 *     oldest first; one whose common prefix is under a quarter of its own
 *     length is skipped ("don't trash large prompts"), and one that beats
 *     the best so far on both f_keep and f_sim becomes the best. The best
 *     is copied into the slot and leaves the cache.
 *   - update(): the size limit again (nothing to do after alloc here); its
 *     token limit, max(n_ctx, limit / bytes per token), never binds when
 *     the size limit is set.
 * Because a restored entry leaves the cache and comes back at the newest
 * end when it is saved again, "oldest" is least recently used.
 *
 * Sizes: an entry of T tokens weighs T x bytes_per_token (llama.cpp's
 * per-sequence state is the KV of its tokens; the header is negligible).
 * Keys are tokens.h cache keys (4 bytes a token).
 *
 * When llama.cpp calls save and load (server-context.cpp,
 * get_available_slot) is the engine's business (engine.c).
 *
 * Single-threaded; owns copies of every key it holds.
 */
#ifndef SR_SIM_HOST_CACHE_H
#define SR_SIM_HOST_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_sim_host_cache;

/* limit_bytes > 0. NULL when out of memory. */
struct sr_sim_host_cache *sr_sim_host_cache_new(uint64_t limit_bytes, uint64_t bytes_per_token);
void sr_sim_host_cache_free(struct sr_sim_host_cache *hc);

/* alloc(): saves a slot's whole state (key). 1 when stored, 0 when skipped
 * (contained in an entry, empty, or larger than the limit), SR_ERR_NOMEM
 * (nothing changed). */
int sr_sim_host_cache_save(struct sr_sim_host_cache *hc, const char *key, size_t len);

/* load()'s choice: the index of the entry to restore into a slot holding
 * slot_key for the prompt key, or -1 to keep the slot as it is. Read-only.
 * With saved_first, the choice is made as if the slot's state had been
 * saved just before (entries that saving it would remove are no
 * candidates); the index is still one of the cache as it is. */
long sr_sim_host_cache_pick(const struct sr_sim_host_cache *hc, const char *slot_key,
                            size_t slot_len, bool saved_first, const char *key, size_t len);

/* Entry i's key (owned by the cache, valid until it changes), or NULL. */
const char *sr_sim_host_cache_key(const struct sr_sim_host_cache *hc, long i, size_t *len);

/* Removes entry i and hands its key to the caller, who frees it with
 * sr_free; NULL for no such entry. */
char *sr_sim_host_cache_take(struct sr_sim_host_cache *hc, long i, size_t *len);

/* Forgets everything. */
void sr_sim_host_cache_flush(struct sr_sim_host_cache *hc);

size_t sr_sim_host_cache_entries(const struct sr_sim_host_cache *hc);
uint64_t sr_sim_host_cache_tokens(const struct sr_sim_host_cache *hc);
uint64_t sr_sim_host_cache_bytes(const struct sr_sim_host_cache *hc);

#endif
