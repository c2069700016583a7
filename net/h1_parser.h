/*
 * h1_parser: the HTTP/1.x request codec (libhttp-parser). Bytes in, one
 * complete request at a time out; no I/O, so unit tests and fuzzers drive it
 * directly. Used by the router's client connections and by the simulated
 * worker.
 *
 * Feeding stops right after a complete request (the parser pauses), so
 * pipelined bytes stay with the caller until the request is answered and
 * sr_h1_parser_next() is called: answers go out in order.
 *
 * Limits are checked while parsing, never by growing without bound:
 * request line + headers beyond max_head_bytes or max_headers → 431; a body
 * beyond max_body_bytes (declared or received) → 413; malformed input → 400;
 * the error is sticky until the connection closes.
 *
 * Framing is strict where the lenient libhttp-parser is not (request
 * smuggling): header names must be RFC 9110 tokens ("Transfer-Encoding :"
 * is a 400), values must not hold NUL, CR or LF, HTTP/1.1 needs exactly
 * one Host (RFC 9112 §3.2). An absolute-form target ("http://h/p?q") is
 * accepted: path and query come from it. The CRLF after each chunk's
 * data is checked here (the library takes any two bytes). What the library
 * still accepts (a bare LF inside a chunk extension) cannot reach a
 * worker: bodies are de-chunked here and re-framed with Content-Length by
 * the router.
 *
 * Ownership: the parser owns its buffers; the views in struct
 * sr_h1_request point into them and stay valid until sr_h1_parser_next()
 * or sr_h1_parser_free(). One parser per connection, one thread.
 */
#ifndef SR_H1_PARSER_H
#define SR_H1_PARSER_H

#include "h1_head.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_h1_request {
    const char *method; /* "GET", "POST", ... (static string) */
    const char *target; /* request-target as sent: path and query */
    size_t target_len;
    const char *path; /* target up to '?' */
    size_t path_len;
    const char *query; /* after '?', without it; NULL when absent */
    size_t query_len;
    int version_minor; /* HTTP/1.<minor> */
    bool keep_alive;   /* the client allows another request on this connection */
    bool expect_continue;
    struct sr_http_header *headers;
    size_t nheaders;
    const char *body; /* de-chunked; NUL-terminated for convenience */
    size_t body_len;
};

struct sr_h1_limits {
    size_t max_head_bytes; /* request line + header names and values */
    size_t max_headers;
    size_t max_body_bytes;
};

enum sr_h1_result {
    SR_H1_NEED_MORE = 0, /* all input consumed, request not complete */
    SR_H1_REQUEST = 1,   /* a complete request is in sr_h1_parser_request() */
    SR_H1_ERROR = -1,    /* see sr_h1_parser_error_status() */
};

struct sr_h1_parser;

/* NULL when out of memory. */
struct sr_h1_parser *sr_h1_parser_new(const struct sr_h1_limits *limits);
void sr_h1_parser_free(struct sr_h1_parser *p);

/* Consumes bytes from data; *consumed says how many (the rest belongs to
 * later requests). After SR_H1_REQUEST, call sr_h1_parser_next() before
 * feeding again. */
enum sr_h1_result sr_h1_parser_feed(struct sr_h1_parser *p, const char *data, size_t len,
                                    size_t *consumed);

/* Valid after SR_H1_REQUEST until sr_h1_parser_next(). */
const struct sr_h1_request *sr_h1_parser_request(const struct sr_h1_parser *p);

/* True once the request line and headers are complete (the request may
 * still be waiting for its body): lets a server answer "Expect:
 * 100-continue" or apply header-time limits. */
bool sr_h1_parser_headers_done(const struct sr_h1_parser *p);

/* True once the headers are complete and asked for "Expect: 100-continue"
 * while the body has not arrived yet. */
bool sr_h1_parser_expects_continue(const struct sr_h1_parser *p);

/* Readies the parser for the next request on the same connection. */
void sr_h1_parser_next(struct sr_h1_parser *p);

/* After SR_H1_ERROR: the HTTP status to answer with (400, 413, 431, 500 when
 * out of memory) and a short reason. */
int sr_h1_parser_error_status(const struct sr_h1_parser *p);
const char *sr_h1_parser_error_reason(const struct sr_h1_parser *p);

/* RFC 9110 tokens: what a header field name (or a method) may be made of. */
bool sr_http_is_tchar(unsigned char c);
bool sr_http_is_token(const char *s, size_t len);

/* Case-insensitive lookup in any header list: the first named name, or NULL. */
const struct sr_http_header *sr_http_header_find(const struct sr_http_header *headers, size_t n,
                                                 const char *name);

/* Case-insensitive header lookup: the first value of name, or NULL. */
const struct sr_http_header *sr_h1_request_header(const struct sr_h1_request *req,
                                                  const char *name);

/* True when the (ptr, len) token list value contains token (case-insensitive,
 * comma-separated), e.g. Connection: keep-alive, Upgrade. */
bool sr_h1_token_list_has(const char *value, size_t len, const char *token);

#endif
