/* fetch: one request on its own connection, on the one HTTP/1.1 client
 * (see fetch.h). */
#include "fetch.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "net/h1_client.h"

#include <stdbool.h>
#include <string.h>

#define MAX_HEAD_BYTES (64 * 1024)
#define MAX_HEADERS    128

struct sr_fetch {
    struct sr_h1_client *client;
    struct event *timer;
    struct sr_buf request; /* head and body: the caller's body is not kept */
    struct sr_buf body;    /* ceiling: max_body */
    int status;
    sr_fetch_cb cb;
    void *ctx;
};

static void fetch_free(struct sr_fetch *f)
{
    sr_h1_client_free(f->client); /* later, when inside its callback */
    if (f->timer)
        event_free(f->timer);
    sr_buf_free(&f->request);
    sr_buf_free(&f->body);
    sr_free(f);
}

static void finish(struct sr_fetch *f, int status, const char *why)
{
    f->cb(f->ctx, status, f->body.data ? f->body.data : "", f->body.len, why);
    fetch_free(f);
}

static void on_head(void *ctx, const struct sr_h1_response *resp)
{
    struct sr_fetch *f = ctx;
    f->status = resp->status;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    struct sr_fetch *f = ctx;
    if (sr_buf_append(&f->body, data, len) != 0) { /* within the codec's limit: memory */
        sr_h1_client_close(f->client);
        finish(f, 0, "out of memory");
    }
}

static void on_done(void *ctx)
{
    struct sr_fetch *f = ctx;
    finish(f, f->status, NULL);
}

static void on_error(void *ctx, const char *why, bool local)
{
    finish(ctx, local ? -1 : 0, why);
}

static const struct sr_h1_client_handler handler = {on_head, on_body, on_done, on_error};

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg, 0, "timed out");
}

void sr_fetch_cancel(struct sr_fetch *f)
{
    fetch_free(f);
}

struct sr_fetch *sr_fetch(struct event_base *base, const struct sr_fetch_request *req,
                          sr_fetch_cb cb, void *ctx)
{
    struct sr_fetch *f = sr_calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->cb = cb;
    f->ctx = ctx;
    sr_buf_init(&f->request, SIZE_MAX);
    sr_buf_init(&f->body, req->max_body);
    struct sr_h1_client_options opts = {
        .limits = {MAX_HEAD_BYTES, MAX_HEADERS, req->max_body},
        .peer = "worker",
    };
    f->client = sr_h1_client_new(base, req->addr, req->addr_len, &opts);
    f->timer = evtimer_new(base, on_timeout, f);
    bool post = req->body_len > 0 || strcmp(req->method, "POST") == 0;
    if (f->client == NULL || f->timer == NULL ||
        sr_h1_client_format_head(&f->request, req->method, req->path, req->host,
                                 post ? "Connection: close\r\nUser-Agent: sglang-router\r\n"
                                        "Content-Type: application/json\r\n"
                                      : "Connection: close\r\nUser-Agent: sglang-router\r\n",
                                 post ? (long long)req->body_len : -1) != 0 ||
        sr_buf_append(&f->request, req->body, req->body_len) != 0) {
        fetch_free(f);
        return NULL;
    }
    struct timeval tv = {req->timeout_ms / 1000, (req->timeout_ms % 1000) * 1000};
    evtimer_add(f->timer, &tv);
    struct sr_h1_client_request r = {f->request.data, f->request.len, NULL, 0};
    sr_h1_client_send(f->client, &r, &handler, f); /* failures arrive through on_error */
    return f;
}
