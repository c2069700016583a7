/* link: the replica sync's NATS connection on its own thread (see link.h). */
#include "link.h"

#include "common/alloc.h"
#include "common/breaker.h"
#include "common/err.h"
#include "common/log.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* The adapter's functions are defined in its header (not static): this is
 * the one file that includes it. Its callbacks ignore some parameters. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nats/adapters/libevent.h>
#pragma GCC diagnostic pop

#define MAX_URLS       16
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS   5000
#define REFUSED_MS     10000
#define CONNECT_MS     2000
/* on_kick runs this long after the first kick: what is placed meanwhile
 * leaves in the same message (fewer wake-ups and messages under load, at
 * most this much later for peers). */
#define KICK_GATHER_US 2000

/* An owned copy of struct sr_sync_settings. */
struct wanted {
    char **urls;
    size_t nurls;
    char *group, *token, *user, *password, *ca, *cert, *key;
};

struct sr_link {
    struct sr_link_handlers h;
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct event *tick, *wake, *kick;

    pthread_mutex_t lock; /* want, gen, last_error, servers */
    struct wanted want;
    unsigned gen;
    char *last_error;

    /* The link thread's own (no lock): the settings of the connection. */
    struct wanted have;
    unsigned have_gen;
    uint64_t next_try_ms;
    unsigned retry_ms;
    bool libnats_open;

    /* The connection: read-locked to publish, write-locked to replace. */
    pthread_rwlock_t conn_lock;
    natsConnection *nc;
    natsSubscription *sub_state, *sub_snapshot, *sub_inbox;
    char inbox[128];
    char subj_state[160], subj_snapshot[160];

    atomic_int state;
    atomic_bool closed; /* libnats closed the connection by itself */
    atomic_size_t max_payload;
    atomic_bool stopping;
};

static void wipe(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        sr_free(s);
    }
}

static void wanted_clear(struct wanted *w)
{
    for (size_t i = 0; i < w->nurls; i++)
        wipe(w->urls[i]);
    sr_free(w->urls);
    sr_free(w->group);
    wipe(w->token);
    wipe(w->user);
    wipe(w->password);
    wipe(w->ca);
    sr_free(w->cert);
    wipe(w->key);
    memset(w, 0, sizeof(*w));
}

static int dup_opt(char **out, const char *s)
{
    *out = NULL;
    if (s == NULL || *s == '\0')
        return 0;
    return (*out = sr_strdup(s)) ? 0 : SR_ERR_NOMEM;
}

static int wanted_copy(struct wanted *w, const struct sr_sync_settings *set)
{
    memset(w, 0, sizeof(*w));
    if (set == NULL || set->nurls == 0)
        return 0;
    if ((w->urls = sr_calloc(set->nurls, sizeof(char *))) == NULL)
        return SR_ERR_NOMEM;
    for (; w->nurls < set->nurls; w->nurls++)
        if ((w->urls[w->nurls] = sr_strdup(set->urls[w->nurls])) == NULL)
            goto fail;
    if (dup_opt(&w->group, set->group && *set->group ? set->group : "default") ||
        dup_opt(&w->token, set->token) || dup_opt(&w->user, set->user) ||
        dup_opt(&w->password, set->password) || dup_opt(&w->ca, set->tls_ca_pem) ||
        dup_opt(&w->cert, set->tls_cert_pem) || dup_opt(&w->key, set->tls_key_pem))
        goto fail;
    return 0;
fail:
    wanted_clear(w);
    return SR_ERR_NOMEM;
}

/* The URL without user information: "nats://u:p@h:4222" -> "nats://h:4222". */
static char *redact(const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@');
    if (at == NULL)
        return sr_strdup(url);
    size_t head = (size_t)(host - url);
    char *out = sr_malloc(head + strlen(at + 1) + 1);
    if (out != NULL) {
        memcpy(out, url, head);
        strcpy(out + head, at + 1);
    }
    return out;
}

static bool group_ok(const char *g)
{
    size_t n = strlen(g);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = g[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool set_(const char *s)
{
    return s != NULL && *s != '\0';
}

int sr_link_check(const struct sr_sync_settings *set, char *err, size_t errlen)
{
    if (set->nurls > MAX_URLS) {
        snprintf(err, errlen, "--sync-nats-url: at most %d servers", MAX_URLS);
        return SR_ERR_INVALID;
    }
    for (size_t i = 0; i < set->nurls; i++) {
        const char *u = set->urls[i];
        const char *host = strstr(u, "://");
        bool scheme = host && ((host - u == 4 && strncmp(u, "nats", 4) == 0) ||
                               (host - u == 3 && strncmp(u, "tls", 3) == 0));
        host = host ? host + 3 : u;
        if (strchr(host, '@'))
            host = strchr(host, '@') + 1;
        if (!scheme || *host == '\0' || *host == ':' || strpbrk(u, " \t\r\n,") != NULL) {
            char *shown = redact(u);
            snprintf(err, errlen,
                     "--sync-nats-url: not a NATS server URL: '%s' (nats://HOST:PORT or "
                     "tls://HOST:PORT)",
                     shown ? shown : "?");
            sr_free(shown);
            return SR_ERR_INVALID;
        }
    }
    if (set->group && *set->group && !group_ok(set->group)) {
        snprintf(err, errlen,
                 "--sync-group: '%s' is not a group name (1 to 64 letters, digits, - and _)",
                 set->group);
        return SR_ERR_INVALID;
    }
    if (set_(set->token) && (set_(set->user) || set_(set->password))) {
        snprintf(err, errlen, "--sync-nats-token: give a token or a user and password, not both");
        return SR_ERR_INVALID;
    }
    if (set_(set->password) != set_(set->user)) {
        snprintf(err, errlen, "--sync-nats-user: a NATS user and its password go together");
        return SR_ERR_INVALID;
    }
    if (set_(set->tls_cert_pem) != set_(set->tls_key_pem)) {
        snprintf(err, errlen, "--sync-nats-tls-cert: a client certificate and its key go together");
        return SR_ERR_INVALID;
    }
    return 0;
}

/* ---- libnats callbacks (its threads) ----------------------------------- */

static void on_state_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    (void)nc;
    (void)sub;
    struct sr_link *l = arg;
    l->h.on_state(l->h.ctx, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static void on_snapshot_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    (void)nc;
    (void)sub;
    struct sr_link *l = arg;
    l->h.on_snapshot_request(l->h.ctx, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                             natsMsg_GetReply(msg));
    natsMsg_Destroy(msg);
}

static void on_inbox_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    (void)nc;
    (void)sub;
    struct sr_link *l = arg;
    l->h.on_snapshot_chunk(l->h.ctx, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

/* libnats calls a connection's handlers on a thread of its own, possibly
 * after teardown() left the connection: those of a connection that is not
 * the link's any more are ignored (a late "closed" stopped the link from
 * ever connecting again). */
static bool current(struct sr_link *l, natsConnection *nc)
{
    pthread_rwlock_rdlock(&l->conn_lock);
    bool same = l->nc == nc;
    pthread_rwlock_unlock(&l->conn_lock);
    return same;
}

static void on_disconnected(natsConnection *nc, void *arg)
{
    struct sr_link *l = arg;
    if (!current(l, nc))
        return;
    atomic_store(&l->state, SR_SYNC_DOWN);
    sr_log_warn("sync: lost the NATS connection; routing carries on from this router's own "
                "view while libnats reconnects");
}

static void on_reconnected(natsConnection *nc, void *arg)
{
    struct sr_link *l = arg;
    if (!current(l, nc))
        return;
    atomic_store(&l->state, SR_SYNC_UP);
    sr_log_info("sync: reconnected to NATS; asking a peer for a snapshot");
    l->h.on_up(l->h.ctx);
}

static void on_closed(natsConnection *nc, void *arg)
{
    struct sr_link *l = arg;
    if (!current(l, nc))
        return;
    atomic_store(&l->state, SR_SYNC_DOWN);
    atomic_store(&l->closed, true);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *arg)
{
    (void)nc;
    (void)sub;
    (void)arg;
    sr_log_warn("sync: NATS: %s", natsStatus_GetText(err));
}

/* ---- the link thread ---------------------------------------------------- */

static void set_error(struct sr_link *l, const char *text)
{
    char *copy = text ? sr_strdup(text) : NULL;
    pthread_mutex_lock(&l->lock);
    sr_free(l->last_error);
    l->last_error = copy;
    pthread_mutex_unlock(&l->lock);
}

static void teardown(struct sr_link *l)
{
    pthread_rwlock_wrlock(&l->conn_lock);
    natsConnection *nc = l->nc;
    natsSubscription *subs[3] = {l->sub_state, l->sub_snapshot, l->sub_inbox};
    l->nc = NULL;
    l->sub_state = l->sub_snapshot = l->sub_inbox = NULL;
    pthread_rwlock_unlock(&l->conn_lock);
    if (nc == NULL)
        return;
    for (int i = 0; i < 3; i++)
        if (subs[i] != NULL) {
            natsSubscription_Unsubscribe(subs[i]);
            natsSubscription_Destroy(subs[i]);
        }
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    atomic_store(&l->closed, false);
}

static natsStatus make_options(struct sr_link *l, natsOptions **out)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    const struct wanted *w = &l->have;
    bool tls = w->ca || w->cert;
    for (size_t i = 0; i < w->nurls; i++)
        tls |= strncmp(w->urls[i], "tls://", 6) == 0;
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, (const char **)w->urls, (int)w->nurls);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, l->h.name);
    if (s == NATS_OK)
        s = natsOptions_SetNoEcho(o, true);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, CONNECT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(o, 5000);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, l);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, l);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, l);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, on_error, l);
    if (s == NATS_OK && w->token)
        s = natsOptions_SetToken(o, w->token);
    if (s == NATS_OK && w->user)
        s = natsOptions_SetUserInfo(o, w->user, w->password);
    if (s == NATS_OK && tls)
        s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK && w->ca)
        s = natsOptions_SetCATrustedCertificates(o, w->ca);
    if (s == NATS_OK && w->cert)
        s = natsOptions_SetCertificatesChain(o, w->cert, w->key);
    if (s == NATS_OK)
        s = natsOptions_SetEventLoop(o, l->base, natsLibevent_Attach, natsLibevent_Read,
                                     natsLibevent_Write, natsLibevent_Detach);
    if (s != NATS_OK) {
        natsOptions_Destroy(o);
        o = NULL;
    }
    *out = o;
    return s;
}

static natsStatus subscribe(struct sr_link *l, natsConnection *nc)
{
    natsInbox *inbox = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
        snprintf(l->inbox, sizeof(l->inbox), "%s", (const char *)inbox);
        natsInbox_Destroy(inbox);
        snprintf(l->subj_state, sizeof(l->subj_state), "sglang-router.sync.%s.state",
                 l->have.group);
        snprintf(l->subj_snapshot, sizeof(l->subj_snapshot), "sglang-router.sync.%s.snapshot",
                 l->have.group);
        s = natsConnection_Subscribe(&l->sub_state, nc, l->subj_state, on_state_msg, l);
    }
    if (s == NATS_OK)
        s = natsConnection_QueueSubscribe(&l->sub_snapshot, nc, l->subj_snapshot, "snapshot",
                                          on_snapshot_msg, l);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&l->sub_inbox, nc, l->inbox, on_inbox_msg, l);
    /* Placements come in bursts: room for a few seconds of them. */
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(l->sub_state, 1 << 20, 512 << 20);
    return s;
}

/* One connection attempt (blocking for at most CONNECT_MS). */
static void try_connect(struct sr_link *l, uint64_t now)
{
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    l->libnats_open = true;
    natsStatus s = make_options(l, &opts);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    if (s == NATS_OK) {
        pthread_rwlock_wrlock(&l->conn_lock);
        l->nc = nc;
        s = subscribe(l, nc);
        pthread_rwlock_unlock(&l->conn_lock);
        if (s != NATS_OK)
            teardown(l);
    }
    if (s == NATS_OK) {
        atomic_store(&l->max_payload, (size_t)natsConnection_GetMaxPayload(nc));
        atomic_store(&l->state, SR_SYNC_UP);
        set_error(l, NULL);
        l->retry_ms = RETRY_FIRST_MS;
        sr_log_info("sync: joined group %s on NATS as %s", l->have.group, l->h.name);
        l->h.on_up(l->h.ctx);
        return;
    }
    const char *detail = nats_GetLastError(NULL);
    const char *where = detail ? strstr(detail, "): ") : NULL;
    if (detail && detail[0] == '(' && where) /* "(conn.c:1905): why": the why */
        detail = where + 3;
    char why[256];
    snprintf(why, sizeof(why), "%s%s%s", natsStatus_GetText(s), detail ? ": " : "",
             detail ? detail : "");
    bool refused = s == NATS_CONNECTION_AUTH_FAILED || strstr(why, "uthoriz") != NULL;
    /* A server that rejects the client's certificate closes the connection
     * right after the handshake: libnats reports a protocol error, a reset
     * or a closed connection, depending on timing. Anything but "nobody
     * listens" gets the hint when TLS is configured. */
    bool tls_hint = !refused && (l->have.ca || l->have.cert) && s != NATS_NO_SERVER;
    enum sr_sync_state was = atomic_exchange(&l->state, refused ? SR_SYNC_REFUSED : SR_SYNC_DOWN);
    unsigned wait = refused ? REFUSED_MS : l->retry_ms;
    if (was != (refused ? SR_SYNC_REFUSED : SR_SYNC_DOWN))
        sr_log_warn("sync: cannot join NATS: %s%s; routing carries on from this router's own "
                    "view; retrying every %u s",
                    why,
                    refused    ? " (check --sync-nats-token / --sync-nats-user)"
                    : tls_hint ? " (the TLS handshake or the server's check of the client "
                                 "certificate failed? check --sync-nats-tls-*)"
                               : "",
                    wait / 1000);
    set_error(l, why);
    l->next_try_ms = now + wait;
    if (!refused && l->retry_ms < RETRY_MAX_MS)
        l->retry_ms *= 2;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_link *l = arg;
    if (atomic_load(&l->stopping)) {
        event_base_loopbreak(l->base);
        return;
    }
    uint64_t now = sr_breaker_now_ms();
    pthread_mutex_lock(&l->lock);
    bool changed = l->gen != l->have_gen;
    struct wanted next = {0};
    int rc = changed ? wanted_copy(&next,
                                   &(struct sr_sync_settings){
                                       .urls = (const char *const *)l->want.urls,
                                       .nurls = l->want.nurls,
                                       .group = l->want.group,
                                       .token = l->want.token,
                                       .user = l->want.user,
                                       .password = l->want.password,
                                       .tls_ca_pem = l->want.ca,
                                       .tls_cert_pem = l->want.cert,
                                       .tls_key_pem = l->want.key,
                                   })
                     : 0;
    if (changed && rc == 0)
        l->have_gen = l->gen;
    pthread_mutex_unlock(&l->lock);
    if (changed && rc == 0) {
        teardown(l);
        wanted_clear(&l->have);
        l->have = next;
        l->next_try_ms = 0;
        l->retry_ms = RETRY_FIRST_MS;
        atomic_store(&l->state, l->have.nurls ? SR_SYNC_CONNECTING : SR_SYNC_OFF);
        set_error(l, NULL);
        if (l->have.nurls == 0)
            event_del(l->tick);
        else {
            struct timeval tv = {0, (long)l->h.tick_ms * 1000};
            event_add(l->tick, &tv);
        }
    }
    if (atomic_load(&l->closed)) {
        teardown(l);
        l->next_try_ms = now + RETRY_FIRST_MS;
    }
    if (l->have.nurls > 0 && l->nc == NULL && now >= l->next_try_ms)
        try_connect(l, now);
    if (l->have.nurls > 0)
        l->h.on_tick(l->h.ctx);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_link *l = arg;
    l->h.on_kick(l->h.ctx);
}

void sr_link_kick(struct sr_link *l)
{
    static const struct timeval gather = {0, KICK_GATHER_US};
    event_add(l->kick, &gather);
}

static void *run(void *arg)
{
    struct sr_link *l = arg;
    event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
    teardown(l);
    return NULL;
}

struct sr_link *sr_link_new(const struct sr_link_handlers *h, int *err)
{
    struct sr_link *l = sr_calloc(1, sizeof(*l));
    int rc = SR_ERR_NOMEM;
    if (l == NULL)
        goto fail;
    l->h = *h;
    pthread_mutex_init(&l->lock, NULL);
    pthread_rwlock_init(&l->conn_lock, NULL);
    atomic_init(&l->max_payload, 1u << 20);
    l->retry_ms = RETRY_FIRST_MS;
    /* Other threads (loop threads, libnats's) activate this base's events:
     * libevent must lock it (idempotent; the router's main does it too). */
    natsLibevent_Init();
    if ((l->base = event_base_new()) == NULL ||
        (l->tick = event_new(l->base, -1, EV_PERSIST, on_tick, l)) == NULL ||
        (l->wake = event_new(l->base, -1, 0, on_tick, l)) == NULL ||
        (l->kick = event_new(l->base, -1, 0, on_kick, l)) == NULL)
        goto fail;
    rc = SR_ERR_IO;
    if (pthread_create(&l->thread, NULL, run, l) != 0)
        goto fail;
    l->started = true;
    return l;
fail:
    sr_link_free(l);
    if (err)
        *err = rc;
    return NULL;
}

void sr_link_free(struct sr_link *l)
{
    if (l == NULL)
        return;
    if (l->started) {
        /* Through an event: a loopbreak before the loop runs would be lost. */
        atomic_store(&l->stopping, true);
        event_active(l->wake, 0, 0);
        pthread_join(l->thread, NULL);
    }
    /* libnats's threads (delivery, reconnection) end here: no handler runs
     * after this. */
    if (l->libnats_open)
        nats_CloseAndWait(2000);
    if (l->tick)
        event_free(l->tick);
    if (l->wake)
        event_free(l->wake);
    if (l->kick)
        event_free(l->kick);
    if (l->base)
        event_base_free(l->base);
    wanted_clear(&l->want);
    wanted_clear(&l->have);
    sr_free(l->last_error);
    pthread_rwlock_destroy(&l->conn_lock);
    pthread_mutex_destroy(&l->lock);
    sr_free(l);
}

int sr_link_configure(struct sr_link *l, const struct sr_sync_settings *set)
{
    struct wanted next;
    int rc = wanted_copy(&next, set);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&l->lock);
    wanted_clear(&l->want);
    l->want = next;
    l->gen++;
    /* From now on the state and the error describe these settings, not the
     * connection being left (the thread confirms on its next tick). */
    atomic_store(&l->state, next.nurls ? SR_SYNC_CONNECTING : SR_SYNC_OFF);
    sr_free(l->last_error);
    l->last_error = NULL;
    pthread_mutex_unlock(&l->lock);
    event_active(l->wake, 0, 0);
    return 0;
}

enum sr_sync_state sr_link_state(struct sr_link *l)
{
    return (enum sr_sync_state)atomic_load_explicit(&l->state, memory_order_relaxed);
}

size_t sr_link_max_payload(struct sr_link *l)
{
    return atomic_load_explicit(&l->max_payload, memory_order_relaxed);
}

int sr_link_publish(struct sr_link *l, const char *subject, const void *data, size_t len)
{
    natsStatus s = NATS_CONNECTION_CLOSED;
    pthread_rwlock_rdlock(&l->conn_lock);
    if (l->nc != NULL)
        s = natsConnection_Publish(l->nc, subject ? subject : l->subj_state, data, (int)len);
    pthread_rwlock_unlock(&l->conn_lock);
    return s == NATS_OK ? 0 : SR_ERR_IO;
}

int sr_link_request_snapshot(struct sr_link *l, const void *data, size_t len)
{
    natsStatus s = NATS_CONNECTION_CLOSED;
    pthread_rwlock_rdlock(&l->conn_lock);
    if (l->nc != NULL)
        s = natsConnection_PublishRequest(l->nc, l->subj_snapshot, l->inbox, data, (int)len);
    pthread_rwlock_unlock(&l->conn_lock);
    return s == NATS_OK ? 0 : SR_ERR_IO;
}

int sr_link_describe(struct sr_link *l, char ***servers, size_t *n, char **last_error)
{
    int rc = 0;
    *servers = NULL;
    *n = 0;
    *last_error = NULL;
    pthread_mutex_lock(&l->lock);
    if (l->want.nurls > 0 && (*servers = sr_calloc(l->want.nurls, sizeof(char *))) == NULL)
        rc = SR_ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < l->want.nurls; i++, (*n)++)
        if (((*servers)[i] = redact(l->want.urls[i])) == NULL)
            rc = SR_ERR_NOMEM;
    if (rc == 0 && l->last_error && (*last_error = sr_strdup(l->last_error)) == NULL)
        rc = SR_ERR_NOMEM;
    pthread_mutex_unlock(&l->lock);
    return rc;
}
