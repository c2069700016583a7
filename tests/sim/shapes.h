/*
 * shapes: the response bodies of the three generation routes, in SGLang's
 * native shape (/generate: {"text", "meta_info"}, a list for a batch) and
 * OpenAI's (completions, chat), whole or as SSE events; the prefill role's
 * one-token answer; and the errors a decode worker answers when a
 * prompt's KV never arrives, as SGLang writes them.
 *
 * Ownership: the writers borrow the job (job.h) and send on its
 * connection; they neither detach nor free it.
 */
#ifndef SR_SIM_SHAPES_H
#define SR_SIM_SHAPES_H

#include "job.h"

/* The whole answer of a finished job (200). */
void sr_sim_shapes_write_whole(struct job *j);

/* SSE event(s) for the tokens of it generated since the last call (the
 * final one once its sequence is done). */
void sr_sim_shapes_write_progress(struct job *j, struct item *it);

/* The usage event (OpenAI, when asked), [DONE], and the end of the stream. */
void sr_sim_shapes_write_stream_end(struct job *j);

/* One prompt failed in a stream (the stream goes on): /generate writes the
 * prompt's last chunk, finish_reason {"type":"abort","message",
 * "status_code"}; the OpenAI routes write SGLang's error event
 * {"error":{"object":"error","message","type":"<STATUS_NAME>","param":null,
 * "code"}} (their stream should then end). */
void sr_sim_shapes_write_stream_error(struct job *j, struct item *it, int status,
                                      const char *message);

#endif
