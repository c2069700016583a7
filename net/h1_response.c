/* h1_response: HTTP/1.x responses from bytes, with limits (see h1_response.h). */
#include "h1_response.h"

#include "common/alloc.h"

#include <http_parser.h>
#include <limits.h>
#include <string.h>

struct sr_h1_response_parser {
    http_parser parser;
    struct sr_h1_response_limits limits;
    const struct sr_h1_response_callbacks *cb;
    void *ctx;

    struct sr_h1_head head; /* header names and values */
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

static int head_result(struct sr_h1_response_parser *p, int rc)
{
    if (rc == 0)
        return 0;
    return stop(p, rc == SR_H1_HEAD_TOO_LARGE  ? "response header fields too large"
                   : rc == SR_H1_HEAD_TOO_MANY ? "too many response header fields"
                                               : "out of memory");
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
    return head_result(p, sr_h1_head_name(&p->head, at, len));
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct sr_h1_response_parser *p = owner(hp);
    if (p->head_done)
        return 0;
    return head_result(p, sr_h1_head_value(&p->head, at, len));
}

static int on_headers_complete(http_parser *hp)
{
    struct sr_h1_response_parser *p = owner(hp);
    size_t nheaders;
    struct sr_http_header *headers = sr_h1_head_finish(&p->head, &nheaders);
    bool sized = !(hp->flags & F_CHUNKED) && hp->content_length != ULLONG_MAX;
    if (sized && hp->content_length > p->limits.max_body_bytes)
        return stop(p, "response body too large");
    int s = hp->status_code;
    p->resp = (struct sr_h1_response){
        .status = s,
        .version_minor = hp->http_minor,
        .headers = headers,
        .nheaders = nheaders,
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
    sr_h1_head_init(&p->head, limits->max_head_bytes, limits->max_headers);
    sr_h1_response_parser_reset(p);
    return p;
}

void sr_h1_response_parser_free(struct sr_h1_response_parser *p)
{
    if (p == NULL)
        return;
    sr_h1_head_free(&p->head);
    sr_free(p);
}

void sr_h1_response_parser_reset(struct sr_h1_response_parser *p)
{
    http_parser_init(&p->parser, HTTP_RESPONSE);
    p->parser.data = p;
    sr_h1_head_reset(&p->head);
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
