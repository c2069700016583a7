/*
 * route_key: the compact routing key of a prompt, for replica sync.
 *
 * The key is a chain of fixed-size block digests: one 4-byte digest per
 * 64-byte block of routing text (the last block may be shorter; its length
 * is mixed into its digest). Two prompts share a key prefix exactly as far
 * as they share whole blocks, so the radix tree, keyed on these bytes
 * instead of the text, answers "which worker holds the longest prefix" at
 * block granularity, stores 1/16 of the text, and a placement travels to
 * the other replicas as 1/16 of the prompt's size (sync/wire.h).
 *
 * Digests are a fixed function of the bytes (no seed, no position, the same
 * on every host and version of this format), so every replica computes the
 * same key for the same prompt. A collision of two blocks' digests at the
 * same place in the tree makes a prefix look cached when it is not; with 32
 * bits, about one in four billion.
 *
 * Codec only: no state, no I/O; thread-safe.
 */
#ifndef SR_ROUTE_KEY_H
#define SR_ROUTE_KEY_H

#include <stddef.h>

#define SR_ROUTE_KEY_BLOCK  64 /* text bytes per digest */
#define SR_ROUTE_KEY_DIGEST 4  /* bytes per digest */
/* Text bytes one key byte stands for. */
#define SR_ROUTE_KEY_UNIT (SR_ROUTE_KEY_BLOCK / SR_ROUTE_KEY_DIGEST)

/* Key bytes for a text of len bytes: one digest per started block. */
static inline size_t sr_route_key_len(size_t text_len)
{
    return (text_len + SR_ROUTE_KEY_BLOCK - 1) / SR_ROUTE_KEY_BLOCK * SR_ROUTE_KEY_DIGEST;
}

/* Writes sr_route_key_len(len) bytes to out. */
void sr_route_key_make(const void *text, size_t len, unsigned char *out);

#endif
