/*
 * grpc_call: one gRPC call (an HTTP/2 stream of the admin server) from the
 * moment its request is complete to its trailers: what a service's
 * handlers see, and the few steps the server drives.
 *
 * Handlers: a method table entry (struct sr_grpc_method) names the handler;
 * the handler answers with sr_grpc_call_send / _reply / _finish, at once or
 * later from an event on sr_grpc_call_base(), and learns of an early end
 * (client cancel, deadline, disconnect, server stop) through its cancel
 * callback.
 *
 * The server (grpc_server.c) owns connections and reads requests: it
 * creates a call per stream with the connection's link (the HTTP/2
 * session, the event base, and how to flush), fills in the request fields
 * as headers and data arrive, checks the head, arms the deadline, and
 * dispatches the body; on stream close it abandons and frees the call.
 * The struct's fields are the server's and this module's, not the
 * handlers'.
 *
 * Threading: the server's thread only.
 */
#ifndef SR_GRPC_CALL_H
#define SR_GRPC_CALL_H

#include "common/buf.h"

#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_grpc_call;

struct sr_grpc_method {
    const char *path; /* "/package.Service/Method" */
    const ProtobufCMessageDescriptor *input;
    bool open; /* callable without the token (health checks) */
    /* request is freed after the handler returns: copy what outlives it. */
    void (*handle)(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request);
};

/* ---- for handlers ---- */

/* Queues one response message. 0, or -1 (out of memory: the call is then
 * finished with RESOURCE_EXHAUSTED and must not be used again). */
int sr_grpc_call_send(struct sr_grpc_call *call, const ProtobufCMessage *msg);
/* Ends the call with a status; message may be NULL. The call must not be
 * used afterwards. */
void sr_grpc_call_finish(struct sr_grpc_call *call, int status, const char *message);
/* send + finish(OK), or the error if sending failed. */
void sr_grpc_call_reply(struct sr_grpc_call *call, const ProtobufCMessage *msg);
/* Called once if the call ends before the handler finished it (client
 * cancel, deadline, disconnect, server stop); the call is gone afterwards. */
void sr_grpc_call_on_cancel(struct sr_grpc_call *call, void (*fn)(void *arg), void *arg);
/* Response bytes queued and not yet sent (a slow reader's backlog). */
size_t sr_grpc_call_backlog(const struct sr_grpc_call *call);
struct event_base *sr_grpc_call_base(struct sr_grpc_call *call);

/* ---- for the server ---- */

/* What a call needs of its connection; the connection owns it and outlives
 * its calls. */
struct sr_grpc_call_link {
    nghttp2_session *session;
    struct event_base *base;
    void (*flush)(void *conn); /* sends what the session has queued */
    void *conn;
};

struct sr_grpc_call {
    const struct sr_grpc_call_link *link;
    int32_t id;
    struct sr_grpc_call *next; /* the connection's streams */
    /* request, filled in by the server */
    size_t header_bytes;
    bool post, grpc_content, authorized;
    bool has_timeout;
    uint64_t timeout_ms;
    char path[256];
    bool path_too_long;
    struct sr_buf body; /* the request's framed message, up to max_message + prefix */
    const struct sr_grpc_method *method;
    bool remote_closed; /* END_STREAM received */
    bool dispatched;    /* the handler has it */
    /* response */
    struct evbuffer *out;
    bool response_started;
    bool finished; /* status decided: nothing more is queued */
    int status;
    char message[512]; /* percent-encoded */
    struct event *deadline;
    void (*cancel)(void *arg);
    void *cancel_arg;
};

/* A call for stream id, its body limited to max_body bytes. NULL when out
 * of memory. */
struct sr_grpc_call *sr_grpc_call_new(const struct sr_grpc_call_link *link, int32_t id,
                                      size_t max_body);
/* Answers a request that is not gRPC at all with a bare HTTP status. */
void sr_grpc_call_refuse_http(struct sr_grpc_call *call, const char *status);
/* Starts the grpc-timeout deadline (DEADLINE_EXCEEDED when it fires).
 * 0, or -1 (out of memory; the call is then finished). */
int sr_grpc_call_arm_deadline(struct sr_grpc_call *call);
/* The body is complete: unpack its one message and call the method's
 * handler with ctx. */
void sr_grpc_call_dispatch(struct sr_grpc_call *call, void *ctx);
/* The handler's side ends without a finish from it: tell it (its cancel
 * callback), then end the call with status unless status < 0 or it ended. */
void sr_grpc_call_abandon(struct sr_grpc_call *call, int status, const char *message);
void sr_grpc_call_free(struct sr_grpc_call *call);

#endif
