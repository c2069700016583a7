/* upstream: worker connections, their pools, and the HTTP/1.1 client side
 * of a proxied request (see upstream.h). */
#include "upstream.h"

#include "addr_book.h"
#include "loop.h"

#include "common/alloc.h"
#include "common/log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK          (64 * 1024)
#define MAX_IDLE_PER_WORKER 512
#define IDLE_TIMEOUT_SECS   30
#define MAX_HEAD_BYTES      (64 * 1024)
#define MAX_HEADERS         128

enum up_state {
    UP_CONNECTING,
    UP_ACTIVE, /* request written (or being written), response awaited or arriving */
    UP_IDLE,   /* in the pool */
};

struct header_span {
    size_t name_off, name_len, value_off, value_len;
};

struct sr_upstream {
    struct sr_loop *loop;
    struct sr_pool *pool;
    struct sr_worker *worker; /* referenced while the connection lives */
    evutil_socket_t fd;
    struct event *read_ev, *write_ev, *timer;
    struct evbuffer *out;
    enum up_state state;
    http_parser parser;
    const struct sr_upstream_handler *h;
    void *ctx;
    struct sr_upstream_request req;
    bool reused;      /* came from the pool for this request */
    bool responded;   /* response bytes have been parsed */
    bool local_fault; /* the router could not try (no descriptor): not the worker's fault */
    bool head_done, message_done;
    bool paused, reading;
    bool cancelled; /* the handler is gone; free when safe */
    bool busy;      /* inside our own callback: free later */
    bool starting;  /* inside sr_upstream_start: failures are reported later */
    struct event *defer;
    const char *deferred_why;
    char *pending; /* response bytes read but not parsed (paused) */
    size_t pending_len;
    /* response head */
    char *head;
    size_t head_len, head_cap;
    struct header_span spans[MAX_HEADERS];
    struct sr_http_header headers[MAX_HEADERS];
    size_t nheaders;
    bool in_value;
    struct sr_upstream *idle_prev, *idle_next;
};

struct pool_slot {
    struct sr_worker *worker;
    struct sr_upstream *idle;
    size_t count;
};

struct sr_pool {
    struct sr_loop *loop;
    struct pool_slot *slots; /* by worker id */
    size_t nslots;
    size_t idle_total;
    char scratch[READ_CHUNK];
};

static void up_close(struct sr_upstream *u);
static void start_connect(struct sr_upstream *u);
static void send_request(struct sr_upstream *u);
static void fail(struct sr_upstream *u, const char *why);

struct sr_pool *sr_pool_new(struct sr_loop *l)
{
    struct sr_pool *p = sr_calloc(1, sizeof(*p));
    if (p != NULL)
        p->loop = l;
    return p;
}

size_t sr_pool_idle(const struct sr_pool *p)
{
    return p->idle_total;
}

static void idle_remove(struct sr_upstream *u)
{
    struct pool_slot *slot = &u->pool->slots[u->worker->id];
    if (u->idle_prev)
        u->idle_prev->idle_next = u->idle_next;
    else
        slot->idle = u->idle_next;
    if (u->idle_next)
        u->idle_next->idle_prev = u->idle_prev;
    u->idle_prev = u->idle_next = NULL;
    slot->count--;
    u->pool->idle_total--;
}

void sr_pool_free(struct sr_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nslots; i++)
        while (p->slots[i].idle)
            up_close(p->slots[i].idle);
    sr_free(p->slots);
    sr_free(p);
}

static void free_upstream(struct sr_upstream *u)
{
    if (u->read_ev)
        event_free(u->read_ev);
    if (u->write_ev)
        event_free(u->write_ev);
    if (u->timer)
        event_free(u->timer);
    if (u->defer)
        event_free(u->defer);
    if (u->out)
        evbuffer_free(u->out);
    if (u->fd >= 0)
        close(u->fd);
    sr_worker_release(u->worker);
    sr_free(u->pending);
    sr_free(u->head);
    sr_free(u);
}

/* Closes the connection (out of the pool if idle). Deferred while one of
 * our callbacks runs. */
static void up_close(struct sr_upstream *u)
{
    if (u->state == UP_IDLE)
        idle_remove(u);
    u->state = UP_ACTIVE;
    u->cancelled = true;
    u->h = NULL;
    if (!u->busy)
        free_upstream(u);
}

void sr_upstream_cancel(struct sr_upstream *u)
{
    up_close(u);
}

static void set_reading(struct sr_upstream *u, bool on)
{
    if (on == u->reading)
        return;
    u->reading = on;
    if (on)
        event_add(u->read_ev, NULL);
    else
        event_del(u->read_ev);
}

/* ---- response parsing ---------------------------------------------------- */

static int head_add(struct sr_upstream *u, const char *at, size_t len)
{
    if (len == 0)
        return 0;
    if (u->head_len + len > MAX_HEAD_BYTES)
        return -1;
    if (u->head_len + len > u->head_cap) {
        size_t cap = u->head_cap ? u->head_cap : 1024;
        while (cap < u->head_len + len)
            cap *= 2;
        char *h = sr_realloc(u->head, cap);
        if (h == NULL)
            return -1;
        u->head = h;
        u->head_cap = cap;
    }
    memcpy(u->head + u->head_len, at, len);
    u->head_len += len;
    return 0;
}

static struct sr_upstream *of(http_parser *p)
{
    return p->data;
}

static int on_message_begin(http_parser *p)
{
    struct sr_upstream *u = of(p);
    u->responded = true;
    u->head_len = u->nheaders = 0;
    u->in_value = false;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct sr_upstream *u = of(p);
    if (u->head_done)
        return 0; /* trailers after a chunked body: not relayed */
    if (u->nheaders == 0 || u->in_value) {
        if (u->nheaders == MAX_HEADERS)
            return -1;
        u->spans[u->nheaders++] = (struct header_span){.name_off = u->head_len};
        u->in_value = false;
    }
    u->spans[u->nheaders - 1].name_len += len;
    return head_add(u, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct sr_upstream *u = of(p);
    if (u->head_done)
        return 0;
    struct header_span *s = &u->spans[u->nheaders - 1];
    if (!u->in_value) {
        s->value_off = u->head_len;
        u->in_value = true;
    }
    s->value_len += len;
    return head_add(u, at, len);
}

static int on_headers_complete(http_parser *p)
{
    struct sr_upstream *u = of(p);
    for (size_t i = 0; i < u->nheaders; i++) {
        const struct header_span *s = &u->spans[i];
        u->headers[i] = (struct sr_http_header){u->head + s->name_off, s->name_len,
                                                u->head + s->value_off, s->value_len};
    }
    struct sr_upstream_response resp = {
        .status = p->status_code,
        .headers = u->headers,
        .nheaders = u->nheaders,
        .content_length = (p->flags & F_CHUNKED) || p->content_length == ULLONG_MAX
                              ? -1
                              : (long long)p->content_length,
    };
    if (p->status_code == 204 || p->status_code == 304)
        resp.content_length = -1; /* no body; framing is ours to decide */
    u->head_done = true;
    if (u->h)
        u->h->on_head(u->ctx, &resp);
    return u->cancelled ? -1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct sr_upstream *u = of(p);
    if (u->h)
        u->h->on_body(u->ctx, at, len);
    if (u->cancelled)
        return -1;
    if (u->paused)
        http_parser_pause(p, 1);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct sr_upstream *u = of(p);
    u->message_done = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- the pool ----------------------------------------------------------- */

static struct pool_slot *slot_for(struct sr_pool *p, struct sr_worker *w)
{
    if (w->id >= p->nslots) {
        size_t n = w->id + 8;
        struct pool_slot *s = sr_realloc(p->slots, n * sizeof(*s));
        if (s == NULL)
            return NULL;
        memset(s + p->nslots, 0, (n - p->nslots) * sizeof(*s));
        p->slots = s;
        p->nslots = n;
    }
    struct pool_slot *slot = &p->slots[w->id];
    if (slot->worker != w) { /* the id belonged to a removed worker */
        while (slot->idle)
            up_close(slot->idle);
        slot->worker = w;
    }
    return slot;
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg);

/* The response is complete and the connection is reusable. */
static void pool_put(struct sr_upstream *u)
{
    struct pool_slot *slot = slot_for(u->pool, u->worker);
    if (slot == NULL || slot->count >= MAX_IDLE_PER_WORKER ||
        atomic_load_explicit(&u->worker->removed, memory_order_acquire) || u->loop->draining) {
        up_close(u);
        return;
    }
    u->state = UP_IDLE;
    u->h = NULL;
    u->ctx = NULL;
    u->paused = false;
    sr_free(u->pending);
    u->pending = NULL;
    u->pending_len = 0;
    u->idle_prev = NULL;
    u->idle_next = slot->idle;
    if (slot->idle)
        slot->idle->idle_prev = u;
    slot->idle = u;
    slot->count++;
    u->pool->idle_total++;
    set_reading(u, true); /* notices the worker closing it */
    event_del(u->write_ev);
    struct timeval tv = {IDLE_TIMEOUT_SECS, 0};
    event_assign(u->timer, u->loop->base, -1, 0, on_idle_timeout, u);
    event_add(u->timer, &tv);
}

static struct sr_upstream *pool_take(struct sr_pool *p, struct sr_worker *w)
{
    struct pool_slot *slot = slot_for(p, w);
    if (slot == NULL || slot->idle == NULL)
        return NULL;
    struct sr_upstream *u = slot->idle;
    idle_remove(u);
    event_del(u->timer);
    return u;
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    up_close(arg);
}

/* ---- I/O ---------------------------------------------------------------- */

/* Back to a fresh, unconnected state (same object, same handler). */
static void reset_connection(struct sr_upstream *u)
{
    event_del(u->read_ev);
    event_del(u->write_ev);
    event_del(u->timer);
    u->reading = false;
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    evbuffer_drain(u->out, evbuffer_get_length(u->out));
    http_parser_init(&u->parser, HTTP_RESPONSE);
    u->parser.data = u;
    u->head_done = u->message_done = u->responded = false;
}

static void fail(struct sr_upstream *u, const char *why)
{
    if (u->starting) { /* the caller has not even got u yet */
        u->deferred_why = why;
        event_active(u->defer, EV_TIMEOUT, 1);
        return;
    }
    const struct sr_upstream_handler *h = u->h;
    void *ctx = u->ctx;
    bool responded = u->responded, local = u->local_fault;
    /* A reused connection the worker had closed meanwhile: the request
     * goes once more, on a new connection, transparently. */
    if (u->reused && !responded && !local && h != NULL && !u->cancelled) {
        u->reused = false;
        reset_connection(u);
        start_connect(u);
        return;
    }
    up_close(u);
    if (h)
        h->on_error(ctx, why, local);
}

/* Acts on what the parser found in data[0, len) (n bytes consumed). */
static void after_parse(struct sr_upstream *u, const char *data, size_t len, size_t n)
{
    if (u->cancelled) {
        free_upstream(u);
        return;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&u->parser);
    if (u->message_done) {
        const struct sr_upstream_handler *h = u->h;
        void *ctx = u->ctx;
        bool reusable = n == len && http_should_keep_alive(&u->parser);
        http_parser_init(&u->parser, HTTP_RESPONSE);
        u->parser.data = u;
        if (reusable)
            pool_put(u);
        else
            up_close(u);
        if (h)
            h->on_done(ctx);
        return;
    }
    if (e == HPE_PAUSED) { /* backpressure: keep the rest for later */
        size_t rest = len - n;
        if (rest > 0) {
            char *keep = sr_malloc(rest);
            if (keep == NULL) {
                fail(u, "out of memory");
                return;
            }
            memcpy(keep, data + n, rest);
            u->pending = keep;
            u->pending_len = rest;
        }
        set_reading(u, false);
        return;
    }
    if (e != HPE_OK) {
        fail(u, http_errno_description(e));
        return;
    }
    set_reading(u, !u->paused);
}

static void parse(struct sr_upstream *u, const char *data, size_t len)
{
    u->busy = true;
    size_t n = http_parser_execute(&u->parser, &settings, data, len);
    u->busy = false;
    after_parse(u, data, len, n);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sr_upstream *u = arg;
    if (u->state == UP_IDLE) { /* closed by the worker, or garbage: drop it */
        up_close(u);
        return;
    }
    ssize_t n = read(fd, u->pool->scratch, sizeof(u->pool->scratch));
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        fail(u, strerror(errno));
        return;
    }
    if (n == 0) {
        /* End of stream: completes a body delimited by the close. */
        u->busy = true;
        http_parser_execute(&u->parser, &settings, NULL, 0);
        u->busy = false;
        if (!u->cancelled && !u->message_done) {
            fail(u, u->responded ? "the worker closed the connection mid-response"
                                 : "the worker closed the connection");
            return;
        }
        after_parse(u, NULL, 0, 0);
        return;
    }
    parse(u, u->pool->scratch, (size_t)n);
}

static void flush(struct sr_upstream *u)
{
    while (evbuffer_get_length(u->out) > 0) {
        if (evbuffer_write(u->out, u->fd) < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            fail(u, strerror(errno));
            return;
        }
    }
    if (evbuffer_get_length(u->out) > 0)
        event_add(u->write_ev, NULL);
    else
        event_del(u->write_ev);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sr_upstream *u = arg;
    if (u->state == UP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            fail(u, strerror(err));
            return;
        }
        event_del(u->timer);
        u->state = UP_ACTIVE;
        send_request(u);
        return;
    }
    flush(u);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fail(arg, "timed out connecting to the worker");
}

static void send_request(struct sr_upstream *u)
{
    evbuffer_drain(u->out, evbuffer_get_length(u->out));
    evbuffer_add(u->out, u->req.head, u->req.head_len);
    if (u->req.body_len > 0)
        evbuffer_add_reference(u->out, u->req.body, u->req.body_len, NULL, NULL);
    set_reading(u, !u->paused);
    flush(u);
}

static void start_connect(struct sr_upstream *u)
{
    struct sockaddr_storage addr;
    socklen_t len;
    if (!sr_addr_book_get(u->loop->router->addrs, u->worker, &addr, &len)) {
        fail(u, "no address for the worker yet");
        return;
    }
    u->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd < 0) {
        u->local_fault = true; /* EMFILE, ENFILE, ENOBUFS, ENOMEM: ours, not the worker's */
        fail(u, strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    event_assign(u->read_ev, u->loop->base, u->fd, EV_READ | EV_PERSIST, on_readable, u);
    event_assign(u->write_ev, u->loop->base, u->fd, EV_WRITE | EV_PERSIST, on_writable, u);
    if (connect(u->fd, (struct sockaddr *)&addr, len) == 0) {
        u->state = UP_ACTIVE;
        send_request(u);
        return;
    }
    if (errno != EINPROGRESS) {
        fail(u, strerror(errno));
        return;
    }
    u->state = UP_CONNECTING;
    event_add(u->write_ev, NULL);
    struct timeval tv = {u->loop->router->cfg->worker_connect_timeout_secs, 0};
    event_assign(u->timer, u->loop->base, -1, 0, on_connect_timeout, u);
    event_add(u->timer, &tv);
}

static void on_deferred_fail(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_upstream *u = arg;
    fail(u, u->deferred_why);
}

static struct sr_upstream *new_upstream(struct sr_loop *l, struct sr_worker *w)
{
    struct sr_upstream *u = sr_calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->fd = -1;
    u->loop = l;
    u->pool = l->pool;
    sr_worker_ref(w);
    u->worker = w;
    u->out = evbuffer_new();
    u->read_ev = event_new(l->base, -1, 0, on_readable, u);
    u->write_ev = event_new(l->base, -1, 0, on_writable, u);
    u->timer = evtimer_new(l->base, on_connect_timeout, u);
    u->defer = event_new(l->base, -1, 0, on_deferred_fail, u);
    if (u->out == NULL || u->read_ev == NULL || u->write_ev == NULL || u->timer == NULL ||
        u->defer == NULL) {
        free_upstream(u);
        return NULL;
    }
    http_parser_init(&u->parser, HTTP_RESPONSE);
    u->parser.data = u;
    return u;
}

struct sr_upstream *sr_upstream_start(struct sr_loop *l, struct sr_worker *w,
                                      const struct sr_upstream_request *req,
                                      const struct sr_upstream_handler *h, void *ctx)
{
    struct sr_upstream *u = pool_take(l->pool, w);
    bool reused = u != NULL;
    if (u == NULL && (u = new_upstream(l, w)) == NULL)
        return NULL;
    u->h = h;
    u->ctx = ctx;
    u->req = *req;
    u->reused = reused;
    u->responded = u->head_done = u->message_done = false;
    u->paused = false;
    u->starting = true;
    if (reused) {
        u->state = UP_ACTIVE;
        send_request(u);
    } else {
        start_connect(u);
    }
    u->starting = false;
    return u;
}

void sr_upstream_pause(struct sr_upstream *u, bool paused)
{
    if (u->paused == paused || u->cancelled)
        return;
    u->paused = paused;
    if (paused) {
        set_reading(u, false);
        return;
    }
    http_parser_pause(&u->parser, 0);
    if (u->pending) {
        char *data = u->pending;
        size_t len = u->pending_len;
        u->pending = NULL;
        u->pending_len = 0;
        parse(u, data, len); /* re-arms reading unless paused again or done */
        sr_free(data);
        return;
    }
    if (u->state == UP_ACTIVE)
        set_reading(u, true);
}
