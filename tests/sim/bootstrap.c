/* bootstrap: the prefill role's bootstrap service (see bootstrap.h). */
#include "bootstrap.h"

#include "reply.h"
#include "server.h"

#include "common/alloc.h"
#include "common/log.h"

#include "net/h1_parser.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ROOM_PATH   "/sim/bootstrap/room/"
#define MAX_WAIT_MS 3600000L /* an hour: longer long polls are clamped */

/* One request waiting for its room. */
struct waiter {
    struct sr_sim_bootstrap *b;
    struct sr_sim_conn *conn;
    uint64_t room;
    long wait_ms;
    struct event *timer;
    struct waiter *prev, *next;
};

struct sr_sim_bootstrap {
    struct sr_sim *sim;
    struct sr_sim_rooms *rooms;
    struct waiter *waiters; /* few at a time: one per prompt in flight */
    uint32_t nwaiting;
};

static double now(const struct sr_sim_bootstrap *b)
{
    return sr_sim_engine_now(b->sim->engine);
}

struct sr_sim_bootstrap *sr_sim_bootstrap_new(struct sr_sim *sim)
{
    struct sr_sim_bootstrap *b = sr_calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->sim = sim;
    b->rooms =
        sr_sim_rooms_new(SR_SIM_BOOTSTRAP_MAX_ROOMS, sim->cfg->disaggregation_timeout_ms / 1000.0);
    if (b->rooms == NULL) {
        sr_free(b);
        return NULL;
    }
    return b;
}

static void waiter_free(struct waiter *w)
{
    struct sr_sim_bootstrap *b = w->b;
    if (w->prev)
        w->prev->next = w->next;
    else
        b->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    b->nwaiting--;
    if (w->timer)
        event_free(w->timer);
    sr_free(w);
}

void sr_sim_bootstrap_free(struct sr_sim_bootstrap *b)
{
    if (b == NULL)
        return;
    while (b->waiters) /* none once the connections are closed */
        waiter_free(b->waiters);
    sr_sim_rooms_free(b->rooms);
    sr_free(b);
}

static void answer_room(struct sr_sim_bootstrap *b, struct sr_sim_conn *c, uint64_t room,
                        const struct sr_sim_room_info *info)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"room\":%llu,\"tokens\":%u,\"cached_tokens\":%u}",
                     (unsigned long long)room, info->tokens, info->cached_tokens);
    b->sim->stats.rooms_served++;
    sr_sim_respond(c, 200, "application/json", body, (size_t)n);
}

void sr_sim_bootstrap_ready(struct sr_sim_bootstrap *b, uint64_t room,
                            const struct sr_sim_room_info *info)
{
    b->sim->stats.rooms_ready++;
    for (struct waiter *w = b->waiters; w; w = w->next) {
        if (w->room == room) { /* the first waiter takes it */
            answer_room(b, w->conn, room, info);
            waiter_free(w); /* the connection forgot it in answering */
            return;
        }
    }
    if (sr_sim_rooms_put(b->rooms, room, info, now(b)) != 0)
        sr_log_warn("bootstrap: out of memory keeping room %llu", (unsigned long long)room);
}

uint32_t sr_sim_bootstrap_rooms_held(const struct sr_sim_bootstrap *b)
{
    return sr_sim_rooms_count(b->rooms);
}

uint64_t sr_sim_bootstrap_rooms_expired(const struct sr_sim_bootstrap *b)
{
    return sr_sim_rooms_dropped(b->rooms);
}

uint32_t sr_sim_bootstrap_waiting(const struct sr_sim_bootstrap *b)
{
    return b->nwaiting;
}

/* ---- the long poll ------------------------------------------------------ */

static void cancel_waiter(void *arg)
{
    waiter_free(arg); /* the client went away */
}

static void on_wait_expired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct waiter *w = arg;
    char msg[160];
    snprintf(msg, sizeof(msg), "room %llu not ready within %ld ms", (unsigned long long)w->room,
             w->wait_ms);
    sr_sim_reply_error(w->conn, 408, msg); /* detaches the job */
    waiter_free(w);
}

/* Decimal digits only, within 64 bits. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* wait_ms=N in the query (other parameters ignored); 0 when absent. */
static bool parse_wait(const struct sr_h1_request *req, long *wait_ms)
{
    *wait_ms = 0;
    const char *q = req->query, *end = q ? q + req->query_len : NULL;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if (stop - q > 8 && memcmp(q, "wait_ms=", 8) == 0) {
            uint64_t v;
            if (!parse_u64(q + 8, (size_t)(stop - q - 8), &v))
                return false;
            *wait_ms = v > MAX_WAIT_MS ? MAX_WAIT_MS : (long)v;
        }
        q = amp ? amp + 1 : NULL;
    }
    return true;
}

static void on_room(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    struct sr_sim_bootstrap *b = sim->bootstrap;
    const size_t plen = strlen(ROOM_PATH);
    uint64_t room;
    long wait_ms;
    if (!parse_u64(req->path + plen, req->path_len - plen, &room) || !parse_wait(req, &wait_ms)) {
        sr_sim_reply_error(c, 400, "expected GET " ROOM_PATH "<room>?wait_ms=<ms>");
        return;
    }
    struct sr_sim_room_info info;
    if (sr_sim_rooms_take(b->rooms, room, now(b), &info)) {
        answer_room(b, c, room, &info);
        return;
    }
    if (wait_ms == 0) {
        char msg[80];
        snprintf(msg, sizeof(msg), "room %llu is not ready", (unsigned long long)room);
        sr_sim_reply_error(c, 404, msg);
        return;
    }
    struct waiter *w = sr_calloc(1, sizeof(*w));
    if (w == NULL) {
        sr_sim_reply_error(c, 500, "out of memory");
        return;
    }
    w->b = b;
    w->conn = c;
    w->room = room;
    w->wait_ms = wait_ms;
    w->next = b->waiters;
    if (b->waiters)
        b->waiters->prev = w;
    b->waiters = w;
    b->nwaiting++;
    w->timer = evtimer_new(sim->base, on_wait_expired, w);
    if (w->timer == NULL) {
        waiter_free(w);
        sr_sim_reply_error(c, 500, "out of memory");
        return;
    }
    struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000};
    evtimer_add(w->timer, &tv);
    sr_sim_conn_attach_job(c, w, cancel_waiter);
}

static void handle(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    const size_t plen = strlen(ROOM_PATH);
    bool get = strcmp(req->method, "GET") == 0;
    if (req->path_len > plen && memcmp(req->path, ROOM_PATH, plen) == 0) {
        if (get)
            on_room(sim, c, req);
        else
            sr_sim_reply_error(c, 405, "Method Not Allowed");
    } else if (req->path_len == 7 && memcmp(req->path, "/health", 7) == 0) {
        if (get)
            sr_sim_respond(c, 200, "text/plain", "", 0);
        else
            sr_sim_reply_error(c, 405, "Method Not Allowed");
    } else {
        sr_sim_reply_error(c, 404, "Not Found");
    }
}

const struct sr_sim_routes sr_sim_bootstrap_routes = {
    .request = handle,
    .error = sr_sim_reply_error,
};
