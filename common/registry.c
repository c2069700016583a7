/* registry: snapshot-swapped worker set (see registry.h). */
#include "registry.h"

#include "alloc.h"
#include "err.h"

#include <pthread.h>
#include <string.h>

struct sr_registry {
    pthread_mutex_t write_lock; /* serialises writers */
    pthread_mutex_t snap_lock;  /* guards `current` for acquire vs swap */
    struct sr_worker_set *current;
    atomic_uint_fast64_t version;
    struct sr_registry_listener listener;
    pthread_mutex_t id_lock; /* guards the id table; taken by any thread */
    unsigned char *id_used;
    size_t id_cap;
};

static struct sr_worker_set *set_new(size_t count, uint64_t version)
{
    struct sr_worker_set *s = sr_malloc(sizeof(*s) + count * sizeof(struct sr_worker *));
    if (s == NULL)
        return NULL;
    atomic_init(&s->refs, 1);
    s->version = version;
    s->count = 0;
    return s;
}

void sr_worker_set_ref(struct sr_worker_set *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void sr_worker_set_release(struct sr_worker_set *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->count; i++)
        sr_worker_release(s->workers[i]);
    sr_free(s);
}

static int id_take(struct sr_registry *reg, uint32_t *id)
{
    pthread_mutex_lock(&reg->id_lock);
    size_t i = 0;
    while (i < reg->id_cap && reg->id_used[i])
        i++;
    if (i == reg->id_cap) {
        size_t cap = reg->id_cap ? reg->id_cap * 2 : 16;
        unsigned char *used = sr_realloc(reg->id_used, cap);
        if (used == NULL) {
            pthread_mutex_unlock(&reg->id_lock);
            return SR_ERR_NOMEM;
        }
        memset(used + reg->id_cap, 0, cap - reg->id_cap);
        reg->id_used = used;
        reg->id_cap = cap;
    }
    reg->id_used[i] = 1;
    pthread_mutex_unlock(&reg->id_lock);
    *id = (uint32_t)i;
    return 0;
}

void sr_registry_release_id(struct sr_registry *reg, uint32_t id)
{
    pthread_mutex_lock(&reg->id_lock);
    if (id < reg->id_cap)
        reg->id_used[id] = 0;
    pthread_mutex_unlock(&reg->id_lock);
}

/* Creates a record; takes over url's strings on success. */
static int worker_new(struct sr_registry *reg, struct sr_url *url, struct sr_worker **out)
{
    struct sr_worker *w = sr_calloc(1, sizeof(*w));
    if (w == NULL)
        return SR_ERR_NOMEM;
    int rc = sr_breaker_init(&w->breaker);
    if (rc != 0) {
        sr_free(w);
        return rc;
    }
    if ((rc = id_take(reg, &w->id)) != 0) {
        sr_breaker_clear(&w->breaker);
        sr_free(w);
        return rc;
    }
    w->parsed = *url;
    memset(url, 0, sizeof(*url));
    w->url = w->parsed.canonical;
    w->owner = reg;
    atomic_init(&w->health, SR_HEALTH_PENDING);
    atomic_init(&w->refs, 1);
    *out = w;
    return 0;
}

struct sr_registry *sr_registry_new(void)
{
    struct sr_registry *reg = sr_calloc(1, sizeof(*reg));
    if (reg == NULL)
        return NULL;
    reg->current = set_new(0, 0);
    if (reg->current == NULL) {
        sr_free(reg);
        return NULL;
    }
    pthread_mutex_init(&reg->write_lock, NULL);
    pthread_mutex_init(&reg->snap_lock, NULL);
    pthread_mutex_init(&reg->id_lock, NULL);
    return reg;
}

void sr_registry_free(struct sr_registry *reg)
{
    if (reg == NULL)
        return;
    sr_worker_set_release(reg->current);
    pthread_mutex_destroy(&reg->write_lock);
    pthread_mutex_destroy(&reg->snap_lock);
    pthread_mutex_destroy(&reg->id_lock);
    sr_free(reg->id_used);
    sr_free(reg);
}

void sr_registry_set_listener(struct sr_registry *reg, const struct sr_registry_listener *l)
{
    pthread_mutex_lock(&reg->write_lock);
    reg->listener = *l;
    pthread_mutex_unlock(&reg->write_lock);
}

struct sr_worker_set *sr_registry_acquire(struct sr_registry *reg)
{
    pthread_mutex_lock(&reg->snap_lock);
    struct sr_worker_set *s = reg->current;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&reg->snap_lock);
    return s;
}

uint64_t sr_registry_version(struct sr_registry *reg)
{
    return atomic_load_explicit(&reg->version, memory_order_acquire);
}

struct sr_worker *sr_worker_set_find(const struct sr_worker_set *set, const char *url)
{
    struct sr_url parsed;
    if (sr_url_parse(url, strlen(url), &parsed, NULL) != 0)
        return NULL;
    struct sr_worker *found = NULL;
    for (size_t i = 0; i < set->count && found == NULL; i++)
        if (strcmp(set->workers[i]->url, parsed.canonical) == 0)
            found = set->workers[i];
    sr_url_clear(&parsed);
    return found;
}

static bool set_contains(const struct sr_worker_set *set, const struct sr_worker *w)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->workers[i] == w)
            return true;
    return false;
}

/* Swaps `next` in (taking over its reference), marks and reports what left
 * and what arrived. Called with the writer lock held. */
static void publish(struct sr_registry *reg, struct sr_worker_set *next)
{
    pthread_mutex_lock(&reg->snap_lock);
    struct sr_worker_set *prev = reg->current;
    reg->current = next;
    pthread_mutex_unlock(&reg->snap_lock);
    atomic_store_explicit(&reg->version, next->version, memory_order_release);

    for (size_t i = 0; i < prev->count; i++) {
        struct sr_worker *w = prev->workers[i];
        if (!set_contains(next, w)) {
            atomic_store_explicit(&w->removed, true, memory_order_release);
            if (reg->listener.removed)
                reg->listener.removed(reg->listener.ctx, w);
        }
    }
    for (size_t i = 0; i < next->count; i++) {
        struct sr_worker *w = next->workers[i];
        if (!set_contains(prev, w) && reg->listener.added)
            reg->listener.added(reg->listener.ctx, w);
    }
    sr_worker_set_release(prev);
}

/* Builds the set for `urls`, reusing records from cur. */
static int build_set(struct sr_registry *reg, const struct sr_worker_set *cur,
                     const char *const *urls, size_t n, struct sr_worker_set **out,
                     const char **reason)
{
    struct sr_worker_set *next = set_new(n, cur->version + 1);
    if (next == NULL)
        return SR_ERR_NOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct sr_url url;
        if ((rc = sr_url_parse(urls[i], strlen(urls[i]), &url, reason)) != 0)
            break;
        struct sr_worker *w = NULL;
        for (size_t j = 0; j < next->count; j++)
            if (strcmp(next->workers[j]->url, url.canonical) == 0) {
                if (reason)
                    *reason = "duplicate worker URL";
                rc = SR_ERR_INVALID;
            }
        for (size_t j = 0; rc == 0 && j < cur->count && w == NULL; j++)
            if (strcmp(cur->workers[j]->url, url.canonical) == 0) {
                w = cur->workers[j];
                sr_worker_ref(w);
            }
        if (rc == 0 && w == NULL)
            rc = worker_new(reg, &url, &w);
        if (rc == 0)
            next->workers[next->count++] = w;
        sr_url_clear(&url);
    }
    if (rc != 0) {
        sr_worker_set_release(next);
        return rc;
    }
    *out = next;
    return 0;
}

int sr_registry_replace(struct sr_registry *reg, const char *const *urls, size_t n,
                        const char **reason)
{
    pthread_mutex_lock(&reg->write_lock);
    struct sr_worker_set *next = NULL;
    int rc = build_set(reg, reg->current, urls, n, &next, reason);
    if (rc == 0)
        publish(reg, next);
    pthread_mutex_unlock(&reg->write_lock);
    return rc;
}

/* Canonical form of url into *out (caller clears), or an error. */
static int canonical(const char *url, struct sr_url *out, const char **reason)
{
    return sr_url_parse(url, strlen(url), out, reason);
}

static bool in_set(const struct sr_worker_set *set, const char *canonical_url)
{
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->workers[i]->url, canonical_url) == 0)
            return true;
    return false;
}

int sr_registry_change(struct sr_registry *reg, const char *const *add, size_t nadd,
                       const char *const *remove, size_t nremove, const char **bad_url,
                       const char **reason)
{
    pthread_mutex_lock(&reg->write_lock);
    struct sr_worker_set *cur = reg->current, *next = NULL;
    const char **urls = sr_malloc((cur->count + nadd + 1) * sizeof(*urls));
    char **removed = sr_calloc(nremove + 1, sizeof(*removed));
    int rc = urls && removed ? 0 : SR_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < nremove; i++) {
        struct sr_url u;
        if ((rc = canonical(remove[i], &u, reason)) != 0) {
            *bad_url = remove[i];
            break;
        }
        removed[i] = u.canonical; /* taken over */
        u.canonical = NULL;
        sr_url_clear(&u);
        if (!in_set(cur, removed[i])) {
            rc = SR_ERR_NOT_FOUND;
            *reason = "no such worker";
            *bad_url = remove[i];
        }
    }
    for (size_t i = 0; rc == 0 && i < cur->count; i++) {
        bool leaving = false;
        for (size_t k = 0; k < nremove; k++)
            leaving |= strcmp(cur->workers[i]->url, removed[k]) == 0;
        if (!leaving)
            urls[n++] = cur->workers[i]->url;
    }
    for (size_t i = 0; rc == 0 && i < nadd; i++) {
        struct sr_url u;
        if ((rc = canonical(add[i], &u, reason)) != 0) {
            *bad_url = add[i];
            break;
        }
        bool exists = false;
        for (size_t k = 0; k < n; k++)
            exists |= strcmp(urls[k], u.canonical) == 0;
        bool registered = in_set(cur, u.canonical);
        sr_url_clear(&u);
        if (exists) {
            rc = registered ? SR_ERR_EXISTS : SR_ERR_INVALID;
            *reason = registered ? "worker already registered" : "duplicate worker URL";
            *bad_url = add[i];
            break;
        }
        urls[n++] = add[i];
    }
    if (rc == 0)
        rc = build_set(reg, cur, urls, n, &next, reason);
    if (rc == 0)
        publish(reg, next);
    pthread_mutex_unlock(&reg->write_lock);
    for (size_t i = 0; removed && i < nremove; i++)
        sr_free(removed[i]);
    sr_free(removed);
    sr_free(urls);
    return rc;
}

int sr_registry_add(struct sr_registry *reg, const char *url, const char **reason)
{
    const char *bad = NULL, *why = NULL;
    int rc = sr_registry_change(reg, &url, 1, NULL, 0, &bad, &why);
    if (reason)
        *reason = why;
    return rc;
}

int sr_registry_remove(struct sr_registry *reg, const char *url, const char **reason)
{
    const char *bad = NULL, *why = NULL;
    int rc = sr_registry_change(reg, NULL, 0, &url, 1, &bad, &why);
    if (reason)
        *reason = why;
    return rc;
}
