/* registry: snapshot-swapped worker set (see registry.h). */
#include "registry.h"

#include "alloc.h"
#include "buf.h"
#include "err.h"

#include <pthread.h>
#include <stdint.h>
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
    char **models; /* interned model ids (writer lock); freed with the registry */
    size_t nmodels, models_cap;
};

static struct sr_worker_set *set_new(size_t count, uint64_t version)
{
    struct sr_worker_set *s = sr_malloc(sizeof(*s) + count * sizeof(struct sr_worker *));
    if (s == NULL)
        return NULL;
    atomic_init(&s->refs, 1);
    s->version = version;
    s->count = 0;
    s->pools = NULL;
    s->npools = 0;
    s->nmodels = 0;
    s->view = false;
    return s;
}

static const char *model_now(const struct sr_worker_set *set, const char *const *models, size_t i)
{
    return models && models[i] ? models[i] : sr_worker_model(set->workers[i]);
}

static void pools_free(struct sr_worker_pool *pools, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < SR_ROLES; r++)
            sr_free(pools[i].role[r]);
    sr_free(pools);
}

/* Groups set's workers into pools by model and role (registry.h's rule).
 * Called under the writer lock, before the set is published; models[i],
 * when not NULL, is worker i's model from now on (not yet stored). */
static int build_pools_with(struct sr_worker_set *set, const char *const *models_now)
{
    const char **models = sr_malloc((set->count + 1) * sizeof(*models));
    if (models == NULL)
        return SR_ERR_NOMEM;
    size_t nmodels = 0;
    bool unknown = false;
    for (size_t i = 0; i < set->count; i++) {
        const char *m = model_now(set, models_now, i);
        if (m == NULL) {
            unknown = true;
            continue;
        }
        size_t k = 0;
        while (k < nmodels && models[k] != m) /* interned: the pointer is the identity */
            k++;
        if (k == nmodels)
            models[nmodels++] = m;
    }
    bool split = nmodels > 1;
    size_t npools = split ? nmodels + (unknown ? 1 : 0) : 1;
    struct sr_worker_pool *pools = sr_calloc(npools, sizeof(*pools));
    int rc = pools ? 0 : SR_ERR_NOMEM;
    for (size_t p = 0; rc == 0 && p < npools; p++) {
        pools[p].model = split ? (p < nmodels ? models[p] : NULL) : (nmodels ? models[0] : NULL);
        for (int r = 0; rc == 0 && r < SR_ROLES; r++) {
            struct sr_worker_set *v = set_new(set->count, set->version);
            if (v == NULL) {
                rc = SR_ERR_NOMEM;
                break;
            }
            v->view = true;
            pools[p].role[r] = v;
        }
    }
    for (size_t i = 0; rc == 0 && i < set->count; i++) {
        struct sr_worker *w = set->workers[i];
        size_t p = 0;
        if (split) {
            const char *m = model_now(set, models_now, i);
            while (p < npools && pools[p].model != m)
                p++;
        }
        struct sr_worker_set *v = pools[p].role[w->role];
        v->workers[v->count++] = w;
    }
    sr_free(models);
    if (rc != 0) {
        if (pools)
            pools_free(pools, npools);
        return rc;
    }
    set->pools = pools;
    set->npools = npools;
    set->nmodels = nmodels;
    return 0;
}

static int build_pools(struct sr_worker_set *set)
{
    return build_pools_with(set, NULL);
}

enum sr_pool_lookup sr_worker_set_pool(const struct sr_worker_set *set, const char *model,
                                       size_t len, const struct sr_worker_pool **out)
{
    *out = &set->pools[0];
    if (set->nmodels <= 1)
        return SR_POOL_FOUND;
    if (model == NULL)
        return SR_POOL_MODEL_REQUIRED;
    const struct sr_worker_pool *wildcard = NULL;
    for (size_t p = 0; p < set->npools; p++) {
        const char *m = set->pools[p].model;
        if (m == NULL)
            wildcard = &set->pools[p];
        else if (strlen(m) == len && memcmp(m, model, len) == 0) {
            *out = &set->pools[p];
            return SR_POOL_FOUND;
        }
    }
    if (wildcard == NULL)
        return SR_POOL_MODEL_UNKNOWN;
    *out = wildcard;
    return SR_POOL_FOUND;
}

/* The registry's copy of model (one per distinct id), or NULL (out of
 * memory, or SR_REGISTRY_MAX_MODELS reached: *rc says). Writer lock held. */
static const char *intern_model(struct sr_registry *reg, const char *model, int *rc)
{
    for (size_t i = 0; i < reg->nmodels; i++)
        if (strcmp(reg->models[i], model) == 0)
            return reg->models[i];
    if (reg->nmodels == SR_REGISTRY_MAX_MODELS) {
        *rc = SR_ERR_INVALID;
        return NULL;
    }
    char *copy = sr_strdup(model);
    if (copy == NULL || sr_grow((void **)&reg->models, &reg->models_cap, reg->nmodels + 1,
                                sizeof(char *), 8, SR_REGISTRY_MAX_MODELS) != 0) {
        sr_free(copy);
        *rc = SR_ERR_NOMEM;
        return NULL;
    }
    reg->models[reg->nmodels++] = copy;
    return copy;
}

/* Workers by canonical URL for one registry change: open addressing, built
 * in O(n), so a change costs O(workers) instead of O(workers^2) (issue 18:
 * /add_worker took 17 ms at 1,500 workers, on a loop thread). */
struct url_index {
    struct sr_worker **slots;
    size_t mask;
};

static uint64_t url_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int index_init(struct url_index *ix, size_t n)
{
    /* A power of two (the mask), at most half full. */
    size_t cap = sr_grow_count(0, 2 * n + 2, 16, (SIZE_MAX >> 1) + 1);
    ix->slots = sr_calloc(cap, sizeof(*ix->slots));
    ix->mask = cap - 1;
    return ix->slots ? 0 : SR_ERR_NOMEM;
}

static struct sr_worker *index_get(const struct url_index *ix, const char *url)
{
    for (size_t i = url_hash(url) & ix->mask;; i = (i + 1) & ix->mask) {
        struct sr_worker *w = ix->slots[i];
        if (w == NULL || strcmp(w->url, url) == 0)
            return w;
    }
}

/* Adds w unless its URL is there already; false then. */
static bool index_put(struct url_index *ix, struct sr_worker *w)
{
    for (size_t i = url_hash(w->url) & ix->mask;; i = (i + 1) & ix->mask) {
        if (ix->slots[i] == NULL) {
            ix->slots[i] = w;
            return true;
        }
        if (strcmp(ix->slots[i]->url, w->url) == 0)
            return false;
    }
}

static int index_of_set(struct url_index *ix, const struct sr_worker_set *set, size_t extra)
{
    if (index_init(ix, set->count + extra) != 0)
        return SR_ERR_NOMEM;
    for (size_t i = 0; i < set->count; i++)
        index_put(ix, set->workers[i]);
    return 0;
}

void sr_worker_set_ref(struct sr_worker_set *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void sr_worker_set_release(struct sr_worker_set *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->count && !s->view; i++)
        sr_worker_release(s->workers[i]);
    if (s->pools)
        pools_free(s->pools, s->npools);
    sr_free(s);
}

static int id_take(struct sr_registry *reg, uint32_t *id)
{
    pthread_mutex_lock(&reg->id_lock);
    size_t i = 0;
    while (i < reg->id_cap && reg->id_used[i])
        i++;
    size_t had = reg->id_cap;
    if (sr_grow((void **)&reg->id_used, &reg->id_cap, i + 1, 1, 16, UINT32_MAX) != 0) {
        pthread_mutex_unlock(&reg->id_lock);
        return SR_ERR_NOMEM;
    }
    memset(reg->id_used + had, 0, reg->id_cap - had);
    reg->id_used[i] = 1;
    pthread_mutex_unlock(&reg->id_lock);
    *id = (uint32_t)i;
    return 0;
}

/* A record's last reference is gone (sr_worker_release_id_fn). */
static void id_release(void *owner, uint32_t id)
{
    struct sr_registry *reg = owner;
    pthread_mutex_lock(&reg->id_lock);
    if (id < reg->id_cap)
        reg->id_used[id] = 0;
    pthread_mutex_unlock(&reg->id_lock);
}

/* Creates a record; takes over url's strings on success. */
static int worker_new(struct sr_registry *reg, struct sr_url *url,
                      const struct sr_worker_spec *spec, struct sr_worker **out)
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
    w->role = spec->role;
    w->bootstrap_port = spec->role == SR_ROLE_PREFILL ? spec->bootstrap_port : SR_BOOTSTRAP_NONE;
    w->release_id = id_release;
    w->owner = reg;
    atomic_init(&w->health, SR_HEALTH_PENDING);
    atomic_init(&w->refs, 1);
    sr_worker_forget_report(w); /* -1: it has not said */
    *out = w;
    return 0;
}

struct sr_registry *sr_registry_new(void)
{
    struct sr_registry *reg = sr_calloc(1, sizeof(*reg));
    if (reg == NULL)
        return NULL;
    reg->current = set_new(0, 0);
    if (reg->current == NULL || build_pools(reg->current) != 0) {
        sr_worker_set_release(reg->current);
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
    for (size_t i = 0; i < reg->nmodels; i++)
        sr_free(reg->models[i]);
    sr_free(reg->models);
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

/* Swaps `next` in (taking over its reference), marks and reports what left
 * and what arrived. Called with the writer lock held: the workers' mark
 * fields tell in O(n) who is in which set. */
static void publish(struct sr_registry *reg, struct sr_worker_set *next)
{
    pthread_mutex_lock(&reg->snap_lock);
    struct sr_worker_set *prev = reg->current;
    reg->current = next;
    pthread_mutex_unlock(&reg->snap_lock);
    atomic_store_explicit(&reg->version, next->version, memory_order_release);

    uint64_t stamp = next->version;
    for (size_t i = 0; i < prev->count; i++)
        prev->workers[i]->mark[0] = stamp; /* in prev */
    for (size_t i = 0; i < next->count; i++)
        next->workers[i]->mark[1] = stamp; /* in next */
    for (size_t i = 0; i < prev->count; i++) {
        struct sr_worker *w = prev->workers[i];
        if (w->mark[1] != stamp) {
            atomic_store_explicit(&w->removed, true, memory_order_release);
            if (reg->listener.removed)
                reg->listener.removed(reg->listener.ctx, w);
        }
    }
    for (size_t i = 0; i < next->count; i++) {
        struct sr_worker *w = next->workers[i];
        if (w->mark[0] != stamp && reg->listener.added)
            reg->listener.added(reg->listener.ctx, w);
    }
    sr_worker_set_release(prev);
}

/* Builds the set for specs, reusing records from cur (a record whose role
 * or bootstrap port differs from its spec is replaced by a new one); the
 * models the specs name are interned into models[i] (NULL: none named),
 * applied by apply_models once the change cannot fail any more. */
static int build_set(struct sr_registry *reg, const struct sr_worker_set *cur,
                     const struct sr_worker_spec *specs, size_t n, struct sr_worker_set **out,
                     const char ***models_out, const char **reason)
{
    struct sr_worker_set *next = set_new(n, cur->version + 1);
    const char **models = sr_calloc(n + 1, sizeof(*models));
    struct url_index known = {0}, chosen = {0};
    int rc = next == NULL || models == NULL || index_of_set(&known, cur, 0) != 0 ||
                     index_init(&chosen, n) != 0
                 ? SR_ERR_NOMEM
                 : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct sr_worker_spec *spec = &specs[i];
        if (spec->model != NULL) {
            if (!sr_model_name_valid(spec->model, strlen(spec->model))) {
                if (reason)
                    *reason = "the model id must be 1-256 printable characters without spaces, "
                              "quotes or backslashes";
                rc = SR_ERR_INVALID;
                break;
            }
            if ((models[i] = intern_model(reg, spec->model, &rc)) == NULL) {
                if (reason && rc == SR_ERR_INVALID)
                    *reason = "too many distinct model ids";
                break;
            }
        }
        if (spec->role == SR_ROLE_PREFILL && spec->bootstrap_port != SR_BOOTSTRAP_NONE &&
            (spec->bootstrap_port < 1 || spec->bootstrap_port > 65535)) {
            if (reason)
                *reason = "the bootstrap port must be in [1, 65535]";
            rc = SR_ERR_INVALID;
            break;
        }
        /* A URL already in canonical form (the usual case: the unchanged part
         * of the list) is found without parsing it again. */
        struct sr_worker *w = index_get(&known, spec->url);
        struct sr_url url = {0};
        if (w == NULL) {
            if ((rc = sr_url_parse(spec->url, strlen(spec->url), &url, reason)) != 0)
                break;
            w = index_get(&known, url.canonical);
        }
        int port = spec->role == SR_ROLE_PREFILL ? spec->bootstrap_port : SR_BOOTSTRAP_NONE;
        if (w != NULL && w->role == spec->role && w->bootstrap_port == port) {
            sr_worker_ref(w);
        } else {
            if (url.canonical == NULL &&
                (rc = sr_url_parse(spec->url, strlen(spec->url), &url, reason)) != 0)
                break;
            rc = worker_new(reg, &url, spec, &w);
        }
        sr_url_clear(&url);
        if (rc != 0)
            break;
        next->workers[next->count++] = w;
        if (!index_put(&chosen, w)) {
            if (reason)
                *reason = "duplicate worker URL";
            rc = SR_ERR_INVALID;
        }
    }
    sr_free(known.slots);
    sr_free(chosen.slots);
    if (rc == 0)
        rc = build_pools_with(next, models);
    if (rc != 0) {
        sr_worker_set_release(next);
        sr_free(models);
        return rc;
    }
    *out = next;
    *models_out = models;
    return 0;
}

/* Pins the models the specs named on their records (writer lock held,
 * the set built with them, before it is published). */
static void apply_models(struct sr_worker_set *next, const char **models)
{
    for (size_t i = 0; i < next->count; i++) {
        if (models[i] == NULL)
            continue;
        atomic_store_explicit(&next->workers[i]->model, models[i], memory_order_release);
        atomic_store_explicit(&next->workers[i]->model_pinned, true, memory_order_relaxed);
    }
    sr_free(models);
}

int sr_registry_replace_specs(struct sr_registry *reg, const struct sr_worker_spec *specs, size_t n,
                              const char **reason)
{
    pthread_mutex_lock(&reg->write_lock);
    struct sr_worker_set *next = NULL;
    const char **models = NULL;
    int rc = build_set(reg, reg->current, specs, n, &next, &models, reason);
    if (rc == 0) {
        apply_models(next, models);
        publish(reg, next);
    }
    pthread_mutex_unlock(&reg->write_lock);
    return rc;
}

/* url as a regular worker's spec. */
static struct sr_worker_spec *specs_of_urls(const char *const *urls, size_t n)
{
    struct sr_worker_spec *specs = sr_calloc(n + 1, sizeof(*specs));
    for (size_t i = 0; specs && i < n; i++)
        specs[i] = (struct sr_worker_spec){
            .url = urls[i], .role = SR_ROLE_REGULAR, .bootstrap_port = SR_BOOTSTRAP_NONE};
    return specs;
}

int sr_registry_replace(struct sr_registry *reg, const char *const *urls, size_t n,
                        const char **reason)
{
    struct sr_worker_spec *specs = specs_of_urls(urls, n);
    if (specs == NULL)
        return SR_ERR_NOMEM;
    int rc = sr_registry_replace_specs(reg, specs, n, reason);
    sr_free(specs);
    return rc;
}

/* Canonical form of url into *out (caller clears), or an error. */
static int canonical(const char *url, struct sr_url *out, const char **reason)
{
    return sr_url_parse(url, strlen(url), out, reason);
}

int sr_registry_change_specs(struct sr_registry *reg, const struct sr_worker_spec *add, size_t nadd,
                             const char *const *remove, size_t nremove, const char **bad_url,
                             const char **reason)
{
    pthread_mutex_lock(&reg->write_lock);
    struct sr_worker_set *cur = reg->current, *next = NULL;
    struct sr_worker_spec *specs = sr_calloc(cur->count + nadd + 1, sizeof(*specs));
    struct url_index known = {0};
    int rc = specs && index_of_set(&known, cur, 0) == 0 ? 0 : SR_ERR_NOMEM;
    uint64_t leaving = cur->version + 1; /* mark[0] of the workers removed here */
    for (size_t i = 0; rc == 0 && i < cur->count; i++)
        cur->workers[i]->mark[0] = 0;
    for (size_t i = 0; rc == 0 && i < nremove; i++) {
        struct sr_url u;
        if ((rc = canonical(remove[i], &u, reason)) != 0) {
            *bad_url = remove[i];
            break;
        }
        struct sr_worker *w = index_get(&known, u.canonical);
        sr_url_clear(&u);
        if (w == NULL) {
            rc = SR_ERR_NOT_FOUND;
            *reason = "no such worker";
            *bad_url = remove[i];
            break;
        }
        w->mark[0] = leaving;
    }
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < cur->count; i++) {
        struct sr_worker *w = cur->workers[i];
        if (w->mark[0] != leaving)
            specs[n++] = (struct sr_worker_spec){
                .url = w->url, .role = w->role, .bootstrap_port = w->bootstrap_port};
    }
    for (size_t i = 0; rc == 0 && i < nadd; i++) {
        struct sr_url u;
        if ((rc = canonical(add[i].url, &u, reason)) != 0) {
            *bad_url = add[i].url;
            break;
        }
        struct sr_worker *w = index_get(&known, u.canonical);
        sr_url_clear(&u);
        if (w != NULL && w->mark[0] != leaving) {
            rc = SR_ERR_EXISTS;
            *reason = "worker already registered";
            *bad_url = add[i].url;
            break;
        }
        specs[n++] = add[i]; /* twice in add: build_set refuses the duplicate */
    }
    const char **models = NULL;
    if (rc == 0) {
        rc = build_set(reg, cur, specs, n, &next, &models, reason);
        if (rc != 0 && *bad_url == NULL)
            *bad_url = nadd ? add[0].url : NULL;
    }
    if (rc == 0) {
        apply_models(next, models);
        publish(reg, next);
    }
    pthread_mutex_unlock(&reg->write_lock);
    sr_free(known.slots);
    sr_free(specs);
    return rc;
}

int sr_registry_change(struct sr_registry *reg, const char *const *add, size_t nadd,
                       const char *const *remove, size_t nremove, const char **bad_url,
                       const char **reason)
{
    struct sr_worker_spec *specs = specs_of_urls(add, nadd);
    if (specs == NULL)
        return SR_ERR_NOMEM;
    int rc = sr_registry_change_specs(reg, specs, nadd, remove, nremove, bad_url, reason);
    sr_free(specs);
    return rc;
}

int sr_registry_set_model(struct sr_registry *reg, const char *url, const char *model, bool pin,
                          const char **reason)
{
    if (model == NULL || !sr_model_name_valid(model, strlen(model))) {
        if (reason)
            *reason = "the model id must be 1-256 printable characters without spaces, quotes "
                      "or backslashes";
        return SR_ERR_INVALID;
    }
    pthread_mutex_lock(&reg->write_lock);
    struct sr_worker_set *cur = reg->current;
    struct sr_worker *w = sr_worker_set_find(cur, url);
    int rc = 0;
    const char *name = NULL;
    if (w == NULL) {
        rc = SR_ERR_NOT_FOUND;
        if (reason)
            *reason = "no such worker";
    } else if (!pin && atomic_load_explicit(&w->model_pinned, memory_order_relaxed)) {
        rc = 0; /* the administrator's word stands */
    } else if ((name = intern_model(reg, model, &rc)) == NULL) {
        if (reason)
            *reason = rc == SR_ERR_INVALID ? "too many distinct model ids" : "out of memory";
    } else {
        const char *had = sr_worker_model(w);
        if (pin)
            atomic_store_explicit(&w->model_pinned, true, memory_order_relaxed);
        if (had != name) {
            /* The same records in a new snapshot, pooled by the new model. */
            struct sr_worker_set *next = set_new(cur->count, cur->version + 1);
            if (next == NULL) {
                rc = SR_ERR_NOMEM;
            } else {
                for (size_t i = 0; i < cur->count; i++) {
                    sr_worker_ref(cur->workers[i]);
                    next->workers[next->count++] = cur->workers[i];
                }
                atomic_store_explicit(&w->model, name, memory_order_release);
                if ((rc = build_pools(next)) != 0) {
                    atomic_store_explicit(&w->model, had, memory_order_release);
                    sr_worker_set_release(next);
                } else {
                    publish(reg, next);
                }
            }
        }
    }
    pthread_mutex_unlock(&reg->write_lock);
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
