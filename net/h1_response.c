/* h1_response: HTTP/1.x responses from bytes, with limits (see h1_response.h). */
#include "h1_response.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#include <http_parser.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* Where a header's name and value sit in the head buffer (offsets: the
 * buffer may move while it grows). */
struct header_span {
    size_t name_off, name_len;
    size_t value_off, value_len;
};

struct sr_h1_response_parser {
    http_parser parser;
    struct sr_h1_response_limits limits;
    const struct sr_h1_response_callbacks *cb;
    void *ctx;

    struct sr_buf head; /* header names and values */
    struct header_span *spans;
    struct sr_http_header *headers;
    size_t nheaders, headers_cap;
    bool in_value; /* the last header callback was a value */
    size_t body_len;

    bool started, head_done, complete;
    const char *reason; /* why a callback stopped the parser */
    struct sr_h1_response resp;
};

static struct sr_h1_response_parser *owner(http_parser *hp)
{
    return hp->data;
}

static int stop(struct sr_h1_response_parser *p, const char *reason)
{
    if (p->reason == NULL)
        p->reason = reason;
    return -1;
}

static int head_append(struct sr_h1_response_parser *p, const char *at, size_t len)
{
    int rc = sr_buf_append(&p->head, at, len);
    if (rc == 0)
        return 0;
    return stop(p, rc == SR_ERR_TOO_LARGE ? "response header fields too large" : "out of memory");
}

static int on_message_begin(http_parser *hp)
{
    struct sr_h1_response_parser *p = owner(hp);
    p->started = true;
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    struct sr_h1_response_parser *p = owner(hp);
    if (p->head_done)
        return 0; /* trailers after a chunked body: dropped */
    if (p->nheaders == 0 || p->in_value) {
        if (p->nheaders == p->limits.max_headers)
            return stop(p, "too many response header fields");
        size_t cap = p->headers_cap;
        if (sr_grow((void **)&p->spans, &cap, p->nheaders + 1, sizeof(*p->spans), 16,
                    p->limits.max_headers) != 0 ||
            sr_grow((void **)&p->headers, &p->headers_cap, p->nheaders + 1, sizeof(*p->headers), 16,
                    p->limits.max_headers) != 0)
            return stop(p, "out of memory");
        p->spans[p->nheaders++] = (struct header_span){.name_off = p->head.len};
        p->in_value = false;
    }
    p->spans[p->nheaders - 1].name_len += len;
    return head_append(p, at, len);
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct sr_h1_response_parser *p = owner(hp);
    if (p->head_done)
        return 0;
    struct header_span *s = &p->spans[p->nheaders - 1];
    if (!p->in_value) {
        s->value_off = p->head.len;
        p->in_value = true;
    }
    s->value_len += len;
    return head_append(p, at, len);
}

static int on_headers_complete(http_parser *hp)
{
    struct sr_h1_response_parser *p = owner(hp);
    for (size_t i = 0; i < p->nheaders; i++) {
        const struct header_span *s = &p->spans[i];
        p->headers[i] = (struct sr_http_header){p->head.data + s->name_off, s->name_len,
                                                p->head.data + s->value_off, s->value_len};
    }
    bool sized = !(hp->flags & F_CHUNKED) && hp->content_length != ULLONG_MAX;
    if (sized && hp->content_length > p->limits.max_body_bytes)
        return stop(p, "response body too large");
    int s = hp->status_code;
    p->resp = (struct sr_h1_response){
        .status = s,
        .version_minor = hp->http_minor,
        .headers = p->headers,
        .nheaders = p->nheaders,
        .content_length = sized ? (long long)hp->content_length : -1,
    };
    if (s / 100 == 1 || s == 204 || s == 304)
        p->resp.content_length = -1; /* no body; the framing is the caller's to decide */
    p->head_done = true;
    if (p->cb->on_head != NULL && p->cb->on_head(p->ctx, &p->resp) != 0)
        return stop(p, "stopped by the caller");
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    struct sr_h1_response_parser *p = owner(hp);
    if (len > p->limits.max_body_bytes - p->body_len)
        return stop(p, "response body too large");
    p->body_len += len;
    if (p->cb->on_body != NULL && p->cb->on_body(p->ctx, at, len) != 0)
        return stop(p, "stopped by the caller");
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    struct sr_h1_response_parser *p = owner(hp);
    p->complete = true;
    http_parser_pause(hp, 1); /* one response at a time */
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

struct sr_h1_response_parser *sr_h1_response_parser_new(const struct sr_h1_response_limits *limits,
                                                        const struct sr_h1_response_callbacks *cb,
                                                        void *ctx)
{
    struct sr_h1_response_parser *p = sr_calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->limits = *limits;
    p->cb = cb;
    p->ctx = ctx;
    sr_buf_init(&p->head, limits->max_head_bytes);
    sr_h1_response_parser_reset(p);
    return p;
}

void sr_h1_response_parser_free(struct sr_h1_response_parser *p)
{
    if (p == NULL)
        return;
    sr_buf_free(&p->head);
    sr_free(p->spans);
    sr_free(p->headers);
    sr_free(p);
}

void sr_h1_response_parser_reset(struct sr_h1_response_parser *p)
{
    http_parser_init(&p->parser, HTTP_RESPONSE);
    p->parser.data = p;
    sr_buf_reset(&p->head);
    p->nheaders = 0;
    p->in_value = false;
    p->body_len = 0;
    p->started = p->head_done = p->complete = false;
    p->reason = NULL;
    p->resp = (struct sr_h1_response){0};
}

/* What the parser's state says after it returned. */
static enum sr_h1r_result outcome(struct sr_h1_response_parser *p)
{
    if (p->complete)
        return SR_H1R_DONE;
    enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);
    if (e == HPE_PAUSED)
        return SR_H1R_PAUSED;
    return e == HPE_OK ? SR_H1R_NEED_MORE : SR_H1R_ERROR;
}

enum sr_h1r_result sr_h1_response_parser_feed(struct sr_h1_response_parser *p, const char *data,
                                              size_t len, size_t *consumed)
{
    *consumed = 0;
    if (p->complete)
        return SR_H1R_DONE;
    if (HTTP_PARSER_ERRNO(&p->parser) == HPE_PAUSED)
        http_parser_pause(&p->parser, 0);
    else if (HTTP_PARSER_ERRNO(&p->parser) != HPE_OK)
        return SR_H1R_ERROR;
    if (len == 0)
        return SR_H1R_NEED_MORE; /* the library reads len 0 as the end of the stream */
    *consumed = http_parser_execute(&p->parser, &settings, data, len);
    return outcome(p);
}

enum sr_h1r_result sr_h1_response_parser_eof(struct sr_h1_response_parser *p)
{
    if (p->complete)
        return SR_H1R_DONE;
    if (HTTP_PARSER_ERRNO(&p->parser) == HPE_PAUSED)
        http_parser_pause(&p->parser, 0);
    else if (HTTP_PARSER_ERRNO(&p->parser) != HPE_OK)
        return SR_H1R_ERROR;
    http_parser_execute(&p->parser, &settings, NULL, 0);
    if (p->complete)
        return SR_H1R_DONE;
    if (HTTP_PARSER_ERRNO(&p->parser) == HPE_OK)
        p->reason = "the connection closed before a response";
    else if (p->reason == NULL)
        p->reason = "the connection closed mid-response";
    p->parser.http_errno = HPE_INVALID_EOF_STATE;
    return SR_H1R_ERROR;
}

void sr_h1_response_parser_pause(struct sr_h1_response_parser *p)
{
    http_parser_pause(&p->parser, 1);
}

bool sr_h1_response_parser_started(const struct sr_h1_response_parser *p)
{
    return p->started;
}

bool sr_h1_response_parser_keep_alive(const struct sr_h1_response_parser *p)
{
    return p->complete && http_should_keep_alive(&p->parser);
}

const struct sr_h1_response *sr_h1_response_parser_head(const struct sr_h1_response_parser *p)
{
    return p->head_done ? &p->resp : NULL;
}

const char *sr_h1_response_parser_error(const struct sr_h1_response_parser *p)
{
    if (p->reason != NULL)
        return p->reason;
    enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);
    return e == HPE_OK || e == HPE_PAUSED ? "no error" : http_errno_description(e);
}
