/* fetch: a one-shot HTTP/1.1 client (see fetch.h). */
#include "fetch.h"

#include "common/alloc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <http_parser.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct sr_fetch {
    evutil_socket_t fd;
    struct event *ev, *timer, *defer;
    struct evbuffer *out;
    http_parser parser;
    char *body;
    size_t body_len, max_body;
    bool connected, done, too_big;
    const char *why;
    bool local_fault; /* the router could not try: status -1 */
    sr_fetch_cb cb;
    void *ctx;
};

static void fetch_free(struct sr_fetch *f)
{
    if (f->ev)
        event_free(f->ev);
    if (f->timer)
        event_free(f->timer);
    if (f->defer)
        event_free(f->defer);
    if (f->out)
        evbuffer_free(f->out);
    if (f->fd >= 0)
        close(f->fd);
    sr_free(f->body);
    sr_free(f);
}

static void finish(struct sr_fetch *f, int status, const char *why)
{
    f->cb(f->ctx, status, f->body ? f->body : "", f->body_len, why);
    fetch_free(f);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct sr_fetch *f = p->data;
    if (f->body_len + len > f->max_body) {
        f->too_big = true;
        return -1;
    }
    char *b = sr_realloc(f->body, f->body_len + len + 1);
    if (b == NULL)
        return -1;
    memcpy(b + f->body_len, at, len);
    f->body = b;
    f->body_len += len;
    b[f->body_len] = '\0';
    return 0;
}

static int on_complete(http_parser *p)
{
    struct sr_fetch *f = p->data;
    f->done = true;
    return 0;
}

static const http_parser_settings settings = {.on_body = on_body,
                                              .on_message_complete = on_complete};

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct sr_fetch *f = arg;
    if (what & EV_TIMEOUT) {
        finish(f, 0, "timed out");
        return;
    }
    if (!f->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            finish(f, 0, strerror(err));
            return;
        }
        f->connected = true;
    }
    if (what & EV_WRITE) {
        if (evbuffer_write(f->out, fd) < 0 && errno != EAGAIN && errno != EINTR) {
            finish(f, 0, strerror(errno));
            return;
        }
        if (evbuffer_get_length(f->out) == 0) { /* request sent: wait for the answer */
            event_del(f->ev);
            event_assign(f->ev, event_get_base(f->ev), fd, EV_READ | EV_PERSIST, on_event, f);
            event_add(f->ev, NULL);
        }
        return;
    }
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            finish(f, 0, strerror(errno));
        return;
    }
    http_parser_execute(&f->parser, &settings, buf, (size_t)n);
    if (f->done) {
        finish(f, f->parser.status_code, NULL);
        return;
    }
    if (HTTP_PARSER_ERRNO(&f->parser) != HPE_OK) {
        finish(f, 0, f->too_big ? "response too large" : "malformed response");
        return;
    }
    if (n == 0)
        finish(f, 0, "connection closed before the response ended");
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_fetch *f = arg;
    finish(f, f->local_fault ? -1 : 0, f->why);
}

void sr_fetch_cancel(struct sr_fetch *f)
{
    fetch_free(f);
}

struct sr_fetch *sr_fetch(struct event_base *base, const struct sr_fetch_request *req,
                          sr_fetch_cb cb, void *ctx)
{
    struct sr_fetch *f = sr_calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->fd = -1;
    f->cb = cb;
    f->ctx = ctx;
    f->max_body = req->max_body;
    f->out = evbuffer_new();
    f->timer = evtimer_new(base, on_event, f);
    f->defer = event_new(base, -1, 0, on_defer, f);
    if (f->out == NULL || f->timer == NULL || f->defer == NULL) {
        fetch_free(f);
        return NULL;
    }
    http_parser_init(&f->parser, HTTP_RESPONSE);
    f->parser.data = f;
    evbuffer_add_printf(f->out,
                        "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: "
                        "sglang-router\r\n",
                        req->method, req->path, req->host);
    if (req->body_len > 0 || strcmp(req->method, "POST") == 0)
        evbuffer_add_printf(f->out, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                            req->body_len);
    evbuffer_add(f->out, "\r\n", 2);
    if (req->body_len)
        evbuffer_add(f->out, req->body, req->body_len);
    struct timeval tv = {req->timeout_ms / 1000, (req->timeout_ms % 1000) * 1000};
    evtimer_add(f->timer, &tv);

    f->fd = socket(req->addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->fd < 0 || (connect(f->fd, req->addr, req->addr_len) != 0 && errno != EINPROGRESS)) {
        f->local_fault = f->fd < 0;
        f->why = strerror(errno);
        event_active(f->defer, EV_TIMEOUT, 1);
        return f;
    }
    f->ev = event_new(base, f->fd, EV_WRITE | EV_PERSIST, on_event, f);
    if (f->ev == NULL) {
        f->local_fault = true;
        f->why = "out of memory";
        event_active(f->defer, EV_TIMEOUT, 1);
        return f;
    }
    event_add(f->ev, NULL);
    return f;
}
