/*
 * request: one client request, whatever the protocol, and the side that
 * answers it.
 *
 * struct sr_request is a request as every codec presents it: HTTP/1
 * (h1.h) and HTTP/2 (h2.h) both produce one for the pipeline.
 *
 * struct sr_reply is the answering side of one request: what the
 * pipeline, the proxy and the local routes answer through. An HTTP/1
 * connection is one (it answers one request at a time); each HTTP/2
 * stream is one. Each protocol implements the ops (struct sr_reply_ops);
 * the functions below call them.
 *
 * An exchange answering a request later (the proxy, a queued request, a
 * fan-out) attaches itself; if the client goes away first, the protocol
 * calls the exchange's gone callback (which must release everything) and
 * the exchange must not touch the reply again.
 *
 * Ownership: the request's views (method, path, headers, body) belong to
 * the protocol and stay valid until the response ends. A reply belongs to
 * its protocol; callers borrow it until they end the response or their
 * gone callback runs. One loop, one thread.
 */
#ifndef SR_REQUEST_H
#define SR_REQUEST_H

#include "net/h1_parser.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_loop;
struct sr_reply;

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

/* The first header called name (case-insensitive), or NULL. */
const struct sr_http_header *sr_request_header(const struct sr_request *req, const char *name);

/* What a protocol provides for one request's answer (see the functions
 * below of the same names). */
struct sr_reply_ops {
    void (*respond)(struct sr_reply *c, int status, const char *content_type, const char *body,
                    size_t len, const char *extra_headers);
    void (*response_begin)(struct sr_reply *c, int status, const char *head_lines, size_t head_len,
                           long long content_length);
    void (*response_body)(struct sr_reply *c, const char *data, size_t len);
    void (*response_end)(struct sr_reply *c);
    void (*response_abort)(struct sr_reply *c);
    bool (*output_full)(const struct sr_reply *c, size_t mark);
};

/* Embedded first in each protocol's own object. */
struct sr_reply {
    const struct sr_reply_ops *ops;
    struct sr_loop *loop; /* the loop serving the client */
    void *exchange;
    void (*gone)(void *exchange);
    void (*drained)(void *arg);
    void *drained_arg;
};

struct sr_loop *sr_reply_loop(const struct sr_reply *c);

/* A whole response. extra_headers: "Name: value\r\n" lines, or NULL. */
void sr_reply_respond(struct sr_reply *c, int status, const char *content_type, const char *body,
                      size_t len, const char *extra_headers);

/* A relayed response: head (status + header lines from head_lines, already
 * filtered, each "Name: value\r\n"), then body pieces, then the end.
 * content_length < 0: the length is unknown and the body is sent chunked
 * (or, to an HTTP/1.0 client, until the connection closes). */
void sr_reply_begin(struct sr_reply *c, int status, const char *head_lines, size_t head_len,
                    long long content_length);
void sr_reply_body(struct sr_reply *c, const char *data, size_t len);
void sr_reply_end(struct sr_reply *c);
/* The response cannot be completed (worker failed mid-stream): the client
 * sees a truncated response (HTTP/1: the connection closes once what was
 * queued is written; HTTP/2: RST_STREAM), not a complete-looking one. */
void sr_reply_abort(struct sr_reply *c);

/* The request is answered later by exchange; gone() is called if the
 * client disconnects first (then the exchange must not touch c again). */
void sr_reply_attach(struct sr_reply *c, void *exchange, void (*gone)(void *exchange));
void sr_reply_detach(struct sr_reply *c);
/* The protocol's side: the client went away; tells an attached exchange
 * (once). */
void sr_reply_client_gone(struct sr_reply *c);

/* True when the response's output (for HTTP/2, also its connection's) is
 * past mark bytes: time to pause the worker. drained(arg) runs when it
 * falls back under the protocol's low watermark. */
bool sr_reply_output_full(const struct sr_reply *c, size_t mark);
void sr_reply_set_drain_cb(struct sr_reply *c, void (*drained)(void *arg), void *arg);
/* The protocol's side: the output fell under its low watermark. */
void sr_reply_drained(struct sr_reply *c);

#endif
