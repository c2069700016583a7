/* admin_glue: the data plane's totals and worker cache flush (see admin_glue.h). */
#include "admin_glue.h"

#include "fanout.h"
#include "loop.h"
#include "pipeline.h"

#include "common/alloc.h"

#include <stdio.h>
#include <string.h>

void sr_admin_glue_totals(struct sr_router *r, struct sr_router_totals *out)
{
    out->in_flight = atomic_load(&r->in_flight);
    out->queued = atomic_load(&r->queued);
    out->concurrency_limit = sr_pipeline_limit_in_force(r);
    out->retries = atomic_load(&r->retries);
    out->draining = atomic_load(&r->draining);
}

void sr_admin_glue_settings_changed(struct sr_router *r)
{
    for (size_t i = 0; i < r->nloops; i++)
        sr_loop_wake(r->loops[i]); /* a raised limit starts queued requests */
}

struct sr_admin_glue_flush {
    struct sr_router *router;
    struct sr_fanout *fan;
    sr_admin_glue_flush_done done;
    void *arg;
};

static void flushed(void *arg, const struct sr_fanout_result *results, size_t n)
{
    struct sr_admin_glue_flush *f = arg;
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

struct sr_admin_glue_flush *sr_admin_glue_flush(struct sr_router *r, struct event_base *base,
                                                struct sr_worker_set *set,
                                                sr_admin_glue_flush_done done, void *arg)
{
    struct sr_admin_glue_flush *f = sr_calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->router = r;
    f->done = done;
    f->arg = arg;
    f->fan = sr_fanout_start(r, base, set, "POST", "/flush_cache", flushed, f);
    if (f->fan == NULL) {
        sr_free(f);
        return NULL;
    }
    return f;
}

void sr_admin_glue_flush_cancel(struct sr_admin_glue_flush *f)
{
    sr_fanout_cancel(f->fan);
    sr_free(f);
}
