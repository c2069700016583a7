/* h1_parser: HTTP/1.x requests from bytes, with limits (see h1_parser.h). */
#include "h1_parser.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#include <http_parser.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

struct sr_h1_parser {
    http_parser parser;
    struct sr_h1_limits limits;

    struct sr_h1_head head; /* request-target, then header names and values */
    size_t target_len;

    struct sr_buf body; /* de-chunked; up to max_body_bytes */
    /* The lenient library takes any two bytes for the CRLF that ends a
     * chunk's data; we check them: the end of the bytes being fed, and how
     * many of that CRLF are still to be seen (2, 1 or 0). */
    const char *feed_end;
    int crlf_left;

    bool headers_done, complete;
    int error_status; /* 0 = none */
    const char *error_reason;
    struct sr_h1_request req;
};

static int fail(struct sr_h1_parser *p, int status, const char *reason)
{
    if (p->error_status == 0) {
        p->error_status = status;
        p->error_reason = reason;
    }
    return -1; /* stops http_parser_execute (1 would mean "no body" from on_headers_complete) */
}

static struct sr_h1_parser *owner(http_parser *hp)
{
    return hp->data;
}

/* Maps the header block's results to the answer a client gets. */
static int head_result(struct sr_h1_parser *p, int rc)
{
    if (rc == SR_H1_HEAD_TOO_LARGE)
        return fail(p, 431, "request header fields too large");
    if (rc == SR_H1_HEAD_TOO_MANY)
        return fail(p, 431, "too many request header fields");
    if (rc != 0)
        return fail(p, 500, "out of memory");
    return 0;
}

static int on_message_begin(http_parser *hp)
{
    struct sr_h1_parser *p = owner(hp);
    sr_h1_head_reset(&p->head);
    sr_buf_reset(&p->body);
    p->target_len = 0;
    p->headers_done = p->complete = false;
    p->crlf_left = 0;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    struct sr_h1_parser *p = owner(hp);
    p->target_len += len;
    return head_result(p, sr_h1_head_add(&p->head, at, len));
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    struct sr_h1_parser *p = owner(hp);
    if (p->headers_done)
        return 0; /* trailers of a chunked body: dropped (found by fuzzing: they
                   * grew the buffers the request's views point into) */
    /* Debian's http_parser is the lenient build: it takes a space inside a
     * field name ("Transfer-Encoding : chunked") and still acts on it, so a
     * worker that trims the name would frame the body differently from us
     * (request smuggling). RFC 9112 §5.1: such a request gets a 400. */
    for (size_t i = 0; i < len; i++)
        if (!sr_http_is_tchar((unsigned char)at[i]))
            return fail(p, 400, "invalid character in a header field name");
    return head_result(p, sr_h1_head_name(&p->head, at, len));
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct sr_h1_parser *p = owner(hp);
    if (p->headers_done)
        return 0;
    /* RFC 9110 §5.5: NUL, CR and LF in a value are rejected, never passed on. */
    if (memchr(at, '\0', len) || memchr(at, '\r', len) || memchr(at, '\n', len))
        return fail(p, 400, "invalid character in a header field value");
    return head_result(p, sr_h1_head_value(&p->head, at, len));
}

static void split_target(struct sr_h1_request *r)
{
    const char *q = memchr(r->target, '?', r->target_len);
    r->path = r->target;
    r->path_len = q ? (size_t)(q - r->target) : r->target_len;
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? r->target_len - r->path_len - 1 : 0;
}

/* An absolute-form target ("http://host/path?q", RFC 9112 §3.2.2): the
 * path and query are taken from it. 0, or -1 when it is not a usable URL. */
static int split_absolute_target(struct sr_h1_request *r)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(r->target, r->target_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)))
        return -1;
    const char *schema = r->target + u.field_data[UF_SCHEMA].off;
    size_t schema_len = u.field_data[UF_SCHEMA].len;
    if (!(schema_len == 4 && strncasecmp(schema, "http", 4) == 0) &&
        !(schema_len == 5 && strncasecmp(schema, "https", 5) == 0))
        return -1;
    r->path = "/";
    r->path_len = 1;
    if (u.field_set & (1 << UF_PATH)) {
        r->path = r->target + u.field_data[UF_PATH].off;
        r->path_len = u.field_data[UF_PATH].len;
    }
    r->query = NULL;
    r->query_len = 0;
    if (u.field_set & (1 << UF_QUERY)) {
        r->query = r->target + u.field_data[UF_QUERY].off;
        r->query_len = u.field_data[UF_QUERY].len;
    }
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    struct sr_h1_parser *p = owner(hp);
    struct sr_h1_request *r = &p->req;
    /* We never switch protocols: ignoring Upgrade (RFC 9110 §7.8) keeps the
     * connection HTTP/1.1 and the body parsed as a body. */
    hp->upgrade = 0;
    size_t hosts = 0, nheaders;
    struct sr_http_header *headers = sr_h1_head_finish(&p->head, &nheaders);
    for (size_t i = 0; i < nheaders; i++) {
        if (headers[i].name_len == 0)
            return fail(p, 400, "empty header field name");
        hosts += headers[i].name_len == 4 && strncasecmp(headers[i].name, "host", 4) == 0;
    }
    memset(r, 0, sizeof(*r));
    r->method = http_method_str((enum http_method)hp->method);
    r->target = p->head.bytes.data;
    r->target_len = p->target_len;
    split_target(r);
    bool absolute = r->target_len > 0 && r->target[0] != '/' && r->target[0] != '*';
    if (absolute && split_absolute_target(r) != 0)
        return fail(p, 400, "request target is neither a path nor an http(s) URL");
    r->version_minor = hp->http_major == 1 ? hp->http_minor : 0;
    /* RFC 9112 §3.2: exactly one Host on HTTP/1.1 (the authority of an
     * absolute-form target stands in for it), at most one otherwise. */
    if (hosts > 1)
        return fail(p, 400, "more than one Host header");
    if (hosts == 0 && !absolute && hp->http_major == 1 && hp->http_minor >= 1)
        return fail(p, 400, "HTTP/1.1 request without a Host header");
    r->headers = headers;
    r->nheaders = nheaders;
    r->keep_alive = http_should_keep_alive(hp) != 0;
    const struct sr_http_header *expect = sr_h1_request_header(r, "expect");
    r->expect_continue =
        expect && expect->value_len == 12 && strncasecmp(expect->value, "100-continue", 12) == 0;
    if (hp->content_length != ULLONG_MAX && hp->content_length > p->limits.max_body_bytes)
        return fail(p, 413, "request body too large");
    if (hp->content_length != ULLONG_MAX && sr_buf_reserve(&p->body, hp->content_length) != 0)
        return fail(p, 500, "out of memory");
    p->headers_done = true;
    return 0;
}

/* Checks the CRLF after chunk data from q on (as far as the bytes fed go). */
static int check_chunk_crlf(struct sr_h1_parser *p, const char *q)
{
    while (p->crlf_left > 0 && q < p->feed_end) {
        if (*q++ != (p->crlf_left == 2 ? '\r' : '\n'))
            return fail(p, 400, "chunk data not followed by CRLF");
        p->crlf_left--;
    }
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    struct sr_h1_parser *p = owner(hp);
    if ((hp->flags & F_CHUNKED) && hp->content_length == 0) { /* this chunk's data is complete */
        p->crlf_left = 2;
        if (check_chunk_crlf(p, at + len) != 0)
            return -1;
    }
    int rc = sr_buf_append(&p->body, at, len);
    if (rc == SR_ERR_TOO_LARGE)
        return fail(p, 413, "request body too large");
    if (rc != 0)
        return fail(p, 500, "out of memory");
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    struct sr_h1_parser *p = owner(hp);
    if (sr_buf_reserve(&p->body, 0) != 0) /* its terminator, even when empty */
        return fail(p, 500, "out of memory");
    p->req.body = p->body.data;
    p->req.body_len = p->body.len;
    p->complete = true;
    http_parser_pause(hp, 1); /* pipelined bytes wait for the answer */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

struct sr_h1_parser *sr_h1_parser_new(const struct sr_h1_limits *limits)
{
    struct sr_h1_parser *p = sr_calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->limits = *limits;
    if (p->limits.max_headers == 0)
        p->limits.max_headers = 1;
    http_parser_init(&p->parser, HTTP_REQUEST);
    p->parser.data = p;
    sr_h1_head_init(&p->head, p->limits.max_head_bytes, p->limits.max_headers);
    sr_buf_init(&p->body, p->limits.max_body_bytes);
    return p;
}

void sr_h1_parser_free(struct sr_h1_parser *p)
{
    if (p == NULL)
        return;
    sr_h1_head_free(&p->head);
    sr_buf_free(&p->body);
    sr_free(p);
}

enum sr_h1_result sr_h1_parser_feed(struct sr_h1_parser *p, const char *data, size_t len,
                                    size_t *consumed)
{
    *consumed = 0;
    if (p->error_status)
        return SR_H1_ERROR;
    if (p->complete)
        return SR_H1_REQUEST;
    p->feed_end = data + len;
    if (p->crlf_left > 0 && check_chunk_crlf(p, data) != 0)
        return SR_H1_ERROR;
    size_t n = http_parser_execute(&p->parser, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);
    *consumed = n;
    if (p->complete)
        return SR_H1_REQUEST;
    if (e == HPE_OK && p->error_status == 0)
        return SR_H1_NEED_MORE;
    if (e == HPE_HEADER_OVERFLOW)
        fail(p, 431, "request header fields too large");
    fail(p, 400, http_errno_description(e));
    return SR_H1_ERROR;
}

const struct sr_h1_request *sr_h1_parser_request(const struct sr_h1_parser *p)
{
    return p->complete ? &p->req : NULL;
}

bool sr_h1_parser_headers_done(const struct sr_h1_parser *p)
{
    return p->headers_done;
}

bool sr_h1_parser_expects_continue(const struct sr_h1_parser *p)
{
    return p->headers_done && !p->complete && p->req.expect_continue;
}

void sr_h1_parser_next(struct sr_h1_parser *p)
{
    p->complete = p->headers_done = false;
    sr_h1_head_reset(&p->head);
    sr_buf_reset(&p->body);
    p->target_len = 0;
    memset(&p->req, 0, sizeof(p->req));
    http_parser_pause(&p->parser, 0);
}

int sr_h1_parser_error_status(const struct sr_h1_parser *p)
{
    return p->error_status;
}

const char *sr_h1_parser_error_reason(const struct sr_h1_parser *p)
{
    return p->error_reason ? p->error_reason : "";
}

bool sr_http_is_tchar(unsigned char c)
{
    /* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
     * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool sr_http_is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!sr_http_is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

const struct sr_http_header *sr_http_header_find(const struct sr_http_header *headers, size_t n,
                                                 const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (headers[i].name_len == len && strncasecmp(headers[i].name, name, len) == 0)
            return &headers[i];
    return NULL;
}

const struct sr_http_header *sr_h1_request_header(const struct sr_h1_request *req, const char *name)
{
    return sr_http_header_find(req->headers, req->nheaders, name);
}

bool sr_h1_token_list_has(const char *value, size_t len, const char *token)
{
    size_t tlen = strlen(token);
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end - start == tlen && strncasecmp(value + start, token, tlen) == 0)
            return true;
    }
    return false;
}
