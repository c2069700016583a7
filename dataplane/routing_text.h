/*
 * routing_text: what the cache-aware policy matches on, extracted from an
 * inference request's JSON body. A codec: bytes in, text out, no I/O.
 *
 *   /generate              "text" (a string; for a batch, its first element:
 *                          one HTTP request goes to one worker, and a batch
 *                          usually shares its prefix), else "input_ids" as
 *                          "id,id,...," (a list of lists: the first);
 *   /v1/completions        "prompt", the same way;
 *   /v1/chat/completions   every message in order, "<|role|>\n" + content
 *                          (a string, or the "text" of its parts) + "\n", so
 *                          a conversation's next turn extends the text of
 *                          the previous one.
 *
 * Beside the text: "stream", the output limit (max_tokens), which the
 * load model counts as the decode work the request brings, the "model"
 * that selects the workers, and for disaggregated serving the batch size
 * and whether logprobs are asked.
 *
 * The body is scanned once by a small strict JSON scanner (no allocation,
 * every value validated, nesting limited to 64): general JSON libraries
 * build a tree and copy every string, which costs ~30 us for a 4 KiB prompt
 * (jansson, measured) against ~1 us here. Strings without escapes are
 * returned as views into the body; escaped ones are decoded (\uXXXX and
 * surrogate pairs to UTF-8) into the caller's buffer.
 *
 * Ownership: the result points into body or into buf (struct sr_text_buf,
 * owned by the caller, freed with sr_text_buf_clear).
 */
#ifndef SR_ROUTING_TEXT_H
#define SR_ROUTING_TEXT_H

#include <stdbool.h>
#include <stddef.h>

enum sr_text_source {
    SR_TEXT_NONE,        /* not an inference route: no text */
    SR_TEXT_GENERATE,    /* SGLang native /generate */
    SR_TEXT_COMPLETIONS, /* OpenAI /v1/completions */
    SR_TEXT_CHAT,        /* OpenAI /v1/chat/completions */
};

struct sr_text_buf {
    char *data;
    size_t len, cap;
};

struct sr_routing_text {
    const char *text; /* into the body or the buffer; "" when the body has none */
    size_t len;
    bool stream;       /* "stream": true */
    long max_tokens;   /* the output limit it asks for, -1 when none: /generate's
                        * sampling_params.max_new_tokens (a batch's list: none),
                        * OpenAI's max_tokens or max_completion_tokens */
    const char *model; /* "model" (a view into the body), NULL when absent */
    size_t model_len;
    /* A batch's size: the elements of a /generate "text" list or
     * "input_ids" list of lists, of a /v1/completions "prompt" list of
     * strings or of id lists, or chat's "n" above 1; 0: one request.
     * Disaggregated requests carry one bootstrap room per element. */
    size_t batch;
    bool return_logprob; /* /generate's "return_logprob": true */
    bool sets_bootstrap; /* a bootstrap_host/port/room member (the router's to set) */
};

/* 0; SR_ERR_INVALID with *why set (malformed JSON, a body that is not an
 * object, a field of the wrong type); or SR_ERR_NOMEM. */
int sr_routing_text_extract(enum sr_text_source source, const char *body, size_t len,
                            struct sr_text_buf *buf, struct sr_routing_text *out, const char **why);

void sr_text_buf_clear(struct sr_text_buf *buf);

#endif
