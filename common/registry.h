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
 * Ownership: snapshots returned by sr_registry_acquire() are released with
 * sr_worker_set_release(); the registry must outlive every snapshot and every
 * worker reference.
 */
#ifndef SR_REGISTRY_H
#define SR_REGISTRY_H

#include "worker.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct sr_registry;

struct sr_worker_set {
    atomic_uint refs;
    uint64_t version;
    size_t count;
    struct sr_worker *workers[]; /* each holds a reference */
};

struct sr_registry_listener {
    void (*added)(void *ctx, struct sr_worker *w);
    void (*removed)(void *ctx, struct sr_worker *w);
    void *ctx;
};

struct sr_registry *sr_registry_new(void);
/* Accepts NULL. Outstanding snapshots must have been released. */
void sr_registry_free(struct sr_registry *reg);
void sr_registry_set_listener(struct sr_registry *reg, const struct sr_registry_listener *l);

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
