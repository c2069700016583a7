/*
 * h2: the HTTP/2 server side of one client connection (nghttp2), behind
 * the same request-level interface as HTTP/1 (struct sr_reply in request.h):
 * every stream becomes a struct sr_request handed to the one pipeline, and
 * answers through the same ops, so routing, accounting and errors exist
 * once. Workers are still reached over the HTTP/1.1 upstream pools.
 *
 * The session does no I/O: the connection (conn.c) feeds it the bytes it
 * reads (after TLS) and writes what it queues into the connection's output
 * buffer. Flow control: a stream's response waits in its own buffer until
 * the client's window takes it; the proxy sees that buffer through
 * sr_reply_output_full() and pauses the worker's socket, so a slow
 * reader slows only its own stream, until the connection as a whole holds
 * SR_BUDGET_CONN_FACTOR marks (budget.h): then every stream that receives
 * pauses, and all resume together once it is back under the cap. A stream reset by the client
 * cancels its exchange (its gone callback), which releases the worker request.
 *
 * Limits: --max-header-size per header list, --max-payload-size per
 * request body (413), 100 concurrent streams, and nghttp2's protections
 * against SETTINGS/CONTINUATION floods and rapid resets.
 */
#ifndef SR_H2_H
#define SR_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct sr_loop;
struct sr_h2;

/* out: the connection's output buffer; wake(arg) asks the connection to
 * write it (from its own event, never from inside this module's calls). */
struct sr_h2 *sr_h2_new(struct sr_loop *l, struct evbuffer *out, bool client_loopback,
                        void (*wake)(void *arg), void *arg);
/* Cancels every open stream (their exchanges' gone callbacks run). */
void sr_h2_free(struct sr_h2 *h);

/* Input bytes. 0, or -1 when the connection must close (a GOAWAY may
 * have been queued: write it first). */
int sr_h2_feed(struct sr_h2 *h, const uint8_t *data, size_t len);
/* Queues what nghttp2 has to send into the output buffer, up to its high
 * watermark. */
void sr_h2_send(struct sr_h2 *h);
/* Nothing more will be read or written: the connection may close. */
bool sr_h2_done(const struct sr_h2 *h);
size_t sr_h2_streams(const struct sr_h2 *h);

/* Response bytes waiting in the streams' buffers (flow control). */
size_t sr_h2_buffered(const struct sr_h2 *h);
/* Graceful stop: GOAWAY; open streams finish. */
void sr_h2_drain(struct sr_h2 *h);

#endif
