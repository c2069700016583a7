/* h1: HTTP/1 requests of a client connection for the one pipeline (see
 * h1.h). */
#include "h1.h"

#include "loop.h"
#include "pipeline.h"
#include "request.h"
#include "response.h"

#include "common/alloc.h"

#include "net/h1_server.h"

#include <event2/buffer.h>
#include <stdio.h>

struct sr_h1 {
    struct sr_reply base; /* must stay first: the ops get &base */
    struct sr_h1_server *srv;
    struct evbuffer *out; /* the connection's */
    struct sr_h1_io io;
    bool loopback;
};

/* ---- the reply ops ------------------------------------------------------- */

static void h1_respond(struct sr_reply *base, int status, const char *content_type,
                       const char *body, size_t len, const char *extra_headers)
{
    struct sr_h1 *h = (struct sr_h1 *)base;
    sr_reply_detach(&h->base);
    sr_h1_server_respond(h->srv, status, content_type, body, len, extra_headers);
}

static void h1_begin(struct sr_reply *base, int status, const char *head_lines, size_t head_len,
                     long long content_length)
{
    struct sr_h1 *h = (struct sr_h1 *)base;
    sr_h1_server_begin(h->srv, status, head_lines, head_len, content_length);
}

static void h1_body(struct sr_reply *base, const char *data, size_t len)
{
    struct sr_h1 *h = (struct sr_h1 *)base;
    sr_h1_server_body(h->srv, data, len);
}

static void h1_end(struct sr_reply *base)
{
    struct sr_h1 *h = (struct sr_h1 *)base;
    sr_reply_detach(&h->base);
    sr_h1_server_end(h->srv);
}

static void h1_abort(struct sr_reply *base)
{
    struct sr_h1 *h = (struct sr_h1 *)base;
    sr_reply_detach(&h->base);
    sr_h1_server_abort(h->srv);
}

static bool h1_output_full(const struct sr_reply *base, size_t mark)
{
    return evbuffer_get_length(((const struct sr_h1 *)base)->out) > mark;
}

static const struct sr_reply_ops h1_ops = {
    .respond = h1_respond,
    .response_begin = h1_begin,
    .response_body = h1_body,
    .response_end = h1_end,
    .response_abort = h1_abort,
    .output_full = h1_output_full,
};

/* ---- net/h1_server's callbacks ---------------------------------------------- */

static void on_request(void *arg, const struct sr_h1_request *h1)
{
    struct sr_h1 *h = arg;
    struct sr_request req = {
        .method = h1->method,
        .path = h1->path,
        .path_len = h1->path_len,
        .query = h1->query,
        .query_len = h1->query_len,
        .headers = h1->headers,
        .nheaders = h1->nheaders,
        .body = h1->body,
        .body_len = h1->body_len,
        .version_minor = h1->version_minor,
        .client_loopback = h->loopback,
    };
    sr_pipeline_handle(&h->base, &req);
}

static void on_bad_request(void *arg, int status, const char *reason)
{
    struct sr_h1 *h = arg;
    char msg[160];
    snprintf(msg, sizeof(msg), "%s%s", status == 400 ? "malformed HTTP request: " : "", reason);
    sr_response_error(&h->base, status, msg);
}

/* The phases' timeouts; a request being answered has the exchange's own
 * deadline. */
static void on_phase(void *arg, enum sr_h1_phase phase)
{
    struct sr_h1 *h = arg;
    const struct sr_config *cfg = h->base.loop->router->cfg;
    if (phase == SR_H1_CLOSING) {
        h->io.closing(h->io.arg);
        return;
    }
    const long secs[] = {
        [SR_H1_IDLE] = cfg->keepalive_timeout_secs,
        [SR_H1_HEAD] = cfg->client_header_timeout_secs,
        [SR_H1_BODY] = cfg->client_body_timeout_secs,
        [SR_H1_BUSY] = 0,
    };
    h->io.set_timer(h->io.arg, secs[phase]);
}

static void on_queued(void *arg)
{
    struct sr_h1 *h = arg;
    h->io.queued(h->io.arg);
}

static void on_resume(void *arg)
{
    struct sr_h1 *h = arg;
    h->io.resume(h->io.arg);
}

static const struct sr_h1_server_cbs server_cbs = {
    .request = on_request,
    .bad_request = on_bad_request,
    .phase = on_phase,
    .queued = on_queued,
    .resume = on_resume,
};

/* ---- the session ---------------------------------------------------------------- */

struct sr_h1 *sr_h1_new(struct sr_loop *l, struct evbuffer *out, bool client_loopback,
                        const struct sr_h1_io *io)
{
    const struct sr_config *cfg = l->router->cfg;
    struct sr_h1 *h = sr_calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    struct sr_h1_limits limits = {
        .max_head_bytes = (size_t)cfg->max_header_size,
        .max_headers = 256,
        .max_body_bytes = (size_t)cfg->max_payload_size,
    };
    h->srv = sr_h1_server_new(&limits, out, &server_cbs, h);
    if (h->srv == NULL) {
        sr_free(h);
        return NULL;
    }
    h->base.ops = &h1_ops;
    h->base.loop = l;
    h->out = out;
    h->io = *io;
    h->loopback = client_loopback;
    return h;
}

void sr_h1_free(struct sr_h1 *h)
{
    if (h == NULL)
        return;
    sr_reply_client_gone(&h->base);
    sr_h1_server_free(h->srv);
    sr_free(h);
}

int sr_h1_input(struct sr_h1 *h, const char *data, size_t len)
{
    return sr_h1_server_input(h->srv, data, len);
}

size_t sr_h1_room(const struct sr_h1 *h)
{
    return sr_h1_server_phase(h->srv) == SR_H1_CLOSING ? 0 : sr_h1_server_room(h->srv);
}

bool sr_h1_idle(const struct sr_h1 *h)
{
    return sr_h1_server_phase(h->srv) == SR_H1_IDLE && sr_h1_server_held(h->srv) == 0;
}

bool sr_h1_timeout(struct sr_h1 *h)
{
    enum sr_h1_phase phase = sr_h1_server_phase(h->srv);
    if (phase == SR_H1_HEAD || phase == SR_H1_BODY) {
        sr_h1_server_give_up(h->srv);
        sr_response_error(&h->base, 408, "timed out waiting for the request");
        return false;
    }
    /* Idle past the keep-alive timeout, or answered and closing. */
    return phase == SR_H1_IDLE || phase == SR_H1_CLOSING;
}

void sr_h1_drain(struct sr_h1 *h)
{
    sr_h1_server_drain(h->srv);
}

void sr_h1_output_drained(struct sr_h1 *h)
{
    sr_reply_drained(&h->base);
}
