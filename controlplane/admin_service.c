/* admin_service: RouterAdmin (workers, config, stats, cache, replica sync),
 * and what grpc.health.v1 (grpc_health.h) reports for it (see
 * admin_service.h). */
#include "admin_service.h"

#include "config_pb.h"
#include "grpc_health.h"
#include "grpc_server.h"
#include "grpc_wire.h"
#include "sync_pb.h"
#include "workers_pb.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/tls_config.h"

#include "grpc/health/v1/health.pb-c.h"
#include "sglang/router/admin/v1/admin.pb-c.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

/* The generated names are long: PB(Worker) is the message type,
 * PB_INIT(WORKER) its initialiser. */
#define PB(name)      Sglang__Router__Admin__V1__##name
#define PB_INIT(name) SGLANG__ROUTER__ADMIN__V1__##name##__INIT
#define SERVICE       "/sglang.router.admin.v1.RouterAdmin/"
#define HEALTH        "/grpc.health.v1.Health/"

struct sr_admin {
    struct sr_registry *registry;
    struct sr_settings *settings;
    struct sr_admin_hooks hooks;
    struct sr_sync *sync; /* borrowed; NULL: none */
    uint64_t load_max_age_ms;
    struct sr_grpc_server *server;
};

/* ---- workers ------------------------------------------------------------------ */

/* A snapshot as protobuf Worker messages; the URLs are borrowed from the
 * snapshot, so it must outlive the messages. */
struct worker_list {
    PB(Worker) * items;
    PB(Worker) * *ptrs;
    size_t n;
};

static int worker_list_fill(const struct sr_admin *a, struct worker_list *wl,
                            const struct sr_worker_set *set)
{
    wl->n = set->count;
    wl->items = sr_calloc(set->count + 1, sizeof(*wl->items));
    wl->ptrs = sr_calloc(set->count + 1, sizeof(*wl->ptrs));
    if (wl->items == NULL || wl->ptrs == NULL)
        return SR_ERR_NOMEM;
    uint64_t now_ms = sr_breaker_now_ms();
    for (size_t i = 0; i < set->count; i++) {
        sr_workers_pb_worker(set->workers[i], now_ms, a->load_max_age_ms, &wl->items[i]);
        wl->ptrs[i] = &wl->items[i];
    }
    return 0;
}

static void worker_list_clear(struct worker_list *wl)
{
    sr_free(wl->items);
    sr_free(wl->ptrs);
}

static void list_workers(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    (void)request;
    struct sr_admin *a = ctx;
    struct sr_worker_set *set = sr_registry_acquire(a->registry);
    struct worker_list wl = {0};
    if (worker_list_fill(a, &wl, set) != 0) {
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        PB(ListWorkersResponse) resp = PB_INIT(LIST_WORKERS_RESPONSE);
        resp.n_workers = wl.n;
        resp.workers = wl.ptrs;
        sr_grpc_call_reply(call, &resp.base);
    }
    worker_list_clear(&wl);
    sr_worker_set_release(set);
}

/* URLs in `a` whose canonical form is not in `b` (borrowed from a). */
static size_t difference(const struct sr_worker_set *a, const struct sr_worker_set *b, char **out)
{
    size_t n = 0;
    for (size_t i = 0; i < a->count; i++) {
        bool found = false;
        for (size_t k = 0; k < b->count && !found; k++)
            found = a->workers[i] == b->workers[k];
        if (!found)
            out[n++] = (char *)a->workers[i]->url;
    }
    return n;
}

static int registry_status(int rc)
{
    switch (rc) {
    case SR_ERR_NOT_FOUND:
        return SR_GRPC_NOT_FOUND;
    case SR_ERR_EXISTS:
        return SR_GRPC_ALREADY_EXISTS;
    case SR_ERR_NOMEM:
        return SR_GRPC_RESOURCE_EXHAUSTED;
    default:
        return SR_GRPC_INVALID_ARGUMENT;
    }
}

enum change_kind { CHANGE_SET, CHANGE_ADD, CHANGE_REMOVE };

/* One registry step for the request's workers: 0, or the call finished
 * with the status and a message naming the field at fault. */
static int apply_change(struct sr_admin *a, struct sr_grpc_call *call, enum change_kind kind,
                        char **urls, size_t nurls, PB(WorkerSpec) * *specs, size_t nspecs)
{
    const char *bad = NULL, *why = NULL;
    char msg[600], field[48];
    int rc;
    if (kind == CHANGE_REMOVE) {
        rc = sr_registry_change(a->registry, NULL, 0, (const char *const *)urls, nurls, &bad, &why);
        if (rc != 0 && bad)
            snprintf(msg, sizeof(msg), "urls: %.300s: %s", bad, why ? why : sr_strerror(rc));
        else if (rc != 0)
            snprintf(msg, sizeof(msg), "urls: %s", why ? why : sr_strerror(rc));
    } else {
        struct sr_workers_pb w;
        snprintf(msg, sizeof(msg), "out of memory");
        rc = sr_workers_pb_specs(urls, nurls, specs, nspecs, &w, msg, sizeof(msg));
        bool checked = rc == 0;
        if (checked && kind == CHANGE_SET)
            rc = sr_registry_replace_specs(a->registry, w.specs, w.n, &why);
        else if (checked)
            rc = sr_registry_change_specs(a->registry, w.specs, w.n, NULL, 0, &bad, &why);
        if (checked && rc != 0) { /* the registry's refusal */
            sr_workers_pb_field(&w, bad, field, sizeof(field));
            if (bad)
                snprintf(msg, sizeof(msg), "%s: %.300s: %s", field, bad,
                         why ? why : sr_strerror(rc));
            else
                snprintf(msg, sizeof(msg), "%s: %s", field, why ? why : sr_strerror(rc));
        }
        sr_workers_pb_clear(&w);
    }
    if (rc != 0)
        sr_grpc_call_finish(call, registry_status(rc), msg);
    return rc;
}

/* SetWorkers, AddWorkers and RemoveWorkers: one registry step, then the
 * difference between the lists before and after, and the list after. */
static void change_workers(struct sr_admin *a, struct sr_grpc_call *call, enum change_kind kind,
                           char **urls, size_t nurls, PB(WorkerSpec) * *specs, size_t nspecs)
{
    struct sr_worker_set *before = sr_registry_acquire(a->registry);
    if (apply_change(a, call, kind, urls, nurls, specs, nspecs) != 0) {
        sr_worker_set_release(before);
        return;
    }
    struct sr_worker_set *after = sr_registry_acquire(a->registry);
    char **added = sr_calloc(after->count + 1, sizeof(*added));
    char **removed = sr_calloc(before->count + 1, sizeof(*removed));
    struct worker_list wl = {0};
    if (added == NULL || removed == NULL || worker_list_fill(a, &wl, after) != 0) {
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED,
                            "out of memory (the change was made)");
    } else {
        size_t nadded = difference(after, before, added);
        size_t nremoved = difference(before, after, removed);
        if (nadded || nremoved)
            sr_log_info("admin: workers +%zu -%zu, now %zu", nadded, nremoved, after->count);
        if (kind == CHANGE_SET) {
            PB(SetWorkersResponse) resp = PB_INIT(SET_WORKERS_RESPONSE);
            resp.n_added = nadded;
            resp.added = added;
            resp.n_removed = nremoved;
            resp.removed = removed;
            resp.n_workers = wl.n;
            resp.workers = wl.ptrs;
            sr_grpc_call_reply(call, &resp.base);
        } else if (kind == CHANGE_ADD) {
            PB(AddWorkersResponse) resp = PB_INIT(ADD_WORKERS_RESPONSE);
            resp.n_added = nadded;
            resp.added = added;
            resp.n_workers = wl.n;
            resp.workers = wl.ptrs;
            sr_grpc_call_reply(call, &resp.base);
        } else {
            PB(RemoveWorkersResponse) resp = PB_INIT(REMOVE_WORKERS_RESPONSE);
            resp.n_removed = nremoved;
            resp.removed = removed;
            resp.n_workers = wl.n;
            resp.workers = wl.ptrs;
            sr_grpc_call_reply(call, &resp.base);
        }
    }
    worker_list_clear(&wl);
    sr_free(added);
    sr_free(removed);
    sr_worker_set_release(after);
    sr_worker_set_release(before);
}

static void set_workers(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    const PB(SetWorkersRequest) *req = (const void *)request;
    change_workers(ctx, call, CHANGE_SET, req->urls, req->n_urls, req->workers, req->n_workers);
}

static void add_workers(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    const PB(AddWorkersRequest) *req = (const void *)request;
    if (req->n_urls + req->n_workers == 0) {
        sr_grpc_call_finish(call, SR_GRPC_INVALID_ARGUMENT,
                            "urls: at least one URL (or one of workers) is needed");
        return;
    }
    change_workers(ctx, call, CHANGE_ADD, req->urls, req->n_urls, req->workers, req->n_workers);
}

static void remove_workers(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    const PB(RemoveWorkersRequest) *req = (const void *)request;
    if (req->n_urls == 0) {
        sr_grpc_call_finish(call, SR_GRPC_INVALID_ARGUMENT, "urls: at least one URL is needed");
        return;
    }
    change_workers(ctx, call, CHANGE_REMOVE, req->urls, req->n_urls, NULL, 0);
}

/* SetWorkerModel: the model pinned, then the worker as it is now. */
static void set_worker_model(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    struct sr_admin *a = ctx;
    const PB(SetWorkerModelRequest) *req = (const void *)request;
    const char *why = NULL;
    char msg[600];
    if (req->url == NULL || req->model_id == NULL) {
        sr_grpc_call_finish(call, SR_GRPC_INVALID_ARGUMENT,
                            req->url == NULL ? "url: required" : "model_id: required");
        return;
    }
    int rc = sr_registry_set_model(a->registry, req->url, req->model_id, true, &why);
    if (rc != 0) {
        if (rc == SR_ERR_INVALID)
            snprintf(msg, sizeof(msg), "model_id: %s", why ? why : sr_strerror(rc));
        else
            snprintf(msg, sizeof(msg), "url: %.300s: %s", req->url, why ? why : sr_strerror(rc));
        sr_grpc_call_finish(call, registry_status(rc), msg);
        return;
    }
    struct sr_worker_set *set = sr_registry_acquire(a->registry);
    struct sr_worker *w = sr_worker_set_find(set, req->url);
    if (w == NULL) { /* removed in between */
        snprintf(msg, sizeof(msg), "url: %.300s: no such worker", req->url);
        sr_grpc_call_finish(call, SR_GRPC_NOT_FOUND, msg);
    } else {
        PB(Worker) item;
        sr_workers_pb_worker(w, sr_breaker_now_ms(), a->load_max_age_ms, &item);
        sr_log_info("admin: worker %s serves model %s", w->url, req->model_id);
        PB(SetWorkerModelResponse) resp = PB_INIT(SET_WORKER_MODEL_RESPONSE);
        resp.worker = &item;
        sr_grpc_call_reply(call, &resp.base);
    }
    sr_worker_set_release(set);
}

/* ---- config --------------------------------------------------------------------- */

/* GetConfig and UpdateConfig walk the option table: every row marked
 * runtime-changeable is a RouterConfig field (config_pb.h). */

static void reply_config(struct sr_admin *a, struct sr_grpc_call *call, bool update)
{
    struct sr_config cfg;
    if (sr_config_init(&cfg) != 0 || sr_settings_get(a->settings, &cfg) != 0) {
        sr_config_clear(&cfg);
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    PB(RouterConfig) msg = PB_INIT(ROUTER_CONFIG);
    sr_config_pb_from_config(&cfg, &msg);
    if (update) {
        PB(UpdateConfigResponse) resp = PB_INIT(UPDATE_CONFIG_RESPONSE);
        resp.config = &msg;
        sr_grpc_call_reply(call, &resp.base);
    } else {
        PB(GetConfigResponse) resp = PB_INIT(GET_CONFIG_RESPONSE);
        resp.config = &msg;
        sr_grpc_call_reply(call, &resp.base);
    }
    sr_config_clear(&cfg);
}

static void get_config(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    (void)request;
    reply_config(ctx, call, false);
}

/* The most rows a RouterConfig can set (every field is one row). */
#define MAX_CHANGES 64

static void update_config(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    struct sr_admin *a = ctx;
    const PB(UpdateConfigRequest) *req = (const void *)request;
    struct sr_settings_change changes[MAX_CHANGES];
    char values[MAX_CHANGES][40];
    const char *field_of[MAX_CHANGES];
    size_t n = 0;
    for (const struct sr_option *o = sr_config_options(); req->config && o->name; o++) {
        const char *value = NULL;
        if (o->runtime == NULL || n == MAX_CHANGES ||
            (value = sr_config_pb_text(req->config, o, true, values[n], sizeof(values[n]))) == NULL)
            continue;
        changes[n] = (struct sr_settings_change){o->name, value};
        field_of[n++] = o->runtime->proto_field;
    }
    char err[300], msg[400];
    size_t bad = 0;
    int rc = sr_settings_update(a->settings, changes, n, &bad, err, sizeof(err));
    if (rc == SR_ERR_NOMEM) {
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "%s: %s", field_of[bad], err);
        sr_grpc_call_finish(call, SR_GRPC_INVALID_ARGUMENT, msg);
        return;
    }
    if (n > 0) {
        sr_log_info("admin: %zu setting(s) changed, %s first", n, changes[0].option);
        if (a->hooks.settings_changed)
            a->hooks.settings_changed(a->hooks.ctx);
    }
    reply_config(a, call, true);
}

/* ---- stats ---------------------------------------------------------------------- */

struct tree_stats {
    PB(GetTreeStatsResponse) resp;
    PB(TreeStats) * items;
    PB(TreeStats) * *ptrs;
};

static int tree_stats_fill(struct sr_admin *a, const struct sr_worker_set *set,
                           struct tree_stats *ts)
{
    ts->resp = (PB(GetTreeStatsResponse))PB_INIT(GET_TREE_STATS_RESPONSE);
    ts->items = sr_calloc(set->count + 1, sizeof(*ts->items));
    ts->ptrs = sr_calloc(set->count + 1, sizeof(*ts->ptrs));
    if (ts->items == NULL || ts->ptrs == NULL)
        return SR_ERR_NOMEM;
    struct sr_radix_stats st = {0};
    bool has_tree = sr_settings_tree_stats(a->settings, &st);
    for (size_t i = 0; i < set->count; i++) {
        PB(TreeStats) item = PB_INIT(TREE_STATS);
        struct sr_worker *w = set->workers[i];
        item.url = (char *)w->url;
        item.has_text_bytes = true;
        /* Each worker in the tree of its role's policy. */
        item.text_bytes =
            sr_policy_worker_tree_bytes(sr_settings_role_policy(a->settings, w->role), w);
        ts->items[i] = item;
        ts->ptrs[i] = &ts->items[i];
    }
    ts->resp.has_has_tree = ts->resp.has_total_text_bytes = ts->resp.has_total_nodes = true;
    ts->resp.has_memory_bytes = true;
    ts->resp.has_tree = has_tree;
    ts->resp.n_workers = set->count;
    ts->resp.workers = ts->ptrs;
    ts->resp.total_text_bytes = st.text_bytes;
    ts->resp.total_nodes = st.node_count;
    ts->resp.memory_bytes = st.memory_bytes;
    return 0;
}

static void tree_stats_clear(struct tree_stats *ts)
{
    sr_free(ts->items);
    sr_free(ts->ptrs);
}

static void get_tree_stats(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    (void)request;
    struct sr_admin *a = ctx;
    struct sr_worker_set *set = sr_registry_acquire(a->registry);
    struct tree_stats ts = {0};
    if (tree_stats_fill(a, set, &ts) != 0)
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    else
        sr_grpc_call_reply(call, &ts.resp.base);
    tree_stats_clear(&ts);
    sr_worker_set_release(set);
}

static void queue_stats_fill(struct sr_admin *a, const struct worker_list *wl,
                             PB(GetQueueStatsResponse) * resp)
{
    struct sr_admin_totals t = {0};
    a->hooks.totals(a->hooks.ctx, &t);
    *resp = (PB(GetQueueStatsResponse))PB_INIT(GET_QUEUE_STATS_RESPONSE);
    resp->n_workers = wl->n;
    resp->workers = wl->ptrs;
    resp->has_in_flight = resp->has_queued = resp->has_retries = true;
    resp->has_concurrency_limit = true;
    resp->in_flight = t.in_flight;
    resp->queued = t.queued;
    resp->concurrency_limit = t.concurrency_limit;
    resp->retries = t.retries;
}

static void get_queue_stats(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    (void)request;
    struct sr_admin *a = ctx;
    struct sr_worker_set *set = sr_registry_acquire(a->registry);
    struct worker_list wl = {0};
    if (worker_list_fill(a, &wl, set) != 0) {
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        PB(GetQueueStatsResponse) resp;
        queue_stats_fill(a, &wl, &resp);
        sr_grpc_call_reply(call, &resp.base);
    }
    worker_list_clear(&wl);
    sr_worker_set_release(set);
}

/* ---- replica sync ------------------------------------------------------------ */

/* GetSync and SetSync: the status, as a response of either kind. */
static void reply_sync(struct sr_admin *a, struct sr_grpc_call *call, bool set)
{
    struct sr_sync_pb_status m;
    if (sr_sync_pb_status_fill(a->sync, &m) != 0) {
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED,
                            set ? "out of memory (the settings were applied)" : "out of memory");
    } else if (set) {
        PB(SetSyncResponse) resp = PB_INIT(SET_SYNC_RESPONSE);
        resp.status = &m.msg;
        sr_grpc_call_reply(call, &resp.base);
    } else {
        PB(GetSyncResponse) resp = PB_INIT(GET_SYNC_RESPONSE);
        resp.status = &m.msg;
        sr_grpc_call_reply(call, &resp.base);
    }
    sr_sync_pb_status_clear(&m);
}

static void get_sync(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    (void)request;
    reply_sync(ctx, call, false);
}

/* SetSync: the settings (no settings at all is no URL: off) applied, then
 * the status. Credentials are neither logged nor answered. */
static void set_sync(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    struct sr_admin *a = ctx;
    const PB(SyncSettings) *in = ((const PB(SetSyncRequest) *)(const void *)request)->settings;
    if (a->sync == NULL) {
        sr_grpc_call_finish(call, SR_GRPC_FAILED_PRECONDITION, "this router has no replica sync");
        return;
    }
    struct sr_sync_settings set;
    sr_sync_pb_settings(in, &set);
    char err[400], msg[500];
    int rc = sr_sync_apply(a->sync, &set, err, sizeof(err));
    if (rc == SR_ERR_NOMEM) {
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (rc != 0) {
        sr_sync_pb_error(err, msg, sizeof(msg));
        sr_grpc_call_finish(call, SR_GRPC_INVALID_ARGUMENT, msg);
        return;
    }
    if (set.nurls == 0)
        sr_log_info("admin: replica sync turned off");
    else
        sr_log_info("admin: replica sync set: group %s, %zu NATS server(s)",
                    set.group && *set.group ? set.group : "default", set.nurls);
    reply_sync(a, call, true);
}

/* WatchStats: one snapshot now, then one per interval, until cancelled. */
struct watch {
    struct sr_admin *admin;
    struct sr_grpc_call *call;
    struct event *timer;
};

#define WATCH_MAX_BACKLOG (1024 * 1024)

static void watch_free(void *arg)
{
    struct watch *w = arg;
    event_free(w->timer);
    sr_free(w);
}

static void watch_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct watch *w = arg;
    if (sr_grpc_call_backlog(w->call) > WATCH_MAX_BACKLOG)
        return; /* a reader that does not keep up skips snapshots */
    struct sr_worker_set *set = sr_registry_acquire(w->admin->registry);
    struct worker_list wl = {0};
    struct tree_stats ts = {0};
    struct sr_sync_pb_status sm;
    int rc = sr_sync_pb_status_fill(w->admin->sync, &sm);
    if (rc == 0)
        rc = worker_list_fill(w->admin, &wl, set);
    if (rc == 0)
        rc = tree_stats_fill(w->admin, set, &ts);
    if (rc == 0) {
        PB(GetQueueStatsResponse) queues;
        queue_stats_fill(w->admin, &wl, &queues);
        struct timeval now;
        gettimeofday(&now, NULL);
        PB(StatsSnapshot) snap = PB_INIT(STATS_SNAPSHOT);
        snap.has_unix_ms = true;
        snap.unix_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_usec / 1000;
        snap.queues = &queues;
        snap.trees = &ts.resp;
        snap.sync = &sm.msg;
        rc = sr_grpc_call_send(w->call, &snap.base);
    } else {
        sr_grpc_call_finish(w->call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        rc = -1;
    }
    sr_sync_pb_status_clear(&sm);
    tree_stats_clear(&ts);
    worker_list_clear(&wl);
    sr_worker_set_release(set);
    if (rc != 0) /* the call is over: so is the watch */
        watch_free(w);
}

static void watch_stats(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    const PB(WatchStatsRequest) *req = (const void *)request;
    uint32_t ms = req->has_interval_ms && req->interval_ms ? req->interval_ms : 1000;
    if (ms < 100) {
        sr_grpc_call_finish(call, SR_GRPC_INVALID_ARGUMENT, "interval_ms: at least 100");
        return;
    }
    struct watch *w = sr_calloc(1, sizeof(*w));
    if (w == NULL ||
        (w->timer = event_new(sr_grpc_call_base(call), -1, EV_PERSIST, watch_tick, w)) == NULL) {
        sr_free(w);
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->admin = ctx;
    w->call = call;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(w->timer, &tv);
    sr_grpc_call_on_cancel(call, watch_free, w);
    watch_tick(-1, 0, w); /* the first snapshot at once */
}

/* ---- cache -------------------------------------------------------------------- */

static void evict_now(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    (void)request;
    struct sr_admin *a = ctx;
    PB(EvictNowResponse) resp = PB_INIT(EVICT_NOW_RESPONSE);
    resp.has_evicted_bytes = true;
    resp.evicted_bytes = sr_settings_maintain(a->settings);
    sr_grpc_call_reply(call, &resp.base);
}

struct flush {
    struct sr_admin *admin;
    struct sr_grpc_call *call;
    void *handle;
};

static void flush_cancelled(void *arg)
{
    struct flush *f = arg;
    f->admin->hooks.cancel_flush(f->handle);
    sr_free(f);
}

static void flush_done(void *arg, const char *const *flushed, size_t nflushed,
                       const char *const *failed, size_t nfailed)
{
    struct flush *f = arg;
    sr_grpc_call_on_cancel(f->call, NULL, NULL);
    PB(FlushCacheResponse) resp = PB_INIT(FLUSH_CACHE_RESPONSE);
    resp.n_flushed = nflushed;
    resp.flushed = (char **)flushed;
    resp.n_failed = nfailed;
    resp.failed = (char **)failed;
    sr_grpc_call_reply(f->call, &resp.base);
    sr_free(f);
}

static void flush_cache(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    struct sr_admin *a = ctx;
    const PB(FlushCacheRequest) *req = (const void *)request;
    sr_settings_forget_all(a->settings);
    if (!(req->has_workers && req->workers)) {
        PB(FlushCacheResponse) resp = PB_INIT(FLUSH_CACHE_RESPONSE);
        sr_grpc_call_reply(call, &resp.base);
        return;
    }
    struct flush *f = sr_calloc(1, sizeof(*f));
    struct sr_worker_set *set = sr_registry_acquire(a->registry);
    if (f != NULL) {
        f->admin = a;
        f->call = call;
        f->handle =
            a->hooks.flush_workers(a->hooks.ctx, sr_grpc_call_base(call), set, flush_done, f);
    }
    sr_worker_set_release(set);
    if (f == NULL || f->handle == NULL) {
        sr_free(f);
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    sr_grpc_call_on_cancel(call, flush_cancelled, f);
}

/* ---- grpc.health.v1 ------------------------------------------------------------- */

/* The router as a whole ("") and RouterAdmin serve until a drain starts. */
static int serving_status(void *ctx, const char *service)
{
    struct sr_admin *a = ctx;
    if (service[0] && strcmp(service, "sglang.router.admin.v1.RouterAdmin") != 0)
        return -1;
    struct sr_admin_totals t = {0};
    a->hooks.totals(a->hooks.ctx, &t);
    return t.draining ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
                      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
}

static void health_check(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    sr_grpc_health_check(call, request, serving_status, ctx);
}

static void health_watch(void *ctx, struct sr_grpc_call *call, const ProtobufCMessage *request)
{
    sr_grpc_health_watch(call, request, serving_status, ctx);
}

/* ---- the method table and the server ------------------------------------------- */

#define IN(name) &sglang__router__admin__v1__##name##__descriptor
static const struct sr_grpc_method methods[] = {
    {SERVICE "ListWorkers", IN(list_workers_request), false, list_workers},
    {SERVICE "SetWorkers", IN(set_workers_request), false, set_workers},
    {SERVICE "AddWorkers", IN(add_workers_request), false, add_workers},
    {SERVICE "RemoveWorkers", IN(remove_workers_request), false, remove_workers},
    {SERVICE "SetWorkerModel", IN(set_worker_model_request), false, set_worker_model},
    {SERVICE "GetConfig", IN(get_config_request), false, get_config},
    {SERVICE "UpdateConfig", IN(update_config_request), false, update_config},
    {SERVICE "GetTreeStats", IN(get_tree_stats_request), false, get_tree_stats},
    {SERVICE "GetQueueStats", IN(get_queue_stats_request), false, get_queue_stats},
    {SERVICE "WatchStats", IN(watch_stats_request), false, watch_stats},
    {SERVICE "EvictNow", IN(evict_now_request), false, evict_now},
    {SERVICE "FlushCache", IN(flush_cache_request), false, flush_cache},
    {SERVICE "GetSync", IN(get_sync_request), false, get_sync},
    {SERVICE "SetSync", IN(set_sync_request), false, set_sync},
    {HEALTH "Check", &grpc__health__v1__health_check_request__descriptor, true, health_check},
    {HEALTH "Watch", &grpc__health__v1__health_check_request__descriptor, true, health_watch},
};

/* Every method of the generated service descriptor has a handler here (a
 * new RPC in the proto without one fails the first admin start loudly). */
static bool table_complete(void)
{
    const ProtobufCServiceDescriptor *d = &sglang__router__admin__v1__router_admin__descriptor;
    for (unsigned i = 0; i < d->n_methods; i++) {
        char path[128];
        snprintf(path, sizeof(path), SERVICE "%s", d->methods[i].name);
        bool found = false;
        for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]) && !found; k++)
            found = strcmp(methods[k].path, path) == 0 && methods[k].input == d->methods[i].input;
        if (!found)
            return false;
    }
    return true;
}

static bool is_loopback(const char *host)
{
    if (strcmp(host, "localhost") == 0)
        return true;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

struct sr_admin *sr_admin_start(const struct sr_admin_config *cfg, struct sr_registry *registry,
                                struct sr_settings *settings, const struct sr_admin_hooks *hooks,
                                char *err, size_t errlen)
{
    if (!table_complete()) {
        snprintf(err, errlen, "admin API: a RouterAdmin method has no handler");
        return NULL;
    }
    char why_fields[300];
    if (sr_config_pb_check(why_fields, sizeof(why_fields)) != 0) {
        snprintf(err, errlen, "admin API: the option table and RouterConfig disagree: %s",
                 why_fields);
        return NULL;
    }
    if (!is_loopback(cfg->host) && cfg->token == NULL && cfg->tls_ca == NULL &&
        !cfg->allow_insecure) {
        snprintf(err, errlen,
                 "--admin-host %s is not a loopback address: set --admin-token-file (or "
                 "--admin-token) or client certificates (--admin-tls-ca-path), or "
                 "--admin-allow-insecure to serve it unauthenticated",
                 cfg->host);
        return NULL;
    }
    if ((cfg->tls_cert || cfg->tls_key || cfg->tls_ca) && !(cfg->tls_cert && cfg->tls_key)) {
        snprintf(err, errlen, "admin TLS needs --admin-tls-cert-path and --admin-tls-key-path");
        return NULL;
    }
    SSL_CTX *tls = NULL;
    if (cfg->tls_cert) {
        struct sr_tls_files files = {.cert = cfg->tls_cert,
                                     .key = cfg->tls_key,
                                     .ca = cfg->tls_ca,
                                     .require_client_cert = cfg->tls_ca != NULL};
        char why[400];
        tls = sr_tls_server_ctx(&files, why, sizeof(why));
        if (tls == NULL) {
            snprintf(err, errlen, "admin TLS: %s", why);
            return NULL;
        }
    }
    struct sr_admin *a = sr_calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        SSL_CTX_free(tls);
        return NULL;
    }
    a->registry = registry;
    a->settings = settings;
    a->hooks = *hooks;
    a->sync = cfg->sync;
    a->load_max_age_ms = cfg->load_max_age_ms;
    struct sr_grpc_server_config sc = {
        .host = cfg->host,
        .port = cfg->port,
        .token = cfg->token,
        .max_message = cfg->max_message,
        .max_streams = 100,
        .max_connections = 256,
        .stop_grace_ms = 2000,
        .tls = tls,
    };
    a->server =
        sr_grpc_server_new(&sc, methods, sizeof(methods) / sizeof(methods[0]), a, err, errlen);
    SSL_CTX_free(tls); /* the server holds its own reference */
    if (a->server == NULL || sr_grpc_server_start(a->server) != 0) {
        if (a->server)
            snprintf(err, errlen, "cannot start the admin thread");
        sr_grpc_server_free(a->server);
        sr_free(a);
        return NULL;
    }
    return a;
}

int sr_admin_port(const struct sr_admin *a)
{
    return sr_grpc_server_port(a->server);
}

void sr_admin_stop(struct sr_admin *a)
{
    if (a == NULL)
        return;
    sr_grpc_server_stop(a->server);
    sr_grpc_server_free(a->server);
    sr_free(a);
}
