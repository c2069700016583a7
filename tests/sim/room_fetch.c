/* room_fetch: the decode role's bootstrap client (see room_fetch.h). */
#include "room_fetch.h"

#include "common/alloc.h"

#include "net/h1_client.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <event2/dns.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct idle {
    struct sr_h1_client *client;
    struct sockaddr_storage addr;
    socklen_t len;
};

struct sr_sim_fetcher {
    struct event_base *base;
    struct evdns_base *dns; /* made on the first name to resolve */
    struct idle idle[SR_SIM_FETCH_MAX_IDLE];
    size_t nidle;
    struct sr_sim_fetch *running;
};

/* A name resolution's link to its fetch: evdns calls back exactly once,
 * possibly after the fetch was cancelled (fetch NULL then) or from inside
 * evdns_getaddrinfo() (calling: the answer is kept for the caller). */
struct dns_ctx {
    struct sr_sim_fetch *fetch;
    bool calling, answered;
    int result;
    struct sockaddr_storage addr;
    socklen_t len;
};

struct sr_sim_fetch {
    struct sr_sim_fetcher *f;
    struct sr_sim_fetch *prev, *next; /* f->running */
    char host[256];
    int port;
    uint64_t room;
    long wait_ms;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct event *start; /* begins from the loop, never inside sr_sim_fetch_room */
    struct dns_ctx *dns;
    struct evdns_getaddrinfo_request *dns_req;
    struct sr_h1_client *client;
    char request[512];
    size_t request_len;
    int status;
    char body[1024];
    size_t body_len;
    sr_sim_fetch_cb cb;
    void *ctx;
};

static void fetch_free(struct sr_sim_fetch *fetch)
{
    struct sr_sim_fetcher *f = fetch->f;
    if (fetch->prev)
        fetch->prev->next = fetch->next;
    else
        f->running = fetch->next;
    if (fetch->next)
        fetch->next->prev = fetch->prev;
    if (fetch->dns) {
        fetch->dns->fetch = NULL; /* evdns frees it when it calls back */
        evdns_getaddrinfo_cancel(fetch->dns_req);
    }
    sr_h1_client_free(fetch->client); /* closes: the service drops the wait */
    if (fetch->start)
        event_free(fetch->start);
    sr_free(fetch);
}

static void finish(struct sr_sim_fetch *fetch, int status, uint32_t tokens, uint32_t cached,
                   const char *why)
{
    struct sr_sim_fetch_result r = {status, tokens, cached, why};
    fetch->cb(fetch->ctx, &r);
    fetch_free(fetch);
}

/* ---- the pool of kept-alive connections --------------------------------- */

static void on_idle_closed(void *owner, struct sr_h1_client *c)
{
    struct sr_sim_fetcher *f = owner;
    for (size_t i = 0; i < f->nidle; i++) {
        if (f->idle[i].client == c) {
            f->idle[i] = f->idle[--f->nidle];
            break;
        }
    }
    sr_h1_client_free(c);
}

static struct sr_h1_client *take_client(struct sr_sim_fetcher *f, const struct sockaddr *addr,
                                        socklen_t len)
{
    for (size_t i = 0; i < f->nidle; i++) {
        if (f->idle[i].len == len && memcmp(&f->idle[i].addr, addr, len) == 0) {
            struct sr_h1_client *c = f->idle[i].client;
            f->idle[i] = f->idle[--f->nidle];
            return c;
        }
    }
    struct sr_h1_client_options opts = {
        .idle_timeout_ms = 60000,
        .limits = {16 * 1024, 64, 4096},
        .peer = "bootstrap service",
        .on_idle_closed = on_idle_closed,
        .owner = f,
    };
    return sr_h1_client_new(f->base, addr, len, &opts);
}

/* The fetch's connection is done with: kept for the next fetch to the
 * same address when it stays open, else closed. */
static void release_client(struct sr_sim_fetch *fetch)
{
    struct sr_sim_fetcher *f = fetch->f;
    struct sr_h1_client *c = fetch->client;
    fetch->client = NULL;
    if (sr_h1_client_idle(c) && f->nidle < SR_SIM_FETCH_MAX_IDLE) {
        struct idle *slot = &f->idle[f->nidle++];
        slot->client = c;
        slot->addr = fetch->addr;
        slot->len = fetch->addr_len;
    } else {
        sr_h1_client_free(c);
    }
}

/* ---- the request -------------------------------------------------------- */

static void on_head(void *ctx, const struct sr_h1_response *resp)
{
    struct sr_sim_fetch *fetch = ctx;
    fetch->status = resp->status;
}

static void on_body(void *ctx, const char *data, size_t len)
{
    struct sr_sim_fetch *fetch = ctx;
    size_t room = sizeof(fetch->body) - 1 - fetch->body_len;
    if (len > room)
        len = room; /* an answer is small; the rest is not needed */
    memcpy(fetch->body + fetch->body_len, data, len);
    fetch->body_len += len;
}

static bool get_u32(const cJSON *o, const char *name, uint32_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0)
        return false;
    *out = (uint32_t)v->valuedouble;
    return true;
}

static void on_done(void *ctx)
{
    struct sr_sim_fetch *fetch = ctx;
    release_client(fetch);
    fetch->body[fetch->body_len] = '\0';
    if (fetch->status != 200) {
        char why[96];
        snprintf(why, sizeof(why), "the bootstrap service answered %d", fetch->status);
        finish(fetch, fetch->status, 0, 0, why);
        return;
    }
    cJSON *root = cJSON_ParseWithLength(fetch->body, fetch->body_len);
    uint32_t tokens = 0, cached = 0;
    bool ok = root && get_u32(root, "tokens", &tokens) && get_u32(root, "cached_tokens", &cached);
    cJSON_Delete(root);
    if (ok)
        finish(fetch, 200, tokens, cached, NULL);
    else
        finish(fetch, 0, 0, 0, "the bootstrap service answered something else than a room");
}

static void on_error(void *ctx, const char *why, bool local)
{
    (void)local;
    struct sr_sim_fetch *fetch = ctx;
    sr_h1_client_free(fetch->client);
    fetch->client = NULL;
    finish(fetch, 0, 0, 0, why);
}

static const struct sr_h1_client_handler handler = {on_head, on_body, on_done, on_error};

static void send_request(struct sr_sim_fetch *fetch)
{
    struct sr_sim_fetcher *f = fetch->f;
    fetch->client = take_client(f, (const struct sockaddr *)&fetch->addr, fetch->addr_len);
    if (fetch->client == NULL) {
        finish(fetch, 0, 0, 0, "out of memory");
        return;
    }
    bool v6 = strchr(fetch->host, ':') != NULL;
    int n = snprintf(fetch->request, sizeof(fetch->request),
                     "GET /sim/bootstrap/room/%llu?wait_ms=%ld HTTP/1.1\r\nHost: %s%s%s:%d\r\n"
                     "User-Agent: sglang-worker-sim\r\n\r\n",
                     (unsigned long long)fetch->room, fetch->wait_ms, v6 ? "[" : "", fetch->host,
                     v6 ? "]" : "", fetch->port);
    fetch->request_len = n > 0 && (size_t)n < sizeof(fetch->request) ? (size_t)n : 0;
    struct sr_h1_client_request req = {fetch->request, fetch->request_len, NULL, 0};
    sr_h1_client_send(fetch->client, &req, &handler, fetch); /* failures come to on_error */
}

/* ---- addresses ---------------------------------------------------------- */

static bool numeric_address(struct sr_sim_fetch *fetch)
{
    memset(&fetch->addr, 0, sizeof(fetch->addr));
    struct sockaddr_in *in = (struct sockaddr_in *)&fetch->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&fetch->addr;
    if (evutil_inet_pton(AF_INET, fetch->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)fetch->port);
        fetch->addr_len = sizeof(*in);
        return true;
    }
    if (evutil_inet_pton(AF_INET6, fetch->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)fetch->port);
        fetch->addr_len = sizeof(*in6);
        return true;
    }
    return false;
}

static void resolved(struct sr_sim_fetch *fetch, int result, const struct sockaddr_storage *addr,
                     socklen_t len)
{
    if (result != 0) {
        char why[320];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", fetch->host,
                 evutil_gai_strerror(result));
        finish(fetch, 0, 0, 0, why);
        return;
    }
    memcpy(&fetch->addr, addr, len);
    fetch->addr_len = len;
    send_request(fetch);
}

static void on_dns(int result, struct evutil_addrinfo *res, void *arg)
{
    struct dns_ctx *d = arg;
    /* IPv4 first: a name like localhost has both, and a worker listening
     * on 127.0.0.1 is more common than one on ::1 or on both */
    const struct evutil_addrinfo *pick = res;
    for (const struct evutil_addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    }
    if (result == 0 && (pick == NULL || pick->ai_addrlen > sizeof(d->addr)))
        result = EVUTIL_EAI_FAIL;
    if (result == 0) {
        memset(&d->addr, 0, sizeof(d->addr));
        memcpy(&d->addr, pick->ai_addr, pick->ai_addrlen);
        d->len = (socklen_t)pick->ai_addrlen;
    }
    if (res)
        evutil_freeaddrinfo(res);
    d->result = result;
    d->answered = true;
    if (d->calling)
        return; /* begin() takes it from here */
    struct sr_sim_fetch *fetch = d->fetch;
    if (fetch) {
        fetch->dns = NULL;
        fetch->dns_req = NULL;
        resolved(fetch, d->result, &d->addr, d->len);
    }
    sr_free(d);
}

static void resolve(struct sr_sim_fetch *fetch)
{
    struct sr_sim_fetcher *f = fetch->f;
    if (f->dns == NULL)
        f->dns = evdns_base_new(f->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                             EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    struct dns_ctx *d = f->dns ? sr_calloc(1, sizeof(*d)) : NULL;
    if (d == NULL) {
        finish(fetch, 0, 0, 0, "cannot start the resolver");
        return;
    }
    d->fetch = fetch;
    d->calling = true;
    char port[8];
    snprintf(port, sizeof(port), "%d", fetch->port);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(f->dns, fetch->host, port, &hints, on_dns, d);
    d->calling = false;
    if (d->answered) { /* from /etc/hosts, at once */
        int result = d->result;
        struct sockaddr_storage addr = d->addr;
        socklen_t len = d->len;
        sr_free(d);
        resolved(fetch, result, &addr, len);
        return;
    }
    if (req == NULL) { /* evdns promises a callback; do not wait for one that never comes */
        d->fetch = NULL;
        finish(fetch, 0, 0, 0, "cannot start resolving");
        return;
    }
    fetch->dns = d;
    fetch->dns_req = req;
}

static void begin(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_sim_fetch *fetch = arg;
    if (numeric_address(fetch))
        send_request(fetch);
    else
        resolve(fetch);
}

/* ---- the API -------------------------------------------------------------- */

struct sr_sim_fetcher *sr_sim_fetcher_new(struct event_base *base)
{
    struct sr_sim_fetcher *f = sr_calloc(1, sizeof(*f));
    if (f)
        f->base = base;
    return f;
}

void sr_sim_fetcher_free(struct sr_sim_fetcher *f)
{
    if (f == NULL)
        return;
    while (f->running)
        fetch_free(f->running);
    for (size_t i = 0; i < f->nidle; i++)
        sr_h1_client_free(f->idle[i].client);
    if (f->dns)
        evdns_base_free(f->dns, 1); /* pending resolutions call back, cancelled */
    sr_free(f);
}

struct sr_sim_fetch *sr_sim_fetch_room(struct sr_sim_fetcher *f, const char *host, int port,
                                       uint64_t room, long wait_ms, sr_sim_fetch_cb cb, void *ctx)
{
    struct sr_sim_fetch *fetch = sr_calloc(1, sizeof(*fetch));
    if (fetch == NULL)
        return NULL;
    fetch->f = f;
    fetch->next = f->running;
    if (f->running)
        f->running->prev = fetch;
    f->running = fetch;
    /* [v6] as a router writes it: the brackets are the URL's, not the address's */
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len >= sizeof(fetch->host))
        len = sizeof(fetch->host) - 1;
    memcpy(fetch->host, host, len);
    fetch->port = port;
    fetch->room = room;
    fetch->wait_ms = wait_ms;
    fetch->cb = cb;
    fetch->ctx = ctx;
    fetch->start = evtimer_new(f->base, begin, fetch);
    if (fetch->start == NULL) {
        fetch_free(fetch);
        return NULL;
    }
    event_active(fetch->start, EV_TIMEOUT, 1);
    return fetch;
}

void sr_sim_fetch_cancel(struct sr_sim_fetch *fetch)
{
    if (fetch)
        fetch_free(fetch);
}
