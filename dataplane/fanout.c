/* fanout: one request to every worker, one callback (see fanout.h). */
#include "fanout.h"

#include "fetch.h"

#include "common/alloc.h"

#include <stdio.h>
#include <string.h>

struct item {
    struct sr_fanout *fan;
    struct sr_fetch *fetch;
    char *body;
    char why[96];
};

struct sr_fanout {
    struct sr_worker_set *set;
    sr_fanout_cb cb;
    void *arg;
    size_t pending;
    struct event *done_ev; /* delivers the answer from the loop */
    struct sr_fanout_result *results;
    struct item items[];
};

static void release(struct sr_fanout *f)
{
    for (size_t i = 0; i < f->set->count; i++) {
        if (f->items[i].fetch)
            sr_fetch_cancel(f->items[i].fetch);
        sr_free(f->items[i].body);
    }
    if (f->done_ev)
        event_free(f->done_ev);
    sr_free(f->results);
    sr_worker_set_release(f->set);
    sr_free(f);
}

static void deliver(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_fanout *f = arg;
    for (size_t i = 0; i < f->set->count; i++) {
        struct item *it = &f->items[i];
        if (f->results[i].status <= 0)
            f->results[i].why = it->why[0] ? it->why : "failed";
        f->results[i].body = it->body;
    }
    f->cb(f->arg, f->results, f->set->count);
    release(f);
}

static void settle(struct sr_fanout *f)
{
    if (--f->pending == 0)
        event_active(f->done_ev, EV_TIMEOUT, 0);
}

static void on_result(void *ctx, int status, const char *body, size_t len, const char *why)
{
    struct item *it = ctx;
    struct sr_fanout *f = it->fan;
    size_t i = (size_t)(it - f->items);
    it->fetch = NULL;
    f->results[i].status = status;
    if (why)
        snprintf(it->why, sizeof(it->why), "%s", why);
    if (len > 0 && (it->body = sr_malloc(len + 1)) != NULL) {
        memcpy(it->body, body, len);
        it->body[len] = '\0';
        f->results[i].len = len;
    }
    settle(f);
}

struct sr_fanout *sr_fanout_start(struct sr_router *r, struct event_base *base,
                                  struct sr_worker_set *set, const char *method, const char *suffix,
                                  sr_fanout_cb cb, void *arg)
{
    struct sr_fanout *f = sr_calloc(1, sizeof(*f) + set->count * sizeof(f->items[0]));
    if (f == NULL)
        return NULL;
    sr_worker_set_ref(set);
    f->set = set;
    f->cb = cb;
    f->arg = arg;
    f->results = sr_calloc(set->count + 1, sizeof(*f->results));
    f->done_ev = event_new(base, -1, 0, deliver, f);
    if (f->results == NULL || f->done_ev == NULL) {
        release(f);
        return NULL;
    }
    f->pending = set->count + 1; /* +1: nothing settles before the loop below ends */
    for (size_t i = 0; i < set->count; i++) {
        struct item *it = &f->items[i];
        struct sr_worker *w = set->workers[i];
        it->fan = f;
        f->results[i].worker = w;
        struct sockaddr_storage addr;
        socklen_t alen;
        if (!sr_addr_book_get(r->addrs, w, &addr, &alen)) {
            snprintf(it->why, sizeof(it->why), "the worker's address is not resolved yet");
            f->pending--;
            continue;
        }
        char host[300], path[1024];
        sr_url_authority(&w->parsed, host, sizeof(host));
        snprintf(path, sizeof(path), "%s%s", w->parsed.base_path, suffix);
        struct sr_fetch_request req = {
            .addr = (struct sockaddr *)&addr,
            .addr_len = alen,
            .host = host,
            .method = method,
            .path = path,
            .timeout_ms = r->cfg->health_check_timeout_secs * 1000,
            .max_body = 1024 * 1024,
        };
        it->fetch = sr_fetch(base, &req, on_result, it);
        if (it->fetch == NULL) {
            snprintf(it->why, sizeof(it->why), "out of memory");
            f->pending--;
        }
    }
    settle(f);
    return f;
}

void sr_fanout_cancel(struct sr_fanout *f)
{
    if (f)
        release(f);
}
