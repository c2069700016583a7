/*
 * h1_head: the header block of one HTTP/1 message (request or response) as
 * libhttp-parser hands it over, in pieces: the bytes (a request's target
 * first, then every header name and value) in one bounded buffer, and the
 * headers as views into it once the block is complete. Shared by the
 * request codec (h1_parser) and the response codec (h1_response). No I/O.
 *
 * Ownership: the views returned by sr_h1_head_finish() point into the
 * block's buffer and stay valid until the next reset or free.
 */
#ifndef SR_H1_HEAD_H
#define SR_H1_HEAD_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct sr_h1_head_span; /* where a header sits in bytes (offsets: the buffer may move) */

struct sr_h1_head {
    struct sr_buf bytes;
    struct sr_h1_head_span *spans;
    struct sr_http_header *headers;
    size_t n, cap, max_headers;
    bool in_value; /* the last piece was a value */
};

/* Results of the functions below besides 0 and SR_ERR_NOMEM. */
enum {
    SR_H1_HEAD_TOO_LARGE = -100, /* more bytes than max_bytes */
    SR_H1_HEAD_TOO_MANY = -101,  /* more headers than max_headers */
};

void sr_h1_head_init(struct sr_h1_head *h, size_t max_bytes, size_t max_headers);
void sr_h1_head_free(struct sr_h1_head *h);
/* Empties it for the next message, keeping its memory. */
void sr_h1_head_reset(struct sr_h1_head *h);

/* Bytes that are neither name nor value (a request's target). */
int sr_h1_head_add(struct sr_h1_head *h, const char *at, size_t len);
/* A piece of a header's name (a new header when a value came last). */
int sr_h1_head_name(struct sr_h1_head *h, const char *at, size_t len);
/* A piece of the current header's value. */
int sr_h1_head_value(struct sr_h1_head *h, const char *at, size_t len);
/* The header views, in order (*n of them), once the block is complete. */
struct sr_http_header *sr_h1_head_finish(struct sr_h1_head *h, size_t *n);

#endif
