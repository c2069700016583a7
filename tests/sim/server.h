/*
 * server: the simulated worker's HTTP/1.1 side: listener, connections
 * (sockets read and written directly), and the response writers the api
 * uses, on the router's own HTTP/1 server module (net/h1_server: request
 * parsing, keep-alive, pipelining answered in order, framing).
 *
 * A connection answers one request at a time. The api either answers at
 * once (sr_sim_respond) or attaches a job that answers later, possibly as a
 * chunked stream (sr_sim_stream_*); a job is cancelled through its cancel
 * function if the client goes away first. Every response carries
 * X-Worker-Id.
 */
#ifndef SR_SIM_SERVER_H
#define SR_SIM_SERVER_H

#include "sim.h"

#include <event2/listener.h>
#include <stddef.h>

struct sr_sim_conn;
typedef void (*sr_sim_job_cancel_cb)(void *job);

/* One listening socket's owner and what answers on it; borrowed by the
 * listener and its connections, so it must outlive them. */
struct sr_sim_endpoint {
    struct sr_sim *sim;
    const struct sr_sim_routes *routes;
};

/* Binds --host:port (port 0 = any free port, written to *bound_port).
 * NULL on failure (message logged). */
struct evconnlistener *sr_sim_server_listen(struct sr_sim_endpoint *ep, long port, int *bound_port);

/* Closes every connection (at exit; jobs in flight are cancelled). */
void sr_sim_server_close_all(struct sr_sim *sim);

/* A complete response with Content-Length. */
void sr_sim_respond(struct sr_sim_conn *c, int status, const char *content_type, const char *body,
                    size_t len);

/* The same, taking the body from buf (left empty). */
struct evbuffer;
void sr_sim_respond_buffer(struct sr_sim_conn *c, int status, const char *content_type,
                           struct evbuffer *buf);

/* A streamed response: head now, then chunks, then the end. */
void sr_sim_stream_begin(struct sr_sim_conn *c, int status, const char *content_type);
/* Sends chunk's contents as one chunk (chunk is left empty). */
void sr_sim_stream_write(struct sr_sim_conn *c, struct evbuffer *chunk);
void sr_sim_stream_end(struct sr_sim_conn *c);

/* The request is being answered later by job; cancel is called if the
 * connection closes first. */
void sr_sim_conn_attach_job(struct sr_sim_conn *c, void *job, sr_sim_job_cancel_cb cancel);
/* The job answered; detaches it. */
void sr_sim_conn_detach_job(struct sr_sim_conn *c);

/* Pushes what is queued for the client onto the socket, then ends the
 * process (the --crash-after fault). */
void sr_sim_conn_flush_and_exit(struct sr_sim_conn *c, int status) __attribute__((noreturn));

#endif
