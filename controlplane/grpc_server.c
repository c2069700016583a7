/* grpc_server: gRPC over HTTP/2 on net/h2_session, net/tls_io and libevent
 * (see grpc_server.h): the listener, connections, and the HTTP/2 callbacks
 * that read each call's request; the calls' answers are grpc_call.c's. */
#include "grpc_server.h"

#include "grpc_wire.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "net/h2_session.h"
#include "net/tls_io.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_HEADER_BYTES 16384
#define READ_BYTES       16384
#define FLUSH_ROUNDS     16

struct conn {
    struct sr_grpc_server *server;
    struct sr_grpc_call_link link; /* what its calls need of it (grpc_call.h) */
    struct sr_tls_io io;           /* the socket, and TLS when the server has it */
    struct sr_h2_session *h2;      /* the HTTP/2 session (net/h2_session.h) */
    nghttp2_session *session;      /* h2's, to submit frames */
    struct evbuffer *out;          /* bytes for the socket, filled by h2 */
    struct sr_grpc_call *calls;
    struct conn *prev, *next;
    struct event *read_ev, *write_ev;
    struct event *close_ev; /* frees the connection from the loop, never from a caller */
    bool batching;          /* on stop: one flush after every call ended */
    bool closing;           /* close once the output drained */
};

struct sr_grpc_server {
    struct sr_grpc_server_config cfg;
    const struct sr_grpc_method *methods;
    size_t nmethods;
    void *ctx;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *stop_ev, *stop_timer;
    struct conn *conns;
    size_t nconns;
    int port;
    bool stopping;
    pthread_t thread;
    bool running;
};

static void conn_flush(struct conn *c);
static void conn_free(struct conn *c);

/* ---- calls: lookup and the checks of a request head ------------------------- */

static struct sr_grpc_call *call_of(struct conn *c, int32_t id)
{
    return nghttp2_session_get_stream_user_data(c->session, id);
}

static const struct sr_grpc_method *find_method(struct sr_grpc_server *s, const char *path)
{
    for (size_t i = 0; i < s->nmethods; i++)
        if (strcmp(s->methods[i].path, path) == 0)
            return &s->methods[i];
    return NULL;
}

/* The request head is complete: everything that can be refused before the
 * body is refused now. */
static void check_head(struct sr_grpc_server *s, struct sr_grpc_call *call)
{
    if (!call->post) {
        sr_grpc_call_refuse_http(call, "405");
        return;
    }
    if (!call->grpc_content) {
        sr_grpc_call_refuse_http(call, "415");
        return;
    }
    char msg[300];
    call->method = call->path_too_long ? NULL : find_method(s, call->path);
    if (call->method == NULL) {
        snprintf(msg, sizeof(msg), "unknown method %s",
                 call->path_too_long ? "(too long)" : call->path);
        sr_grpc_call_finish(call, SR_GRPC_UNIMPLEMENTED, msg);
        return;
    }
    if (s->cfg.token && !call->method->open && !call->authorized) {
        sr_grpc_call_finish(call, SR_GRPC_UNAUTHENTICATED,
                            "missing or wrong authorization: Bearer token");
        return;
    }
    if (call->has_timeout)
        (void)sr_grpc_call_arm_deadline(call); /* on failure the call is finished */
}

/* ---- nghttp2 callbacks ------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct sr_grpc_call *call = sr_grpc_call_new(&c->link, frame->hd.stream_id,
                                                 c->server->cfg.max_message + SR_GRPC_PREFIX);
    if (call == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets this stream only */
    call->next = c->calls;
    c->calls = call;
    nghttp2_session_set_stream_user_data(session, call->id, call);
    return 0;
}

static bool header_is(const uint8_t *name, size_t namelen, const char *want)
{
    return namelen == strlen(want) && memcmp(name, want, namelen) == 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)session;
    (void)flags;
    struct conn *c = user_data;
    struct sr_grpc_call *call = call_of(c, frame->hd.stream_id);
    if (call == NULL || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers from the client carry nothing we use */
    call->header_bytes += namelen + valuelen + 32;
    if (call->header_bytes > MAX_HEADER_BYTES)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const char *v = (const char *)value;
    if (header_is(name, namelen, ":method")) {
        call->post = valuelen == 4 && memcmp(v, "POST", 4) == 0;
    } else if (header_is(name, namelen, ":path")) {
        call->path_too_long = valuelen >= sizeof(call->path);
        if (!call->path_too_long) {
            memcpy(call->path, v, valuelen);
            call->path[valuelen] = '\0';
        }
    } else if (header_is(name, namelen, "content-type")) {
        call->grpc_content = valuelen >= 16 && memcmp(v, "application/grpc", 16) == 0 &&
                             (valuelen == 16 || v[16] == '+' || v[16] == ';');
    } else if (header_is(name, namelen, "authorization")) {
        call->authorized = sr_secret_bearer_ok(c->server->cfg.token, v, valuelen);
    } else if (header_is(name, namelen, "grpc-timeout")) {
        call->has_timeout = sr_grpc_parse_timeout(v, valuelen, &call->timeout_ms);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user_data)
{
    (void)session;
    (void)flags;
    struct conn *c = user_data;
    struct sr_grpc_call *call = call_of(c, id);
    if (call == NULL || call->finished || call->dispatched)
        return 0;
    int rc = sr_buf_append(&call->body, data, len);
    if (rc != 0) {
        char msg[128];
        if (rc == SR_ERR_TOO_LARGE)
            snprintf(msg, sizeof(msg), "request larger than the limit of %zu bytes",
                     c->server->cfg.max_message);
        else
            snprintf(msg, sizeof(msg), "out of memory");
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, msg);
        return 0;
    }
    uint32_t announced;
    if (sr_grpc_announced_length((const uint8_t *)call->body.data, call->body.len, &announced) &&
        announced > c->server->cfg.max_message) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request message of %u bytes exceeds the limit of %zu",
                 announced, c->server->cfg.max_message);
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, msg);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)session;
    struct conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    struct sr_grpc_call *call = call_of(c, frame->hd.stream_id);
    if (call == NULL)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        check_head(c->server, call);
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        call->remote_closed = true;
        if (!call->finished && !call->dispatched)
            sr_grpc_call_dispatch(call, c->server->ctx);
    }
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct conn *c = user_data;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct sr_grpc_call *call = call_of(c, frame->hd.stream_id);
    /* We answered before the client finished sending: release the stream. */
    if (call && !call->remote_closed)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, call->id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code,
                           void *user_data)
{
    (void)error_code;
    struct conn *c = user_data;
    struct sr_grpc_call *call = call_of(c, id);
    if (call == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(session, id, NULL);
    call->finished = true; /* nothing can be sent any more */
    sr_grpc_call_abandon(call, -1, NULL);
    for (struct sr_grpc_call **p = &c->calls; *p; p = &(*p)->next) {
        if (*p == call) {
            *p = call->next;
            break;
        }
    }
    sr_grpc_call_free(call);
    return 0;
}

/* ---- connections ------------------------------------------------------------ */

/* Sends what the session has and writes it (net/tls_io), as long as the
 * socket takes it; write interest only while output waits. Closing goes
 * through the connection's own event: whoever flushed (a handler's timer,
 * a call's finish) may still hold the call or the connection. */
static void conn_flush(struct conn *c)
{
    if (c->batching)
        return;
    bool more = true; /* the output drained: the session may have more */
    for (int round = 0; round < FLUSH_ROUNDS && more; round++) {
        long queued = sr_h2_session_send(c->h2);
        size_t before = evbuffer_get_length(c->out);
        ssize_t written = queued < 0 || c->io.handshaking ? 0 : sr_tls_io_write(&c->io, c->out);
        if (queued < 0 || written < 0) {
            sr_log_debug("admin connection: %s", queued < 0 ? sr_h2_session_why(c->h2) : c->io.why);
            c->closing = true;
            evbuffer_drain(c->out, evbuffer_get_length(c->out)); /* the client is gone */
            more = false;
            break;
        }
        more = !c->io.handshaking && before > 0 && evbuffer_get_length(c->out) == 0;
    }
    if (sr_h2_session_done(c->h2))
        c->closing = true;
    size_t left = evbuffer_get_length(c->out);
    if (!c->io.handshaking) {
        if (left > 0 || more) /* more: the rounds ran out, the next write event goes on */
            event_add(c->write_ev, NULL);
        else
            event_del(c->write_ev);
    }
    if (c->closing && left == 0 && !more)
        event_active(c->close_ev, EV_TIMEOUT, 0);
}

static void on_close(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_free(arg);
}

static void maybe_done(struct sr_grpc_server *s)
{
    if (s->stopping && s->conns == NULL)
        event_base_loopexit(s->base, NULL);
}

static void conn_free(struct conn *c)
{
    struct sr_grpc_server *s = c->server;
    /* Streams still open end here: tell their handlers. */
    while (c->calls) {
        struct sr_grpc_call *call = c->calls;
        c->calls = call->next;
        call->finished = true;
        sr_grpc_call_abandon(call, -1, NULL);
        sr_grpc_call_free(call);
    }
    sr_h2_session_free(c->h2);
    sr_tls_io_close(&c->io, c->closing);
    if (c->out)
        evbuffer_free(c->out);
    if (c->read_ev)
        event_free(c->read_ev);
    if (c->write_ev)
        event_free(c->write_ev);
    if (c->close_ev)
        event_free(c->close_ev);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    sr_free(c);
    maybe_done(s);
}

/* One TLS handshake step; the session's SETTINGS leave once it is done. */
static void handshake(struct conn *c)
{
    int rc = sr_tls_io_handshake(&c->io);
    if (rc < 0) {
        if (c->io.why[0]) /* a failed handshake: no client certificate, a wrong one, no h2 */
            sr_log_info("admin: TLS connection refused: %s", c->io.why);
        conn_free(c);
        return;
    }
    if (rc == SR_TLS_IO_WRITE) {
        event_add(c->write_ev, NULL);
        return;
    }
    event_del(c->write_ev);
    if (rc == SR_TLS_IO_NONE) {
        conn_flush(c);
        event_active(c->read_ev, EV_READ, 1); /* data may have come with it */
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->io.handshaking) {
        handshake(c);
        return;
    }
    uint8_t buf[READ_BYTES];
    ssize_t n = sr_tls_io_read(&c->io, buf, sizeof(buf));
    if (n < 0) {
        conn_free(c); /* the client closed or failed */
        return;
    }
    if (n == 0)
        return;
    /* TLS may hold decrypted bytes the socket no longer signals. */
    if (sr_tls_io_pending(&c->io))
        event_active(c->read_ev, EV_READ, 1);
    int rc = sr_h2_session_recv(c->h2, buf, (size_t)n);
    if (rc < 0) {
        sr_log_debug("admin connection: %s", sr_h2_session_why(c->h2));
        /* nghttp2 queued a GOAWAY for protocol errors: send it, then close. */
        c->closing = true;
    }
    conn_flush(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->io.handshaking)
        handshake(c);
    else
        conn_flush(c);
}

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    return cbs;
}

/* The connection's socket (and TLS), events and HTTP/2 session. 0, or -1
 * (fd is then still the caller's when c->io does not hold it). */
static void flush_link(void *conn)
{
    conn_flush(conn);
}

static int conn_setup(struct conn *c, evutil_socket_t fd)
{
    struct sr_grpc_server *s = c->server;
    SSL *ssl = NULL;
    if (s->cfg.tls) {
        if ((ssl = SSL_new(s->cfg.tls)) == NULL)
            return -1;
        SSL_set_accept_state(ssl);
    }
    if (sr_tls_io_init(&c->io, fd, ssl) != 0) {
        SSL_free(ssl);
        return -1;
    }
    c->out = evbuffer_new();
    c->read_ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->write_ev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    c->close_ev = event_new(s->base, -1, 0, on_close, c);
    nghttp2_session_callbacks *cbs = make_callbacks();
    struct sr_h2_session_config h2cfg = {
        .max_concurrent_streams = s->cfg.max_streams,
        .max_header_list = MAX_HEADER_BYTES,
    };
    if (c->out && cbs)
        c->h2 = sr_h2_session_new(&h2cfg, cbs, c, c->out);
    if (cbs)
        nghttp2_session_callbacks_del(cbs);
    if (c->read_ev == NULL || c->write_ev == NULL || c->close_ev == NULL || c->h2 == NULL)
        return -1;
    c->session = sr_h2_session_nghttp2(c->h2);
    c->link = (struct sr_grpc_call_link){
        .session = c->session, .base = s->base, .flush = flush_link, .conn = c};
    return event_add(c->read_ev, NULL);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                      int addrlen, void *arg)
{
    (void)listener;
    (void)addr;
    (void)addrlen;
    struct sr_grpc_server *s = arg;
    if (s->stopping || s->nconns >= s->cfg.max_connections) {
        sr_log_warn("admin: refusing a connection (%zu open)", s->nconns);
        evutil_closesocket(fd);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn *c = sr_calloc(1, sizeof(*c));
    if (c == NULL) {
        sr_log_warn("admin: cannot set up a connection (out of memory)");
        evutil_closesocket(fd);
        return;
    }
    c->server = s;
    c->io.fd = -1;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (conn_setup(c, fd) != 0) {
        sr_log_warn("admin: cannot set up a connection (out of memory)");
        if (c->io.fd < 0)
            evutil_closesocket(fd);
        conn_free(c);
        return;
    }
    conn_flush(c); /* our SETTINGS (after the handshake, over TLS) */
}

/* ---- server ------------------------------------------------------------------ */

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_grpc_server *s = arg;
    while (s->conns)
        conn_free(s->conns);
    event_base_loopexit(s->base, NULL);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_grpc_server *s = arg;
    s->stopping = true;
    if (s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
    }
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        c->batching = true; /* flush once, below */
        for (struct sr_grpc_call *call = c->calls; call; call = call->next)
            sr_grpc_call_abandon(call, SR_GRPC_UNAVAILABLE, "the router is shutting down");
        sr_h2_session_goaway(c->h2);
        c->closing = true;
        c->batching = false;
        conn_flush(c);
    }
    struct timeval tv = {s->cfg.stop_grace_ms / 1000, (s->cfg.stop_grace_ms % 1000) * 1000};
    evtimer_add(s->stop_timer, &tv);
    maybe_done(s);
}

static int bind_listener(struct sr_grpc_server *s, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[16];
    snprintf(service, sizeof(service), "%ld", s->cfg.port);
    int rc = getaddrinfo(s->cfg.host, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "--admin-host %s: %s", s->cfg.host, gai_strerror(rc));
        return -1;
    }
    s->listener = evconnlistener_new_bind(
        s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        128, res->ai_addr, (int)res->ai_addrlen);
    freeaddrinfo(res);
    if (s->listener == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%ld for the admin API: %s", s->cfg.host,
                 s->cfg.port, strerror(errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&ss, &len);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

struct sr_grpc_server *sr_grpc_server_new(const struct sr_grpc_server_config *cfg,
                                          const struct sr_grpc_method *methods, size_t nmethods,
                                          void *ctx, char *err, size_t errlen)
{
    struct sr_grpc_server *s = sr_calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (s->cfg.tls)
        SSL_CTX_up_ref(s->cfg.tls);
    s->methods = methods;
    s->nmethods = nmethods;
    s->ctx = ctx;
    struct event_config *ec = event_config_new();
    if (ec) {
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
        s->base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    if (s->base == NULL || (s->stop_ev = event_new(s->base, -1, 0, on_stop, s)) == NULL ||
        (s->stop_timer = evtimer_new(s->base, on_stop_timer, s)) == NULL) {
        snprintf(err, errlen, "out of memory");
        sr_grpc_server_free(s);
        return NULL;
    }
    if (bind_listener(s, err, errlen) != 0) {
        sr_grpc_server_free(s);
        return NULL;
    }
    return s;
}

int sr_grpc_server_port(const struct sr_grpc_server *s)
{
    return s->port;
}

static void *run(void *arg)
{
    struct sr_grpc_server *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

int sr_grpc_server_start(struct sr_grpc_server *s)
{
    if (pthread_create(&s->thread, NULL, run, s) != 0)
        return -1;
    s->running = true;
    return 0;
}

void sr_grpc_server_stop(struct sr_grpc_server *s)
{
    if (s == NULL || !s->running)
        return;
    event_active(s->stop_ev, EV_READ, 0);
    pthread_join(s->thread, NULL);
    s->running = false;
}

void sr_grpc_server_free(struct sr_grpc_server *s)
{
    if (s == NULL)
        return;
    while (s->conns)
        conn_free(s->conns);
    if (s->listener)
        evconnlistener_free(s->listener);
    if (s->stop_ev)
        event_free(s->stop_ev);
    if (s->stop_timer)
        event_free(s->stop_timer);
    if (s->base)
        event_base_free(s->base);
    if (s->cfg.tls)
        SSL_CTX_free(s->cfg.tls);
    sr_free(s);
}
