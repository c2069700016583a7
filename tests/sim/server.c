/* server: listener, connections, HTTP/1.1 framing (see server.h). */
#include "server.h"

#include "api.h"
#include "reply.h"
#include "put.h"

#include "common/alloc.h"
#include "common/log.h"

#include "net/h1_parser.h"

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

/* Bytes read per read(2); unparsed input (pipelined requests waiting for
 * their turn) is held in this buffer, and reading pauses while it is full. */
#define READ_BUFFER_BYTES (64 * 1024)

/* Connection I/O is done here directly (read(2) into a fixed buffer, writev
 * from an evbuffer, write interest only while output is pending): one read
 * and one write per request, no per-request epoll_ctl or FIONREAD. */
struct sr_sim_conn {
    struct sr_sim *sim;
    struct sr_sim_conn *prev, *next; /* sim->conns */
    evutil_socket_t fd;
    struct event *read_ev, *write_ev;
    struct event *resume; /* parses pipelined input after an async answer */
    struct evbuffer *out;
    struct sr_h1_parser *parser;
    void *job;
    sr_sim_job_cancel_cb cancel;
    size_t rstart, rlen; /* unparsed bytes: rbuf[rstart, rstart + rlen) */
    bool busy;           /* a request is being answered */
    bool keep_alive;     /* of the current request */
    bool chunked;        /* the current stream uses chunked encoding */
    bool closing;        /* close once the output is flushed */
    bool processing;     /* inside process_input: it flushes at its end */
    bool sent_continue;  /* "100 Continue" already sent for this request */
    bool reading;        /* read_ev is added */
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
    if (c->out)
        evbuffer_free(c->out);
    if (c->fd >= 0)
        evutil_closesocket(c->fd);
    sr_h1_parser_free(c->parser);
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

/* Output was queued: flush now unless process_input will at its end. */
static void queued(struct sr_sim_conn *c)
{
    if (!c->processing)
        flush(c);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

#define BODY_CHUNKED     (-1) /* Transfer-Encoding: chunked */
#define BODY_UNTIL_CLOSE (-2) /* HTTP/1.0 stream: ends with the connection */

static void write_head(struct sr_sim_conn *c, int status, const char *content_type,
                       long long length)
{
    struct evbuffer *o = c->out;
    put_str(o, "HTTP/1.1 ");
    put_u64(o, (uint64_t)status);
    put_str(o, " ");
    put_str(o, reason(status));
    put_str(o, "\r\nContent-Type: ");
    put_str(o, content_type);
    if (length >= 0) {
        put_str(o, "\r\nContent-Length: ");
        put_u64(o, (uint64_t)length);
    } else if (length == BODY_CHUNKED) {
        put_str(o, "\r\nTransfer-Encoding: chunked");
    }
    put_str(o, "\r\nX-Worker-Id: ");
    put_str(o, c->sim->worker_id);
    put_str(o,
            c->keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
}

/* The current request is fully answered: go on with the next one. */
static void answered(struct sr_sim_conn *c)
{
    c->busy = false;
    c->job = NULL;
    c->cancel = NULL;
    c->sent_continue = false;
    if (!c->keep_alive) {
        c->closing = true;
        return;
    }
    sr_h1_parser_next(c->parser);
    if (!c->processing)
        event_active(c->resume, EV_TIMEOUT, 1);
}

void sr_sim_respond(struct sr_sim_conn *c, int status, const char *content_type, const char *body,
                    size_t len)
{
    write_head(c, status, content_type, (long long)len);
    evbuffer_add(c->out, body, len);
    answered(c);
    queued(c);
}

void sr_sim_respond_buffer(struct sr_sim_conn *c, int status, const char *content_type,
                           struct evbuffer *buf)
{
    write_head(c, status, content_type, (long long)evbuffer_get_length(buf));
    evbuffer_add_buffer(c->out, buf);
    answered(c);
    queued(c);
}

void sr_sim_stream_begin(struct sr_sim_conn *c, int status, const char *content_type)
{
    /* HTTP/1.0 has no chunked encoding: the stream ends with the connection. */
    c->chunked = c->keep_alive;
    write_head(c, status, content_type, c->chunked ? BODY_CHUNKED : BODY_UNTIL_CLOSE);
    queued(c);
}

void sr_sim_stream_write(struct sr_sim_conn *c, struct evbuffer *chunk)
{
    size_t len = evbuffer_get_length(chunk);
    if (len == 0)
        return;
    if (c->chunked)
        evbuffer_add_printf(c->out, "%zx\r\n", len);
    evbuffer_add_buffer(c->out, chunk);
    if (c->chunked)
        evbuffer_add(c->out, "\r\n", 2);
    queued(c);
}

void sr_sim_stream_end(struct sr_sim_conn *c)
{
    if (c->chunked)
        evbuffer_add(c->out, "0\r\n\r\n", 5);
    answered(c);
    queued(c);
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

static void send_continue(struct sr_sim_conn *c)
{
    evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    c->sent_continue = true;
}

static void parse_error(struct sr_sim_conn *c)
{
    c->keep_alive = false;
    c->busy = true;
    int status = sr_h1_parser_error_status(c->parser);
    char msg[160];
    snprintf(msg, sizeof(msg), "malformed HTTP request: %s", sr_h1_parser_error_reason(c->parser));
    sr_sim_reply_error(c, status, status == 400 ? msg : sr_h1_parser_error_reason(c->parser));
}

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

/* Feeds buffered input to the parser and answers complete requests, one at
 * a time, until input runs out or a request is being answered later; then
 * writes what was queued. */
static void process_input(struct sr_sim_conn *c)
{
    c->processing = true;
    while (!c->busy && !c->closing && c->rlen > 0) {
        size_t used = 0;
        enum sr_h1_result r = sr_h1_parser_feed(c->parser, c->rbuf + c->rstart, c->rlen, &used);
        c->rstart += used;
        c->rlen -= used;
        if (r == SR_H1_ERROR) {
            parse_error(c);
            break;
        }
        if (r == SR_H1_NEED_MORE) {
            if (!c->sent_continue && sr_h1_parser_expects_continue(c->parser))
                send_continue(c);
            break;
        }
        const struct sr_h1_request *req = sr_h1_parser_request(c->parser);
        c->busy = true;
        c->keep_alive = req->keep_alive;
        sr_sim_api_handle(c->sim, c, req);
    }
    if (c->rlen == 0)
        c->rstart = 0;
    c->processing = false;
    /* Read on while there is room; a full buffer waits for the answer. */
    if (!c->closing)
        set_reading(c, c->rstart + c->rlen < sizeof(c->rbuf));
    else
        set_reading(c, false);
    flush(c);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_sim_conn *c = arg;
    if (!c->closing)
        process_input(c);
    else if (evbuffer_get_length(c->out) == 0)
        conn_free(c); /* cancels a job still answering */
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sr_sim_conn *c = arg;
    if (c->rstart > 0 && c->rlen > 0) {
        memmove(c->rbuf, c->rbuf + c->rstart, c->rlen);
    }
    if (c->rlen == 0 || c->rstart > 0)
        c->rstart = 0;
    ssize_t n = read(fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_free(c); /* closed or reset: cancels a job still answering */
        return;
    }
    if (n < 0)
        return;
    c->rlen += (size_t)n;
    if (!c->busy)
        process_input(c);
    else if (c->rlen == sizeof(c->rbuf))
        set_reading(c, false);
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
    struct sr_sim *sim = arg;
    struct sr_sim_conn *c = sr_malloc(sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    memset(c, 0, offsetof(struct sr_sim_conn, rbuf));
    c->sim = sim;
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
    c->parser = sr_h1_parser_new(&limits);
    c->out = evbuffer_new();
    c->read_ev = event_new(sim->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->write_ev = event_new(sim->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->resume = event_new(sim->base, -1, 0, on_resume, c);
    if (c->parser == NULL || c->out == NULL || c->read_ev == NULL || c->write_ev == NULL ||
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

struct evconnlistener *sr_sim_server_listen(struct sr_sim *sim, int *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%ld", sim->cfg->port);
    int rc = getaddrinfo(sim->cfg->host, port, &hints, &res);
    if (rc != 0) {
        sr_log_error("cannot resolve --host %s: %s", sim->cfg->host, gai_strerror(rc));
        return NULL;
    }
    struct evconnlistener *l = evconnlistener_new_bind(sim->base, on_accept, sim,
                                                       LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                                                       1024, res->ai_addr, (int)res->ai_addrlen);
    freeaddrinfo(res);
    if (l == NULL) {
        sr_log_error("cannot listen on %s:%ld: %s", sim->cfg->host, sim->cfg->port,
                     strerror(errno));
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
