/*
 * h1: the HTTP/1 server side of one client connection, behind the same
 * request-level interface as HTTP/2 (struct sr_reply in request.h): each
 * request parsed by net/h1_server becomes a struct sr_request for the one
 * pipeline, and is answered through the reply ops (one request at a time,
 * so pipelined requests are answered in order). Malformed requests and
 * header/body timeouts are answered with the shared error writer
 * (response.h).
 *
 * The protocol does no I/O: the connection (conn.c) feeds it the bytes it
 * reads (after TLS), writes what it queues into the connection's output
 * buffer, and runs the timers and the closing it asks for (struct
 * sr_h1_io). Timeouts: --client-header-timeout-secs from a request's first
 * byte, --client-body-timeout-secs once its head is complete, and
 * --keepalive-timeout-secs between requests.
 *
 * Ownership: the session borrows out and io's arg for its life.
 */
#ifndef SR_H1_H
#define SR_H1_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct sr_loop;
struct sr_h1;

/* What the connection does for its HTTP/1 session. */
struct sr_h1_io {
    void (*queued)(void *arg);               /* write the output soon (own event) */
    void (*resume)(void *arg);               /* call sr_h1_input(h, NULL, 0) soon (own event) */
    void (*set_timer)(void *arg, long secs); /* the connection's timeout; 0: none */
    void (*closing)(void *arg);              /* close once the output is written */
    void *arg;
};

/* NULL when out of memory. */
struct sr_h1 *sr_h1_new(struct sr_loop *l, struct evbuffer *out, bool client_loopback,
                        const struct sr_h1_io *io);
/* Tells an attached exchange that the client is gone, then frees. */
void sr_h1_free(struct sr_h1 *h);

/* Bytes read (or NULL, 0: go on with held input). 0, or a negative
 * sr_err when pipelined bytes cannot be held (the session is closing). */
int sr_h1_input(struct sr_h1 *h, const char *data, size_t len);
/* How many more bytes may be read now (0: stop reading). */
size_t sr_h1_room(const struct sr_h1 *h);
/* No request started and nothing held. */
bool sr_h1_idle(const struct sr_h1 *h);
/* The connection's timer fired: true when the connection should close
 * now (idle past the keep-alive timeout); a request being read is
 * answered 408. */
bool sr_h1_timeout(struct sr_h1 *h);
/* Graceful stop: the next response closes the connection; an idle
 * session asks to close now. */
void sr_h1_drain(struct sr_h1 *h);
/* The connection's output fell under its low watermark. */
void sr_h1_output_drained(struct sr_h1 *h);

#endif
