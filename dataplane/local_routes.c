/* local_routes: routes the router answers itself (see local_routes.h). */
#include "local_routes.h"

#include "fanout.h"
#include "loop.h"
#include "response.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/worker_spec.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void respond_json(struct sr_reply *c, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        sr_response_error(c, 500, "out of memory");
        return;
    }
    sr_reply_respond(c, status, "application/json", text, strlen(text), NULL);
    free(text);
}

static void local_health(struct sr_reply *c, const struct sr_request *req)
{
    (void)req;
    sr_reply_respond(c, 200, "text/plain", "OK", 2, NULL);
}

static size_t routable(const struct sr_worker_set *set)
{
    size_t n = 0;
    for (size_t i = 0; i < set->count; i++)
        n += sr_worker_routable(set->workers[i]);
    return n;
}

/* Ready when some model can be served: a pool with a healthy worker, or,
 * disaggregated, with a healthy prefill and a healthy decode worker. */
static void local_readiness(struct sr_reply *c, const struct sr_request *req)
{
    (void)req;
    struct sr_worker_set *set = sr_loop_workers(sr_reply_loop(c));
    size_t healthy = routable(set), prefill = 0, decode = 0;
    bool servable = false;
    for (size_t p = 0; p < set->npools; p++) {
        const struct sr_worker_pool *pool = &set->pools[p];
        size_t np = routable(pool->role[SR_ROLE_PREFILL]),
               nd = routable(pool->role[SR_ROLE_DECODE]);
        prefill += np;
        decode += nd;
        servable |= sr_worker_pool_disaggregated(pool) ? np > 0 && nd > 0
                                                       : routable(pool->role[SR_ROLE_REGULAR]) > 0;
    }
    bool ready = servable && !atomic_load(&sr_reply_loop(c)->router->draining);
    respond_json(c, ready ? 200 : 503,
                 json_pack("{s:s, s:I, s:I, s:I, s:I}", "status", ready ? "ready" : "not ready",
                           "healthy_workers", (json_int_t)healthy, "total_workers",
                           (json_int_t)set->count, "healthy_prefill_workers", (json_int_t)prefill,
                           "healthy_decode_workers", (json_int_t)decode));
}

/* /v1/models of a fleet serving several models: each model a healthy
 * worker serves, in OpenAI's list shape; 503 when none is healthy. */
static void local_models(struct sr_reply *c, const struct sr_request *req)
{
    (void)req;
    struct sr_loop *l = sr_reply_loop(c);
    struct sr_worker_set *set = sr_loop_workers(l);
    json_t *data = json_array();
    json_int_t created = (json_int_t)l->router->started_wall;
    for (size_t p = 0; p < set->npools; p++) {
        const struct sr_worker_pool *pool = &set->pools[p];
        if (pool->model == NULL)
            continue;
        size_t healthy = 0;
        for (int r = 0; r < SR_ROLES; r++)
            healthy += routable(pool->role[r]);
        if (healthy == 0)
            continue;
        json_array_append_new(data, json_pack("{s:s, s:s, s:I, s:s}", "id", pool->model, "object",
                                              "model", "created", created, "owned_by", "sglang"));
    }
    if (json_array_size(data) == 0) {
        json_decref(data);
        sr_response_error(c, 503, "No models available: no worker is healthy");
        return;
    }
    respond_json(c, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void local_list_workers(struct sr_reply *c, const struct sr_request *req)
{
    (void)req;
    struct sr_loop *l = sr_reply_loop(c);
    struct sr_worker_set *set = sr_loop_workers(l);
    json_t *urls = json_array(), *workers = json_array();
    uint64_t now_ms = sr_breaker_now_ms();
    uint64_t max_age_ms = sr_config_load_max_age_ms(l->router->cfg);
    for (size_t i = 0; i < set->count; i++) {
        struct sr_worker *w = set->workers[i];
        json_array_append_new(urls, json_string(w->url));
        /* reported_*: what the worker says of itself (load_poll.h); -1: nothing. */
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                      "url", w->url, "health", sr_worker_health_name(sr_worker_health(w)),
                      "circuit_state", sr_breaker_state_name(sr_breaker_state(&w->breaker, now_ms)),
                      "circuit_opened", (json_int_t)sr_breaker_opened_total(&w->breaker),
                      "in_flight", (json_int_t)sr_worker_load(w), "pending_prefill_bytes",
                      (json_int_t)sr_worker_pending_prefill(w), "decode_tokens",
                      (json_int_t)sr_worker_decode_left(w), "processed",
                      (json_int_t)atomic_load(&w->processed), "failures",
                      (json_int_t)atomic_load(&w->failures), "tree_bytes",
                      (json_int_t)sr_policy_worker_tree_bytes(
                          sr_settings_role_policy(l->router->settings, w->role), w),
                      "reported_running", (json_int_t)atomic_load(&w->reported_running),
                      "reported_waiting", (json_int_t)atomic_load(&w->reported_waiting),
                      "reported_tokens", (json_int_t)atomic_load(&w->reported_tokens),
                      "external_load", (json_int_t)sr_worker_external_load(w, now_ms, max_age_ms));
        const char *model = sr_worker_model(w);
        json_object_set_new(o, "worker_type", json_string(sr_worker_role_name(w->role)));
        json_object_set_new(o, "model_id", model ? json_string(model) : json_null());
        json_object_set_new(o, "model_pinned", json_boolean(atomic_load(&w->model_pinned)));
        if (w->role == SR_ROLE_PREFILL)
            json_object_set_new(o, "bootstrap_port",
                                w->bootstrap_port == SR_BOOTSTRAP_NONE
                                    ? json_null()
                                    : json_integer(w->bootstrap_port));
        json_array_append_new(workers, o);
    }
    respond_json(c, 200, json_pack("{s:o, s:o}", "urls", urls, "workers", workers));
}

/* The value of ?name=, percent-decoded, into out (NUL-terminated). False
 * when absent, empty, too long, badly encoded, or when it decodes to NUL or
 * another control byte (which would cut or disguise the value). */
static bool query_param(const struct sr_request *req, const char *name, char *out, size_t cap)
{
    const char *q = req->query, *end = req->query ? req->query + req->query_len : NULL;
    size_t nlen = strlen(name);
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > nlen + 1 && memcmp(q, name, nlen) == 0 && q[nlen] == '=') {
            size_t n = 0;
            for (const char *p = q + nlen + 1; p < stop; p++) {
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
                if (n + 1 >= cap || (unsigned char)ch < 0x20 || ch == 0x7f)
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

static int error_status(int rc)
{
    return rc == SR_ERR_NOT_FOUND ? 404
           : rc == SR_ERR_EXISTS  ? 409
           : rc == SR_ERR_NOMEM   ? 500
                                  : 400;
}

/* Registers spec, or, for a worker registered with the same role, sets
 * the model spec names (an administrator's word: discovery keeps off it).
 * status: the success status to answer. */
static void register_worker(struct sr_reply *c, const struct sr_worker_spec *spec, int status)
{
    struct sr_router *r = sr_reply_loop(c)->router;
    const char *why = NULL, *bad = NULL;
    int rc = sr_registry_change_specs(r->registry, spec, 1, NULL, 0, &bad, &why);
    bool updated = false;
    if (rc == SR_ERR_EXISTS && spec->model) {
        struct sr_worker_set *set = sr_registry_acquire(r->registry);
        struct sr_worker *w = sr_worker_set_find(set, spec->url);
        bool same = w && w->role == spec->role &&
                    (spec->role != SR_ROLE_PREFILL || w->bootstrap_port == spec->bootstrap_port);
        sr_worker_set_release(set);
        if (same) {
            rc = sr_registry_set_model(r->registry, spec->url, spec->model, true, &why);
            updated = rc == 0;
        }
    }
    char msg[2600];
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "cannot add worker %s: %s", spec->url,
                 why ? why : sr_strerror(rc));
        sr_response_error(c, error_status(rc), msg);
        return;
    }
    snprintf(msg, sizeof(msg),
             updated ? "worker %s now serves model %s"
                     : "added %s worker %s; it receives traffic once healthy",
             updated ? spec->url : sr_worker_role_name(spec->role),
             updated ? spec->model : spec->url);
    respond_json(c, updated ? 200 : status,
                 json_pack("{s:s, s:s, s:s, s:s}", "status", updated ? "ok" : "accepted", "url",
                           spec->url, "worker_type", sr_worker_role_name(spec->role), "message",
                           msg));
}

/* /add_worker?url=URL[&model_id=M][&worker_type=T][&bootstrap_port=P|none]
 * and /remove_worker?url=URL. */
static void change_workers(struct sr_reply *c, const struct sr_request *req, bool add)
{
    struct sr_router *r = sr_reply_loop(c)->router;
    char url[2048], model[SR_MODEL_MAX + 1], type[16], port[16];
    if (!query_param(req, "url", url, sizeof(url))) {
        sr_response_error(c, 400,
                          "expected ?url=http://host:port (percent-encoded, no control bytes, at "
                          "most 2047 bytes)");
        return;
    }
    const char *why = NULL;
    if (add) {
        struct sr_worker_spec spec = {url, SR_ROLE_REGULAR, SR_BOOTSTRAP_NONE, NULL};
        if (query_param(req, "model_id", model, sizeof(model)))
            spec.model = model;
        if (query_param(req, "worker_type", type, sizeof(type)) &&
            !sr_worker_role_parse(type, strlen(type), &spec.role)) {
            sr_response_error(c, 400, "worker_type must be regular, prefill or decode");
            return;
        }
        if (query_param(req, "bootstrap_port", port, sizeof(port)) && strcmp(port, "none") != 0) {
            char *e;
            long v = strtol(port, &e, 10);
            if (*e != '\0' || v < 1 || v > 65535 || spec.role != SR_ROLE_PREFILL) {
                sr_response_error(c, 400,
                                  "bootstrap_port must be a port (1-65535) or none, and only "
                                  "for worker_type=prefill");
                return;
            }
            spec.bootstrap_port = (int)v;
        }
        register_worker(c, &spec, 200);
        return;
    }
    int rc = sr_registry_remove(r->registry, url, &why);
    char msg[2300];
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "cannot remove worker %s: %s", url, why ? why : sr_strerror(rc));
        sr_response_error(c, error_status(rc), msg);
        return;
    }
    snprintf(msg, sizeof(msg), "removed worker %s; requests in flight finish", url);
    respond_json(c, 200, json_pack("{s:s, s:s, s:s}", "status", "ok", "url", url, "message", msg));
}

/* POST /workers with SGLang's registration body: {"url", "worker_type",
 * "bootstrap_port", "model_id"} (other fields of SGLang's are accepted
 * and not used). 202, as SGLang answers: the worker gets traffic once
 * healthy. */
static void local_add_workers(struct sr_reply *c, const struct sr_request *req)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    const char *problem = NULL;
    struct sr_worker_spec spec = {NULL, SR_ROLE_REGULAR, SR_BOOTSTRAP_NONE, NULL};
    json_t *type = json_object_get(body, "worker_type"),
           *port = json_object_get(body, "bootstrap_port");
    json_t *model = json_object_get(body, "model_id");
    if (!json_is_object(body))
        problem = "the body must be a JSON object";
    else if (!json_is_string(json_object_get(body, "url")))
        problem = "\"url\" (a string) is required";
    else if (type && !json_is_null(type) &&
             (!json_is_string(type) ||
              !sr_worker_role_parse(json_string_value(type), json_string_length(type), &spec.role)))
        problem = "\"worker_type\" must be regular, prefill or decode";
    else if (model && !json_is_null(model) && !json_is_string(model))
        problem = "\"model_id\" must be a string";
    else if (port && !json_is_null(port) &&
             (!json_is_integer(port) || json_integer_value(port) < 1 ||
              json_integer_value(port) > 65535))
        problem = "\"bootstrap_port\" must be a port (1-65535) or null";
    else if (port && !json_is_null(port) && spec.role != SR_ROLE_PREFILL)
        problem = "\"bootstrap_port\" is for prefill workers only";
    if (problem) {
        json_decref(body);
        sr_response_error(c, 400, problem);
        return;
    }
    spec.url = json_string_value(json_object_get(body, "url"));
    spec.model = json_string_value(model);
    if (port && json_is_integer(port))
        spec.bootstrap_port = (int)json_integer_value(port);
    register_worker(c, &spec, 202);
    json_decref(body);
}

static void local_add_worker(struct sr_reply *c, const struct sr_request *req)
{
    change_workers(c, req, true);
}

static void local_remove_worker(struct sr_reply *c, const struct sr_request *req)
{
    change_workers(c, req, false);
}

/* ---- fan-out: one request to every worker, one aggregated answer ------- */

struct fanout_reply {
    struct sr_reply *reply;
    struct sr_fanout *fan;
    bool loads; /* /get_loads, else /flush_cache */
};

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

static void fanout_answer(void *arg, const struct sr_fanout_result *results, size_t n)
{
    struct fanout_reply *f = arg;
    struct sr_settings *settings = sr_reply_loop(f->reply)->router->settings;
    json_t *list = json_array();
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sr_fanout_result *res = &results[i];
        bool good = res->status >= 200 && res->status < 300;
        ok += good;
        /* A worker that emptied its cache: forget what we believed it held. */
        if (good && !f->loads)
            sr_settings_forget_worker(settings, res->worker);
        json_t *reply = res->body ? json_loadb(res->body, res->len, 0, NULL) : NULL;
        json_t *o = json_pack("{s:s, s:i}", "worker", res->worker->url, "status", res->status);
        if (f->loads)
            json_object_set_new(o, "load", json_integer(good ? load_of(reply) : -1));
        if (f->loads && reply)
            json_object_set(o, "reply", reply);
        if (!good)
            json_object_set_new(o, "error", json_string(res->why ? res->why : "failed"));
        json_decref(reply);
        json_array_append_new(list, o);
    }
    int status = ok == n ? 200 : f->loads ? 200 : 502;
    sr_reply_detach(f->reply);
    respond_json(f->reply, status,
                 json_pack("{s:s, s:o}", "status", ok == n ? "ok" : "partial", "workers", list));
    sr_free(f);
}

static void fanout_gone(void *arg)
{
    struct fanout_reply *f = arg;
    sr_fanout_cancel(f->fan);
    sr_free(f);
}

static void fanout(struct sr_reply *c, bool loads)
{
    struct sr_loop *l = sr_reply_loop(c);
    struct fanout_reply *f = sr_calloc(1, sizeof(*f));
    if (f == NULL) {
        sr_response_error(c, 500, "out of memory");
        return;
    }
    f->reply = c;
    f->loads = loads;
    f->fan = sr_fanout_start(l->router, l->base, sr_loop_workers(l), loads ? "GET" : "POST",
                             loads ? "/get_load" : "/flush_cache", fanout_answer, f);
    if (f->fan == NULL) {
        sr_free(f);
        sr_response_error(c, 500, "out of memory");
        return;
    }
    sr_reply_attach(c, f, fanout_gone);
}

static void local_get_loads(struct sr_reply *c, const struct sr_request *req)
{
    (void)req;
    fanout(c, true);
}

static void local_flush_cache(struct sr_reply *c, const struct sr_request *req)
{
    (void)req;
    fanout(c, false);
}

/* Each local route's handler; SR_LOCAL_NONE has none (404). */
static void (*const handlers[])(struct sr_reply *c, const struct sr_request *req) = {
    [SR_LOCAL_HEALTH] = local_health,
    [SR_LOCAL_READINESS] = local_readiness,
    [SR_LOCAL_GET_LOADS] = local_get_loads,
    [SR_LOCAL_FLUSH_CACHE] = local_flush_cache,
    [SR_LOCAL_LIST_WORKERS] = local_list_workers,
    [SR_LOCAL_ADD_WORKER] = local_add_worker,
    [SR_LOCAL_REMOVE_WORKER] = local_remove_worker,
    [SR_LOCAL_ADD_WORKERS] = local_add_workers,
    [SR_LOCAL_MODELS] = local_models,
};

void sr_local_route_handle(enum sr_local_route which, struct sr_reply *c,
                           const struct sr_request *req)
{
    if ((size_t)which < sizeof(handlers) / sizeof(handlers[0]) && handlers[which])
        handlers[which](c, req);
    else
        sr_response_error(c, 404, "no such route");
}
