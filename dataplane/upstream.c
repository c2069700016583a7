/* upstream: worker connections and their per-loop pools, on the one
 * HTTP/1.1 client (see upstream.h). */
#include "upstream.h"

#include "addr_book.h"
#include "loop.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "net/h1_client.h"

#include <stdint.h>
#include <string.h>

#define READ_CHUNK          (64 * 1024)
#define MAX_IDLE_PER_WORKER 512
#define IDLE_TIMEOUT_MS     (30 * 1000)
#define MAX_HEAD_BYTES      (64 * 1024)
#define MAX_HEADERS         128

struct sr_upstream {
    struct sr_pool *pool;
    struct sr_worker *worker; /* referenced while the connection lives */
    struct sr_h1_client *client;
    const struct sr_h1_client_handler *h; /* NULL while idle */
    void *ctx;
    bool idle; /* in the pool */
    struct sr_upstream *idle_prev, *idle_next;
};

struct pool_slot {
    struct sr_worker *worker;
    struct sr_upstream *idle;
    size_t count;
};

struct sr_pool {
    struct sr_loop *loop;
    struct pool_slot *slots; /* by worker id */
    size_t nslots;
    size_t idle_total;
    char scratch[READ_CHUNK]; /* where the loop's worker connections read */
};

struct sr_pool *sr_pool_new(struct sr_loop *l)
{
    struct sr_pool *p = sr_calloc(1, sizeof(*p));
    if (p != NULL)
        p->loop = l;
    return p;
}

static void idle_remove(struct sr_upstream *u)
{
    struct pool_slot *slot = &u->pool->slots[u->worker->id];
    if (u->idle_prev)
        u->idle_prev->idle_next = u->idle_next;
    else
        slot->idle = u->idle_next;
    if (u->idle_next)
        u->idle_next->idle_prev = u->idle_prev;
    u->idle_prev = u->idle_next = NULL;
    u->idle = false;
    slot->count--;
    u->pool->idle_total--;
}

/* Closes the connection (out of the pool if idle). Safe inside the
 * client's callbacks: the client frees itself when they return. */
static void up_close(struct sr_upstream *u)
{
    if (u->idle)
        idle_remove(u);
    sr_h1_client_free(u->client);
    sr_worker_release(u->worker);
    sr_free(u);
}

void sr_pool_free(struct sr_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nslots; i++)
        while (p->slots[i].idle)
            up_close(p->slots[i].idle);
    sr_free(p->slots);
    sr_free(p);
}

void sr_upstream_cancel(struct sr_upstream *u)
{
    up_close(u);
}

void sr_upstream_pause(struct sr_upstream *u, bool paused)
{
    sr_h1_client_pause(u->client, paused);
}

/* ---- the pool ----------------------------------------------------------- */

static struct pool_slot *slot_for(struct sr_pool *p, struct sr_worker *w)
{
    if (w->id >= p->nslots) {
        size_t old = p->nslots;
        if (sr_grow((void **)&p->slots, &p->nslots, w->id + 1, sizeof(*p->slots), 8, SIZE_MAX) != 0)
            return NULL;
        memset(p->slots + old, 0, (p->nslots - old) * sizeof(*p->slots));
    }
    struct pool_slot *slot = &p->slots[w->id];
    if (slot->worker != w) { /* the id belonged to a removed worker */
        while (slot->idle)
            up_close(slot->idle);
        slot->worker = w;
    }
    return slot;
}

/* The response is complete: keep the connection if it may be reused. */
static void pool_put(struct sr_upstream *u)
{
    struct sr_loop *l = u->pool->loop;
    struct pool_slot *slot = sr_h1_client_idle(u->client) ? slot_for(u->pool, u->worker) : NULL;
    if (slot == NULL || slot->count >= MAX_IDLE_PER_WORKER ||
        atomic_load_explicit(&u->worker->removed, memory_order_acquire) || l->draining) {
        up_close(u);
        return;
    }
    u->h = NULL;
    u->ctx = NULL;
    u->idle = true;
    u->idle_prev = NULL;
    u->idle_next = slot->idle;
    if (slot->idle)
        slot->idle->idle_prev = u;
    slot->idle = u;
    slot->count++;
    u->pool->idle_total++;
}

static struct sr_upstream *pool_take(struct sr_pool *p, struct sr_worker *w)
{
    struct pool_slot *slot = slot_for(p, w);
    if (slot == NULL || slot->idle == NULL)
        return NULL;
    struct sr_upstream *u = slot->idle;
    idle_remove(u);
    return u;
}

/* The worker closed an idle connection, or it idled out. */
static void on_idle_closed(void *owner, struct sr_h1_client *c)
{
    (void)c;
    up_close(owner);
}

/* ---- the client's handler --------------------------------------------------- */

static void on_head(void *ctx, const struct sr_h1_response *resp)
{
    struct sr_upstream *u = ctx;
    u->h->on_head(u->ctx, resp);
}

static void on_body(void *ctx, const char *data, size_t len)
{
    struct sr_upstream *u = ctx;
    u->h->on_body(u->ctx, data, len);
}

static void on_done(void *ctx)
{
    struct sr_upstream *u = ctx;
    const struct sr_h1_client_handler *h = u->h;
    void *hctx = u->ctx;
    pool_put(u);
    h->on_done(hctx);
}

static void on_error(void *ctx, const char *why, bool local)
{
    struct sr_upstream *u = ctx;
    const struct sr_h1_client_handler *h = u->h;
    void *hctx = u->ctx;
    up_close(u);
    h->on_error(hctx, why, local);
}

static const struct sr_h1_client_handler client_handler = {on_head, on_body, on_done, on_error};

/* ---- starting a request ------------------------------------------------------ */

static struct sr_upstream *new_upstream(struct sr_loop *l, struct sr_worker *w)
{
    struct sr_upstream *u = sr_calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->pool = l->pool;
    struct sockaddr_storage addr;
    socklen_t len = 0;
    bool known = sr_addr_book_get(l->router->addrs, w, &addr, &len);
    struct sr_h1_client_options opts = {
        .connect_timeout_ms = l->router->cfg->worker_connect_timeout_secs * 1000,
        .idle_timeout_ms = IDLE_TIMEOUT_MS,
        .limits = {MAX_HEAD_BYTES, MAX_HEADERS, SIZE_MAX},
        .scratch = l->pool->scratch,
        .scratch_len = sizeof(l->pool->scratch),
        .peer = "worker",
        .on_idle_closed = on_idle_closed,
        .owner = u,
    };
    u->client = sr_h1_client_new(l->base, known ? (struct sockaddr *)&addr : NULL, len, &opts);
    if (u->client == NULL) {
        sr_free(u);
        return NULL;
    }
    sr_worker_ref(w);
    u->worker = w;
    return u;
}

struct sr_upstream *sr_upstream_start(struct sr_loop *l, struct sr_worker *w,
                                      const struct sr_h1_client_request *req,
                                      const struct sr_h1_client_handler *h, void *ctx)
{
    struct sr_upstream *u = pool_take(l->pool, w);
    if (u == NULL && (u = new_upstream(l, w)) == NULL)
        return NULL;
    u->h = h;
    u->ctx = ctx;
    if (sr_h1_client_send(u->client, req, &client_handler, u) != 0) {
        up_close(u);
        return NULL;
    }
    return u;
}
