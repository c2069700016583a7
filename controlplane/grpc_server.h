/*
 * grpc_server: a gRPC server over HTTP/2 (net/h2_session and net/tls_io on
 * libevent; TLS with ALPN h2 and optional client certificates, or cleartext
 * h2c with prior knowledge), running its own event loop in its own thread.
 *
 * It owns connections, streams and the wire protocol: request validation
 * (POST, content-type application/grpc, else HTTP 415), bearer-token
 * authentication (constant-time compare, UNAUTHENTICATED), method lookup
 * (UNIMPLEMENTED), the message size limit (RESOURCE_EXHAUSTED, refused from
 * the 5-byte prefix before buffering), exactly one request message,
 * grpc-timeout deadlines (DEADLINE_EXCEEDED), trailers-only responses for
 * early errors, grpc-status/grpc-message trailers, RST_STREAM after an early
 * answer, and GOAWAY on stop. Services see only calls (grpc_call.h): a
 * decoded request message in, messages and one final status out.
 *
 * Threading: handlers and cancel callbacks run on the server's thread; a
 * handler may finish its call at once or later (from a timer or another
 * event on sr_grpc_call_base()). sr_grpc_server_stop() may be called from
 * any thread.
 */
#ifndef SR_GRPC_SERVER_H
#define SR_GRPC_SERVER_H

#include "grpc_call.h"

#include "common/secret.h"

#include <event2/event.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_grpc_server;

struct sr_grpc_server_config {
    const char *host;
    long port;              /* 0 = any free port */
    size_t max_message;     /* largest request message accepted, bytes */
    uint32_t max_streams;   /* concurrent streams per connection */
    size_t max_connections; /* beyond: new connections are closed at once */
    long stop_grace_ms;     /* how long stop waits for connections to drain */
    struct ssl_ctx_st *tls; /* TLS context (the server takes a reference), or NULL */
    /* The bearer token calls must carry (common/secret.h; checked once per
     * call, when its headers arrive, so a reload applies to new calls), or
     * NULL for none. Not owned; must outlive the server. */
    struct sr_secret *token;
};

/* Binds the listener (so the port is known and errors are reported before
 * any thread starts). NULL on failure, with a one-line reason in err. The
 * method table and ctx must outlive the server. */
struct sr_grpc_server *sr_grpc_server_new(const struct sr_grpc_server_config *cfg,
                                          const struct sr_grpc_method *methods, size_t nmethods,
                                          void *ctx, char *err, size_t errlen);
int sr_grpc_server_port(const struct sr_grpc_server *s);
/* Runs the loop in a new thread. 0 or -1. */
int sr_grpc_server_start(struct sr_grpc_server *s);
/* Graceful stop from any thread: GOAWAY, open calls end UNAVAILABLE,
 * connections close once drained (at most stop_grace_ms); joins the thread. */
void sr_grpc_server_stop(struct sr_grpc_server *s);
/* After stop (or if never started). Accepts NULL. */
void sr_grpc_server_free(struct sr_grpc_server *s);

#endif
