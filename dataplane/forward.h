/*
 * forward: what crosses the proxy besides the body. Toward a worker, the
 * request head: the worker's base path, its Host, the client's end-to-end
 * headers (hop-by-hop ones dropped, RFC 9110 §7.6.1, and any the
 * Connection header names), one X-Request-Id, the body's length. Toward
 * the client, the worker's response head lines, filtered the same way,
 * with X-Request-Id added when the worker sent none. And in a streamed
 * answer, the server-sent events (each about one token), counted across
 * chunk boundaries.
 *
 * A codec: no I/O, no allocation beyond the caller's buffer.
 */
#ifndef SR_FORWARD_H
#define SR_FORWARD_H

#include "request.h"

#include "common/buf.h"
#include "common/url.h"
#include "net/h1_client.h"

#include <stdbool.h>
#include <stddef.h>

/* A header that must not be forwarded: hop-by-hop, our own framing, one
 * the Connection header of all[0, n) names, or a name that is not a token. */
bool sr_forward_hop_by_hop(const struct sr_http_header *h, const struct sr_http_header *all,
                           size_t n);

/* The request head of r for the worker at url into out (emptied first):
 * drop_authorization when the router checked the client's key itself (it
 * was meant for the router). 0, or an error of out's. */
int sr_forward_request_head(struct sr_buf *out, const struct sr_request *r,
                            const struct sr_url *url, const char *request_id,
                            bool drop_authorization, size_t body_len);

/* The response head lines of resp for the client ("Name: value\r\n"
 * each) into lines[0, cap); returns their length. Headers past cap - 128
 * are cut, never overflowed. */
size_t sr_forward_response_head(const struct sr_h1_response *resp, const char *request_id,
                                char *lines, size_t cap);

/* Counts the events of one streamed answer: each ended by a blank line
 * ("\n\n" or "\n\r\n"), wherever the chunks split it. Zero-initialised. */
struct sr_sse_counter {
    char tail[2]; /* the last two bytes seen: [0] last, [1] before it */
};

/* The events data[0, len) completes. */
long sr_sse_count(struct sr_sse_counter *c, const char *data, size_t len);

#endif
