/*
 * conn: one client connection, from accept to close, on the loop that
 * accepted it. It reads into a fixed buffer, parses with h1_parser (one
 * request at a time, so pipelined requests are answered in order), hands
 * each request to the pipeline as a version-neutral struct sr_request, and
 * writes responses with writev straight away (write interest only while the
 * socket is full).
 *
 * Timeouts: headers must arrive within --client-header-timeout-secs of the
 * first byte, the body within --client-body-timeout-secs (408), an idle
 * keep-alive connection closes after --keepalive-timeout-secs.
 *
 * An exchange (proxy.c) answering a request attaches itself; if the client
 * goes away first, the connection calls the exchange's gone callback (which
 * must release everything) before closing. The connection never frees
 * itself inside a call from outside: closes go through its own event.
 *
 * Backpressure: sr_conn_output_pending() tells how much is queued for the
 * client; the drain callback runs when it falls below the low watermark.
 */
#ifndef SR_CONN_H
#define SR_CONN_H

#include "h1_parser.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_loop;
struct sr_conn;
struct evbuffer;
struct sockaddr;

/* A request as every codec presents it (HTTP/1 today). Views stay valid
 * until the response ends. */
struct sr_request {
    const char *method;
    const char *path;
    size_t path_len;
    const char *query; /* NULL when absent */
    size_t query_len;
    const struct sr_http_header *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
    int version_minor;
    bool client_loopback; /* the peer address is 127.0.0.0/8 or ::1 */
};

const struct sr_http_header *sr_request_header(const struct sr_request *req, const char *name);

struct sr_loop *sr_conn_loop(const struct sr_conn *c);

/* A whole response. extra_headers: "Name: value\r\n" lines, or NULL. */
void sr_conn_respond(struct sr_conn *c, int status, const char *content_type, const char *body,
                     size_t len, const char *extra_headers);

/* A relayed response: head (status + header lines from head_lines, already
 * filtered, each "Name: value\r\n"), then body pieces, then the end.
 * content_length < 0: the length is unknown and the body is sent chunked
 * (or, to an HTTP/1.0 client, until the connection closes). */
void sr_conn_response_begin(struct sr_conn *c, int status, const char *head_lines, size_t head_len,
                            long long content_length);
void sr_conn_response_body(struct sr_conn *c, const char *data, size_t len);
void sr_conn_response_end(struct sr_conn *c);
/* The response cannot be completed (worker failed mid-stream): the
 * connection is closed once what was queued is written, so the client sees
 * a truncated response, not a complete-looking one. */
void sr_conn_response_abort(struct sr_conn *c);

/* The request is answered later by exchange; gone() is called if the
 * client disconnects first (then the exchange must not touch c again). */
void sr_conn_attach(struct sr_conn *c, void *exchange, void (*gone)(void *exchange));
void sr_conn_detach(struct sr_conn *c);

size_t sr_conn_output_pending(const struct sr_conn *c);
void sr_conn_set_drain_cb(struct sr_conn *c, void (*drained)(void *arg), void *arg);

/* Accepts a new client socket on l (called by the loop's listener). */
void sr_conn_accept(struct sr_loop *l, int fd, const struct sockaddr *addr);

/* Drain: idle connections close now; busy ones after their response. */
void sr_conn_drain(struct sr_conn *c);
/* Force: close now, cancelling what is in flight. */
void sr_conn_close_now(struct sr_conn *c);
bool sr_conn_busy(const struct sr_conn *c);
struct sr_conn *sr_conn_next(const struct sr_conn *c);

#endif
