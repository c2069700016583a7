/*
 * rand: a small, fast, seedable PRNG (xoshiro256**) for routing decisions
 * (random policy, tie-breaking, cache_routing_prob).
 *
 * State is a value the caller owns: each thread keeps its own struct sr_rng,
 * so there is no shared state and no locking. Not for cryptography.
 */
#ifndef SR_RAND_H
#define SR_RAND_H

#include <stdint.h>

struct sr_rng {
    uint64_t s[4];
};

/* Deterministic seeding (tests, benchmarks). */
void sr_rng_seed(struct sr_rng *rng, uint64_t seed);
/* Seeds from the clock, the thread and the address of rng. */
void sr_rng_seed_auto(struct sr_rng *rng);

uint64_t sr_rng_next(struct sr_rng *rng);
/* Uniform in [0, n); n must be > 0. */
uint32_t sr_rng_below(struct sr_rng *rng, uint32_t n);
/* Uniform in [0, 1). */
double sr_rng_unit(struct sr_rng *rng);

#endif
