/*
 * pd_body: the body a disaggregated pair receives. Prefill and decode get
 * the same bytes: the client's JSON object with SGLang's three bootstrap
 * fields added as its last members, which tell the decode worker where to
 * fetch the prompt's KV cache and which transfer ("room") is its own:
 *
 *   bootstrap_host   the prefill worker's host (an IPv6 address in brackets)
 *   bootstrap_port   its bootstrap port, or null
 *   bootstrap_room   a random integer in [0, 2^63 - 1]
 *
 * For a batch of n each is a list of n (one room per element). The body
 * has been validated as one JSON object already (routing_text.h), and a
 * body that sets these fields itself is refused before (the router owns
 * them), so adding members is all there is to do: no parse, no copy of the
 * prompt beyond one memcpy.
 *
 * A codec: bytes in, bytes out, no I/O.
 */
#ifndef SR_PD_BODY_H
#define SR_PD_BODY_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

/* The room of a new transfer from a 64-bit random value. */
static inline uint64_t sr_pd_room(uint64_t random)
{
    return random & INT64_MAX;
}

/* Writes body with the bootstrap fields into out (emptied first). host:
 * the prefill worker's URL host (brackets added for IPv6); port < 0:
 * null; batch 0: single fields (rooms[0]), else lists of batch (rooms[0,
 * batch)). 0, SR_ERR_INVALID (body is not an object), or SR_ERR_NOMEM /
 * SR_ERR_TOO_LARGE from out. */
int sr_pd_body_build(struct sr_buf *out, const char *body, size_t len, const char *host, int port,
                     const uint64_t *rooms, size_t batch);

#endif
