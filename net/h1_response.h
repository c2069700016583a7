/*
 * h1_response: the HTTP/1.x response codec (libhttp-parser, response mode).
 * Bytes in, the response's head and body pieces out through callbacks; no
 * I/O, so unit tests and fuzzers drive it directly. Used by the one HTTP/1
 * client (h1_client.h).
 *
 * Framing: Content-Length, chunked (de-chunked here; trailers dropped), or
 * until the connection closes (sr_h1_response_parser_eof()); 1xx, 204 and
 * 304 answers have no body. Feeding stops right after a complete response
 * (SR_H1R_DONE): bytes after it stay with the caller.
 *
 * Limits are checked while parsing: status line + header names and values
 * beyond max_head_bytes, more than max_headers fields, or a body beyond
 * max_body_bytes (declared or received; SIZE_MAX: no limit, the body is
 * only streamed) end the response with SR_H1R_ERROR and a reason. Errors
 * are sticky until sr_h1_response_parser_reset().
 *
 * Backpressure: sr_h1_response_parser_pause() from inside on_body makes
 * sr_h1_response_parser_feed() return SR_H1R_PAUSED right after that body
 * piece; the caller keeps the unconsumed bytes and feeds them later.
 *
 * Ownership: the parser owns its head buffer; struct sr_h1_response and
 * its header views point into it and stay valid until the next
 * sr_h1_response_parser_reset() or sr_h1_response_parser_free(). Body
 * pieces point into the caller's bytes, valid during the call. The
 * callbacks and ctx are borrowed for the parser's life. One thread.
 */
#ifndef SR_H1_RESPONSE_H
#define SR_H1_RESPONSE_H

#include "h1_parser.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_h1_response {
    int status;
    int version_minor; /* HTTP/1.<minor> */
    const struct sr_http_header *headers;
    size_t nheaders;
    long long content_length; /* -1: chunked, until close, or no body (1xx, 204, 304) */
};

struct sr_h1_response_limits {
    size_t max_head_bytes; /* status line reason + header names and values */
    size_t max_headers;
    size_t max_body_bytes; /* SIZE_MAX: no limit */
};

struct sr_h1_response_callbacks {
    /* The status line and headers are complete. Nonzero stops parsing
     * (feed returns SR_H1R_ERROR, reason "stopped by the caller"). */
    int (*on_head)(void *ctx, const struct sr_h1_response *resp);
    /* A piece of the (de-chunked) body; may be NULL (body dropped). Same
     * return rule. */
    int (*on_body)(void *ctx, const char *data, size_t len);
};

enum sr_h1r_result {
    SR_H1R_NEED_MORE = 0, /* all input consumed, response not complete */
    SR_H1R_DONE = 1,      /* a complete response; *consumed says where it ended */
    SR_H1R_PAUSED = 2,    /* paused from on_body; the rest is unconsumed */
    SR_H1R_ERROR = -1,    /* see sr_h1_response_parser_error() */
};

struct sr_h1_response_parser;

/* NULL when out of memory. */
struct sr_h1_response_parser *sr_h1_response_parser_new(const struct sr_h1_response_limits *limits,
                                                        const struct sr_h1_response_callbacks *cb,
                                                        void *ctx);
void sr_h1_response_parser_free(struct sr_h1_response_parser *p);

/* Readies the parser for the next response (also drops a partial one and
 * clears an error). */
void sr_h1_response_parser_reset(struct sr_h1_response_parser *p);

/* Consumes bytes from data; *consumed says how many. After SR_H1R_DONE,
 * call sr_h1_response_parser_reset() before feeding the next response. */
enum sr_h1r_result sr_h1_response_parser_feed(struct sr_h1_response_parser *p, const char *data,
                                              size_t len, size_t *consumed);

/* The connection ended: SR_H1R_DONE when that completes a body delimited
 * by the close, SR_H1R_ERROR otherwise (nothing or a partial response). */
enum sr_h1r_result sr_h1_response_parser_eof(struct sr_h1_response_parser *p);

/* From inside on_body: stop after this piece (SR_H1R_PAUSED). The next
 * feed goes on where it stopped. */
void sr_h1_response_parser_pause(struct sr_h1_response_parser *p);

/* A byte of this response has been seen (since the last reset). */
bool sr_h1_response_parser_started(const struct sr_h1_response_parser *p);

/* After SR_H1R_DONE: the connection may carry another request (HTTP/1.1
 * without "Connection: close", or HTTP/1.0 with keep-alive, and a body
 * not delimited by the close). */
bool sr_h1_response_parser_keep_alive(const struct sr_h1_response_parser *p);

/* The head, from on_head until the next reset; NULL before. */
const struct sr_h1_response *sr_h1_response_parser_head(const struct sr_h1_response_parser *p);

/* After SR_H1R_ERROR: a short static reason. */
const char *sr_h1_response_parser_error(const struct sr_h1_response_parser *p);

#endif
