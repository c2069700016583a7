/* model_discovery: the model each worker serves (see model_discovery.h). */
#include "model_discovery.h"

#include "worker_tasks.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/registry.h"
#include "common/worker_spec.h"

#include <jansson.h>
#include <string.h>

#define MODELS_MAX_BODY (256 * 1024)

struct ask {
    struct sr_worker_task task; /* first: worker_tasks.h */
    bool asking_info;           /* the request in flight is /get_model_info */
    bool warned;                /* one log line per failing episode */
};

struct sr_model_discovery {
    struct sr_worker_tasks *tasks;
};

static bool copy_id(const json_t *v, char *out, size_t cap)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (s == NULL || n >= cap || !sr_model_name_valid(s, n))
        return false;
    memcpy(out, s, n + 1);
    return true;
}

bool sr_model_from_models_list(const char *body, size_t len, char *out, size_t cap)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *first = json_array_get(json_object_get(root, "data"), 0);
    bool ok = copy_id(json_object_get(first, "id"), out, cap);
    json_decref(root);
    return ok;
}

bool sr_model_from_model_info(const char *body, size_t len, char *out, size_t cap)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    bool ok = copy_id(json_object_get(root, "model_path"), out, cap);
    json_decref(root);
    return ok;
}

static bool start(struct ask *a, bool info);

static void learnt(struct ask *a, const char *model)
{
    struct sr_router *r = sr_worker_tasks_router(a->task.tasks);
    struct sr_worker *w = a->task.worker;
    const char *had = sr_worker_model(w), *why = NULL;
    if (had == NULL || strcmp(had, model) != 0) {
        int rc = sr_registry_set_model(r->registry, w->url, model, false, &why);
        if (rc == 0 && !atomic_load(&w->model_pinned))
            sr_log_info("worker %s serves model %s", w->url, model);
        else if (rc != 0 && rc != SR_ERR_NOT_FOUND)
            sr_log_warn("worker %s: model %s not recorded: %s", w->url, model,
                        why ? why : sr_strerror(rc));
    }
    a->warned = false;
    sr_worker_task_after(&a->task, SR_MODEL_RECHECK_MS);
}

static void failed(struct ask *a, const char *why)
{
    if (!a->warned)
        sr_log_warn("worker %s: cannot tell which model it serves (%s); asking again",
                    a->task.worker->url, why);
    a->warned = true;
    sr_worker_task_after(&a->task, SR_MODEL_RETRY_MS);
}

static void on_result(void *ctx, int status, const char *body, size_t len, const char *why)
{
    struct ask *a = ctx;
    a->task.running = NULL;
    char model[SR_MODEL_MAX + 1];
    bool info = a->asking_info;
    if (status == 200 && (info ? sr_model_from_model_info(body, len, model, sizeof(model))
                               : sr_model_from_models_list(body, len, model, sizeof(model)))) {
        learnt(a, model);
        return;
    }
    if (status > 0 && !info) { /* answered, but not with a model list: the other route */
        if (!start(a, true))
            failed(a, "out of memory");
        return;
    }
    failed(a, status == 0  ? (why ? why : "no answer")
              : status < 0 ? "not sent"
                           : "neither /v1/models nor /get_model_info names a model");
}

/* false when out of memory. */
static bool start(struct ask *a, bool info)
{
    a->asking_info = info;
    struct sr_router *r = sr_worker_tasks_router(a->task.tasks);
    int rc =
        sr_worker_task_get(&a->task, info ? "/get_model_info" : "/v1/models",
                           r->cfg->health_check_timeout_secs * 1000, MODELS_MAX_BODY, on_result);
    if (rc == SR_ERR_NOT_FOUND)
        sr_worker_task_after(&a->task, SR_MODEL_RETRY_MS);
    return rc != SR_ERR_NOMEM;
}

static void ask_worker(struct sr_worker_task *t)
{
    struct ask *a = (struct ask *)t;
    struct sr_worker *w = t->worker;
    if (w->parsed.tls || atomic_load(&w->model_pinned) || !sr_worker_routable(w)) {
        sr_worker_task_after(t, w->parsed.tls ? SR_MODEL_RECHECK_MS : 500);
        return;
    }
    if (!start(a, false))
        failed(a, "out of memory");
}

static const struct sr_worker_tasks_def asks = {
    .task_size = sizeof(struct ask),
    .run = ask_worker,
};

struct sr_model_discovery *sr_model_discovery_new(struct sr_router *r, struct event_base *base)
{
    struct sr_model_discovery *d = sr_calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->tasks = sr_worker_tasks_new(r, base, &asks, d);
    if (d->tasks == NULL) {
        sr_free(d);
        return NULL;
    }
    return d;
}

void sr_model_discovery_free(struct sr_model_discovery *d)
{
    if (d == NULL)
        return;
    sr_worker_tasks_free(d->tasks);
    sr_free(d);
}
