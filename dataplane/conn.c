/* conn: a client connection's socket, TLS, timers and output (see
 * conn.h). */
#include "conn.h"

#include "budget.h"
#include "h1.h"
#include "h2.h"
#include "loop.h"
#include "tls.h"

#include "common/alloc.h"
#include "common/log.h"

#include "net/tls_io.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DRAIN_LOW_WATERMARK (64 * 1024)

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(h2_preface) - 1)

struct sr_client {
    struct sr_loop *loop;
    struct sr_client *prev, *next; /* the loop's list */
    struct sr_tls_io io;           /* the socket, and TLS (--tls-cert-path) when io.ssl */
    struct sr_h1 *h1;              /* the protocol: HTTP/1 until the client speaks HTTP/2 */
    struct sr_h2 *h2;              /* then its session (and h1 is NULL) */
    struct event *read_ev, *write_ev, *timer;
    struct event *resume;   /* deferred work: next pipelined request, or close */
    struct event *flush_ev; /* deferred write of what was queued from outside */
    struct evbuffer *out;
    bool loopback;
    bool closing; /* close once the output is written */
    bool reading;
    bool wrote;         /* bytes reached the socket during this flush */
    time_t progress_at; /* when the client last took bytes (or had none waiting) */
    /* The first bytes of a cleartext connection while they may still be
     * the HTTP/2 preface. */
    char preface[PREFACE_LEN];
    size_t npreface;
};

struct sr_client *sr_client_next(const struct sr_client *c)
{
    return c->next;
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
    sr_h1_free(c->h1); /* and the request in flight's */
    c->h1 = NULL;
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
    sr_tls_io_close(&c->io, c->closing); /* close_notify when closing on purpose */
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
    if (on && sr_tls_io_pending(&c->io))
        event_active(c->read_ev, EV_READ, 1);
}

/* ---- TLS -------------------------------------------------------------------- */

/* A client speaking plain HTTP to the TLS port (its first byte is not a
 * TLS handshake record): a readable answer, as nginx gives, then close. */
static bool refused_plain_http(struct sr_client *c)
{
    unsigned char first;
    if (SSL_in_before(c->io.ssl) && recv(c->io.fd, &first, 1, MSG_PEEK) == 1 && first != 0x16) {
        static const char body[] =
            "{\"error\":{\"message\":\"plain HTTP sent to the HTTPS port\",\"type\":"
            "\"invalid_request_error\",\"param\":null,\"code\":400}}";
        char resp[512];
        int n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         sizeof(body) - 1, body);
        if (send(c->io.fd, resp, (size_t)n, MSG_NOSIGNAL) < 0)
            sr_log_debug("plain HTTP on the TLS port: %s", strerror(errno));
        return true;
    }
    return false;
}

/* ---- output -------------------------------------------------------------------- */

/* Writes the output: whole, or until the socket is full (then write
 * interest until it drains). Ends with the close when one is due. */
static void flush(struct sr_client *c)
{
    if (c->io.handshaking)
        return; /* nothing can be written before the handshake */
    for (int round = 0; round < 16; round++) {
        if (c->h2)
            sr_h2_send(c->h2); /* fills the output up to its high watermark */
        size_t before = evbuffer_get_length(c->out);
        ssize_t n = sr_tls_io_write(&c->io, c->out);
        if (n < 0) {
            evbuffer_drain(c->out, evbuffer_get_length(c->out)); /* the client is gone */
            schedule_close(c);
            return;
        }
        c->wrote |= n > 0;
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
    if (left < DRAIN_LOW_WATERMARK && c->h1)
        sr_h1_output_drained(c->h1);
    if (left == 0 && c->closing)
        schedule_close(c);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

/* ---- the protocols ----------------------------------------------------------- */

/* Output queued from outside the connection's own callbacks (a worker's
 * response arriving): written once the current callback is over, so a
 * response head, body and end coalesce into one writev. */
static void io_queued(void *arg)
{
    struct sr_client *c = arg;
    event_active(c->flush_ev, EV_TIMEOUT, 1);
}

static void io_resume(void *arg)
{
    struct sr_client *c = arg;
    event_active(c->resume, EV_TIMEOUT, 1);
}

static void io_set_timer(void *arg, long secs)
{
    set_timer(arg, secs);
}

static void io_closing(void *arg)
{
    schedule_close(arg);
}

/* HTTP/1 input (NULL, 0: what is held), then the output. */
static void h1_input(struct sr_client *c, const char *data, size_t len)
{
    if (sr_h1_input(c->h1, data, len) != 0)
        sr_log_warn("out of memory buffering pipelined requests: closing the connection");
    set_reading(c, !c->closing && sr_h1_room(c->h1) > 0);
    flush(c);
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
    c->h2 = sr_h2_new(c->loop, c->out, c->loopback, io_queued, c);
    if (c->h2 == NULL) {
        sr_log_warn("out of memory starting an HTTP/2 session");
        conn_free(c);
        return false;
    }
    sr_h1_free(c->h1);
    c->h1 = NULL;
    return true;
}

/* Cleartext HTTP/2 with prior knowledge: the first bytes say so. Returns
 * true when the bytes were taken (HTTP/2 started, or a part of its preface
 * kept, or c closed), false when they are HTTP/1's. */
static bool sniff_preface(struct sr_client *c, const char *data, size_t len)
{
    size_t n = len < PREFACE_LEN ? len : PREFACE_LEN;
    if (memcmp(data, h2_preface, n) != 0)
        return false;
    if (n < PREFACE_LEN) { /* wait for the whole preface */
        memcpy(c->preface, data, len);
        c->npreface = len;
        return true;
    }
    c->npreface = 0;
    if (start_h2(c))
        h2_input(c, data, len);
    return true;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_client *c = arg;
    if (!c->closing && c->h2)
        flush(c);
    else if (!c->closing)
        h1_input(c, NULL, 0);
    else if (evbuffer_get_length(c->out) == 0)
        conn_free(c);
}

/* ---- events ------------------------------------------------------------------------ */

static void handshake(struct sr_client *c)
{
    if (refused_plain_http(c)) {
        conn_free(c);
        return;
    }
    int rc = sr_tls_io_handshake(&c->io);
    if (rc == SR_TLS_IO_NONE) {
        event_del(c->write_ev);
        set_timer(c, c->loop->router->cfg->keepalive_timeout_secs);
        const unsigned char *proto = NULL;
        unsigned int plen = 0;
        SSL_get0_alpn_selected(c->io.ssl, &proto, &plen);
        if (plen == 2 && memcmp(proto, "h2", 2) == 0 && !start_h2(c))
            return;
        if (c->h2)
            flush(c);                         /* our SETTINGS */
        event_active(c->read_ev, EV_READ, 1); /* data may have come with it */
        return;
    }
    if (rc == SR_TLS_IO_READ) {
        event_del(c->write_ev);
        return;
    }
    if (rc == SR_TLS_IO_WRITE) {
        event_add(c->write_ev, NULL);
        return;
    }
    sr_log_debug("TLS handshake failed: %s",
                 c->io.why[0] ? c->io.why : "the client closed the connection");
    conn_free(c);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_client *c = arg;
    if (c->io.handshaking) {
        handshake(c);
        return;
    }
    char *dst = c->loop->scratch;
    size_t room = sizeof(c->loop->scratch);
    if (c->h1) {
        /* A part of the HTTP/2 preface goes first; HTTP/1 takes no more
         * than it can hold. */
        memcpy(dst, c->preface, c->npreface);
        size_t h1_room = sr_h1_room(c->h1);
        room = h1_room < room - c->npreface ? h1_room : room - c->npreface;
        if (room == 0) {
            set_reading(c, false);
            return;
        }
    }
    ssize_t n = sr_tls_io_read(&c->io, dst + (c->h1 ? c->npreface : 0), room);
    if (n < 0) {
        conn_free(c); /* closed or reset: requests in flight are cancelled */
        return;
    }
    if (n == 0)
        return;
    /* TLS may hold decrypted bytes the socket no longer signals. */
    if (sr_tls_io_pending(&c->io))
        event_active(c->read_ev, EV_READ, 1);
    if (c->h2) {
        h2_input(c, dst, (size_t)n);
        return;
    }
    size_t len = (size_t)n + c->npreface;
    c->npreface = 0;
    if (c->io.ssl == NULL && sr_h1_idle(c->h1) && sniff_preface(c, dst, len))
        return;
    h1_input(c, dst, len);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_client *c = arg;
    if (c->io.handshaking)
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
    if (sr_h1_timeout(c->h1)) /* or a request being read is answered 408 */
        conn_free(c);         /* keep-alive timeout */
}

void sr_client_drain(struct sr_client *c)
{
    if (c->h2)
        sr_h2_drain(c->h2); /* GOAWAY: open streams finish, then the session is done */
    else
        sr_h1_drain(c->h1); /* an idle connection closes */
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
    sr_tls_io_init(&c->io, fd, NULL); /* cleartext until TLS is set up below */
    c->loopback = is_loopback(addr);
    c->out = evbuffer_new();
    struct sr_h1_io io = {io_queued, io_resume, io_set_timer, io_closing, c};
    c->h1 = c->out ? sr_h1_new(l, c->out, c->loopback, &io) : NULL;
    c->progress_at = now_secs();
    c->read_ev = event_new(l->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->write_ev = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
    c->timer = evtimer_new(l->base, on_timeout, c);
    c->resume = event_new(l->base, -1, 0, on_resume, c);
    c->flush_ev = event_new(l->base, -1, 0, on_flush, c);
    link_conn(c);
    if (c->h1 == NULL || c->out == NULL || sr_budget_track(c->out, l) != 0 || c->read_ev == NULL ||
        c->write_ev == NULL || c->timer == NULL || c->resume == NULL || c->flush_ev == NULL) {
        sr_log_warn("out of memory accepting a connection");
        conn_free(c);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (l->router->tls) {
        SSL *ssl = sr_tls_accept(l->router->tls);
        if (ssl)
            SSL_set_accept_state(ssl);
        if (ssl == NULL || sr_tls_io_init(&c->io, fd, ssl) != 0) {
            SSL_free(ssl);
            sr_tls_io_init(&c->io, fd, NULL); /* conn_free closes fd */
            sr_log_warn("out of memory accepting a TLS connection");
            conn_free(c);
            return;
        }
    }
    set_reading(c, true);
    /* A TLS client has the header timeout for its handshake: one that never
     * sends a ClientHello is not an idle keep-alive connection. */
    set_timer(c, c->io.ssl ? cfg->client_header_timeout_secs : cfg->keepalive_timeout_secs);
    if (l->draining)
        sr_client_drain(c);
}
