/*
 * h1_server: the server side of one HTTP/1.x connection, without the
 * socket: requests parsed from the bytes the caller reads (h1_parser, one
 * at a time, so pipelined requests are answered in order) and responses
 * framed into the caller's output buffer. Used by the router's client
 * connections (dataplane/h1.c) and by the simulated worker.
 *
 * Input: sr_h1_server_input() parses straight from the caller's buffer;
 * what cannot be parsed yet (the rest of a request, requests pipelined
 * behind a busy one) is copied into a held buffer of at most
 * SR_H1_SERVER_HOLD bytes (allocated only while bytes wait: an idle
 * connection holds none). The caller reads no more than
 * sr_h1_server_room() bytes, and stops reading at 0.
 *
 * Responses, one per request: a whole one (sr_h1_server_respond), or a
 * head, body pieces and an end. The rules of HTTP/1.1: Connection:
 * keep-alive or close (close when the client asked for it, when it speaks
 * HTTP/1.0 without keep-alive, after a malformed request or once the
 * server drains); Content-Length when the length is known, else chunked,
 * or, to a client that cannot take chunked (HTTP/1.0), the body ends with
 * the connection; "100 Continue" for Expect: 100-continue.
 *
 * The caller learns what to do through callbacks: a request to answer, a
 * malformed one to refuse, the phase (for its timers: head, body,
 * keep-alive), output queued from outside sr_h1_server_input (to write),
 * a resume (held input may hold the next request: call
 * sr_h1_server_input(s, NULL, 0) from the caller's own event, never from
 * inside the answering call), and the closing phase (close the connection
 * once the output is written).
 *
 * Ownership: the server borrows out and the callbacks' arg for its life;
 * the request's views stay valid until its response ends. One thread.
 */
#ifndef SR_H1_SERVER_H
#define SR_H1_SERVER_H

#include "h1_parser.h"

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct sr_h1_server;

/* Input waiting beyond this makes sr_h1_server_room() 0. */
#define SR_H1_SERVER_HOLD (64 * 1024)

enum sr_h1_phase {
    SR_H1_IDLE,    /* waiting for the first byte of a request (keep-alive) */
    SR_H1_HEAD,    /* a request's head is arriving */
    SR_H1_BODY,    /* its head is complete, its body is arriving */
    SR_H1_BUSY,    /* a request is being answered */
    SR_H1_CLOSING, /* the last response is queued: close once it is written */
};

struct sr_h1_server_cbs {
    /* A complete request: answer it now or later. */
    void (*request)(void *arg, const struct sr_h1_request *req);
    /* Input that is not a valid request (status 400, 413, 431, or 500 when
     * out of memory; reason is short): answer it with a response; the
     * connection closes after it. */
    void (*bad_request)(void *arg, int status, const char *reason);
    /* The phase changed (sr_h1_server_phase). May be NULL. */
    void (*phase)(void *arg, enum sr_h1_phase phase);
    /* Output was queued outside sr_h1_server_input: write it. */
    void (*queued)(void *arg);
    /* A response ended outside sr_h1_server_input while the connection
     * stays open: call sr_h1_server_input(s, NULL, 0) soon. */
    void (*resume)(void *arg);
};

/* NULL when out of memory. */
struct sr_h1_server *sr_h1_server_new(const struct sr_h1_limits *limits, struct evbuffer *out,
                                      const struct sr_h1_server_cbs *cbs, void *arg);
void sr_h1_server_free(struct sr_h1_server *s);

/* Bytes read from the client (data may be NULL when len is 0: go on with
 * held input). Requests are parsed and handed to cbs->request while the
 * server is not busy. 0, or SR_ERR_TOO_LARGE (more than
 * sr_h1_server_room()) or SR_ERR_NOMEM when the bytes that must wait
 * cannot be held: then the server is closing. */
int sr_h1_server_input(struct sr_h1_server *s, const char *data, size_t len);
/* How many more bytes the caller may hand over now. */
size_t sr_h1_server_room(const struct sr_h1_server *s);
/* Bytes held (not parsed yet). */
size_t sr_h1_server_held(const struct sr_h1_server *s);
enum sr_h1_phase sr_h1_server_phase(const struct sr_h1_server *s);

/* Graceful stop: the next response says Connection: close; an idle
 * server (no request started, nothing held) closes at once. */
void sr_h1_server_drain(struct sr_h1_server *s);
/* The request being read will not be completed (the caller's header or
 * body timeout): the caller answers it (408), then the connection
 * closes. */
void sr_h1_server_give_up(struct sr_h1_server *s);

/* A whole response: status line, Content-Type, Content-Length,
 * extra_headers ("Name: value\r\n" lines, or NULL), Connection, body. */
void sr_h1_server_respond(struct sr_h1_server *s, int status, const char *content_type,
                          const char *body, size_t len, const char *extra_headers);
/* The same, the body taken from buf (left empty). */
void sr_h1_server_respond_buffer(struct sr_h1_server *s, int status, const char *content_type,
                                 struct evbuffer *buf, const char *extra_headers);

/* A response in pieces: status line and head_lines ("Name: value\r\n"
 * each, already filtered of framing headers), then the framing for
 * content_length (< 0: unknown), then body pieces, then the end. */
void sr_h1_server_begin(struct sr_h1_server *s, int status, const char *head_lines, size_t head_len,
                        long long content_length);
void sr_h1_server_body(struct sr_h1_server *s, const char *data, size_t len);
/* The same, the piece taken from buf (left empty). */
void sr_h1_server_body_buffer(struct sr_h1_server *s, struct evbuffer *buf);
void sr_h1_server_end(struct sr_h1_server *s);
/* The response cannot be completed: no end is written and the connection
 * closes once what was queued is written (the client sees a truncated
 * response). */
void sr_h1_server_abort(struct sr_h1_server *s);

#endif
