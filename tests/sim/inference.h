/*
 * inference: POST /generate, /v1/completions and /v1/chat/completions.
 * Parses the request (jansson) into cache keys and sequences, applies the
 * fault knobs, runs the sequences through the engine, and writes SGLang's
 * native or OpenAI response shapes, whole or as SSE.
 */
#ifndef SR_SIM_INFERENCE_H
#define SR_SIM_INFERENCE_H

#include "server.h"
#include "sim.h"

#include "net/h1_parser.h"

void sr_sim_inference_handle(struct sr_sim *sim, struct sr_sim_conn *c,
                             const struct sr_h1_request *req, enum sr_sim_api_kind kind);

/* POST /sim/cached_prefix?route=generate|completions|chat: how many
 * tokens of this request's (first) prompt the cache holds now, without
 * running it: {"cached_tokens": N, "prompt_tokens": M}. For the oracle
 * policy, which only simulated workers can answer. */
void sr_sim_inference_probe(struct sr_sim *sim, struct sr_sim_conn *c,
                            const struct sr_h1_request *req, enum sr_sim_api_kind kind);

#endif
