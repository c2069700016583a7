/* h1_client: one HTTP/1.1 client connection, kept alive (see h1_client.h). */
#include "h1_client.h"

#include "common/alloc.h"
#include "common/err.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define STACK_READ  (16 * 1024)
#define MAX_PENDING (16 * 1024 * 1024) /* unparsed bytes held while paused: one read */
#define WHY_LEN     160

enum cl_state {
    CL_CLOSED,
    CL_CONNECTING,
    CL_ACTIVE, /* request written (or being written), response awaited or arriving */
    CL_IDLE,   /* kept alive, no request */
};

struct sr_h1_client {
    struct event_base *base;
    struct sockaddr_storage addr;
    socklen_t addr_len; /* 0: no address yet */
    struct sr_h1_client_options opts;
    evutil_socket_t fd;
    struct event *read_ev, *write_ev, *timer, *defer;
    enum cl_state state;
    struct sr_h1_response_parser *parser;
    const struct sr_h1_client_handler *h; /* NULL: no request in flight */
    void *ctx;
    struct sr_h1_client_request req;
    size_t written;   /* request bytes sent */
    bool reused;      /* this request went on a kept-alive connection */
    bool local_fault; /* this side could not try: not the server's fault */
    bool paused, reading;
    bool in_send;          /* inside sr_h1_client_send: failures are reported later */
    bool dropped;          /* close or free inside a callback: stop parsing */
    bool dead;             /* freed inside a callback: free when it returns */
    bool parsing;          /* inside the codec (on_head, on_body): no new request */
    int busy;              /* inside our callbacks */
    struct sr_buf pending; /* response bytes read but not parsed (paused) */
    char why[WHY_LEN];     /* the deferred failure's reason */
};

static void fail(struct sr_h1_client *c, const char *why);
static void start_connect(struct sr_h1_client *c);

static const char *peer(const struct sr_h1_client *c)
{
    return c->opts.peer ? c->opts.peer : "server";
}

static void release(struct sr_h1_client *c)
{
    if (c->read_ev)
        event_free(c->read_ev);
    if (c->write_ev)
        event_free(c->write_ev);
    if (c->timer)
        event_free(c->timer);
    if (c->defer)
        event_free(c->defer);
    if (c->fd >= 0)
        close(c->fd);
    sr_h1_response_parser_free(c->parser);
    sr_buf_free(&c->pending);
    sr_free(c);
}

/* After one of our callbacks returned: true when the client is gone. */
static bool after_callback(struct sr_h1_client *c)
{
    if (c->dead && c->busy == 0) {
        release(c);
        return true;
    }
    return c->dead;
}

static void set_reading(struct sr_h1_client *c, bool on)
{
    if (on == c->reading)
        return;
    c->reading = on;
    if (on)
        event_add(c->read_ev, NULL);
    else
        event_del(c->read_ev);
}

/* Closes the socket; the client stays, ready to connect again. */
static void disconnect(struct sr_h1_client *c)
{
    event_del(c->read_ev);
    event_del(c->write_ev);
    event_del(c->timer);
    c->reading = false;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = CL_CLOSED;
    sr_buf_reset(&c->pending);
}

/* ---- the handler's side --------------------------------------------------- */

static int on_head(void *ctx, const struct sr_h1_response *resp)
{
    struct sr_h1_client *c = ctx;
    c->h->on_head(c->ctx, resp);
    return c->dropped ? -1 : 0;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct sr_h1_client *c = ctx;
    c->h->on_body(c->ctx, data, len);
    if (c->dropped)
        return -1;
    if (c->paused)
        sr_h1_response_parser_pause(c->parser);
    return 0;
}

static const struct sr_h1_response_callbacks codec_cb = {on_head, on_body};

/* The response is complete: the connection is kept or closed, then the
 * handler hears it. */
static void finish(struct sr_h1_client *c, bool all_consumed)
{
    bool keep = all_consumed && c->written == c->req.head_len + c->req.body_len &&
                sr_h1_response_parser_keep_alive(c->parser);
    const struct sr_h1_client_handler *h = c->h;
    void *ctx = c->ctx;
    c->h = NULL;
    c->ctx = NULL;
    sr_h1_response_parser_reset(c->parser);
    if (keep) {
        c->state = CL_IDLE;
        c->paused = false;
        sr_buf_reset(&c->pending);
        event_del(c->write_ev);
        set_reading(c, true); /* notices the server closing it */
        if (c->opts.idle_timeout_ms > 0) {
            struct timeval tv = {c->opts.idle_timeout_ms / 1000,
                                 (c->opts.idle_timeout_ms % 1000) * 1000};
            event_add(c->timer, &tv);
        }
    } else {
        disconnect(c);
    }
    c->busy++;
    h->on_done(ctx);
    c->busy--;
    after_callback(c);
}

static void fail(struct sr_h1_client *c, const char *why)
{
    if (c->h == NULL)
        return;
    if (why != c->why)
        snprintf(c->why, sizeof(c->why), "%s", why);
    if (c->in_send) { /* the caller does not even hold the result yet */
        disconnect(c);
        event_active(c->defer, EV_TIMEOUT, 1);
        return;
    }
    /* A kept-alive connection the server had closed meanwhile: the request
     * goes once more, on a new connection, transparently. */
    if (c->reused && !sr_h1_response_parser_started(c->parser) && !c->local_fault) {
        c->reused = false;
        disconnect(c);
        sr_h1_response_parser_reset(c->parser);
        c->written = 0;
        start_connect(c);
        return;
    }
    const struct sr_h1_client_handler *h = c->h;
    void *ctx = c->ctx;
    char reason[WHY_LEN];
    memcpy(reason, c->why, sizeof(reason));
    c->h = NULL;
    c->ctx = NULL;
    disconnect(c);
    c->busy++;
    h->on_error(ctx, reason, c->local_fault);
    c->busy--;
    after_callback(c);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_h1_client *c = arg;
    fail(c, c->why);
}

/* ---- reading ------------------------------------------------------------------ */

/* An idle connection ended (closed by the server, unasked bytes, timeout). */
static void idle_end(struct sr_h1_client *c)
{
    disconnect(c);
    if (c->opts.on_idle_closed == NULL)
        return;
    c->busy++;
    c->opts.on_idle_closed(c->opts.owner, c);
    c->busy--;
    after_callback(c);
}

static void parse(struct sr_h1_client *c, const char *data, size_t len)
{
    size_t n = 0;
    c->busy++;
    c->parsing = true;
    enum sr_h1r_result r = sr_h1_response_parser_feed(c->parser, data, len, &n);
    c->parsing = false;
    c->busy--;
    if (after_callback(c) || c->dropped)
        return;
    switch (r) {
    case SR_H1R_DONE:
        finish(c, n == len);
        return;
    case SR_H1R_PAUSED: /* backpressure: keep the rest for later */
        if (sr_buf_append(&c->pending, data + n, len - n) != 0) {
            c->local_fault = true;
            fail(c, "out of memory");
            return;
        }
        set_reading(c, false);
        return;
    case SR_H1R_ERROR:
        fail(c, sr_h1_response_parser_error(c->parser));
        return;
    case SR_H1R_NEED_MORE:
        set_reading(c, !c->paused);
        return;
    }
}

static void on_eof(struct sr_h1_client *c)
{
    c->busy++;
    enum sr_h1r_result r = sr_h1_response_parser_eof(c->parser);
    c->busy--;
    if (after_callback(c) || c->dropped)
        return;
    if (r == SR_H1R_DONE) { /* a body delimited by the close */
        finish(c, false);
        return;
    }
    char why[WHY_LEN];
    snprintf(why, sizeof(why), "the %s closed the connection%s", peer(c),
             sr_h1_response_parser_started(c->parser) ? " mid-response" : "");
    fail(c, why);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sr_h1_client *c = arg;
    if (c->state == CL_IDLE) { /* closed by the server, or garbage: drop it */
        idle_end(c);
        return;
    }
    char local[STACK_READ];
    char *buf = c->opts.scratch ? c->opts.scratch : local;
    size_t cap = c->opts.scratch ? c->opts.scratch_len : sizeof(local);
    ssize_t n = read(fd, buf, cap);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        fail(c, strerror(errno));
        return;
    }
    if (n == 0) {
        on_eof(c);
        return;
    }
    parse(c, buf, (size_t)n);
}

/* ---- writing and connecting ------------------------------------------------------ */

static void flush(struct sr_h1_client *c)
{
    size_t total = c->req.head_len + c->req.body_len;
    while (c->written < total) {
        struct iovec iov[2];
        int n = 0;
        if (c->written < c->req.head_len)
            iov[n++] =
                (struct iovec){(char *)c->req.head + c->written, c->req.head_len - c->written};
        size_t body_off = c->written > c->req.head_len ? c->written - c->req.head_len : 0;
        if (c->req.body_len > body_off)
            iov[n++] = (struct iovec){(char *)c->req.body + body_off, c->req.body_len - body_off};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t sent = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(c->write_ev, NULL);
                return;
            }
            fail(c, strerror(errno));
            return;
        }
        c->written += (size_t)sent;
    }
    event_del(c->write_ev);
}

static void write_request(struct sr_h1_client *c)
{
    c->state = CL_ACTIVE;
    set_reading(c, !c->paused); /* an early answer is read while writing */
    flush(c);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sr_h1_client *c = arg;
    if (c->state == CL_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            fail(c, strerror(err));
            return;
        }
        event_del(c->timer);
        write_request(c);
        return;
    }
    flush(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_h1_client *c = arg;
    if (c->state == CL_IDLE) {
        idle_end(c);
        return;
    }
    char why[WHY_LEN];
    snprintf(why, sizeof(why), "timed out connecting to the %s", peer(c));
    fail(c, why);
}

static void start_connect(struct sr_h1_client *c)
{
    if (c->addr_len == 0) {
        char why[WHY_LEN];
        snprintf(why, sizeof(why), "no address for the %s yet", peer(c));
        fail(c, why);
        return;
    }
    c->fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        c->local_fault = true; /* EMFILE, ENFILE, ENOBUFS, ENOMEM: ours, not the server's */
        fail(c, strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    event_assign(c->read_ev, c->base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
    event_assign(c->write_ev, c->base, c->fd, EV_WRITE | EV_PERSIST, on_writable, c);
    if (connect(c->fd, (struct sockaddr *)&c->addr, c->addr_len) == 0) {
        write_request(c);
        return;
    }
    if (errno != EINPROGRESS) {
        fail(c, strerror(errno));
        return;
    }
    c->state = CL_CONNECTING;
    event_add(c->write_ev, NULL);
    if (c->opts.connect_timeout_ms > 0) {
        struct timeval tv = {c->opts.connect_timeout_ms / 1000,
                             (c->opts.connect_timeout_ms % 1000) * 1000};
        event_add(c->timer, &tv);
    }
}

/* ---- the API ------------------------------------------------------------------- */

struct sr_h1_client *sr_h1_client_new(struct event_base *base, const struct sockaddr *addr,
                                      socklen_t addr_len, const struct sr_h1_client_options *opts)
{
    struct sr_h1_client *c = sr_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->fd = -1;
    c->base = base;
    c->opts = *opts;
    if (addr != NULL && addr_len <= sizeof(c->addr)) {
        memcpy(&c->addr, addr, addr_len);
        c->addr_len = addr_len;
    }
    sr_buf_init(&c->pending, MAX_PENDING);
    c->read_ev = event_new(base, -1, 0, on_readable, c);
    c->write_ev = event_new(base, -1, 0, on_writable, c);
    c->timer = evtimer_new(base, on_timer, c);
    c->defer = event_new(base, -1, 0, on_deferred, c);
    c->parser = sr_h1_response_parser_new(&opts->limits, &codec_cb, c);
    if (c->read_ev == NULL || c->write_ev == NULL || c->timer == NULL || c->defer == NULL ||
        c->parser == NULL) {
        release(c);
        return NULL;
    }
    return c;
}

void sr_h1_client_free(struct sr_h1_client *c)
{
    if (c == NULL)
        return;
    c->h = NULL;
    c->dropped = true;
    if (c->busy > 0) {
        c->dead = true;
        return;
    }
    release(c);
}

int sr_h1_client_send(struct sr_h1_client *c, const struct sr_h1_client_request *req,
                      const struct sr_h1_client_handler *h, void *ctx)
{
    if (c->h != NULL || c->dead || c->parsing)
        return SR_ERR_INVALID;
    c->h = h;
    c->ctx = ctx;
    c->req = *req;
    c->written = 0;
    c->local_fault = c->paused = c->dropped = false;
    sr_h1_response_parser_reset(c->parser);
    sr_buf_reset(&c->pending);
    c->in_send = true;
    c->reused = c->state == CL_IDLE;
    if (c->reused) {
        event_del(c->timer);
        write_request(c);
    } else {
        disconnect(c);
        start_connect(c);
    }
    c->in_send = false;
    return 0;
}

void sr_h1_client_close(struct sr_h1_client *c)
{
    c->h = NULL;
    c->ctx = NULL;
    c->dropped = true;
    event_del(c->defer);
    disconnect(c);
}

void sr_h1_client_pause(struct sr_h1_client *c, bool paused)
{
    if (c->paused == paused || c->h == NULL)
        return;
    c->paused = paused;
    if (paused) {
        set_reading(c, false);
        return;
    }
    if (c->busy > 0)
        return; /* inside on_body: parsing goes on by itself */
    if (c->pending.len > 0) {
        size_t len = 0;
        char *data = sr_buf_take(&c->pending, &len);
        parse(c, data, len); /* re-arms reading unless paused again or done */
        sr_free(data);
        return;
    }
    if (c->state == CL_ACTIVE)
        set_reading(c, true);
}

bool sr_h1_client_idle(const struct sr_h1_client *c)
{
    return c->state == CL_IDLE && c->h == NULL;
}

int sr_h1_client_format_head(struct sr_buf *out, const char *method, const char *target,
                             const char *host, const char *extra_headers, long long content_length)
{
    /* Pieces rather than one printf: this is on the load generator's
     * hot path. */
    char length[48] = "";
    if (content_length >= 0)
        snprintf(length, sizeof(length), "Content-Length: %lld\r\n", content_length);
    const char *parts[] = {method,
                           " ",
                           target,
                           " HTTP/1.1\r\nHost: ",
                           host,
                           "\r\n",
                           extra_headers ? extra_headers : "",
                           length,
                           "\r\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        int rc = sr_buf_append_str(out, parts[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}
