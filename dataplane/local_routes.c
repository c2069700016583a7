/* local_routes: routes the router answers itself (see local_routes.h). */
#include "local_routes.h"

#include "fetch.h"
#include "loop.h"
#include "pipeline.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/url.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void respond_json(struct sr_conn *c, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        sr_pipeline_error(c, 500, "out of memory");
        return;
    }
    sr_conn_respond(c, status, "application/json", text, strlen(text), NULL);
    free(text);
}

void sr_local_health(struct sr_conn *c, const struct sr_request *req)
{
    (void)req;
    sr_conn_respond(c, 200, "text/plain", "OK", 2, NULL);
}

void sr_local_readiness(struct sr_conn *c, const struct sr_request *req)
{
    (void)req;
    struct sr_worker_set *set = sr_loop_workers(sr_conn_loop(c));
    size_t healthy = 0;
    for (size_t i = 0; i < set->count; i++)
        healthy += sr_worker_routable(set->workers[i]);
    bool ready = healthy > 0 && !atomic_load(&sr_conn_loop(c)->router->draining);
    respond_json(c, ready ? 200 : 503,
                 json_pack("{s:s, s:I, s:I}", "status", ready ? "ready" : "not ready",
                           "healthy_workers", (json_int_t)healthy, "total_workers",
                           (json_int_t)set->count));
}

void sr_local_list_workers(struct sr_conn *c, const struct sr_request *req)
{
    (void)req;
    struct sr_loop *l = sr_conn_loop(c);
    struct sr_worker_set *set = sr_loop_workers(l);
    json_t *urls = json_array(), *workers = json_array();
    for (size_t i = 0; i < set->count; i++) {
        struct sr_worker *w = set->workers[i];
        json_array_append_new(urls, json_string(w->url));
        json_array_append_new(
            workers, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "url", w->url, "health",
                               sr_worker_health_name(sr_worker_health(w)), "in_flight",
                               (json_int_t)sr_worker_load(w), "processed",
                               (json_int_t)atomic_load(&w->processed), "failures",
                               (json_int_t)atomic_load(&w->failures), "tree_bytes",
                               (json_int_t)sr_policy_worker_tree_bytes(l->router->policy, w)));
    }
    respond_json(c, 200, json_pack("{s:o, s:o}", "urls", urls, "workers", workers));
}

/* The value of ?url=, percent-decoded, into out (NUL-terminated). */
static bool query_url(const struct sr_request *req, char *out, size_t cap)
{
    const char *q = req->query, *end = req->query ? req->query + req->query_len : NULL;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if (stop - q > 4 && memcmp(q, "url=", 4) == 0) {
            size_t n = 0;
            for (const char *p = q + 4; p < stop; p++) {
                char ch = *p;
                if (ch == '%' && stop - p > 2) {
                    char hex[3] = {p[1], p[2], 0};
                    char *e;
                    long v = strtol(hex, &e, 16);
                    if (*e != '\0')
                        return false;
                    ch = (char)v;
                    p += 2;
                } else if (ch == '+') {
                    ch = ' ';
                }
                if (n + 1 >= cap)
                    return false;
                out[n++] = ch;
            }
            out[n] = '\0';
            return n > 0;
        }
        q = amp ? amp + 1 : end;
    }
    return false;
}

static void change_workers(struct sr_conn *c, const struct sr_request *req, bool add)
{
    struct sr_router *r = sr_conn_loop(c)->router;
    char url[2048];
    if (!query_url(req, url, sizeof(url))) {
        sr_pipeline_error(c, 400, "expected ?url=http://host:port");
        return;
    }
    const char *why = NULL;
    int rc =
        add ? sr_registry_add(r->registry, url, &why) : sr_registry_remove(r->registry, url, &why);
    if (rc != 0) {
        char msg[2300];
        snprintf(msg, sizeof(msg), "cannot %s worker %s: %s", add ? "add" : "remove", url,
                 why ? why : sr_strerror(rc));
        int status = rc == SR_ERR_NOT_FOUND ? 404
                     : rc == SR_ERR_EXISTS  ? 409
                     : rc == SR_ERR_NOMEM   ? 500
                                            : 400;
        sr_pipeline_error(c, status, msg);
        return;
    }
    char msg[2300];
    snprintf(msg, sizeof(msg),
             add ? "added worker %s; it receives traffic once healthy"
                 : "removed worker %s; requests in flight finish",
             url);
    respond_json(c, 200, json_pack("{s:s, s:s, s:s}", "status", "ok", "url", url, "message", msg));
}

void sr_local_add_worker(struct sr_conn *c, const struct sr_request *req)
{
    change_workers(c, req, true);
}

void sr_local_remove_worker(struct sr_conn *c, const struct sr_request *req)
{
    change_workers(c, req, false);
}

/* ---- fan-out: one request to every worker, one aggregated answer ------- */

struct fanout;

struct fanout_item {
    struct fanout *fan;
    struct sr_worker *worker;
    struct sr_fetch *fetch;
    int status;
    json_t *reply; /* parsed JSON body, or NULL */
    char why[96];
};

struct fanout {
    struct sr_conn *conn; /* NULL once the client left */
    struct sr_worker_set *set;
    bool loads; /* /get_loads, else /flush_cache */
    size_t pending;
    struct fanout_item items[];
};

static void fanout_free(struct fanout *f)
{
    for (size_t i = 0; i < f->set->count; i++) {
        if (f->items[i].fetch)
            sr_fetch_cancel(f->items[i].fetch);
        json_decref(f->items[i].reply);
    }
    sr_worker_set_release(f->set);
    sr_free(f);
}

/* The reference's worker load: SGLang's per-rank array (sum of num_reqs)
 * or {"load": N}; -1 when unknown. */
static json_int_t load_of(const json_t *reply)
{
    if (json_is_object(reply) && json_is_integer(json_object_get(reply, "load")))
        return json_integer_value(json_object_get(reply, "load"));
    if (!json_is_array(reply) || json_array_size(reply) == 0)
        return -1;
    json_int_t sum = 0;
    size_t i;
    json_t *rank;
    json_array_foreach(reply, i, rank)
    {
        json_t *n = json_object_get(rank, "num_reqs");
        if (!json_is_integer(n))
            return -1;
        sum += json_integer_value(n);
    }
    return sum;
}

static void fanout_answer(struct fanout *f)
{
    json_t *list = json_array();
    size_t ok = 0;
    struct sr_policy *policy = sr_conn_loop(f->conn)->router->policy;
    for (size_t i = 0; i < f->set->count; i++) {
        struct fanout_item *it = &f->items[i];
        bool good = it->status >= 200 && it->status < 300;
        ok += good;
        /* A worker that emptied its cache: forget what we believed it held. */
        if (good && !f->loads)
            sr_policy_worker_removed(policy, it->worker);
        json_t *o = json_pack("{s:s, s:i}", "worker", it->worker->url, "status", it->status);
        if (f->loads)
            json_object_set_new(o, "load", json_integer(good ? load_of(it->reply) : -1));
        if (f->loads && it->reply)
            json_object_set(o, "reply", it->reply);
        if (!good)
            json_object_set_new(o, "error", json_string(it->why[0] ? it->why : "failed"));
        json_array_append_new(list, o);
    }
    int status = ok == f->set->count ? 200 : f->loads ? 200 : 502;
    sr_conn_detach(f->conn);
    respond_json(
        f->conn, status,
        json_pack("{s:s, s:o}", "status", ok == f->set->count ? "ok" : "partial", "workers", list));
}

static void on_fanout_result(void *ctx, int status, const char *body, size_t len, const char *why)
{
    struct fanout_item *it = ctx;
    struct fanout *f = it->fan;
    it->fetch = NULL;
    it->status = status;
    if (why)
        snprintf(it->why, sizeof(it->why), "%s", why);
    if (len > 0)
        it->reply = json_loadb(body, len, 0, NULL);
    if (--f->pending > 0)
        return;
    if (f->conn)
        fanout_answer(f);
    fanout_free(f);
}

static void fanout_gone(void *arg)
{
    struct fanout *f = arg;
    fanout_free(f); /* cancels what is still in flight */
}

static void fanout(struct sr_conn *c, bool loads)
{
    struct sr_loop *l = sr_conn_loop(c);
    struct sr_worker_set *set = sr_loop_workers(l);
    struct fanout *f = sr_calloc(1, sizeof(*f) + set->count * sizeof(f->items[0]));
    if (f == NULL) {
        sr_pipeline_error(c, 500, "out of memory");
        return;
    }
    sr_worker_set_ref(set);
    f->set = set;
    f->conn = c;
    f->loads = loads;
    f->pending = set->count + 1; /* +1: nothing answers before the loop below ends */
    sr_conn_attach(c, f, fanout_gone);
    for (size_t i = 0; i < set->count; i++) {
        struct fanout_item *it = &f->items[i];
        struct sr_worker *w = set->workers[i];
        it->fan = f;
        it->worker = w;
        struct sockaddr_storage addr;
        socklen_t alen;
        if (!sr_addr_book_get(l->router->addrs, w, &addr, &alen)) {
            snprintf(it->why, sizeof(it->why), "the worker's address is not resolved yet");
            f->pending--;
            continue;
        }
        char host[300], path[1024];
        snprintf(host, sizeof(host), "%s:%u", w->parsed.host, (unsigned)w->parsed.port);
        snprintf(path, sizeof(path), "%s%s", w->parsed.base_path,
                 loads ? "/get_load" : "/flush_cache");
        struct sr_fetch_request req = {
            .addr = (struct sockaddr *)&addr,
            .addr_len = alen,
            .host = host,
            .method = loads ? "GET" : "POST",
            .path = path,
            .timeout_ms = l->router->cfg->health_check_timeout_secs * 1000,
            .max_body = 1024 * 1024,
        };
        it->fetch = sr_fetch(l->base, &req, on_fanout_result, it);
        if (it->fetch == NULL) {
            snprintf(it->why, sizeof(it->why), "out of memory");
            f->pending--;
        }
    }
    if (--f->pending == 0) { /* nothing was sent (no workers, or none resolved) */
        fanout_answer(f);
        fanout_free(f);
    }
}

void sr_local_get_loads(struct sr_conn *c, const struct sr_request *req)
{
    (void)req;
    fanout(c, true);
}

void sr_local_flush_cache(struct sr_conn *c, const struct sr_request *req)
{
    (void)req;
    fanout(c, false);
}
