/*
 * fetch: one small HTTP/1.1 request on its own connection (Connection:
 * close), for health checks and fan-outs to every worker, on the one
 * HTTP/1 client (net/h1_client.h) with an overall deadline and the whole
 * body collected; not for user traffic (that is upstream.h, with pools).
 * The request's strings and body are copied: the caller may free them
 * once sr_fetch() returns. The callback runs exactly once,
 * never from inside sr_fetch(), with the status (0 when the request failed,
 * -1 when the router could not even try: out of descriptors or memory;
 * then why says how) and the whole body (at most max_body bytes).
 */
#ifndef SR_FETCH_H
#define SR_FETCH_H

#include <event2/event.h>
#include <stddef.h>
#include <sys/socket.h>

typedef void (*sr_fetch_cb)(void *ctx, int status, const char *body, size_t len, const char *why);

struct sr_fetch_request {
    const struct sockaddr *addr;
    socklen_t addr_len;
    const char *host; /* Host header */
    const char *method;
    const char *path;
    const char *body;
    size_t body_len;
    long timeout_ms;
    size_t max_body;
};

struct sr_fetch;

/* Starts the request; NULL when out of memory (then the callback is not
 * called). The handle is valid until the callback has run. */
struct sr_fetch *sr_fetch(struct event_base *base, const struct sr_fetch_request *req,
                          sr_fetch_cb cb, void *ctx);

/* Abandons a request in flight: no callback. */
void sr_fetch_cancel(struct sr_fetch *f);

#endif
