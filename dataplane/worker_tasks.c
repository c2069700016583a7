/* worker_tasks: one periodic task per registry worker (see worker_tasks.h). */
#include "worker_tasks.h"

#include "addr_book.h"

#include "common/alloc.h"
#include "common/err.h"

#include <stdio.h>

struct sr_worker_tasks {
    struct sr_router *router;
    struct event_base *base;
    const struct sr_worker_tasks_def *def;
    void *owner;
    struct event *sync;
    uint64_t version; /* the registry's, last followed; 0: follow at the next tick */
    struct sr_worker_task *list;
};

static void task_free(struct sr_worker_task *t)
{
    if (t->running)
        sr_fetch_cancel(t->running);
    if (t->timer)
        event_free(t->timer);
    sr_worker_release(t->worker);
    sr_free(t);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_worker_task *t = arg;
    t->tasks->def->run(t);
}

static struct sr_worker_task *task_new(struct sr_worker_tasks *ts, struct sr_worker *w)
{
    struct sr_worker_task *t = sr_calloc(1, ts->def->task_size);
    if (t == NULL)
        return NULL;
    t->tasks = ts;
    sr_worker_ref(w);
    t->worker = w;
    t->timer = evtimer_new(ts->base, on_timer, t);
    if (t->timer == NULL) {
        task_free(t);
        return NULL;
    }
    return t;
}

/* Follows the registry: a task for each new worker (run at once), none
 * for removed ones. */
static void on_sync(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_worker_tasks *ts = arg;
    if (ts->def->tick)
        ts->def->tick(ts->owner);
    uint64_t v = sr_registry_version(ts->router->registry);
    if (v == ts->version && ts->version != 0)
        return;
    struct sr_worker_set *set = sr_registry_acquire(ts->router->registry);
    if (set == NULL)
        return;
    ts->version = v;
    struct sr_worker_task **tp = &ts->list;
    while (*tp) {
        struct sr_worker_task *t = *tp;
        bool listed = false;
        for (size_t i = 0; i < set->count && !listed; i++)
            listed = set->workers[i] == t->worker;
        if (listed) {
            tp = &t->next;
            continue;
        }
        *tp = t->next;
        task_free(t);
    }
    for (size_t i = 0; i < set->count; i++) {
        bool known = false;
        for (struct sr_worker_task *t = ts->list; t && !known; t = t->next)
            known = t->worker == set->workers[i];
        if (known)
            continue;
        struct sr_worker_task *t = task_new(ts, set->workers[i]);
        if (t == NULL) {
            ts->version = 0; /* retried at the next tick */
            continue;
        }
        t->next = ts->list;
        ts->list = t;
        event_active(t->timer, EV_TIMEOUT, 1);
    }
    sr_worker_set_release(set);
}

struct sr_worker_tasks *sr_worker_tasks_new(struct sr_router *r, struct event_base *base,
                                            const struct sr_worker_tasks_def *def, void *owner)
{
    struct sr_worker_tasks *ts = sr_calloc(1, sizeof(*ts));
    if (ts == NULL)
        return NULL;
    ts->router = r;
    ts->base = base;
    ts->def = def;
    ts->owner = owner;
    ts->sync = event_new(base, -1, EV_PERSIST, on_sync, ts);
    if (ts->sync == NULL) {
        sr_free(ts);
        return NULL;
    }
    struct timeval tv = {0, 100 * 1000};
    event_add(ts->sync, &tv);
    event_active(ts->sync, EV_TIMEOUT, 1);
    return ts;
}

void sr_worker_tasks_free(struct sr_worker_tasks *ts)
{
    if (ts == NULL)
        return;
    while (ts->list) {
        struct sr_worker_task *t = ts->list;
        ts->list = t->next;
        task_free(t);
    }
    event_free(ts->sync);
    sr_free(ts);
}

void *sr_worker_tasks_owner(const struct sr_worker_tasks *ts)
{
    return ts->owner;
}

struct sr_router *sr_worker_tasks_router(const struct sr_worker_tasks *ts)
{
    return ts->router;
}

struct sr_worker_task *sr_worker_tasks_list(struct sr_worker_tasks *ts)
{
    return ts->list;
}

void sr_worker_task_after(struct sr_worker_task *t, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t->timer, &tv);
}

int sr_worker_task_get(struct sr_worker_task *t, const char *path, long timeout_ms, size_t max_body,
                       sr_fetch_cb cb)
{
    struct sr_worker_tasks *ts = t->tasks;
    struct sr_worker *w = t->worker;
    struct sockaddr_storage addr;
    socklen_t alen;
    if (!sr_addr_book_get(ts->router->addrs, w, &addr, &alen))
        return SR_ERR_NOT_FOUND;
    char host[300], target[1024];
    sr_url_authority(&w->parsed, host, sizeof(host));
    snprintf(target, sizeof(target), "%s%s", w->parsed.base_path, path);
    struct sr_fetch_request req = {
        .addr = (struct sockaddr *)&addr,
        .addr_len = alen,
        .host = host,
        .method = "GET",
        .path = target,
        .timeout_ms = timeout_ms,
        .max_body = max_body,
    };
    t->running = sr_fetch(ts->base, &req, cb, t);
    return t->running ? 0 : SR_ERR_NOMEM;
}
