/*
 * workers_pb: workers in the admin API's terms. A worker record as a
 * Worker message (ListWorkers, the answers of the worker changes,
 * GetQueueStats, WatchStats): health, circuit, counters, role, bootstrap
 * port and model. And the workers a SetWorkers or AddWorkers request names
 * (its urls: regular workers whose model is discovered; its WorkerSpec
 * workers: role, bootstrap port, model) as registry specs (worker_spec.h),
 * checked field by field before the registry sees them, so a refusal names
 * the field at fault ("workers[2].bootstrap_port: ...", "urls[0]: ...").
 *
 * Ownership: a Worker message filled here borrows the record's URL and
 * model (the URL lives as long as the record, the model as long as the
 * registry: keep the snapshot until the message is sent). struct
 * sr_workers_pb owns the canonical URLs its specs point at (release with
 * sr_workers_pb_clear); the model ids are borrowed from the request. No
 * I/O; thread-safe.
 */
#ifndef SR_WORKERS_PB_H
#define SR_WORKERS_PB_H

#include "common/worker_spec.h"

#include "sglang/router/admin/v1/admin.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* w as a Worker message at now_ms (sr_breaker_now_ms()); a worker's own
 * load report counts for load_max_age_ms (external_load). */
void sr_workers_pb_worker(const struct sr_worker *w, uint64_t now_ms, uint64_t load_max_age_ms,
                          Sglang__Router__Admin__V1__Worker *out);

/* The WorkerRole of role, and the role of a WorkerRole (UNSPECIFIED:
 * regular); false for a value the enum does not have. */
int sr_workers_pb_role(enum sr_worker_role role);
bool sr_workers_pb_role_parse(int value, enum sr_worker_role *out);

/* The workers of one request: urls first, then workers, in order. */
struct sr_workers_pb {
    struct sr_worker_spec *specs;
    size_t n, nurls; /* specs[i] for i < nurls comes from urls[i] */
    char **canonical;
};

/* Checks and converts urls[0, nurls) and workers[0, nworkers): each URL
 * (required, valid), role (a WorkerRole value), bootstrap port (1-65535,
 * prefill only), model id (worker_spec.h's rule), and no URL twice. 0;
 * SR_ERR_INVALID with "FIELD: why" in err; SR_ERR_NOMEM. out is to be
 * cleared either way. */
int sr_workers_pb_specs(char *const *urls, size_t nurls,
                        Sglang__Router__Admin__V1__WorkerSpec *const *workers, size_t nworkers,
                        struct sr_workers_pb *out, char *err, size_t errlen);
void sr_workers_pb_clear(struct sr_workers_pb *w);

/* The request field of the spec whose URL is url (the registry hands back
 * one of specs[i].url as the URL at fault): "urls[i]" or
 * "workers[i].url"; "workers" when none is. */
void sr_workers_pb_field(const struct sr_workers_pb *w, const char *url, char *out, size_t len);

#endif
