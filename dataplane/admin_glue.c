/* admin_glue: the admin API's hooks into the data plane (see admin_glue.h). */
#include "admin_glue.h"

#include "fanout.h"

#include "common/alloc.h"

#include <stdio.h>
#include <string.h>

static void totals(void *ctx, struct sr_admin_totals *out)
{
    struct sr_router *r = ctx;
    out->in_flight = atomic_load(&r->in_flight);
    out->queued = atomic_load(&r->queued);
    out->retries = atomic_load(&r->retries);
    out->draining = atomic_load(&r->draining);
}

struct flush {
    struct sr_router *router;
    struct sr_fanout *fan;
    sr_admin_flush_done done;
    void *arg;
};

static void flushed(void *arg, const struct sr_fanout_result *results, size_t n)
{
    struct flush *f = arg;
    const char **ok = sr_calloc(n + 1, sizeof(*ok));
    const char **bad = sr_calloc(n + 1, sizeof(*bad));
    char(*why)[400] = sr_calloc(n + 1, sizeof(*why));
    size_t nok = 0, nbad = 0;
    for (size_t i = 0; ok && bad && why && i < n; i++) {
        const struct sr_fanout_result *res = &results[i];
        if (res->status >= 200 && res->status < 300) {
            sr_settings_forget_worker(f->router->settings, res->worker);
            ok[nok++] = res->worker->url;
        } else {
            if (res->status)
                snprintf(why[nbad], sizeof(why[nbad]), "%s: HTTP %d", res->worker->url,
                         res->status);
            else
                snprintf(why[nbad], sizeof(why[nbad]), "%s: %s", res->worker->url, res->why);
            bad[nbad] = why[nbad];
            nbad++;
        }
    }
    f->done(f->arg, ok, nok, bad, nbad);
    sr_free(ok);
    sr_free(bad);
    sr_free(why);
    sr_free(f);
}

static void *flush_workers(void *ctx, struct event_base *base, struct sr_worker_set *set,
                           sr_admin_flush_done done, void *arg)
{
    struct flush *f = sr_calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->router = ctx;
    f->done = done;
    f->arg = arg;
    f->fan = sr_fanout_start(f->router, base, set, "POST", "/flush_cache", flushed, f);
    if (f->fan == NULL) {
        sr_free(f);
        return NULL;
    }
    return f;
}

static void cancel_flush(void *handle)
{
    struct flush *f = handle;
    sr_fanout_cancel(f->fan);
    sr_free(f);
}

struct sr_admin_hooks sr_admin_glue_hooks(struct sr_router *r)
{
    return (struct sr_admin_hooks){
        .ctx = r,
        .totals = totals,
        .flush_workers = flush_workers,
        .cancel_flush = cancel_flush,
    };
}
