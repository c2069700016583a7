/* run: the benchmark's HTTP client and arrival schedules (see run.h). */
#include "run.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/rand.h"
#include "net/h1_client.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* Ceilings: a request body (the prompt, JSON-escaped), a response (whole
 * or an SSE event being assembled), a response head. */
#define MAX_REQUEST_BYTES  ((size_t)256 << 20)
#define MAX_RESPONSE_BYTES ((size_t)256 << 20)
#define MAX_HEAD_BYTES     (64 * 1024)
#define MAX_HEADERS        128
#define READ_CHUNK         (64 * 1024)

struct bench;

struct conn {
    struct bench *b;
    struct sr_h1_client *client;
    struct event *timer;
    bool busy;
    int status;
    long req; /* index into the workload; -1 when idle */
    long user;
    struct timespec sent;
    bool got_token;
    struct sr_buf head, body_out; /* the request in flight */
    struct sr_buf sse, body, reply;
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
    struct sr_buf **replies;     /* multi-turn: per user, per turn */
    struct event **think_timers; /* multi-turn: per user */
    char scratch[READ_CHUNK];    /* where every connection reads */
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

/* Appends the /generate or /v1/completions body of r to t. 0 or a
 * negative error. */
static int generate_body(const struct bench *b, const struct sr_wl_request *r, struct sr_buf *t)
{
    int rc = 0;
    rc |= sr_buf_append_str(t,
                            b->p->openai ? "{\"model\":\"default\",\"prompt\":\"" : "{\"text\":\"");
    /* Words, spaces and newlines: only the newlines need escaping. */
    const char *p = r->prompt, *end = r->prompt + r->prompt_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        rc |= sr_buf_append(t, p, n);
        if (nl == NULL)
            break;
        rc |= sr_buf_append(t, "\\n", 2);
        p = nl + 1;
    }
    char tail[256];
    if (b->p->openai)
        snprintf(tail, sizeof(tail),
                 "\",\"max_tokens\":%u,\"ignore_eos\":true,\"temperature\":0,\"stream\":%s,"
                 "\"stream_options\":{\"include_usage\":true}",
                 r->output_tokens, b->p->stream ? "true" : "false");
    else
        snprintf(tail, sizeof(tail),
                 "\",\"sampling_params\":{\"max_new_tokens\":%u,\"ignore_eos\":true},\"stream\":%s",
                 r->output_tokens, b->p->stream ? "true" : "false");
    rc |= sr_buf_append_str(t, tail);
    if (r->nhash) {
        rc |= sr_buf_append_str(t, ",\"hash_ids\":[");
        for (size_t i = 0; i < r->nhash; i++) {
            snprintf(tail, sizeof(tail), "%s%lld", i ? "," : "", (long long)r->hash_ids[i]);
            rc |= sr_buf_append_str(t, tail);
        }
        rc |= sr_buf_append_str(t, "]");
    }
    rc |= sr_buf_append_str(t, "}");
    return rc != 0 ? SR_ERR_TOO_LARGE : 0;
}

/* The whole conversation of a user so far, plus this turn's message. */
static char *chat_body(const struct bench *b, const struct sr_wl_request *r)
{
    const struct sr_workload *w = b->w;
    size_t users = 0;
    for (size_t i = 0; i < w->n && w->reqs[i].turn == 0; i++)
        users++;
    cJSON *root = cJSON_CreateObject();
    cJSON *msgs = cJSON_AddArrayToObject(root, "messages");
    cJSON_AddStringToObject(root, "model", "default");
    for (uint32_t t = 0; t <= r->turn; t++) {
        const struct sr_wl_request *m = &w->reqs[(size_t)t * users + r->group];
        char *content = sr_strndup(m->prompt, m->prompt_len);
        cJSON *um = cJSON_CreateObject();
        cJSON_AddStringToObject(um, "role", "user");
        cJSON_AddStringToObject(um, "content", content ? content : "");
        cJSON_AddItemToArray(msgs, um);
        sr_free(content);
        if (t < r->turn) {
            const struct sr_buf *reply = &b->replies[r->group][t];
            cJSON *am = cJSON_CreateObject();
            cJSON_AddStringToObject(am, "role", "assistant");
            cJSON_AddStringToObject(am, "content", reply->data ? reply->data : "");
            cJSON_AddItemToArray(msgs, am);
        }
    }
    cJSON_AddNumberToObject(root, "max_tokens", r->output_tokens);
    cJSON_AddBoolToObject(root, "stream", b->p->stream);
    cJSON *so = cJSON_AddObjectToObject(root, "stream_options");
    cJSON_AddBoolToObject(so, "include_usage", 1);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

/* ---- response accounting ------------------------------------------------------ */

static void take_counts(struct sr_result *res, const cJSON *o)
{
    const cJSON *mi = cJSON_GetObjectItemCaseSensitive(o, "meta_info");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(o, "usage");
    const cJSON *pt = NULL, *ct = NULL, *gt = NULL;
    if (cJSON_IsObject(mi)) {
        pt = cJSON_GetObjectItemCaseSensitive(mi, "prompt_tokens");
        ct = cJSON_GetObjectItemCaseSensitive(mi, "cached_tokens");
        gt = cJSON_GetObjectItemCaseSensitive(mi, "completion_tokens");
    } else if (cJSON_IsObject(usage)) {
        pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
        gt = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
        ct = cJSON_GetObjectItemCaseSensitive(d, "cached_tokens");
    }
    if (cJSON_IsNumber(pt))
        res->prompt_tokens = (uint32_t)pt->valuedouble;
    if (cJSON_IsNumber(ct))
        res->cached_tokens = (uint32_t)ct->valuedouble;
    if (cJSON_IsNumber(gt))
        res->completion_tokens = (uint32_t)gt->valuedouble;
}

/* One SSE event (or a whole non-streamed body). */
static void take_event(struct conn *c, const char *json, size_t len)
{
    struct bench *b = c->b;
    struct sr_result *res = &b->results[c->req];
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (o == NULL)
        return;
    if (cJSON_IsArray(o) && o->child) { /* a /generate batch answer */
        cJSON *first = o->child;
        take_counts(res, first);
        cJSON_Delete(o);
        return;
    }
    take_counts(res, o);
    const char *piece = NULL;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
    const cJSON *ch0 = cJSON_IsArray(choices) ? choices->child : NULL;
    if (ch0) {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ch0, "delta");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch0, "message");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta ? delta : msg, "content");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(ch0, "text"); /* /v1/completions */
        if (cJSON_IsString(content))
            piece = content->valuestring;
        else if (cJSON_IsString(text))
            piece = text->valuestring;
    } else {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
        if (cJSON_IsString(text))
            piece = text->valuestring;
    }
    if (piece && piece[0] && !c->got_token) {
        c->got_token = true;
        res->ttft_s = since(&c->sent);
    }
    if (piece && ch0 && b->w->kind == SR_WL_MULTI_TURN)
        sr_buf_append_str(&c->reply, piece);
    cJSON_Delete(o);
}

static void take_sse(struct conn *c)
{
    const char *start = c->sse.data;
    const char *end = c->sse.data + c->sse.len;
    for (;;) {
        const char *sep = memmem(start, (size_t)(end - start), "\n\n", 2);
        if (sep == NULL)
            break;
        if (sep - start > 6 && memcmp(start, "data: ", 6) == 0 &&
            !(sep - start == 12 && memcmp(start + 6, "[DONE]", 6) == 0))
            take_event(c, start + 6, (size_t)(sep - start - 6));
        start = sep + 2;
    }
    sr_buf_consume(&c->sse, (size_t)(start - c->sse.data));
}

/* ---- the HTTP client's handler ------------------------------------------------ */

static void finish_request(struct conn *c, int status);

static void on_head(void *ctx, const struct sr_h1_response *resp)
{
    struct conn *c = ctx;
    c->status = resp->status;
    const struct sr_http_header *h =
        sr_http_header_find(resp->headers, resp->nheaders, "x-worker-id");
    if (h != NULL) {
        struct sr_result *res = &c->b->results[c->req];
        size_t n = h->value_len < sizeof(res->worker) - 1 ? h->value_len : sizeof(res->worker) - 1;
        memcpy(res->worker, h->value, n);
        res->worker[n] = '\0';
    }
}

static void on_body(void *ctx, const char *data, size_t len)
{
    struct conn *c = ctx;
    struct sr_buf *into = c->b->p->stream && c->status == 200 ? &c->sse : &c->body;
    if (sr_buf_append(into, data, len) != 0) { /* fails the request, from its timer */
        sr_h1_client_close(c->client);
        event_active(c->timer, EV_TIMEOUT, 1);
        return;
    }
    if (into == &c->sse)
        take_sse(c);
}

static void on_done(void *ctx)
{
    struct conn *c = ctx;
    finish_request(c, c->status);
    dispatch_next(c);
}

static void on_error(void *ctx, const char *why, bool local)
{
    (void)why;
    (void)local;
    struct conn *c = ctx;
    finish_request(c, 0);
    dispatch_next(c);
}

static const struct sr_h1_client_handler handler = {on_head, on_body, on_done, on_error};

/* ---- connections ------------------------------------------------------------ */

static void finish_request(struct conn *c, int status)
{
    struct bench *b = c->b;
    struct sr_result *res = &b->results[c->req];
    event_del(c->timer);
    res->status = status;
    res->e2e_s = since(&c->sent);
    if (status == 200 && (!b->p->stream || res->ttft_s == 0)) {
        if (c->body.len)
            take_event(c, c->body.data, c->body.len);
        if (res->ttft_s == 0)
            res->ttft_s = res->e2e_s;
    }
    if (b->w->kind == SR_WL_MULTI_TURN && status == 200) {
        const struct sr_wl_request *r = &b->w->reqs[c->req];
        struct sr_buf *slot = &b->replies[r->group][r->turn];
        *slot = c->reply; /* taken over */
        sr_buf_init(&c->reply, MAX_RESPONSE_BYTES);
    }
    sr_buf_reset(&c->reply);
    sr_buf_reset(&c->sse);
    sr_buf_reset(&c->body);
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
    sr_h1_client_close(c->client);
    if (c->busy)
        finish_request(c, 0);
    dispatch_next(c);
}

static void conn_free(struct conn *c)
{
    sr_h1_client_free(c->client);
    if (c->timer)
        event_free(c->timer);
    sr_buf_free(&c->head);
    sr_buf_free(&c->body_out);
    sr_buf_free(&c->sse);
    sr_buf_free(&c->body);
    sr_buf_free(&c->reply);
    sr_free(c);
}

static struct conn *conn_new(struct bench *b)
{
    if (sr_grow((void **)&b->all, &b->all_cap, b->nall + 1, sizeof(*b->all), 64, SIZE_MAX) != 0)
        return NULL;
    struct conn *c = sr_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->b = b;
    c->req = -1;
    sr_buf_init(&c->head, MAX_HEAD_BYTES);
    sr_buf_init(&c->body_out, MAX_REQUEST_BYTES);
    sr_buf_init(&c->sse, MAX_RESPONSE_BYTES);
    sr_buf_init(&c->body, MAX_RESPONSE_BYTES);
    sr_buf_init(&c->reply, MAX_RESPONSE_BYTES);
    struct sr_h1_client_options opts = {
        .limits = {MAX_HEAD_BYTES, MAX_HEADERS, SIZE_MAX},
        .scratch = b->scratch,
        .scratch_len = sizeof(b->scratch),
    };
    c->client = sr_h1_client_new(b->base, (struct sockaddr *)&b->addr, b->addr_len, &opts);
    c->timer = evtimer_new(b->base, on_timeout, c);
    if (c->client == NULL || c->timer == NULL) {
        conn_free(c);
        return NULL;
    }
    b->all[b->nall++] = c;
    return c;
}

static void send_request(struct conn *c, long index)
{
    struct bench *b = c->b;
    const struct sr_wl_request *r = &b->w->reqs[index];
    bool chat = b->w->kind == SR_WL_MULTI_TURN;
    c->req = index;
    c->busy = true;
    c->status = 0;
    c->got_token = false;
    clock_gettime(CLOCK_MONOTONIC, &c->sent);
    sr_buf_reset(&c->head);
    sr_buf_reset(&c->body_out);
    int rc;
    if (chat) {
        char *body = chat_body(b, r);
        rc = body ? sr_buf_append_str(&c->body_out, body) : SR_ERR_NOMEM;
        cJSON_free(body);
    } else {
        rc = generate_body(b, r, &c->body_out);
    }
    char target[512];
    snprintf(target, sizeof(target), "%s%s", b->p->base_path,
             chat           ? "/v1/chat/completions"
             : b->p->openai ? "/v1/completions"
                            : "/generate");
    if (rc == 0)
        rc = sr_h1_client_format_head(&c->head, "POST", target, b->host_header,
                                      "Content-Type: application/json\r\n",
                                      (long long)c->body_out.len);
    struct sr_h1_client_request req = {c->head.data, c->head.len, c->body_out.data,
                                       c->body_out.len};
    if (rc != 0 || sr_h1_client_send(c->client, &req, &handler, c) != 0) {
        finish_request(c, 0);
        return;
    }
    struct timeval tv = {(time_t)b->p->timeout_secs,
                         (suseconds_t)(fmod(b->p->timeout_secs, 1.0) * 1e6)};
    event_add(c->timer, &tv);
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
    for (size_t i = 0; i < b.nall; i++)
        conn_free(b.all[i]);
    if (b.replies) {
        size_t users = b.nall;
        size_t turns = users ? w->n / users : 0;
        for (size_t u = 0; u < users; u++) {
            for (size_t t = 0; b.replies[u] && t <= turns; t++)
                sr_buf_free(&b.replies[u][t]);
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
