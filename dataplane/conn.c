/* conn: a client connection's life (see conn.h). */
#include "conn.h"

#include "budget.h"
#include "h2.h"
#include "loop.h"
#include "pipeline.h"
#include "tls.h"

#include "common/alloc.h"
#include "common/log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define READ_BUFFER_BYTES   (64 * 1024)
#define DRAIN_LOW_WATERMARK (64 * 1024)
#define TLS_RECORD_BYTES    (16 * 1024)

enum conn_state {
    CONN_IDLE,    /* waiting for the first byte of a request */
    CONN_READING, /* a request has started arriving */
    CONN_BUSY,    /* a request is being answered */
};

struct sr_client {
    struct sr_conn base; /* HTTP/1: the connection answers one request at a time */
    struct sr_loop *loop;
    struct sr_client *prev, *next; /* the loop's list */
    evutil_socket_t fd;
    SSL *ssl;         /* TLS (--tls-cert-path), or NULL */
    struct sr_h2 *h2; /* an HTTP/2 client: its session (then no h1 state is used) */
    bool handshaking; /* TLS: before the first application byte */
    struct event *read_ev, *write_ev, *timer;
    struct event *resume;   /* deferred work: next pipelined request, or close */
    struct event *flush_ev; /* deferred write of what was queued from outside */
    struct evbuffer *out;
    struct sr_h1_parser *parser;
    enum conn_state state;
    bool loopback;
    bool keep_alive; /* of the current request */
    bool chunked;    /* the current response is chunked */
    bool closing;    /* close once the output is written */
    bool processing; /* inside process_input, which flushes at its end */
    bool sent_continue;
    bool reading;
    bool draining;
    bool wrote;         /* bytes reached the socket during this flush */
    time_t progress_at; /* when the client last took bytes (or had none waiting) */
    /* Unparsed input: during a read event it sits in the loop's scratch
     * buffer; what must wait (pipelined requests behind a busy one) is
     * copied to held. An idle connection holds no input buffer at all. */
    const char *in;
    size_t in_len;
    char *held;
    size_t held_cap;
};

bool sr_client_busy(const struct sr_client *c)
{
    return c->h2 ? sr_h2_streams(c->h2) > 0 : c->state == CONN_BUSY;
}

struct sr_client *sr_client_next(const struct sr_client *c)
{
    return c->next;
}

const struct sr_http_header *sr_request_header(const struct sr_request *req, const char *name)
{
    return sr_http_header_find(req->headers, req->nheaders, name);
}

/* ---- the request-level interface (conn.h), whatever the protocol ------------ */

struct sr_loop *sr_conn_loop(const struct sr_conn *c)
{
    return c->loop;
}

void sr_conn_respond(struct sr_conn *c, int status, const char *content_type, const char *body,
                     size_t len, const char *extra_headers)
{
    c->ops->respond(c, status, content_type, body, len, extra_headers);
}

void sr_conn_response_begin(struct sr_conn *c, int status, const char *head_lines, size_t head_len,
                            long long content_length)
{
    c->ops->response_begin(c, status, head_lines, head_len, content_length);
}

void sr_conn_response_body(struct sr_conn *c, const char *data, size_t len)
{
    c->ops->response_body(c, data, len);
}

void sr_conn_response_end(struct sr_conn *c)
{
    c->ops->response_end(c);
}

void sr_conn_response_abort(struct sr_conn *c)
{
    c->ops->response_abort(c);
}

bool sr_conn_output_full(const struct sr_conn *c, size_t mark)
{
    return c->ops->output_full(c, mark);
}

void sr_conn_set_drain_cb(struct sr_conn *c, void (*drained)(void *arg), void *arg)
{
    c->drained = drained;
    c->drained_arg = arg;
}

void sr_conn_attach(struct sr_conn *c, void *exchange, void (*gone)(void *exchange))
{
    c->exchange = exchange;
    c->gone = gone;
}

void sr_conn_detach(struct sr_conn *c)
{
    c->exchange = NULL;
    c->gone = NULL;
    c->drained = NULL;
}

static void link_conn(struct sr_client *c)
{
    struct sr_loop *l = c->loop;
    c->prev = NULL;
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    atomic_fetch_add_explicit(&l->nconns, 1, memory_order_relaxed);
}

static void unlink_conn(struct sr_client *c)
{
    struct sr_loop *l = c->loop;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    atomic_fetch_sub_explicit(&l->nconns, 1, memory_order_relaxed);
}

static void conn_free(struct sr_client *c)
{
    sr_h2_free(c->h2); /* its streams' exchanges are told first */
    c->h2 = NULL;
    if (c->base.exchange && c->base.gone) {
        void *ex = c->base.exchange;
        c->base.exchange = NULL;
        c->base.gone(ex);
    }
    unlink_conn(c);
    if (c->read_ev)
        event_free(c->read_ev);
    if (c->write_ev)
        event_free(c->write_ev);
    if (c->timer)
        event_free(c->timer);
    if (c->resume)
        event_free(c->resume);
    if (c->flush_ev)
        event_free(c->flush_ev);
    if (c->out) {
        sr_budget_untrack(c->out);
        evbuffer_free(c->out);
    }
    sr_free(c->held);
    if (c->ssl) {
        if (!c->handshaking && c->closing)
            SSL_shutdown(c->ssl); /* close_notify, best effort */
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        evutil_closesocket(c->fd);
    sr_h1_parser_free(c->parser);
    sr_free(c);
}

static time_t now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
}

/* Response bytes held for this client: its output, and its HTTP/2
 * streams' data waiting for flow control. */
static size_t held_bytes(const struct sr_client *c)
{
    return evbuffer_get_length(c->out) + (c->h2 ? sr_h2_buffered(c->h2) : 0);
}

size_t sr_client_reap_stalled(struct sr_loop *l)
{
    struct sr_router *r = l->router;
    time_t now = now_secs();
    size_t closed = 0;
    while (sr_budget_exceeded(r)) {
        struct sr_client *worst = NULL;
        size_t most = SR_BUDGET_MARK_LOW;
        for (struct sr_client *c = l->conns; c; c = c->next) {
            size_t held = held_bytes(c);
            if (held > most && now - c->progress_at >= r->cfg->slow_client_grace_secs) {
                worst = c;
                most = held;
            }
        }
        if (worst == NULL)
            break;
        sr_log_warn("closing a client that read nothing for %lds while holding %zu response "
                    "bytes (the router holds %ld, over --response-buffer-budget-bytes %ld)",
                    (long)(now - worst->progress_at), most, sr_budget_used(r),
                    r->cfg->response_buffer_budget_bytes);
        atomic_fetch_add_explicit(&r->slow_clients_closed, 1, memory_order_relaxed);
        conn_free(worst);
        closed++;
    }
    return closed;
}

static void schedule_close(struct sr_client *c)
{
    c->closing = true;
    event_active(c->resume, EV_TIMEOUT, 1);
}

static void set_timer(struct sr_client *c, long secs)
{
    if (secs <= 0) {
        event_del(c->timer);
        return;
    }
    struct timeval tv = {secs, 0};
    event_add(c->timer, &tv);
}

static void set_reading(struct sr_client *c, bool on)
{
    if (on == c->reading)
        return;
    c->reading = on;
    if (on)
        event_add(c->read_ev, NULL);
    else
        event_del(c->read_ev);
    /* TLS may hold decrypted bytes the socket no longer signals. */
    if (on && c->ssl && !c->handshaking && SSL_pending(c->ssl) > 0)
        event_active(c->read_ev, EV_READ, 1);
}

/* Writes queued output through TLS, a record at a time. 1 written all or
 * blocked (try later), -1 the connection failed. */
static int tls_write(struct sr_client *c)
{
    while (evbuffer_get_length(c->out) > 0) {
        size_t len = evbuffer_get_length(c->out);
        if (len > TLS_RECORD_BYTES)
            len = TLS_RECORD_BYTES;
        unsigned char *data = evbuffer_pullup(c->out, (ssize_t)len);
        if (data == NULL)
            return -1;
        ERR_clear_error();
        int n = SSL_write(c->ssl, data, (int)len);
        if (n > 0) {
            evbuffer_drain(c->out, (size_t)n);
            c->wrote = true;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? 1 : -1;
    }
    return 1;
}

static void flush(struct sr_client *c)
{
    if (c->handshaking)
        return; /* nothing can be written before the handshake */
    for (int round = 0; round < 16; round++) {
        if (c->h2)
            sr_h2_send(c->h2); /* fills the output up to its high watermark */
        size_t before = evbuffer_get_length(c->out);
        if (c->ssl && tls_write(c) < 0) {
            evbuffer_drain(c->out, evbuffer_get_length(c->out)); /* the client is gone */
            schedule_close(c);
            return;
        }
        while (!c->ssl && evbuffer_get_length(c->out) > 0) {
            int n = evbuffer_write(c->out, c->fd);
            c->wrote |= n > 0;
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    break;
                evbuffer_drain(c->out, evbuffer_get_length(c->out)); /* the client is gone */
                schedule_close(c);
                return;
            }
        }
        /* HTTP/2 may have more to send once the output had room. */
        if (!c->h2 || before == 0 || evbuffer_get_length(c->out) > 0)
            break;
    }
    if (c->h2 && sr_h2_done(c->h2))
        c->closing = true;
    size_t left = evbuffer_get_length(c->out);
    if (c->wrote || left == 0) {
        c->progress_at = now_secs();
        c->wrote = false;
    }
    if (left > 0)
        event_add(c->write_ev, NULL);
    else
        event_del(c->write_ev);
    if (left < DRAIN_LOW_WATERMARK && c->base.drained)
        c->base.drained(c->base.drained_arg);
    if (left == 0 && c->closing)
        schedule_close(c);
}

/* Output was queued. Inside process_input it is written at its end;
 * otherwise (a worker's response arriving) once the current callback is
 * over, so a response head, body and end coalesce into one writev. */
static void queued(struct sr_client *c)
{
    if (!c->processing)
        event_active(c->flush_ev, EV_TIMEOUT, 1);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

static bool h1_output_full(const struct sr_conn *base, size_t mark)
{
    return evbuffer_get_length(((const struct sr_client *)base)->out) > mark;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
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
        return "Unknown";
    }
}

static void add_str(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, s, strlen(s));
}

static void add_status_line(struct sr_client *c, int status)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, reason(status));
    evbuffer_add(c->out, line, (size_t)n);
}

static void add_connection_header(struct sr_client *c)
{
    if (c->draining || c->loop->draining)
        c->keep_alive = false;
    add_str(c->out, c->keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
}

/* The current request is answered: go on with the next one. */
static void answered(struct sr_client *c)
{
    c->state = CONN_IDLE;
    c->base.exchange = NULL;
    c->base.gone = NULL;
    c->base.drained = NULL;
    c->sent_continue = false;
    if (!c->keep_alive) {
        c->closing = true;
        return;
    }
    sr_h1_parser_next(c->parser);
    set_timer(c, c->loop->router->cfg->keepalive_timeout_secs);
    if (!c->processing)
        event_active(c->resume, EV_TIMEOUT, 1);
}

static void h1_respond(struct sr_conn *base, int status, const char *content_type, const char *body,
                       size_t len, const char *extra_headers)
{
    struct sr_client *c = (struct sr_client *)base;
    char head[160];
    add_status_line(c, status);
    int n = snprintf(head, sizeof(head), "Content-Type: %s\r\nContent-Length: %zu\r\n",
                     content_type, len);
    evbuffer_add(c->out, head, (size_t)n);
    if (extra_headers)
        add_str(c->out, extra_headers);
    add_connection_header(c);
    evbuffer_add(c->out, body, len);
    answered(c);
    queued(c);
}

static void h1_response_begin(struct sr_conn *base, int status, const char *head_lines,
                              size_t head_len, long long content_length)
{
    struct sr_client *c = (struct sr_client *)base;
    add_status_line(c, status);
    evbuffer_add(c->out, head_lines, head_len);
    c->chunked = false;
    if (content_length >= 0) {
        char line[48];
        int n = snprintf(line, sizeof(line), "Content-Length: %lld\r\n", content_length);
        evbuffer_add(c->out, line, (size_t)n);
    } else if (c->keep_alive) {
        c->chunked = true;
        add_str(c->out, "Transfer-Encoding: chunked\r\n");
    }
    /* HTTP/1.0 client and unknown length: the body ends with the connection. */
    add_connection_header(c);
    queued(c);
}

static void h1_response_body(struct sr_conn *base, const char *data, size_t len)
{
    struct sr_client *c = (struct sr_client *)base;
    if (len == 0)
        return;
    if (c->chunked) {
        char size[24];
        int n = snprintf(size, sizeof(size), "%zx\r\n", len);
        evbuffer_add(c->out, size, (size_t)n);
    }
    evbuffer_add(c->out, data, len);
    if (c->chunked)
        evbuffer_add(c->out, "\r\n", 2);
    queued(c);
}

static void h1_response_end(struct sr_conn *base)
{
    struct sr_client *c = (struct sr_client *)base;
    if (c->chunked)
        evbuffer_add(c->out, "0\r\n\r\n", 5);
    c->chunked = false;
    answered(c);
    queued(c);
}

static void h1_response_abort(struct sr_conn *base)
{
    struct sr_client *c = (struct sr_client *)base;
    c->keep_alive = false;
    c->chunked = false;
    answered(c);
    queued(c);
}

static const struct sr_conn_ops h1_ops = {
    .respond = h1_respond,
    .response_begin = h1_response_begin,
    .response_body = h1_response_body,
    .response_end = h1_response_end,
    .response_abort = h1_response_abort,
    .output_full = h1_output_full,
};

static void parse_error(struct sr_client *c)
{
    int status = sr_h1_parser_error_status(c->parser);
    char msg[160];
    snprintf(msg, sizeof(msg), "%s%s", status == 400 ? "malformed HTTP request: " : "",
             sr_h1_parser_error_reason(c->parser));
    c->keep_alive = false;
    c->state = CONN_BUSY;
    sr_pipeline_error(&c->base, status, msg);
}

static void start_request(struct sr_client *c, const struct sr_h1_request *h1)
{
    struct sr_request req = {
        .method = h1->method,
        .path = h1->path,
        .path_len = h1->path_len,
        .query = h1->query,
        .query_len = h1->query_len,
        .headers = h1->headers,
        .nheaders = h1->nheaders,
        .body = h1->body,
        .body_len = h1->body_len,
        .version_minor = h1->version_minor,
        .client_loopback = c->loopback,
    };
    c->state = CONN_BUSY;
    c->keep_alive = h1->keep_alive;
    set_timer(c, 0); /* the exchange has its own deadline */
    sr_pipeline_handle(&c->base, &req);
}

/* Keeps unparsed input past the current event: moves it to the front of
 * the held buffer (allocated only now), or frees that buffer when empty. */
static int hold_input(struct sr_client *c)
{
    if (c->in_len == 0) {
        sr_free(c->held);
        c->held = NULL;
        c->held_cap = 0;
        c->in = NULL;
        return 0;
    }
    if (c->held == NULL) {
        c->held = sr_malloc(READ_BUFFER_BYTES);
        if (c->held == NULL)
            return -1;
        c->held_cap = READ_BUFFER_BYTES;
    }
    if (c->in != c->held)
        memmove(c->held, c->in, c->in_len);
    c->in = c->held;
    return 0;
}

static void h2_wake(void *arg)
{
    struct sr_client *c = arg;
    event_active(c->flush_ev, EV_TIMEOUT, 1);
}

/* HTTP/2 input: to the session; an idle session waits with the
 * keep-alive timeout, a busy one has its streams' deadlines. */
static void h2_input(struct sr_client *c, const char *data, size_t len)
{
    if (sr_h2_feed(c->h2, (const uint8_t *)data, len) != 0) {
        /* A protocol error or a flood: the GOAWAY nghttp2 queued gets one
         * second to leave, then the connection goes (a client that stops
         * reading must not keep it open). */
        c->closing = true;
        set_reading(c, false);
        set_timer(c, 1);
        flush(c);
        return;
    }
    set_timer(c, sr_h2_streams(c->h2) ? 0 : c->loop->router->cfg->keepalive_timeout_secs);
    flush(c);
}

/* The client speaks HTTP/2 (ALPN h2, or the cleartext preface). */
static bool start_h2(struct sr_client *c)
{
    c->h2 = sr_h2_new(c->loop, c->out, c->loopback, h2_wake, c);
    if (c->h2 == NULL) {
        sr_log_warn("out of memory starting an HTTP/2 session");
        conn_free(c);
        return false;
    }
    c->state = CONN_IDLE;
    return true;
}

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void process_input(struct sr_client *c)
{
    /* Cleartext HTTP/2 with prior knowledge: the first bytes say so. */
    if (c->h2 == NULL && c->ssl == NULL && c->state == CONN_IDLE && c->in_len > 0) {
        size_t n = c->in_len < sizeof(h2_preface) - 1 ? c->in_len : sizeof(h2_preface) - 1;
        if (memcmp(c->in, h2_preface, n) == 0) {
            if (n < sizeof(h2_preface) - 1) {
                if (hold_input(c) != 0)
                    conn_free(c);
                return; /* wait for the whole preface */
            }
            if (!start_h2(c))
                return;
            const char *data = c->in;
            size_t len = c->in_len;
            c->in_len = 0;
            h2_input(c, data, len);
            hold_input(c); /* frees a held buffer */
            return;
        }
    }
    const struct sr_config *cfg = c->loop->router->cfg;
    c->processing = true;
    while (c->state != CONN_BUSY && !c->closing && c->in_len > 0) {
        if (c->state == CONN_IDLE) {
            c->state = CONN_READING;
            set_timer(c, cfg->client_header_timeout_secs);
        }
        bool had_headers = sr_h1_parser_headers_done(c->parser);
        size_t used = 0;
        enum sr_h1_result r = sr_h1_parser_feed(c->parser, c->in, c->in_len, &used);
        c->in += used;
        c->in_len -= used;
        if (r == SR_H1_ERROR) {
            parse_error(c);
            break;
        }
        if (r == SR_H1_NEED_MORE) {
            if (!had_headers && sr_h1_parser_headers_done(c->parser))
                set_timer(c, cfg->client_body_timeout_secs);
            if (!c->sent_continue && sr_h1_parser_expects_continue(c->parser)) {
                add_str(c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                c->sent_continue = true;
            }
            break;
        }
        start_request(c, sr_h1_parser_request(c->parser));
    }
    c->processing = false;
    if (hold_input(c) != 0) {
        sr_log_warn("out of memory buffering pipelined requests: closing the connection");
        c->in_len = 0;
        c->keep_alive = false;
        c->closing = true;
    }
    if (c->closing)
        set_reading(c, false);
    else
        set_reading(c, c->in_len < READ_BUFFER_BYTES);
    if (c->state == CONN_IDLE && c->draining && c->in_len == 0) {
        schedule_close(c);
        return;
    }
    flush(c);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_client *c = arg;
    if (!c->closing && c->h2)
        flush(c);
    else if (!c->closing)
        process_input(c);
    else if (evbuffer_get_length(c->out) == 0)
        conn_free(c);
}

/* A client speaking plain HTTP to the TLS port (its first byte is not a
 * TLS handshake record): a readable answer, as nginx gives, then close. */
static bool refused_plain_http(struct sr_client *c)
{
    unsigned char first;
    if (SSL_in_before(c->ssl) && recv(c->fd, &first, 1, MSG_PEEK) == 1 && first != 0x16) {
        static const char body[] =
            "{\"error\":{\"message\":\"plain HTTP sent to the HTTPS port\",\"type\":"
            "\"invalid_request_error\",\"param\":null,\"code\":400}}";
        char resp[512];
        int n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         sizeof(body) - 1, body);
        if (send(c->fd, resp, (size_t)n, MSG_NOSIGNAL) < 0)
            sr_log_debug("plain HTTP on the TLS port: %s", strerror(errno));
        return true;
    }
    return false;
}

static void handshake(struct sr_client *c)
{
    if (refused_plain_http(c)) {
        conn_free(c);
        return;
    }
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        c->handshaking = false;
        event_del(c->write_ev);
        set_timer(c, c->loop->router->cfg->keepalive_timeout_secs);
        const unsigned char *proto = NULL;
        unsigned int plen = 0;
        SSL_get0_alpn_selected(c->ssl, &proto, &plen);
        if (plen == 2 && memcmp(proto, "h2", 2) == 0 && !start_h2(c))
            return;
        if (c->h2)
            flush(c);                         /* our SETTINGS */
        event_active(c->read_ev, EV_READ, 1); /* data may have come with it */
        return;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        event_del(c->write_ev);
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        event_add(c->write_ev, NULL);
        return;
    }
    unsigned long err = ERR_peek_last_error();
    sr_log_debug("TLS handshake failed: %s",
                 err ? ERR_reason_error_string(err) : "the client closed the connection");
    conn_free(c);
}

/* Bytes read, 0 at the end of the stream or on an error, -1 when nothing
 * is available now. */
static ssize_t read_some(struct sr_client *c, char *dst, size_t room)
{
    if (c->ssl == NULL) {
        ssize_t n = read(c->fd, dst, room);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return -1;
        return n < 0 ? 0 : n;
    }
    ERR_clear_error();
    int n = SSL_read(c->ssl, dst, (int)(room > INT32_MAX ? INT32_MAX : room));
    if (n > 0)
        return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return -1;
    return 0;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_client *c = arg;
    if (c->handshaking) {
        handshake(c);
        return;
    }
    if (c->h2) {
        ssize_t n = read_some(c, c->loop->scratch, sizeof(c->loop->scratch));
        if (n == 0) {
            conn_free(c); /* streams in flight are cancelled */
            return;
        }
        if (n > 0) {
            if (c->ssl && SSL_pending(c->ssl) > 0)
                event_active(c->read_ev, EV_READ, 1);
            h2_input(c, c->loop->scratch, (size_t)n);
        }
        return;
    }
    char *dst;
    size_t room;
    if (c->in_len == 0) { /* the common case: straight into the loop's scratch */
        dst = c->loop->scratch;
        room = sizeof(c->loop->scratch);
    } else { /* behind input that is waiting: append to it */
        dst = c->held + c->in_len;
        room = c->held_cap - c->in_len;
    }
    ssize_t n = read_some(c, dst, room);
    if (n == 0) {
        conn_free(c); /* the client closed or reset: a request in flight is cancelled */
        return;
    }
    if (n < 0)
        return;
    /* TLS may hold decrypted bytes the socket no longer signals. */
    if (c->ssl && SSL_pending(c->ssl) > 0)
        event_active(c->read_ev, EV_READ, 1);
    if (c->in_len == 0)
        c->in = dst;
    c->in_len += (size_t)n;
    if (c->state != CONN_BUSY) {
        process_input(c);
        return;
    }
    if (hold_input(c) != 0) { /* busy: the bytes wait for the answer */
        conn_free(c);
        return;
    }
    if (c->in_len >= READ_BUFFER_BYTES)
        set_reading(c, false);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_client *c = arg;
    if (c->handshaking)
        handshake(c);
    else
        flush(c);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_client *c = arg;
    if (c->h2) {
        if (c->closing || sr_h2_streams(c->h2) == 0)
            conn_free(c); /* idle past --keepalive-timeout-secs, or its GOAWAY's grace */
        return;
    }
    if (c->state == CONN_READING) {
        c->keep_alive = false;
        c->state = CONN_BUSY;
        sr_pipeline_error(&c->base, 408, "timed out waiting for the request");
        return;
    }
    if (c->state == CONN_IDLE)
        conn_free(c); /* keep-alive timeout */
}

void sr_client_drain(struct sr_client *c)
{
    c->draining = true;
    if (c->h2) {
        sr_h2_drain(c->h2); /* GOAWAY: open streams finish, then the session is done */
        return;
    }
    if (c->state == CONN_IDLE && c->in_len == 0 && !c->closing)
        schedule_close(c);
}

void sr_client_close_now(struct sr_client *c)
{
    conn_free(c);
}

static bool is_loopback(const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return addr->sa_family == AF_UNIX;
}

void sr_client_accept(struct sr_loop *l, int fd, const struct sockaddr *addr)
{
    const struct sr_config *cfg = l->router->cfg;
    struct sr_client *c = sr_calloc(1, sizeof(*c));
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->loop = l;
    c->base.ops = &h1_ops;
    c->base.loop = l;
    c->fd = fd;
    c->loopback = is_loopback(addr);
    struct sr_h1_limits limits = {
        .max_head_bytes = (size_t)cfg->max_header_size,
        .max_headers = 256,
        .max_body_bytes = (size_t)cfg->max_payload_size,
    };
    c->parser = sr_h1_parser_new(&limits);
    c->out = evbuffer_new();
    c->progress_at = now_secs();
    c->read_ev = event_new(l->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->write_ev = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->timer = evtimer_new(l->base, on_timeout, c);
    c->resume = event_new(l->base, -1, 0, on_resume, c);
    c->flush_ev = event_new(l->base, -1, 0, on_flush, c);
    link_conn(c);
    if (c->parser == NULL || c->out == NULL || sr_budget_track(c->out, l) != 0 ||
        c->read_ev == NULL || c->write_ev == NULL || c->timer == NULL || c->resume == NULL ||
        c->flush_ev == NULL) {
        sr_log_warn("out of memory accepting a connection");
        conn_free(c);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (l->router->tls) {
        c->ssl = sr_tls_accept(l->router->tls);
        if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
            sr_log_warn("out of memory accepting a TLS connection");
            conn_free(c);
            return;
        }
        SSL_set_accept_state(c->ssl);
        c->handshaking = true;
    }
    set_reading(c, true);
    /* A TLS client has the header timeout for its handshake: one that never
     * sends a ClientHello is not an idle keep-alive connection. */
    set_timer(c, c->ssl ? cfg->client_header_timeout_secs : cfg->keepalive_timeout_secs);
    if (l->draining)
        sr_client_drain(c);
}
