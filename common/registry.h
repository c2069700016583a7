/*
 * registry: the live set of workers, changed at runtime while data-plane
 * threads route concurrently.
 *
 * Readers take an immutable, reference-counted snapshot (struct
 * sr_worker_set) and route against it; writers (startup, admin routes, the
 * gRPC admin API) build a new set and swap it in one step, so no request ever
 * sees a half-updated list. Records of workers that stay across a change are
 * kept (health, counters and id survive).
 *
 * Locking: writers are serialised by an internal mutex; acquiring a snapshot
 * takes a second, tiny lock only to load the pointer and take a reference.
 * sr_registry_version() is one atomic load, so threads may cache a snapshot
 * and refresh it only when the version moves.
 *
 * The listener is called (with the writer mutex held, after the swap) for
 * every worker added and removed; removed workers are already marked removed.
 *
 * Models and roles: each snapshot also groups its workers into pools, one
 * per model, each split by role (regular, prefill, decode), so a request
 * routes among the workers of its model and role without a scan. The
 * rule: while the workers name at most one model between them, there is
 * one pool holding every worker (a request's "model" field then selects
 * nothing: single-model fleets take any model name, as SGLang's router
 * does without --enable-igw). With two or more, a pool per model, and one
 * (model NULL) for the workers whose model is not known yet; a request
 * must name its model (sr_worker_set_pool). A worker's model comes from
 * its spec, or later from discovery (sr_registry_set_model), which
 * publishes a new snapshot.
 *
 * Ownership: snapshots returned by sr_registry_acquire() are released with
 * sr_worker_set_release(); the registry must outlive every snapshot and every
 * worker reference.
 */
#ifndef SR_REGISTRY_H
#define SR_REGISTRY_H

#include "worker.h"
#include "worker_spec.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct sr_registry;

struct sr_worker_set;

/* The workers of one model, by role: views into their snapshot (they hold
 * no references and live as long as it). */
struct sr_worker_pool {
    const char
        *model; /* NULL: the one pool of a single-model fleet, or the unknown-model workers */
    struct sr_worker_set *role[SR_ROLES]; /* never NULL; possibly empty */
};

struct sr_worker_set {
    atomic_uint refs;
    uint64_t version;
    size_t count;
    struct sr_worker_pool *pools; /* at least one; NULL in a pool's view */
    size_t npools;
    size_t nmodels;              /* distinct models the workers name */
    bool view;                   /* a pool's view: holds no references */
    struct sr_worker *workers[]; /* each holds a reference (unless a view) */
};

/* Whether a pool serves its model disaggregated: it has prefill or decode
 * workers (its regular workers, if any, are then not used). */
static inline bool sr_worker_pool_disaggregated(const struct sr_worker_pool *p)
{
    return p->role[SR_ROLE_PREFILL]->count + p->role[SR_ROLE_DECODE]->count > 0;
}

enum sr_pool_lookup {
    SR_POOL_FOUND = 0,
    SR_POOL_MODEL_REQUIRED, /* several models are served and the request names none */
    SR_POOL_MODEL_UNKNOWN,  /* no worker serves the model it names */
};

/* The pool a request naming model[0, len) (NULL: none named) routes in.
 * One model or none known: the one pool, whatever is named. Several: the
 * named model's pool, else the unknown-model workers' pool when there is
 * one (they may serve it), else SR_POOL_MODEL_UNKNOWN. */
enum sr_pool_lookup sr_worker_set_pool(const struct sr_worker_set *set, const char *model,
                                       size_t len, const struct sr_worker_pool **out);

struct sr_registry_listener {
    void (*added)(void *ctx, struct sr_worker *w);
    void (*removed)(void *ctx, struct sr_worker *w);
    void *ctx;
};

struct sr_registry *sr_registry_new(void);
/* Accepts NULL. Outstanding snapshots must have been released. */
void sr_registry_free(struct sr_registry *reg);
void sr_registry_set_listener(struct sr_registry *reg, const struct sr_registry_listener *l);

/* Adds and removes workers given by spec (worker_spec.h) in one step, all
 * or none; the errors of sr_registry_change. A spec for a registered URL
 * with another role or bootstrap port makes a new record (the old one is
 * removed): those never change on a record. A spec's model pins the
 * worker's model; without one a kept record keeps what it had. */
int sr_registry_change_specs(struct sr_registry *reg, const struct sr_worker_spec *add, size_t nadd,
                             const char *const *remove, size_t nremove, const char **bad_url,
                             const char **reason);
/* Replaces the whole list by specs, all or none (sr_registry_replace). */
int sr_registry_replace_specs(struct sr_registry *reg, const struct sr_worker_spec *specs, size_t n,
                              const char **reason);
/* Sets the model of the worker at url and publishes a snapshot with it.
 * pin: an administrator's word (discovery never overrides it); a
 * discovered model (pin false) is not applied to a pinned worker.
 * SR_ERR_NOT_FOUND, SR_ERR_INVALID (a bad model id, or too many distinct
 * ones: SR_REGISTRY_MAX_MODELS), SR_ERR_NOMEM. */
int sr_registry_set_model(struct sr_registry *reg, const char *url, const char *model, bool pin,
                          const char **reason);
#define SR_REGISTRY_MAX_MODELS 4096

/* Adds one worker. SR_ERR_INVALID (bad URL; *reason says why),
 * SR_ERR_EXISTS or SR_ERR_NOMEM. */
int sr_registry_add(struct sr_registry *reg, const char *url, const char **reason);
/* SR_ERR_INVALID, SR_ERR_NOT_FOUND or SR_ERR_NOMEM. */
int sr_registry_remove(struct sr_registry *reg, const char *url, const char **reason);
/* Removes and adds workers in one step, all or none: SR_ERR_INVALID (a bad
 * URL, or the same one twice), SR_ERR_NOT_FOUND (removing an unknown one),
 * SR_ERR_EXISTS (adding a registered one) or SR_ERR_NOMEM; *bad_url points
 * at the argument at fault and *reason says why (both required). */
int sr_registry_change(struct sr_registry *reg, const char *const *add, size_t nadd,
                       const char *const *remove, size_t nremove, const char **bad_url,
                       const char **reason);
/* Replaces the whole list atomically (the orchestrator's push). Duplicates
 * (after canonicalisation) are SR_ERR_INVALID; on any error nothing changes. */
int sr_registry_replace(struct sr_registry *reg, const char *const *urls, size_t n,
                        const char **reason);

/* Current snapshot with a reference taken; never NULL. */
struct sr_worker_set *sr_registry_acquire(struct sr_registry *reg);
void sr_worker_set_release(struct sr_worker_set *set);
/* One more reference to a snapshot the caller already holds. */
void sr_worker_set_ref(struct sr_worker_set *set);
uint64_t sr_registry_version(struct sr_registry *reg);

/* Worker with this URL (any spelling of it) in set, or NULL. Borrowed. */
struct sr_worker *sr_worker_set_find(const struct sr_worker_set *set, const char *url);

#endif
