/*
 * h1_client: the one HTTP/1.1 client. One struct sr_h1_client is one
 * connection to one server address, on one libevent base: non-blocking
 * connect (with a timeout), the request written as given (head, then
 * body, without copying), the response parsed by h1_response (status,
 * headers, Content-Length / chunked / until close, limits) and handed to
 * the caller's handler as it arrives; backpressure by pausing the reads.
 *
 * Keep-alive: after a response that allows it the connection stays open
 * (idle) for the next sr_h1_client_send(). While idle, the server closing
 * it, bytes nobody asked for, or idle_timeout_ms passing close it; the
 * owner hears of that through on_idle_closed (a pool drops it there), or
 * else the next send simply connects anew. A request sent on such a
 * reused connection that fails before any response byte (the server had
 * closed it meanwhile) is sent once more on a new connection,
 * transparently. Pools of clients (per worker, per thread) are the
 * caller's: dataplane/upstream.c is one. One-shot use is the same
 * client with "Connection: close" in the head (dataplane/fetch.c, the
 * launcher's readiness checks); the load generator keeps one per user.
 *
 * Callbacks: the handler hears exactly one of on_done or on_error per
 * request, never from inside sr_h1_client_send(). Inside any callback the
 * caller may call sr_h1_client_free(), sr_h1_client_close(),
 * sr_h1_client_pause() and (from on_done, on_error) sr_h1_client_send();
 * the client is never freed under its own feet.
 *
 * Ownership: the request bytes (head, body) and the handler are borrowed
 * until on_done, on_error, close or free; the options' scratch buffer is
 * borrowed for the client's life. Response views are valid during the
 * callback. One thread (the base's).
 */
#ifndef SR_H1_CLIENT_H
#define SR_H1_CLIENT_H

#include "h1_response.h"

#include "common/buf.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct sr_h1_client;

struct sr_h1_client_handler {
    void (*on_head)(void *ctx, const struct sr_h1_response *resp);
    void (*on_body)(void *ctx, const char *data, size_t len);
    /* The response is complete; the connection is idle (kept alive) or
     * closed, see sr_h1_client_idle(). */
    void (*on_done)(void *ctx);
    /* why: a short reason for logs and error bodies (valid during the
     * call); local: this side could not even try (out of descriptors or
     * memory), which says nothing about the server. */
    void (*on_error)(void *ctx, const char *why, bool local);
};

struct sr_h1_client_request {
    const char *head; /* request line + headers + blank line */
    size_t head_len;
    const char *body;
    size_t body_len;
};

struct sr_h1_client_options {
    long connect_timeout_ms; /* 0: none (the caller has its own deadline) */
    long idle_timeout_ms;    /* an idle kept-alive connection closes after this; 0: never */
    struct sr_h1_response_limits limits;
    /* Where reads land: a buffer shared by the clients of one thread, or
     * NULL for 16 KiB on the stack. */
    char *scratch;
    size_t scratch_len;
    /* The word for the server in error reasons ("worker"); NULL: "server". */
    const char *peer;
    /* An idle connection closed (see above); owner is passed back. May
     * free the client. NULL: nobody needs to know. */
    void (*on_idle_closed)(void *owner, struct sr_h1_client *c);
    void *owner;
};

/* A client for addr (copied; NULL: not known yet, every request then fails
 * with "no address for the <peer> yet"). Does not connect before the first
 * send. NULL when out of memory. */
struct sr_h1_client *sr_h1_client_new(struct event_base *base, const struct sockaddr *addr,
                                      socklen_t addr_len, const struct sr_h1_client_options *opts);

/* Closes the connection and frees the client (later, when called inside
 * one of its callbacks); the handler hears nothing more. NULL is fine. */
void sr_h1_client_free(struct sr_h1_client *c);

/* Sends req, connecting first when no connection is open. 0, or
 * SR_ERR_INVALID when a request is already in flight or when called from
 * on_head or on_body (nothing called).
 * Every failure after that reaches the handler's on_error. */
int sr_h1_client_send(struct sr_h1_client *c, const struct sr_h1_client_request *req,
                      const struct sr_h1_client_handler *h, void *ctx);

/* Drops the request in flight (the handler hears nothing more) and closes
 * the connection (a server stops its work when its client goes); the next
 * send connects anew. */
void sr_h1_client_close(struct sr_h1_client *c);

/* Backpressure: stop / resume reading the response. */
void sr_h1_client_pause(struct sr_h1_client *c, bool paused);

/* True when the connection is open with no request in flight (kept alive
 * after a response). */
bool sr_h1_client_idle(const struct sr_h1_client *c);

/* Appends a request head to out: "METHOD target HTTP/1.1", Host, then
 * extra_headers (each line ending "\r\n"; NULL: none), Content-Length when
 * content_length >= 0, and the blank line. 0, SR_ERR_TOO_LARGE or
 * SR_ERR_NOMEM (see buf.h). */
int sr_h1_client_format_head(struct sr_buf *out, const char *method, const char *target,
                             const char *host, const char *extra_headers, long long content_length);

#endif
