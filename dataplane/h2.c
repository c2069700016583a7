/* h2: HTTP/2 streams as requests of the one pipeline (see h2.h). */
#include "h2.h"

#include "budget.h"
#include "h2_meter.h"
#include "loop.h"
#include "pipeline.h"
#include "request.h"
#include "response.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

#include "net/h2_session.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define OUTPUT_HIGH_WATER  (64 * 1024)
#define STREAM_LOW_WATER   (64 * 1024)
#define MAX_STREAMS        100
#define MAX_REQUEST_FIELDS 256

struct field {
    size_t name, name_len, value, value_len; /* offsets into the stream's arena */
};

struct h2_stream {
    struct sr_reply base; /* must stay first: the ops get &base */
    struct sr_h2 *h2;
    int32_t id;
    struct h2_stream *prev, *next;
    /* request */
    struct sr_buf arena; /* header names and values, NUL-separated */
    struct field fields[MAX_REQUEST_FIELDS];
    size_t nfields;
    long method, path, authority; /* arena offsets; -1 when absent */
    size_t method_len, path_len, authority_len;
    struct sr_http_header headers[MAX_REQUEST_FIELDS + 1];
    struct sr_buf body; /* up to --max-payload-size */
    bool dispatched;    /* the pipeline has it */
    bool remote_closed; /* the client's END_STREAM */
    /* response */
    struct evbuffer *out;
    bool responded; /* a response was submitted */
    bool eof;       /* every byte of it is in out */
};

struct sr_h2 {
    struct sr_h2_session *hs; /* options, settings and the pump (net/h2_session.h) */
    nghttp2_session *session; /* hs's, to submit frames */
    struct sr_loop *loop;
    struct evbuffer *out;
    void (*wake)(void *arg);
    void *wake_arg;
    bool loopback;
    struct h2_stream *streams;
    size_t nstreams;
    size_t buffered;          /* response bytes in the streams' buffers, together */
    struct sr_h2_meter meter; /* frames that carry no request (h2_meter.h) */
    bool over_cap;            /* buffered went past the connection's cap: a sweep resumes streams */
};

static const struct sr_reply_ops stream_ops;

static void wake(struct sr_h2 *h)
{
    h->wake(h->wake_arg);
}

/* ---- streams ------------------------------------------------------------------ */

static struct h2_stream *stream_of(struct sr_h2 *h, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h->session, id);
}

static void stream_free(struct h2_stream *st)
{
    struct sr_h2 *h = st->h2;
    sr_reply_client_gone(&st->base); /* reset, or the connection went */
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h->nstreams--;
    if (st->out) {
        sr_budget_untrack(st->out); /* its bytes leave the loop's and the session's counts */
        evbuffer_free(st->out);
    }
    sr_buf_free(&st->arena);
    sr_buf_free(&st->body);
    sr_free(st);
}

/* Appends data and a NUL; its offset, or -1 (out of memory, or past the
 * header list's limit). */
static long arena_add(struct h2_stream *st, const uint8_t *data, size_t len)
{
    long at = (long)st->arena.len;
    if (sr_buf_reserve(&st->arena, len + 1) != 0)
        return -1;
    sr_buf_append(&st->arena, data, len);
    sr_buf_append(&st->arena, "", 1);
    return at;
}

/* Keeps the session's total of stream bytes (an evbuffer callback on each
 * stream's buffer). */
static void on_stream_buffer(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct sr_h2 *h = arg;
    h->buffered = h->buffered + info->n_added - info->n_deleted;
}

/* The connection fell back under its cap: every paused stream may go on
 * (the proxy pauses again any that is still full). */
static void resume_streams(struct sr_h2 *h)
{
    size_t cap = SR_BUDGET_CONN_FACTOR * SR_BUDGET_MARK_LOW;
    if (!h->over_cap || h->buffered >= cap)
        return;
    h->over_cap = false;
    for (struct h2_stream *st = h->streams; st; st = st->next)
        if (st->base.drained && evbuffer_get_length(st->out) < STREAM_LOW_WATER)
            st->base.drained(st->base.drained_arg);
}

static ssize_t read_response(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                             uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)id;
    (void)user_data;
    struct h2_stream *st = source->ptr;
    int n = evbuffer_remove(st->out, buf, length);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t left = evbuffer_get_length(st->out);
    if (left < STREAM_LOW_WATER && st->base.drained && !st->h2->over_cap)
        st->base.drained(st->base.drained_arg); /* the proxy resumes the worker */
    resume_streams(st->h2);
    if (left > 0)
        return n;
    if (st->eof)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (n == 0)
        return NGHTTP2_ERR_DEFERRED;
    return n;
}

/* "Name: value\r\n" lines as lower-case HTTP/2 fields, connection-specific
 * ones dropped (HTTP/2 forbids them). Names and values point into copy. */
static size_t head_fields(char *copy, nghttp2_nv *nv, size_t max)
{
    size_t n = 0;
    char *line = copy;
    while (*line && n < max) {
        char *end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        *end = '\0';
        char *colon = strchr(line, ':');
        if (colon && colon > line) {
            *colon = '\0';
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            for (char *p = line; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            static const char *const banned[] = {"connection",       "keep-alive",
                                                 "proxy-connection", "transfer-encoding",
                                                 "upgrade",          "te"};
            bool skip = false;
            for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
                skip |= strcmp(line, banned[i]) == 0;
            if (!skip)
                nv[n++] = (nghttp2_nv){(uint8_t *)line, (uint8_t *)value, strlen(line),
                                       strlen(value), NGHTTP2_NV_FLAG_NONE};
        }
        line = end + 2;
    }
    return n;
}

/* Submits the response head; the body follows through read_response. */
static void submit(struct h2_stream *st, int status, const char *content_type, const char *lines,
                   size_t lines_len, long long content_length)
{
    char status_text[8], length_text[24];
    snprintf(status_text, sizeof(status_text), "%d", status);
    nghttp2_nv nv[MAX_REQUEST_FIELDS];
    size_t n = 0;
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status_text, 7, strlen(status_text),
                           NGHTTP2_NV_FLAG_NONE};
    if (content_type)
        nv[n++] = (nghttp2_nv){(uint8_t *)"content-type", (uint8_t *)content_type, 12,
                               strlen(content_type), NGHTTP2_NV_FLAG_NONE};
    if (content_length >= 0) {
        snprintf(length_text, sizeof(length_text), "%lld", content_length);
        nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)length_text, 14,
                               strlen(length_text), NGHTTP2_NV_FLAG_NONE};
    }
    char *copy = NULL;
    if (lines && lines_len > 0 && (copy = sr_malloc(lines_len + 1)) != NULL) {
        memcpy(copy, lines, lines_len);
        copy[lines_len] = '\0';
        n += head_fields(copy, nv + n, MAX_REQUEST_FIELDS - n);
    }
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_response};
    st->responded = true;
    /* nghttp2 copies the fields: copy can go at once. */
    if (nghttp2_submit_response(st->h2->session, st->id, nv, n, &dp) != 0)
        nghttp2_submit_rst_stream(st->h2->session, NGHTTP2_FLAG_NONE, st->id,
                                  NGHTTP2_INTERNAL_ERROR);
    sr_free(copy);
    wake(st->h2);
}

static void stream_respond(struct sr_reply *c, int status, const char *content_type,
                           const char *body, size_t len, const char *extra_headers)
{
    struct h2_stream *st = (struct h2_stream *)c;
    if (st->responded)
        return;
    evbuffer_add(st->out, body, len);
    st->eof = true;
    submit(st, status, content_type, extra_headers, extra_headers ? strlen(extra_headers) : 0,
           (long long)len);
}

static void stream_begin(struct sr_reply *c, int status, const char *head_lines, size_t head_len,
                         long long content_length)
{
    struct h2_stream *st = (struct h2_stream *)c;
    if (!st->responded)
        submit(st, status, NULL, head_lines, head_len, content_length);
}

static void stream_body(struct sr_reply *c, const char *data, size_t len)
{
    struct h2_stream *st = (struct h2_stream *)c;
    evbuffer_add(st->out, data, len);
    nghttp2_session_resume_data(st->h2->session, st->id);
    wake(st->h2);
}

static void stream_end(struct sr_reply *c)
{
    struct h2_stream *st = (struct h2_stream *)c;
    st->eof = true;
    nghttp2_session_resume_data(st->h2->session, st->id);
    wake(st->h2);
}

static void stream_abort(struct sr_reply *c)
{
    struct h2_stream *st = (struct h2_stream *)c;
    nghttp2_submit_rst_stream(st->h2->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    wake(st->h2);
}

/* Full: the stream's own data past mark, or the connection's past
 * SR_BUDGET_CONN_FACTOR marks (then streams resume together once it is
 * back under the cap; budget.h). */
static bool stream_full(const struct sr_reply *c, size_t mark)
{
    const struct h2_stream *st = (const struct h2_stream *)c;
    if (evbuffer_get_length(st->out) > mark)
        return true;
    if (st->h2->buffered > SR_BUDGET_CONN_FACTOR * mark) {
        st->h2->over_cap = true;
        return true;
    }
    return false;
}

static const struct sr_reply_ops stream_ops = {
    .respond = stream_respond,
    .response_begin = stream_begin,
    .response_body = stream_body,
    .response_end = stream_end,
    .response_abort = stream_abort,
    .output_full = stream_full,
};

/* The request is complete: to the pipeline. */
static void dispatch(struct h2_stream *st)
{
    st->dispatched = true;
    if (st->method < 0 || st->path < 0) {
        sr_response_error(&st->base, 400, "malformed HTTP/2 request: :method and :path needed");
        return;
    }
    const char *path = st->arena.data + st->path;
    const char *q = memchr(path, '?', st->path_len);
    size_t n = 0;
    if (st->authority >= 0) /* for code that asks for Host */
        st->headers[n++] =
            (struct sr_http_header){"host", 4, st->arena.data + st->authority, st->authority_len};
    for (size_t i = 0; i < st->nfields; i++) {
        const struct field *f = &st->fields[i];
        st->headers[n++] = (struct sr_http_header){st->arena.data + f->name, f->name_len,
                                                   st->arena.data + f->value, f->value_len};
    }
    struct sr_request req = {
        .method = st->arena.data + st->method,
        .path = path,
        .path_len = q ? (size_t)(q - path) : st->path_len,
        .query = q ? q + 1 : NULL,
        .query_len = q ? st->path_len - (size_t)(q - path) - 1 : 0,
        .headers = st->headers,
        .nheaders = n,
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
        .version_minor = 1,
        .client_loopback = st->h2->loopback,
    };
    sr_pipeline_handle(&st->base, &req);
}

/* ---- nghttp2 callbacks -------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct sr_h2 *h = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2_stream *st = sr_calloc(1, sizeof(*st));
    if (st == NULL || (st->out = evbuffer_new()) == NULL ||
        sr_budget_track(st->out, h->loop) != 0 ||
        evbuffer_add_cb(st->out, on_stream_buffer, h) == NULL) {
        if (st && st->out)
            evbuffer_free(st->out); /* still empty: nothing counted */
        sr_free(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* this stream is reset */
    }
    st->base.ops = &stream_ops;
    st->base.loop = h->loop;
    /* The header list's limit is checked in on_header; the arena holds
     * the pseudo-headers too. */
    sr_buf_init(&st->arena, (size_t)h->loop->router->cfg->max_header_size);
    sr_buf_init(&st->body, (size_t)h->loop->router->cfg->max_payload_size);
    st->h2 = h;
    st->id = frame->hd.stream_id;
    st->method = st->path = st->authority = -1;
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    h->nstreams++;
    nghttp2_session_set_stream_user_data(session, st->id, st);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)session;
    (void)flags;
    struct sr_h2 *h = user_data;
    struct h2_stream *st = stream_of(h, frame->hd.stream_id);
    if (st == NULL || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: dropped, as over HTTP/1 */
    if (st->arena.len + namelen + valuelen + 2 > (size_t)h->loop->router->cfg->max_header_size)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (name[0] == ':') {
        long at = arena_add(st, value, valuelen);
        if (at < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
            st->method = at;
            st->method_len = valuelen;
        } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
            st->path = at;
            st->path_len = valuelen;
        } else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
            st->authority = at;
            st->authority_len = valuelen;
        }
        return 0;
    }
    if (st->nfields == MAX_REQUEST_FIELDS)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    long n = arena_add(st, name, namelen);
    long v = n < 0 ? -1 : arena_add(st, value, valuelen);
    if (v < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    st->fields[st->nfields++] = (struct field){(size_t)n, namelen, (size_t)v, valuelen};
    return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *user_data)
{
    (void)session;
    (void)flags;
    struct sr_h2 *h = user_data;
    struct h2_stream *st = stream_of(h, id);
    if (st == NULL || st->dispatched)
        return 0;
    int rc = sr_buf_append(&st->body, data, len);
    if (rc == SR_ERR_TOO_LARGE) {
        st->dispatched = true; /* answered now; the rest of the body is ignored */
        sr_response_error(&st->base, 413, "request body too large (--max-payload-size)");
        return 0;
    }
    return rc == 0 ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)session;
    struct sr_h2 *h = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    struct h2_stream *st = stream_of(h, frame->hd.stream_id);
    if (st == NULL || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    st->remote_closed = true;
    if (!st->dispatched)
        dispatch(st);
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct sr_h2 *h = user_data;
    if (frame->hd.type == NGHTTP2_DATA)
        sr_h2_meter_data_sent(&h->meter);
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct h2_stream *st = stream_of(h, frame->hd.stream_id);
    /* Answered before the client finished sending (413): release it. */
    if (st && !st->remote_closed)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code,
                           void *user_data)
{
    (void)error_code;
    struct sr_h2 *h = user_data;
    struct h2_stream *st = stream_of(h, id);
    if (st == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(session, id, NULL);
    stream_free(st);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the session ---------------------------------------------------------------- */

struct sr_h2 *sr_h2_new(struct sr_loop *l, struct evbuffer *out, bool client_loopback,
                        void (*wake_cb)(void *arg), void *arg)
{
    struct sr_h2 *h = sr_calloc(1, sizeof(*h));
    nghttp2_session_callbacks *cbs = NULL;
    if (h == NULL || nghttp2_session_callbacks_new(&cbs) != 0)
        goto fail;
    h->loop = l;
    h->out = out;
    h->wake = wake_cb;
    h->wake_arg = arg;
    h->loopback = client_loopback;
    sr_h2_meter_init(&h->meter, now_ms());
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    struct sr_h2_session_config hcfg = {
        .max_concurrent_streams = MAX_STREAMS,
        .max_header_list = (uint32_t)l->router->cfg->max_header_size,
        .out_high_water = OUTPUT_HIGH_WATER,
    };
    if ((h->hs = sr_h2_session_new(&hcfg, cbs, h, out)) == NULL)
        goto fail;
    h->session = sr_h2_session_nghttp2(h->hs);
    nghttp2_session_callbacks_del(cbs);
    return h;
fail:
    if (cbs)
        nghttp2_session_callbacks_del(cbs);
    sr_free(h);
    return NULL;
}

void sr_h2_free(struct sr_h2 *h)
{
    if (h == NULL)
        return;
    while (h->streams)
        stream_free(h->streams);
    sr_h2_session_free(h->hs);
    sr_free(h);
}

int sr_h2_feed(struct sr_h2 *h, const uint8_t *data, size_t len)
{
    if (sr_h2_meter_feed(&h->meter, data, len, now_ms()) != 0) {
        sr_log_warn("HTTP/2 client sent a flood of %s: closing the connection", h->meter.why);
        sr_h2_session_terminate(h->hs, NGHTTP2_ENHANCE_YOUR_CALM);
        sr_h2_send(h);
        return -1;
    }
    int rc = sr_h2_session_recv(h->hs, data, len);
    if (rc < 0) {
        sr_log_debug("HTTP/2 connection error: %s", sr_h2_session_why(h->hs));
        return -1;
    }
    return 0;
}

void sr_h2_send(struct sr_h2 *h)
{
    long rc = sr_h2_session_send(h->hs);
    if (rc < 0)
        sr_log_debug("HTTP/2 send: %s", sr_h2_session_why(h->hs));
}

bool sr_h2_done(const struct sr_h2 *h)
{
    return sr_h2_session_done(h->hs);
}

size_t sr_h2_streams(const struct sr_h2 *h)
{
    return h->nstreams;
}

size_t sr_h2_buffered(const struct sr_h2 *h)
{
    return h->buffered;
}

void sr_h2_drain(struct sr_h2 *h)
{
    sr_h2_session_goaway(h->hs);
    wake(h);
}
