/* grpc_health: grpc.health.v1 Check and Watch (see grpc_health.h). */
#include "grpc_health.h"

#include "grpc_wire.h"

#include "common/alloc.h"

#include "grpc/health/v1/health.pb-c.h"

#include <event2/event.h>
#include <sys/time.h>

#define WATCH_INTERVAL_US 500000

/* Queues one HealthCheckResponse (sr_grpc_call_send's result). */
static int send_status(struct sr_grpc_call *call, int status)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = status;
    return sr_grpc_call_send(call, &resp.base);
}

void sr_grpc_health_check(struct sr_grpc_call *call, const ProtobufCMessage *request,
                          sr_grpc_health_status_fn status, void *ctx)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)request;
    int s = status(ctx, req->service ? req->service : "");
    if (s < 0) {
        sr_grpc_call_finish(call, SR_GRPC_NOT_FOUND, "unknown service");
        return;
    }
    if (send_status(call, s) == 0)
        sr_grpc_call_finish(call, SR_GRPC_OK, NULL);
}

/* Watch: the status now, then every change. */
struct health_watch {
    struct sr_grpc_call *call;
    sr_grpc_health_status_fn status;
    void *ctx;
    struct event *timer;
    char *service;
    int last;
};

static void watch_free(void *arg)
{
    struct health_watch *w = arg;
    event_free(w->timer);
    sr_free(w->service);
    sr_free(w);
}

static void watch_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct health_watch *w = arg;
    int s = w->status(w->ctx, w->service);
    if (s < 0)
        s = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    if (s == w->last)
        return;
    w->last = s;
    if (send_status(w->call, s) != 0)
        watch_free(w);
}

void sr_grpc_health_watch(struct sr_grpc_call *call, const ProtobufCMessage *request,
                          sr_grpc_health_status_fn status, void *ctx)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)request;
    struct health_watch *w = sr_calloc(1, sizeof(*w));
    if (w == NULL || (w->service = sr_strdup(req->service ? req->service : "")) == NULL ||
        (w->timer = event_new(sr_grpc_call_base(call), -1, EV_PERSIST, watch_tick, w)) == NULL) {
        if (w)
            sr_free(w->service);
        sr_free(w);
        sr_grpc_call_finish(call, SR_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->call = call;
    w->status = status;
    w->ctx = ctx;
    w->last = -1;
    struct timeval tv = {0, WATCH_INTERVAL_US};
    evtimer_add(w->timer, &tv);
    sr_grpc_call_on_cancel(call, watch_free, w);
    watch_tick(-1, 0, w); /* the status at once */
}
