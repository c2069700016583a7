/*
 * pd_logprobs: a disaggregated request that asks for logprobs
 * (/generate's "return_logprob": true) gets the prompt's token logprobs
 * from both halves: the prefill worker computed the prompt, the decode
 * worker only its last token. As SGLang's own balancers do, the prefill
 * answer's meta_info.input_token_logprobs are put in front of the decode
 * answer's:
 *
 *   whole answers   the decode body (an object, or a batch's list of
 *                   objects, element by element) once both are in;
 *   streams         every decode event "data: {...}" (not "[DONE]"), with
 *                   the logprobs of the prefill stream's first event.
 *
 * An answer that does not have that shape passes through unchanged. The
 * proxy holds the decode answer until the prefill answer is complete
 * (sr_pd_merge_*): a codec with a buffer, no I/O.
 */
#ifndef SR_PD_LOGPROBS_H
#define SR_PD_LOGPROBS_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct json_t;

struct sr_pd_merge {
    bool stream;
    bool have_prefill; /* sr_pd_merge_prefill was called */
    /* The prefill's input_token_logprobs (a list per element for a
     * batch), or NULL. */
    struct json_t *logprobs;
    struct sr_buf held; /* decode bytes not passed on yet */
};

/* max: the most decode bytes held (a whole answer, or a stream's part
 * before the prefill answer is in). */
void sr_pd_merge_init(struct sr_pd_merge *m, bool stream, size_t max);
void sr_pd_merge_clear(struct sr_pd_merge *m);

/* The prefill answer, complete. */
void sr_pd_merge_prefill(struct sr_pd_merge *m, const char *body, size_t len);

/* Decode bytes as they arrive; what may go to the client now is appended
 * to out (only for a stream whose prefill answer is in: whole events).
 * 0, or SR_ERR_TOO_LARGE / SR_ERR_NOMEM. */
int sr_pd_merge_decode(struct sr_pd_merge *m, const char *data, size_t len, struct sr_buf *out);

/* The decode answer ended (and the prefill answer is in): everything left,
 * merged, to out. 0, or SR_ERR_TOO_LARGE / SR_ERR_NOMEM. */
int sr_pd_merge_finish(struct sr_pd_merge *m, struct sr_buf *out);

#endif
