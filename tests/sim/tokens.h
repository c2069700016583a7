/*
 * tokens: the simulator's stand-in for a tokenizer, the same everywhere.
 *
 * One token = 4 bytes of text (SR_SIM_BYTES_PER_TOKEN), rounded up, at least
 * one per prompt. The KV cache model works on "cache keys": byte strings in
 * which every token occupies exactly 4 bytes, so key bytes / 4 = tokens:
 *   - text prompts: the text itself;
 *   - input_ids: each id as 4 printable characters (base 64, low 24 bits);
 *   - Mooncake hash_ids: each id as one 512-token block (2,048 bytes derived
 *     from the id alone), so equal ids are equal blocks and nothing else is.
 * Generated text is deterministic filler: 4-byte words chosen from the
 * request's cache key and the token index (the same prompt always gets the
 * same answer, so multi-turn conversations hit the cache like real ones).
 *
 * Ownership: struct sr_sim_key owns its buffer (sr_sim_key_clear).
 */
#ifndef SR_SIM_TOKENS_H
#define SR_SIM_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#define SR_SIM_BYTES_PER_TOKEN   4
#define SR_SIM_HASH_BLOCK_TOKENS 512

struct sr_sim_key {
    char *data;
    size_t len, cap;
};

/* Tokens of a text of len bytes (>= 1). */
uint32_t sr_sim_text_tokens(size_t len);

/* Appenders: 0 or SR_ERR_NOMEM. */
int sr_sim_key_add_text(struct sr_sim_key *k, const char *text, size_t len);
int sr_sim_key_add_id(struct sr_sim_key *k, int64_t id);
int sr_sim_key_add_hash_block(struct sr_sim_key *k, int64_t hash_id);
void sr_sim_key_clear(struct sr_sim_key *k);

/* A stable 64-bit digest of the key's bytes (picks the filler words). */
uint64_t sr_sim_key_digest(const char *data, size_t len);

/* The text of output token i (4 bytes, ASCII, no JSON escaping needed) for
 * a request whose key digest is digest. */
const char *sr_sim_output_token(uint64_t digest, uint32_t i);

/* Token ids and log-probabilities, for return_logprob: the same for the
 * same prompt everywhere (a prefill and a decode worker agree). Prompt
 * token i of a key: the id itself when the prompt was token ids (its low
 * 24 bits), else one derived from the token's bytes. Output token i: one id
 * per filler word. A logprob is in [-4, 0), chosen from its token. */
uint32_t sr_sim_prompt_token_id(const char *key, size_t len, uint32_t i, int ids);
uint32_t sr_sim_output_token_id(uint64_t digest, uint32_t i);
double sr_sim_token_logprob(uint64_t token_seed);

#endif
