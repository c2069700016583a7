/* request: the version-neutral request and its reply (see request.h). */
#include "request.h"

const struct sr_http_header *sr_request_header(const struct sr_request *req, const char *name)
{
    return sr_http_header_find(req->headers, req->nheaders, name);
}

struct sr_loop *sr_reply_loop(const struct sr_reply *c)
{
    return c->loop;
}

void sr_reply_respond(struct sr_reply *c, int status, const char *content_type, const char *body,
                      size_t len, const char *extra_headers)
{
    c->ops->respond(c, status, content_type, body, len, extra_headers);
}

void sr_reply_begin(struct sr_reply *c, int status, const char *head_lines, size_t head_len,
                    long long content_length)
{
    c->ops->response_begin(c, status, head_lines, head_len, content_length);
}

void sr_reply_body(struct sr_reply *c, const char *data, size_t len)
{
    c->ops->response_body(c, data, len);
}

void sr_reply_end(struct sr_reply *c)
{
    c->ops->response_end(c);
}

void sr_reply_abort(struct sr_reply *c)
{
    c->ops->response_abort(c);
}

bool sr_reply_output_full(const struct sr_reply *c, size_t mark)
{
    return c->ops->output_full(c, mark);
}

void sr_reply_set_drain_cb(struct sr_reply *c, void (*drained)(void *arg), void *arg)
{
    c->drained = drained;
    c->drained_arg = arg;
}

void sr_reply_drained(struct sr_reply *c)
{
    if (c->drained)
        c->drained(c->drained_arg);
}

void sr_reply_attach(struct sr_reply *c, void *exchange, void (*gone)(void *exchange))
{
    c->exchange = exchange;
    c->gone = gone;
}

void sr_reply_detach(struct sr_reply *c)
{
    c->exchange = NULL;
    c->gone = NULL;
    c->drained = NULL;
}

void sr_reply_client_gone(struct sr_reply *c)
{
    if (c->exchange && c->gone) {
        void *ex = c->exchange;
        c->exchange = NULL;
        c->gone(ex);
    }
}
