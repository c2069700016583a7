/* server: listener, connections, HTTP/1.1 framing (see server.h). */
#include "server.h"

#include "common/alloc.h"
#include "common/log.h"

#include "net/h1_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Bytes read per read(2); what cannot be parsed yet (pipelined requests
 * waiting for their turn) is held by net/h1_server, and reading pauses
 * while it is full. */
#define READ_BUFFER_BYTES (64 * 1024)

/* Connection I/O is done here directly (read(2) into a fixed buffer, writev
 * from an evbuffer, write interest only while output is pending): one read
 * and one write per request, no per-request epoll_ctl or FIONREAD. HTTP/1
 * itself (parsing, pipelining, framing) is the router's, net/h1_server. */
struct sr_sim_conn {
    struct sr_sim *sim;
    const struct sr_sim_routes *routes; /* of the listener that accepted it */
    struct sr_sim_conn *prev, *next;    /* sim->conns */
    evutil_socket_t fd;
    struct event *read_ev, *write_ev;
    struct event *resume; /* parses pipelined input after an async answer */
    struct evbuffer *out;
    struct sr_h1_server *srv;
    void *job;
    sr_sim_job_cancel_cb cancel;
    bool closing;            /* close once the output is flushed */
    bool processing;         /* inside process_input: it flushes at its end */
    bool reading;            /* read_ev is added */
    char worker_header[300]; /* "X-Worker-Id: ...\r\n", on every response */
    char rbuf[READ_BUFFER_BYTES];
};

static void conn_free(struct sr_sim_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->sim->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->job && c->cancel)
        c->cancel(c->job);
    if (c->read_ev)
        event_free(c->read_ev);
    if (c->write_ev)
        event_free(c->write_ev);
    if (c->resume)
        event_free(c->resume);
    sr_h1_server_free(c->srv);
    if (c->out)
        evbuffer_free(c->out);
    if (c->fd >= 0)
        evutil_closesocket(c->fd);
    sr_free(c);
}

/* The connection is freed from its resume event, never from inside a
 * caller that may still hold it (an engine callback, a handler). */
static void schedule_close(struct sr_sim_conn *c)
{
    c->closing = true;
    event_active(c->resume, EV_TIMEOUT, 1);
}

/* Writes pending output; arms the write event only while the socket is
 * full. */
static void flush(struct sr_sim_conn *c)
{
    while (evbuffer_get_length(c->out) > 0) {
        if (evbuffer_write(c->out, c->fd) < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            evbuffer_drain(c->out, evbuffer_get_length(c->out)); /* the client is gone */
            schedule_close(c);
            return;
        }
    }
    if (evbuffer_get_length(c->out) > 0) {
        event_add(c->write_ev, NULL);
        return;
    }
    event_del(c->write_ev);
    if (c->closing)
        schedule_close(c);
}

/* The job (if any) is done with this request. */
static void answered(struct sr_sim_conn *c)
{
    c->job = NULL;
    c->cancel = NULL;
}

void sr_sim_respond(struct sr_sim_conn *c, int status, const char *content_type, const char *body,
                    size_t len)
{
    answered(c);
    sr_h1_server_respond(c->srv, status, content_type, body, len, c->worker_header);
}

void sr_sim_respond_buffer(struct sr_sim_conn *c, int status, const char *content_type,
                           struct evbuffer *buf)
{
    answered(c);
    sr_h1_server_respond_buffer(c->srv, status, content_type, buf, c->worker_header);
}

void sr_sim_stream_begin(struct sr_sim_conn *c, int status, const char *content_type)
{
    char head[600];
    int n = snprintf(head, sizeof(head), "Content-Type: %s\r\n%s", content_type, c->worker_header);
    if (n < 0 || (size_t)n >= sizeof(head))
        n = 0;
    /* Chunked; to an HTTP/1.0 client the stream ends with the connection. */
    sr_h1_server_begin(c->srv, status, head, (size_t)n, -1);
}

void sr_sim_stream_write(struct sr_sim_conn *c, struct evbuffer *chunk)
{
    sr_h1_server_body_buffer(c->srv, chunk);
}

void sr_sim_stream_end(struct sr_sim_conn *c)
{
    answered(c);
    sr_h1_server_end(c->srv);
}

void sr_sim_conn_attach_job(struct sr_sim_conn *c, void *job, sr_sim_job_cancel_cb cancel)
{
    c->job = job;
    c->cancel = cancel;
}

void sr_sim_conn_detach_job(struct sr_sim_conn *c)
{
    c->job = NULL;
    c->cancel = NULL;
}

void sr_sim_conn_flush_and_exit(struct sr_sim_conn *c, int status)
{
    while (evbuffer_get_length(c->out) > 0 && evbuffer_write(c->out, c->fd) > 0)
        ;
    fprintf(stderr, "sglang-worker-sim: crashing on purpose (--crash-after)\n");
    _exit(status);
}

/* ---- net/h1_server's callbacks -------------------------------------------- */

static void on_request(void *arg, const struct sr_h1_request *req)
{
    struct sr_sim_conn *c = arg;
    c->routes->request(c->sim, c, req);
}

static void on_bad_request(void *arg, int status, const char *reason)
{
    struct sr_sim_conn *c = arg;
    char msg[160];
    snprintf(msg, sizeof(msg), "malformed HTTP request: %s", reason);
    c->routes->error(c, status, status == 400 ? msg : reason);
}

static void on_phase(void *arg, enum sr_h1_phase phase)
{
    struct sr_sim_conn *c = arg;
    if (phase == SR_H1_CLOSING)
        c->closing = true; /* once the output is flushed */
}

/* Output queued from outside process_input: written now. */
static void on_queued(void *arg)
{
    flush(arg);
}

static void on_resume_needed(void *arg)
{
    struct sr_sim_conn *c = arg;
    event_active(c->resume, EV_TIMEOUT, 1);
}

static const struct sr_h1_server_cbs server_cbs = {
    .request = on_request,
    .bad_request = on_bad_request,
    .phase = on_phase,
    .queued = on_queued,
    .resume = on_resume_needed,
};

/* ---- connections ---------------------------------------------------------------- */

static void set_reading(struct sr_sim_conn *c, bool on)
{
    if (on == c->reading)
        return;
    c->reading = on;
    if (on)
        event_add(c->read_ev, NULL);
    else
        event_del(c->read_ev);
}

/* Hands input (or, with NULL, what is held) to the HTTP/1 server, which
 * answers complete requests one at a time; then writes what was queued. */
static void process_input(struct sr_sim_conn *c, const char *data, size_t len)
{
    c->processing = true;
    sr_h1_server_input(c->srv, data, len);
    c->processing = false;
    /* Read on while there is room; a full buffer waits for the answer. */
    set_reading(c, !c->closing && sr_h1_server_room(c->srv) > 0);
    flush(c);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_sim_conn *c = arg;
    if (!c->closing)
        process_input(c, NULL, 0);
    else if (evbuffer_get_length(c->out) == 0)
        conn_free(c); /* cancels a job still answering */
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sr_sim_conn *c = arg;
    size_t room = sr_h1_server_room(c->srv);
    if (room > sizeof(c->rbuf))
        room = sizeof(c->rbuf);
    if (room == 0) {
        set_reading(c, false);
        return;
    }
    ssize_t n = read(fd, c->rbuf, room);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_free(c); /* closed or reset: cancels a job still answering */
        return;
    }
    if (n < 0)
        return;
    process_input(c, c->rbuf, (size_t)n);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
                      int socklen, void *arg)
{
    (void)l;
    (void)addr;
    (void)socklen;
    struct sr_sim_endpoint *ep = arg;
    struct sr_sim *sim = ep->sim;
    struct sr_sim_conn *c = sr_malloc(sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    memset(c, 0, offsetof(struct sr_sim_conn, rbuf));
    c->sim = sim;
    c->routes = ep->routes;
    snprintf(c->worker_header, sizeof(c->worker_header), "X-Worker-Id: %s\r\n", sim->worker_id);
    c->next = sim->conns;
    if (sim->conns)
        sim->conns->prev = c;
    sim->conns = c;
    c->fd = fd;
    struct sr_h1_limits limits = {
        .max_head_bytes = 64 * 1024,
        .max_headers = 100,
        .max_body_bytes = (size_t)sim->cfg->max_payload_bytes,
    };
    c->out = evbuffer_new();
    c->srv = c->out ? sr_h1_server_new(&limits, c->out, &server_cbs, c) : NULL;
    c->read_ev = event_new(sim->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->write_ev = event_new(sim->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->resume = event_new(sim->base, -1, 0, on_resume, c);
    if (c->srv == NULL || c->out == NULL || c->read_ev == NULL || c->write_ev == NULL ||
        c->resume == NULL) {
        conn_free(c);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    set_reading(c, true);
}

void sr_sim_server_close_all(struct sr_sim *sim)
{
    while (sim->conns)
        conn_free(sim->conns);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    sr_log_warn("accept: %s", strerror(errno)); /* e.g. EMFILE; the listener goes on */
}

struct evconnlistener *sr_sim_server_listen(struct sr_sim_endpoint *ep, long listen_port,
                                            int *bound_port)
{
    struct sr_sim *sim = ep->sim;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%ld", listen_port);
    int rc = getaddrinfo(sim->cfg->host, port, &hints, &res);
    if (rc != 0) {
        sr_log_error("cannot resolve --host %s: %s", sim->cfg->host, gai_strerror(rc));
        return NULL;
    }
    struct evconnlistener *l =
        evconnlistener_new_bind(sim->base, on_accept, ep, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                                1024, res->ai_addr, (int)res->ai_addrlen);
    freeaddrinfo(res);
    if (l == NULL) {
        sr_log_error("cannot listen on %s:%ld: %s", sim->cfg->host, listen_port, strerror(errno));
        return NULL;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &len);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return l;
}
