/* run: the benchmark's HTTP client and arrival schedules (see run.h). */
#include "run.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/rand.h"

#include <jansson.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct text {
    char *p;
    size_t len, cap;
};

static int text_add(struct text *t, const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = sr_realloc(t->p, cap);
        if (p == NULL)
            return SR_ERR_NOMEM;
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

struct bench;

struct conn {
    struct bench *b;
    evutil_socket_t fd;
    struct event *rev, *wev, *timer;
    struct evbuffer *out;
    http_parser parser;
    bool connected, busy, reusable, header_is_worker, done;
    long req; /* index into the workload; -1 when idle */
    long user;
    struct timespec sent;
    bool got_token;
    struct text sse, body, reply;
    char field[32];
    struct conn *next_idle;
};

struct bench {
    const struct sr_run_params *p;
    const struct sr_workload *w;
    struct sr_result *results;
    struct event_base *base;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host_header[300];
    size_t next, completed, ok;
    struct conn *idle;
    struct conn **all;
    size_t nall, all_cap;
    struct event *arrivals, *progress;
    struct sr_rng rng;
    struct timespec start;
    size_t *order;               /* trace: indices by arrival */
    struct text **replies;       /* multi-turn: per user, per turn */
    struct event **think_timers; /* multi-turn: per user */
};

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void dispatch_next(struct conn *c);
static void send_request(struct conn *c, long index);

/* ---- request bodies ------------------------------------------------------- */

static char *generate_body(const struct bench *b, const struct sr_wl_request *r)
{
    struct text t = {0};
    char tail[256];
    const char *head = b->p->openai ? "{\"model\":\"default\",\"prompt\":\"" : "{\"text\":\"";
    text_add(&t, head, strlen(head));
    /* Words, spaces and newlines: only the newlines need escaping. */
    const char *p = r->prompt, *end = r->prompt + r->prompt_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        text_add(&t, p, n);
        if (nl == NULL)
            break;
        text_add(&t, "\\n", 2);
        p = nl + 1;
    }
    if (b->p->openai)
        snprintf(tail, sizeof(tail),
                 "\",\"max_tokens\":%u,\"ignore_eos\":true,\"temperature\":0,\"stream\":%s,"
                 "\"stream_options\":{\"include_usage\":true}",
                 r->output_tokens, b->p->stream ? "true" : "false");
    else
        snprintf(tail, sizeof(tail),
                 "\",\"sampling_params\":{\"max_new_tokens\":%u,\"ignore_eos\":true},\"stream\":%s",
                 r->output_tokens, b->p->stream ? "true" : "false");
    text_add(&t, tail, strlen(tail));
    if (r->nhash) {
        text_add(&t, ",\"hash_ids\":[", 13);
        for (size_t i = 0; i < r->nhash; i++) {
            snprintf(tail, sizeof(tail), "%s%lld", i ? "," : "", (long long)r->hash_ids[i]);
            text_add(&t, tail, strlen(tail));
        }
        text_add(&t, "]", 1);
    }
    if (text_add(&t, "}", 1) != 0) {
        sr_free(t.p);
        return NULL;
    }
    return t.p;
}

/* The whole conversation of a user so far, plus this turn's message. */
static char *chat_body(const struct bench *b, const struct sr_wl_request *r)
{
    const struct sr_workload *w = b->w;
    size_t users = 0;
    for (size_t i = 0; i < w->n && w->reqs[i].turn == 0; i++)
        users++;
    /* Prompts and replies are the load generator's own ASCII text. */
    json_t *root = json_object();
    json_t *msgs = json_array();
    json_object_set_new(root, "messages", msgs);
    json_object_set_new(root, "model", json_string("default"));
    for (uint32_t t = 0; t <= r->turn; t++) {
        const struct sr_wl_request *m = &w->reqs[(size_t)t * users + r->group];
        json_array_append_new(msgs, json_pack("{s:s, s:s%}", "role", "user", "content",
                                              m->prompt ? m->prompt : "", m->prompt_len));
        if (t < r->turn) {
            const struct text *reply = &b->replies[r->group][t];
            json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "assistant", "content",
                                                  reply->p ? reply->p : ""));
        }
    }
    json_object_set_new(root, "max_tokens", json_integer(r->output_tokens));
    json_object_set_new(root, "stream", json_boolean(b->p->stream));
    json_object_set_new(root, "stream_options", json_pack("{s:b}", "include_usage", 1));
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

/* ---- response accounting ------------------------------------------------------ */

static void take_counts(struct sr_result *res, const json_t *o)
{
    const json_t *mi = json_object_get(o, "meta_info");
    const json_t *usage = json_object_get(o, "usage");
    const json_t *pt = NULL, *ct = NULL, *gt = NULL;
    if (json_is_object(mi)) {
        pt = json_object_get(mi, "prompt_tokens");
        ct = json_object_get(mi, "cached_tokens");
        gt = json_object_get(mi, "completion_tokens");
    } else if (json_is_object(usage)) {
        pt = json_object_get(usage, "prompt_tokens");
        gt = json_object_get(usage, "completion_tokens");
        const json_t *d = json_object_get(usage, "prompt_tokens_details");
        ct = json_object_get(d, "cached_tokens");
    }
    if (json_is_number(pt))
        res->prompt_tokens = (uint32_t)json_number_value(pt);
    if (json_is_number(ct))
        res->cached_tokens = (uint32_t)json_number_value(ct);
    if (json_is_number(gt))
        res->completion_tokens = (uint32_t)json_number_value(gt);
}

/* One SSE event (or a whole non-streamed body). */
static void take_event(struct conn *c, const char *json, size_t len)
{
    struct bench *b = c->b;
    struct sr_result *res = &b->results[c->req];
    json_t *o = json_loadb(json, len, 0, NULL);
    if (o == NULL)
        return;
    if (json_is_array(o) && json_array_size(o) > 0) { /* a /generate batch answer */
        take_counts(res, json_array_get(o, 0));
        json_decref(o);
        return;
    }
    take_counts(res, o);
    const char *piece = NULL;
    const json_t *choices = json_object_get(o, "choices");
    const json_t *ch0 = json_is_array(choices) ? json_array_get(choices, 0) : NULL;
    if (ch0) {
        const json_t *delta = json_object_get(ch0, "delta");
        const json_t *msg = json_object_get(ch0, "message");
        const json_t *content = json_object_get(delta ? delta : msg, "content");
        const json_t *text = json_object_get(ch0, "text"); /* /v1/completions */
        if (json_is_string(content))
            piece = json_string_value(content);
        else if (json_is_string(text))
            piece = json_string_value(text);
    } else {
        const json_t *text = json_object_get(o, "text");
        if (json_is_string(text))
            piece = json_string_value(text);
    }
    if (piece && piece[0] && !c->got_token) {
        c->got_token = true;
        res->ttft_s = since(&c->sent);
    }
    if (piece && ch0 && b->w->kind == SR_WL_MULTI_TURN)
        text_add(&c->reply, piece, strlen(piece));
    json_decref(o);
}

static void take_sse(struct conn *c)
{
    char *start = c->sse.p;
    char *end = c->sse.p + c->sse.len;
    for (;;) {
        char *sep = memmem(start, (size_t)(end - start), "\n\n", 2);
        if (sep == NULL)
            break;
        if (sep - start > 6 && memcmp(start, "data: ", 6) == 0 &&
            !(sep - start == 12 && memcmp(start + 6, "[DONE]", 6) == 0))
            take_event(c, start + 6, (size_t)(sep - start - 6));
        start = sep + 2;
    }
    size_t rest = (size_t)(end - start);
    memmove(c->sse.p, start, rest);
    c->sse.len = rest;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    struct conn *c = hp->data;
    c->header_is_worker = len == 11 && strncasecmp(at, "x-worker-id", 11) == 0;
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct conn *c = hp->data;
    if (c->header_is_worker) {
        struct sr_result *res = &c->b->results[c->req];
        size_t n = len < sizeof(res->worker) - 1 ? len : sizeof(res->worker) - 1;
        memcpy(res->worker, at, n);
        res->worker[n] = '\0';
    }
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    struct conn *c = hp->data;
    if (c->b->p->stream && hp->status_code == 200) {
        if (text_add(&c->sse, at, len) != 0)
            return -1;
        take_sse(c);
    } else if (text_add(&c->body, at, len) != 0) {
        return -1;
    }
    return 0;
}

static int on_complete(http_parser *hp)
{
    struct conn *c = hp->data;
    c->done = true;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* ---- connections ------------------------------------------------------------ */

static void conn_close(struct conn *c)
{
    if (c->rev)
        event_del(c->rev);
    if (c->wev)
        event_del(c->wev);
    event_del(c->timer);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->connected = false;
}

static void finish_request(struct conn *c, int status)
{
    struct bench *b = c->b;
    struct sr_result *res = &b->results[c->req];
    event_del(c->timer);
    res->status = status;
    res->e2e_s = since(&c->sent);
    if (status == 200 && (!b->p->stream || res->ttft_s == 0)) {
        if (c->body.len)
            take_event(c, c->body.p, c->body.len);
        if (res->ttft_s == 0)
            res->ttft_s = res->e2e_s;
    }
    if (b->w->kind == SR_WL_MULTI_TURN && status == 200) {
        const struct sr_wl_request *r = &b->w->reqs[c->req];
        struct text *slot = &b->replies[r->group][r->turn];
        *slot = c->reply; /* taken over */
        memset(&c->reply, 0, sizeof(c->reply));
    }
    c->reply.len = 0;
    c->sse.len = c->body.len = 0;
    b->ok += status == 200;
    b->completed++;
    c->busy = false;
    c->req = -1;
    if (b->completed == b->w->n)
        event_base_loopbreak(b->base);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    conn_close(c);
    if (c->busy)
        finish_request(c, 0);
    dispatch_next(c);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (!c->busy) { /* the server closed an idle connection */
        conn_close(c);
        return;
    }
    size_t len = n > 0 ? (size_t)n : 0;
    http_parser_execute(&c->parser, &settings, buf, len);
    if (c->done) {
        bool keep = n > 0 && http_should_keep_alive(&c->parser);
        int status = c->parser.status_code;
        if (!keep)
            conn_close(c);
        finish_request(c, status);
        dispatch_next(c);
        return;
    }
    if (n <= 0 || HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
        conn_close(c);
        finish_request(c, 0);
        dispatch_next(c);
    }
}

static void flush(struct conn *c)
{
    while (evbuffer_get_length(c->out) > 0) {
        if (evbuffer_write(c->out, c->fd) < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            conn_close(c);
            finish_request(c, 0);
            dispatch_next(c);
            return;
        }
    }
    if (evbuffer_get_length(c->out) > 0)
        event_add(c->wev, NULL);
    else
        event_del(c->wev);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    if (!c->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            conn_close(c);
            finish_request(c, 0);
            dispatch_next(c);
            return;
        }
        c->connected = true;
    }
    flush(c);
}

static int open_socket(struct conn *c)
{
    struct bench *b = c->b;
    c->fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    event_assign(c->rev, b->base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
    event_assign(c->wev, b->base, c->fd, EV_WRITE | EV_PERSIST, on_writable, c);
    event_add(c->rev, NULL);
    if (connect(c->fd, (struct sockaddr *)&b->addr, b->addr_len) == 0) {
        c->connected = true;
        return 0;
    }
    if (errno != EINPROGRESS)
        return -1;
    c->connected = false;
    event_add(c->wev, NULL);
    return 0;
}

static struct conn *conn_new(struct bench *b)
{
    struct conn *c = sr_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->b = b;
    c->fd = -1;
    c->req = -1;
    c->out = evbuffer_new();
    c->rev = event_new(b->base, -1, 0, on_readable, c);
    c->wev = event_new(b->base, -1, 0, on_writable, c);
    c->timer = evtimer_new(b->base, on_timeout, c);
    if (b->nall == b->all_cap) {
        size_t cap = b->all_cap ? b->all_cap * 2 : 64;
        struct conn **all = sr_realloc(b->all, cap * sizeof(*all));
        if (all == NULL) {
            sr_free(c);
            return NULL;
        }
        b->all = all;
        b->all_cap = cap;
    }
    b->all[b->nall++] = c;
    return c;
}

static void send_request(struct conn *c, long index)
{
    struct bench *b = c->b;
    const struct sr_wl_request *r = &b->w->reqs[index];
    bool chat = b->w->kind == SR_WL_MULTI_TURN;
    char *body = chat ? chat_body(b, r) : generate_body(b, r);
    c->req = index;
    c->busy = true;
    c->done = false;
    c->got_token = false;
    clock_gettime(CLOCK_MONOTONIC, &c->sent);
    if (body == NULL) {
        finish_request(c, 0);
        return;
    }
    if (c->fd < 0 && open_socket(c) != 0) {
        free(body);
        conn_close(c);
        finish_request(c, 0);
        return;
    }
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    size_t len = strlen(body);
    evbuffer_add_printf(c->out,
                        "POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        b->p->base_path,
                        chat           ? "/v1/chat/completions"
                        : b->p->openai ? "/v1/completions"
                                       : "/generate",
                        b->host_header, len);
    evbuffer_add(c->out, body, len);
    free(body);
    struct timeval tv = {(time_t)b->p->timeout_secs,
                         (suseconds_t)(fmod(b->p->timeout_secs, 1.0) * 1e6)};
    event_add(c->timer, &tv);
    if (c->connected)
        flush(c);
}

/* ---- arrival schedules -------------------------------------------------------- */

static void on_think(evutil_socket_t fd, short what, void *arg);

/* A connection is free: what it does next depends on the schedule. */
static void dispatch_next(struct conn *c)
{
    struct bench *b = c->b;
    if (b->w->kind == SR_WL_MULTI_TURN) {
        struct timeval tv = {(time_t)(b->p->think_ms / 1000),
                             (suseconds_t)(fmod(b->p->think_ms, 1000.0) * 1000)};
        event_add(b->think_timers[c->user], &tv);
        return;
    }
    if (b->p->arrival == SR_ARRIVAL_CLOSED) {
        if (b->next < b->w->n)
            send_request(c, (long)b->next++);
        return;
    }
    c->next_idle = b->idle; /* open loop: back to the idle list */
    b->idle = c;
}

static void on_think(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    struct bench *b = c->b;
    size_t users = b->nall;
    /* The user's next turn (results of the earlier ones are in). */
    for (size_t t = 0;; t++) {
        size_t i = t * users + (size_t)c->user;
        if (i >= b->w->n)
            return;
        if (b->results[i].status == 0 && b->results[i].e2e_s == 0) {
            send_request(c, (long)i);
            return;
        }
    }
}

static struct conn *idle_conn(struct bench *b)
{
    struct conn *c = b->idle;
    if (c != NULL) {
        b->idle = c->next_idle;
        return c;
    }
    return conn_new(b);
}

static void on_arrival(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct bench *b = arg;
    double elapsed_ms = since(&b->start) * 1000.0;
    while (b->next < b->w->n) {
        size_t i = b->order ? b->order[b->next] : b->next;
        double due_ms = 0;
        if (b->p->arrival == SR_ARRIVAL_TRACE)
            due_ms = b->w->reqs[i].arrival_ms / b->p->time_scale;
        if (due_ms > elapsed_ms) {
            double wait = due_ms - elapsed_ms;
            struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(fmod(wait, 1000.0) * 1000)};
            event_add(b->arrivals, &tv);
            return;
        }
        struct conn *c = idle_conn(b);
        if (c == NULL)
            return;
        b->next++;
        send_request(c, (long)i);
        if (b->p->arrival == SR_ARRIVAL_POISSON) {
            double u = sr_rng_unit(&b->rng);
            double gap_s = -log(u > 0 ? u : 1e-12) / b->p->rate;
            struct timeval tv = {(time_t)gap_s, (suseconds_t)(fmod(gap_s, 1.0) * 1e6)};
            event_add(b->arrivals, &tv);
            return;
        }
    }
}

static void on_progress(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct bench *b = arg;
    double t = since(&b->start);
    fprintf(stderr, "\r%6.1fs  %zu/%zu done  %zu ok  %.0f req/s   ", t, b->completed, b->w->n,
            b->ok, t > 0 ? (double)b->completed / t : 0.0);
}

static int by_arrival(const void *a, const void *b, void *w)
{
    const struct sr_workload *wl = w;
    double x = wl->reqs[*(const size_t *)a].arrival_ms, y = wl->reqs[*(const size_t *)b].arrival_ms;
    return x < y ? -1 : x > y;
}

int sr_run(const struct sr_run_params *p, const struct sr_workload *w, struct sr_result *results,
           double *wall_s)
{
    struct bench b = {.p = p, .w = w, .results = results};
    sr_rng_seed(&b.rng, p->seed ^ 0x2545f4914f6cdd1dULL);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", p->port);
    if (getaddrinfo(p->host, port, &hints, &res) != 0 || res == NULL) {
        fprintf(stderr, "sglang-bench: cannot resolve %s\n", p->host);
        return SR_ERR_NOT_FOUND;
    }
    memcpy(&b.addr, res->ai_addr, res->ai_addrlen);
    b.addr_len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(b.host_header, sizeof(b.host_header), "%s:%d", p->host, p->port);
    struct event_config *ec = event_config_new();
    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
    b.base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (b.base == NULL)
        return SR_ERR_NOMEM;
    b.arrivals = evtimer_new(b.base, on_arrival, &b);
    b.progress = event_new(b.base, -1, EV_PERSIST, on_progress, &b);
    int rc = 0;
    clock_gettime(CLOCK_MONOTONIC, &b.start);

    if (w->kind == SR_WL_MULTI_TURN) {
        size_t users = 0;
        for (size_t i = 0; i < w->n && w->reqs[i].turn == 0; i++)
            users++;
        size_t turns = users ? w->n / users : 0;
        b.replies = sr_calloc(users, sizeof(*b.replies));
        b.think_timers = sr_calloc(users, sizeof(*b.think_timers));
        for (size_t u = 0; u < users && b.replies; u++)
            b.replies[u] = sr_calloc(turns + 1, sizeof(**b.replies));
        for (size_t u = 0; u < users; u++) {
            struct conn *c = conn_new(&b);
            if (c == NULL || b.think_timers == NULL) {
                rc = SR_ERR_NOMEM;
                break;
            }
            c->user = (long)u;
            b.think_timers[u] = evtimer_new(b.base, on_think, c);
            send_request(c, (long)u);
        }
    } else if (p->arrival == SR_ARRIVAL_CLOSED) {
        for (long i = 0; i < p->concurrency && b.next < w->n; i++) {
            struct conn *c = conn_new(&b);
            if (c == NULL) {
                rc = SR_ERR_NOMEM;
                break;
            }
            send_request(c, (long)b.next++);
        }
    } else {
        if (p->arrival == SR_ARRIVAL_TRACE) {
            b.order = sr_calloc(w->n, sizeof(*b.order));
            for (size_t i = 0; b.order && i < w->n; i++)
                b.order[i] = i;
            if (b.order)
                qsort_r(b.order, w->n, sizeof(*b.order), by_arrival, (void *)w);
        }
        event_active(b.arrivals, EV_TIMEOUT, 1);
    }
    if (p->progress) {
        struct timeval tv = {1, 0};
        event_add(b.progress, &tv);
    }
    if (rc == 0 && b.completed < w->n)
        event_base_dispatch(b.base);
    *wall_s = since(&b.start);
    if (p->progress)
        fprintf(stderr, "\n");
    for (size_t i = 0; i < b.nall; i++) {
        struct conn *c = b.all[i];
        conn_close(c);
        event_free(c->rev);
        event_free(c->wev);
        event_free(c->timer);
        evbuffer_free(c->out);
        sr_free(c->sse.p);
        sr_free(c->body.p);
        sr_free(c->reply.p);
        sr_free(c);
    }
    if (b.replies) {
        size_t users = b.nall;
        size_t turns = users ? w->n / users : 0;
        for (size_t u = 0; u < users; u++) {
            for (size_t t = 0; b.replies[u] && t <= turns; t++)
                sr_free(b.replies[u][t].p);
            sr_free(b.replies[u]);
            if (b.think_timers && b.think_timers[u])
                event_free(b.think_timers[u]);
        }
    }
    sr_free(b.replies);
    sr_free(b.think_timers);
    sr_free(b.all);
    sr_free(b.order);
    event_free(b.arrivals);
    event_free(b.progress);
    event_base_free(b.base);
    return rc;
}
