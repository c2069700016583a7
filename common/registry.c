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
    int rc = id_take(reg, &w->id);
    if (rc != 0) {
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

int sr_registry_add(struct sr_registry *reg, const char *url, const char **reason)
{
    pthread_mutex_lock(&reg->write_lock);
    struct sr_worker_set *cur = reg->current, *next = NULL;
    int rc = SR_ERR_NOMEM;
    const char **urls = sr_malloc((cur->count + 1) * sizeof(*urls));
    if (urls != NULL) {
        for (size_t i = 0; i < cur->count; i++)
            urls[i] = cur->workers[i]->url;
        urls[cur->count] = url;
        rc = build_set(reg, cur, urls, cur->count + 1, &next, reason);
        if (rc == SR_ERR_INVALID && sr_worker_set_find(cur, url) != NULL) {
            rc = SR_ERR_EXISTS;
            if (reason)
                *reason = "worker already registered";
        }
        sr_free(urls);
    }
    if (rc == 0)
        publish(reg, next);
    pthread_mutex_unlock(&reg->write_lock);
    return rc;
}

int sr_registry_remove(struct sr_registry *reg, const char *url, const char **reason)
{
    struct sr_url parsed;
    int rc = sr_url_parse(url, strlen(url), &parsed, reason);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&reg->write_lock);
    struct sr_worker_set *cur = reg->current;
    struct sr_worker_set *next = set_new(cur->count, cur->version + 1);
    rc = next ? SR_ERR_NOT_FOUND : SR_ERR_NOMEM;
    for (size_t i = 0; next && i < cur->count; i++) {
        struct sr_worker *w = cur->workers[i];
        if (strcmp(w->url, parsed.canonical) == 0) {
            rc = 0;
            continue;
        }
        sr_worker_ref(w);
        next->workers[next->count++] = w;
    }
    if (rc == 0) {
        publish(reg, next);
    } else {
        sr_worker_set_release(next);
        if (rc == SR_ERR_NOT_FOUND && reason)
            *reason = "no such worker";
    }
    pthread_mutex_unlock(&reg->write_lock);
    sr_url_clear(&parsed);
    return rc;
}
