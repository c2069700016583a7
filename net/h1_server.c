/* h1_server: an HTTP/1.x connection's requests and responses, without
 * the socket (see h1_server.h). */
#include "h1_server.h"

#include "http_status.h"

#include "common/alloc.h"
#include "common/buf.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <string.h>

struct sr_h1_server {
    struct sr_h1_parser *parser;
    struct evbuffer *out; /* borrowed */
    const struct sr_h1_server_cbs *cbs;
    void *arg;
    struct sr_buf held; /* input that waits: freed whenever it empties */
    enum sr_h1_phase phase;
    bool keep_alive;    /* of the current request */
    bool chunked;       /* the current response is chunked */
    bool processing;    /* inside sr_h1_server_input: output is written at its end */
    bool sent_continue; /* "100 Continue" went out for this request */
    bool draining;
};

static void set_phase(struct sr_h1_server *s, enum sr_h1_phase phase)
{
    if (s->phase == phase)
        return;
    s->phase = phase;
    if (s->cbs->phase)
        s->cbs->phase(s->arg, phase);
}

struct sr_h1_server *sr_h1_server_new(const struct sr_h1_limits *limits, struct evbuffer *out,
                                      const struct sr_h1_server_cbs *cbs, void *arg)
{
    struct sr_h1_server *s = sr_calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->parser = sr_h1_parser_new(limits);
    if (s->parser == NULL) {
        sr_free(s);
        return NULL;
    }
    s->out = out;
    s->cbs = cbs;
    s->arg = arg;
    s->phase = SR_H1_IDLE;
    sr_buf_init(&s->held, SR_H1_SERVER_HOLD);
    return s;
}

void sr_h1_server_free(struct sr_h1_server *s)
{
    if (s == NULL)
        return;
    sr_buf_free(&s->held);
    sr_h1_parser_free(s->parser);
    sr_free(s);
}

size_t sr_h1_server_room(const struct sr_h1_server *s)
{
    return SR_H1_SERVER_HOLD - s->held.len;
}

size_t sr_h1_server_held(const struct sr_h1_server *s)
{
    return s->held.len;
}

enum sr_h1_phase sr_h1_server_phase(const struct sr_h1_server *s)
{
    return s->phase;
}

/* ---- responses ------------------------------------------------------------ */

/* Output was queued: written at the end of sr_h1_server_input, or by the
 * caller now. */
static void queued(struct sr_h1_server *s)
{
    if (!s->processing)
        s->cbs->queued(s->arg);
}

static char *put_digits(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static void add_str(struct evbuffer *b, const char *s)
{
    evbuffer_add(b, s, strlen(s));
}

static void add_status_line(struct sr_h1_server *s, int status)
{
    char line[64] = "HTTP/1.1 ";
    size_t n = 9;
    char digits[8];
    char *d = put_digits(digits + sizeof(digits), (uint64_t)(status > 0 ? status : 0));
    size_t dn = (size_t)(digits + sizeof(digits) - d);
    memcpy(line + n, d, dn);
    n += dn;
    line[n++] = ' ';
    const char *reason = sr_http_reason(status);
    size_t rn = strlen(reason);
    memcpy(line + n, reason, rn);
    n += rn;
    memcpy(line + n, "\r\n", 2);
    evbuffer_add(s->out, line, n + 2);
}

static void add_length(struct sr_h1_server *s, uint64_t len)
{
    char line[48] = "Content-Length: ";
    char digits[24];
    char *d = put_digits(digits + sizeof(digits), len);
    size_t dn = (size_t)(digits + sizeof(digits) - d);
    memcpy(line + 16, d, dn);
    memcpy(line + 16 + dn, "\r\n", 2);
    evbuffer_add(s->out, line, 16 + dn + 2);
}

static void add_connection_header(struct sr_h1_server *s)
{
    if (s->draining)
        s->keep_alive = false;
    add_str(s->out, s->keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
}

/* The current request is answered: go on with the next one. */
static void answered(struct sr_h1_server *s)
{
    s->sent_continue = false;
    s->chunked = false;
    if (!s->keep_alive) {
        set_phase(s, SR_H1_CLOSING);
        return;
    }
    sr_h1_parser_next(s->parser);
    set_phase(s, SR_H1_IDLE);
    if (!s->processing)
        s->cbs->resume(s->arg);
}

static void whole_head(struct sr_h1_server *s, int status, const char *content_type, size_t len,
                       const char *extra_headers)
{
    add_status_line(s, status);
    add_str(s->out, "Content-Type: ");
    add_str(s->out, content_type);
    evbuffer_add(s->out, "\r\n", 2);
    add_length(s, len);
    if (extra_headers)
        add_str(s->out, extra_headers);
    add_connection_header(s);
}

void sr_h1_server_respond(struct sr_h1_server *s, int status, const char *content_type,
                          const char *body, size_t len, const char *extra_headers)
{
    whole_head(s, status, content_type, len, extra_headers);
    evbuffer_add(s->out, body, len);
    answered(s);
    queued(s);
}

void sr_h1_server_respond_buffer(struct sr_h1_server *s, int status, const char *content_type,
                                 struct evbuffer *buf, const char *extra_headers)
{
    whole_head(s, status, content_type, evbuffer_get_length(buf), extra_headers);
    evbuffer_add_buffer(s->out, buf);
    answered(s);
    queued(s);
}

void sr_h1_server_begin(struct sr_h1_server *s, int status, const char *head_lines, size_t head_len,
                        long long content_length)
{
    add_status_line(s, status);
    evbuffer_add(s->out, head_lines, head_len);
    s->chunked = false;
    if (s->draining)
        s->keep_alive = false;
    if (content_length >= 0)
        add_length(s, (uint64_t)content_length);
    else if (s->keep_alive) {
        s->chunked = true;
        add_str(s->out, "Transfer-Encoding: chunked\r\n");
    }
    /* HTTP/1.0 client and unknown length: the body ends with the connection. */
    add_connection_header(s);
    queued(s);
}

static void chunk_size(struct sr_h1_server *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char buf[24];
    char *end = buf + sizeof(buf) - 2, *p = end;
    do {
        *--p = hex[len & 15];
        len >>= 4;
    } while (len);
    end[0] = '\r';
    end[1] = '\n';
    evbuffer_add(s->out, p, (size_t)(end + 2 - p));
}

void sr_h1_server_body(struct sr_h1_server *s, const char *data, size_t len)
{
    if (len == 0)
        return;
    if (s->chunked)
        chunk_size(s, len);
    evbuffer_add(s->out, data, len);
    if (s->chunked)
        evbuffer_add(s->out, "\r\n", 2);
    queued(s);
}

void sr_h1_server_body_buffer(struct sr_h1_server *s, struct evbuffer *buf)
{
    size_t len = evbuffer_get_length(buf);
    if (len == 0)
        return;
    if (s->chunked)
        chunk_size(s, len);
    evbuffer_add_buffer(s->out, buf);
    if (s->chunked)
        evbuffer_add(s->out, "\r\n", 2);
    queued(s);
}

void sr_h1_server_end(struct sr_h1_server *s)
{
    if (s->chunked)
        evbuffer_add(s->out, "0\r\n\r\n", 5);
    answered(s);
    queued(s);
}

void sr_h1_server_abort(struct sr_h1_server *s)
{
    s->keep_alive = false;
    answered(s);
    queued(s);
}

/* ---- requests --------------------------------------------------------------- */

void sr_h1_server_give_up(struct sr_h1_server *s)
{
    s->keep_alive = false;
    set_phase(s, SR_H1_BUSY);
}

void sr_h1_server_drain(struct sr_h1_server *s)
{
    s->draining = true;
    if (s->phase == SR_H1_IDLE && s->held.len == 0)
        set_phase(s, SR_H1_CLOSING);
}

static void bad_request(struct sr_h1_server *s)
{
    s->keep_alive = false;
    set_phase(s, SR_H1_BUSY);
    s->cbs->bad_request(s->arg, sr_h1_parser_error_status(s->parser),
                        sr_h1_parser_error_reason(s->parser));
}

/* Parses from in[0, *len) while a request can start; *len is left with
 * the count of bytes not consumed (at the end of in). */
static void parse(struct sr_h1_server *s, const char **in, size_t *len)
{
    while ((s->phase == SR_H1_IDLE || s->phase == SR_H1_HEAD || s->phase == SR_H1_BODY) &&
           *len > 0) {
        if (s->phase == SR_H1_IDLE)
            set_phase(s, SR_H1_HEAD);
        size_t used = 0;
        enum sr_h1_result r = sr_h1_parser_feed(s->parser, *in, *len, &used);
        *in += used;
        *len -= used;
        if (r == SR_H1_ERROR) {
            bad_request(s);
            return;
        }
        if (r == SR_H1_NEED_MORE) {
            if (s->phase == SR_H1_HEAD && sr_h1_parser_headers_done(s->parser))
                set_phase(s, SR_H1_BODY);
            if (!s->sent_continue && sr_h1_parser_expects_continue(s->parser)) {
                add_str(s->out, "HTTP/1.1 100 Continue\r\n\r\n");
                s->sent_continue = true;
            }
            return;
        }
        const struct sr_h1_request *req = sr_h1_parser_request(s->parser);
        s->keep_alive = req->keep_alive;
        set_phase(s, SR_H1_BUSY);
        s->cbs->request(s->arg, req);
    }
}

int sr_h1_server_input(struct sr_h1_server *s, const char *data, size_t len)
{
    int rc = 0;
    if (s->held.len > 0 && len > 0) { /* behind bytes that wait: in order */
        rc = sr_buf_append(&s->held, data, len);
        len = 0;
    }
    s->processing = true;
    if (s->held.len > 0) {
        const char *in = s->held.data;
        size_t left = s->held.len;
        parse(s, &in, &left);
        sr_buf_consume(&s->held, s->held.len - left);
    }
    if (len > 0) { /* the common case: parsed where the caller read it */
        parse(s, &data, &len);
        if (len > 0 && s->phase != SR_H1_CLOSING)
            rc = sr_buf_append(&s->held, data, len);
    }
    s->processing = false;
    if (s->held.len == 0)
        sr_buf_free(&s->held); /* an idle connection holds no input buffer */
    if (rc != 0) {
        s->keep_alive = false;
        set_phase(s, SR_H1_CLOSING);
        return rc;
    }
    if (s->draining && s->phase == SR_H1_IDLE && s->held.len == 0)
        set_phase(s, SR_H1_CLOSING);
    return 0;
}
