/*
 * conn: the client side of the router, in two layers.
 *
 * struct sr_conn is the client side of one request, whatever the protocol:
 * what the pipeline, the proxy and the local routes answer through. An
 * HTTP/1 connection is one (it answers one request at a time); each HTTP/2
 * stream is one (h2.h). Each protocol implements the ops.
 *
 * struct sr_client is one client connection, from accept to close, on the
 * loop that accepted it: the socket, TLS, timeouts, and the protocol. It
 * reads into a fixed buffer; over HTTP/1 it parses with h1_parser (one
 * request at a time, so pipelined requests are answered in order) and
 * writes responses with writev straight away (write interest only while
 * the socket is full); a client that speaks HTTP/2 (ALPN h2, or the
 * cleartext preface) is handed to an h2 session instead.
 *
 * Timeouts: headers must arrive within --client-header-timeout-secs of the
 * first byte, the body within --client-body-timeout-secs (408), an idle
 * keep-alive connection closes after --keepalive-timeout-secs.
 *
 * An exchange (proxy.c) answering a request attaches itself; if the client
 * goes away first, the connection calls the exchange's gone callback (which
 * must release everything) before closing. A connection never frees itself
 * inside a call from outside: closes go through its own event.
 *
 * Backpressure: sr_conn_output_full() tells whether the client's output is
 * past a mark (budget.h); the drain callback runs when it falls below the
 * low watermark. Over the router's buffer budget, sr_client_reap_stalled()
 * closes the clients that hold the most and have read nothing for the
 * grace period.
 */
#ifndef SR_CONN_H
#define SR_CONN_H

#include "net/h1_parser.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_loop;
struct sr_conn;
struct sr_client;
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

/* What a protocol provides for one request's answer (see the functions
 * below of the same names). */
struct sr_conn_ops {
    void (*respond)(struct sr_conn *c, int status, const char *content_type, const char *body,
                    size_t len, const char *extra_headers);
    void (*response_begin)(struct sr_conn *c, int status, const char *head_lines, size_t head_len,
                           long long content_length);
    void (*response_body)(struct sr_conn *c, const char *data, size_t len);
    void (*response_end)(struct sr_conn *c);
    void (*response_abort)(struct sr_conn *c);
    bool (*output_full)(const struct sr_conn *c, size_t mark);
};

struct sr_conn {
    const struct sr_conn_ops *ops;
    struct sr_loop *loop;
    void *exchange;
    void (*gone)(void *exchange);
    void (*drained)(void *arg);
    void *drained_arg;
};

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

/* True when the response's output (for HTTP/2, also its connection's) is
 * past mark bytes: time to pause the worker. */
bool sr_conn_output_full(const struct sr_conn *c, size_t mark);
void sr_conn_set_drain_cb(struct sr_conn *c, void (*drained)(void *arg), void *arg);

/* ---- connections ---- */

/* Accepts a new client socket on l (called by the loop's listener). */
void sr_client_accept(struct sr_loop *l, int fd, const struct sockaddr *addr);

/* Drain: idle connections close now; busy ones after their responses
 * (HTTP/2: GOAWAY, open streams finish). */
void sr_client_drain(struct sr_client *c);
/* Force: close now, cancelling what is in flight. */
void sr_client_close_now(struct sr_client *c);
bool sr_client_busy(const struct sr_client *c);
struct sr_client *sr_client_next(const struct sr_client *c);

/* Over the buffer budget: closes l's connections that hold more than
 * SR_BUDGET_MARK_LOW response bytes and wrote nothing for
 * --slow-client-grace-secs, the largest first, while the router stays over
 * budget. Returns how many were closed. From l's thread, outside any
 * connection's callback. */
size_t sr_client_reap_stalled(struct sr_loop *l);

#endif
