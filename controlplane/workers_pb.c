/* workers_pb: workers as admin API messages (see workers_pb.h). */
#include "workers_pb.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PB(name)      Sglang__Router__Admin__V1__##name
#define PB_INIT(name) SGLANG__ROUTER__ADMIN__V1__##name##__INIT
#define ENUM(name)    SGLANG__ROUTER__ADMIN__V1__##name

static const int circuit_states[] = {
    [SR_BREAKER_CLOSED] = ENUM(CIRCUIT_STATE__CIRCUIT_STATE_CLOSED),
    [SR_BREAKER_OPEN] = ENUM(CIRCUIT_STATE__CIRCUIT_STATE_OPEN),
    [SR_BREAKER_HALF_OPEN] = ENUM(CIRCUIT_STATE__CIRCUIT_STATE_HALF_OPEN),
};

static const int roles[SR_ROLES] = {
    [SR_ROLE_REGULAR] = ENUM(WORKER_ROLE__WORKER_ROLE_REGULAR),
    [SR_ROLE_PREFILL] = ENUM(WORKER_ROLE__WORKER_ROLE_PREFILL),
    [SR_ROLE_DECODE] = ENUM(WORKER_ROLE__WORKER_ROLE_DECODE),
};

int sr_workers_pb_role(enum sr_worker_role role)
{
    return (unsigned)role < SR_ROLES ? roles[role] : roles[SR_ROLE_REGULAR];
}

bool sr_workers_pb_role_parse(int value, enum sr_worker_role *out)
{
    if (value == ENUM(WORKER_ROLE__WORKER_ROLE_UNSPECIFIED)) {
        *out = SR_ROLE_REGULAR;
        return true;
    }
    for (int i = 0; i < SR_ROLES; i++) {
        if (roles[i] == value) {
            *out = (enum sr_worker_role)i;
            return true;
        }
    }
    return false;
}

static int health_of(const struct sr_worker *w)
{
    switch (sr_worker_health(w)) {
    case SR_HEALTH_PENDING:
        return ENUM(WORKER_HEALTH__WORKER_HEALTH_PENDING);
    case SR_HEALTH_HEALTHY:
        return ENUM(WORKER_HEALTH__WORKER_HEALTH_HEALTHY);
    default:
        return ENUM(WORKER_HEALTH__WORKER_HEALTH_UNHEALTHY);
    }
}

void sr_workers_pb_worker(const struct sr_worker *w, uint64_t now_ms, uint64_t load_max_age_ms,
                          PB(Worker) * out)
{
    PB(Worker) item = PB_INIT(WORKER);
    item.url = (char *)w->url;
    item.has_health = true;
    item.health = health_of(w);
    item.has_in_flight = item.has_processed = item.has_failures = true;
    item.has_pending_prefill_bytes = item.has_decode_tokens = true;
    item.in_flight = sr_worker_load(w);
    item.processed = atomic_load(&w->processed);
    item.failures = atomic_load(&w->failures);
    item.pending_prefill_bytes = sr_worker_pending_prefill(w);
    item.decode_tokens = sr_worker_decode_left(w);
    item.has_circuit_state = item.has_circuit_opened = true;
    item.circuit_state = circuit_states[sr_breaker_state(&w->breaker, now_ms)];
    item.circuit_opened = sr_breaker_opened_total(&w->breaker);
    item.has_reported_running = item.has_reported_waiting = true;
    item.has_reported_tokens = item.has_external_load = true;
    item.reported_running = atomic_load(&w->reported_running);
    item.reported_waiting = atomic_load(&w->reported_waiting);
    item.reported_tokens = atomic_load(&w->reported_tokens);
    item.external_load = sr_worker_external_load(w, now_ms, load_max_age_ms);
    item.has_role = true;
    item.role = sr_workers_pb_role(w->role);
    if (w->role == SR_ROLE_PREFILL && w->bootstrap_port != SR_BOOTSTRAP_NONE) {
        item.has_bootstrap_port = true;
        item.bootstrap_port = w->bootstrap_port;
    }
    item.model_id = (char *)sr_worker_model(w);
    item.has_model_pinned = true;
    item.model_pinned = atomic_load(&w->model_pinned);
    *out = item;
}

/* ---- requests ------------------------------------------------------------------ */

/* "urls[i]" or "workers[i].FIELD". */
static void field_name(size_t i, size_t nurls, const char *field, char *out, size_t len)
{
    if (i < nurls)
        snprintf(out, len, "urls[%zu]", i);
    else
        snprintf(out, len, "workers[%zu].%s", i - nurls, field);
}

/* Checks one WorkerSpec into *spec (its URL still as given). NULL, or the
 * field at fault with *why set. */
static const char *check_spec(const PB(WorkerSpec) * in, struct sr_worker_spec *spec,
                              const char **why, char *detail, size_t dlen)
{
    if (in->url == NULL) {
        *why = "required";
        return "url";
    }
    if (in->has_role && !sr_workers_pb_role_parse(in->role, &spec->role)) {
        snprintf(detail, dlen, "not a WorkerRole (got %d)", in->role);
        *why = detail;
        return "role";
    }
    if (in->has_bootstrap_port && spec->role != SR_ROLE_PREFILL) {
        snprintf(detail, dlen, "only a prefill worker has a bootstrap port (this one is %s)",
                 sr_worker_role_name(spec->role));
        *why = detail;
        return "bootstrap_port";
    }
    if (in->has_bootstrap_port && (in->bootstrap_port < 1 || in->bootstrap_port > 65535)) {
        snprintf(detail, dlen, "must be between 1 and 65535 (got %d)", in->bootstrap_port);
        *why = detail;
        return "bootstrap_port";
    }
    if (in->has_bootstrap_port)
        spec->bootstrap_port = in->bootstrap_port;
    if (in->model_id != NULL && !sr_model_name_valid(in->model_id, strlen(in->model_id))) {
        *why = "must be 1-256 printable characters without spaces, quotes or backslashes";
        return "model_id";
    }
    spec->model = in->model_id;
    return NULL;
}

static int by_url(const void *a, const void *b, void *arg)
{
    const struct sr_worker_spec *specs = arg;
    size_t i = *(const size_t *)a, k = *(const size_t *)b;
    int c = strcmp(specs[i].url, specs[k].url);
    return c ? c : (i > k) - (i < k);
}

/* The first URL listed twice (canonical forms are in specs): 0, or
 * SR_ERR_INVALID naming the later one, or SR_ERR_NOMEM. */
static int find_duplicate(const struct sr_workers_pb *w, char *err, size_t errlen)
{
    size_t *order = sr_calloc(w->n + 1, sizeof(*order));
    if (order == NULL)
        return SR_ERR_NOMEM;
    for (size_t i = 0; i < w->n; i++)
        order[i] = i;
    qsort_r(order, w->n, sizeof(*order), by_url, w->specs);
    int rc = 0;
    for (size_t i = 1; i < w->n && rc == 0; i++) {
        if (strcmp(w->specs[order[i]].url, w->specs[order[i - 1]].url) != 0)
            continue;
        char first[48], again[48];
        field_name(order[i - 1], w->nurls, "url", first, sizeof(first));
        field_name(order[i], w->nurls, "url", again, sizeof(again));
        snprintf(err, errlen, "%s: %.300s: duplicate worker URL (also %s)", again,
                 w->specs[order[i]].url, first);
        rc = SR_ERR_INVALID;
    }
    sr_free(order);
    return rc;
}

int sr_workers_pb_specs(char *const *urls, size_t nurls, PB(WorkerSpec) *const *workers,
                        size_t nworkers, struct sr_workers_pb *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t n = nurls + nworkers;
    out->specs = sr_calloc(n + 1, sizeof(*out->specs));
    out->canonical = sr_calloc(n + 1, sizeof(*out->canonical));
    if (out->specs == NULL || out->canonical == NULL)
        return SR_ERR_NOMEM;
    out->nurls = nurls;
    for (size_t i = 0; i < n; i++) {
        struct sr_worker_spec *spec = &out->specs[i];
        *spec =
            (struct sr_worker_spec){.role = SR_ROLE_REGULAR, .bootstrap_port = SR_BOOTSTRAP_NONE};
        const char *url = i < nurls ? urls[i] : workers[i - nurls]->url;
        const char *field = "url", *why = NULL;
        char detail[120], name[48];
        if (i >= nurls)
            field = check_spec(workers[i - nurls], spec, &why, detail, sizeof(detail));
        if (why == NULL) {
            field = "url";
            struct sr_url parsed;
            int rc = sr_url_parse(url, strlen(url), &parsed, &why);
            if (rc == SR_ERR_NOMEM)
                return rc;
            if (rc == 0) {
                out->canonical[i] = parsed.canonical; /* taken over */
                parsed.canonical = NULL;
                sr_url_clear(&parsed);
                spec->url = out->canonical[i];
                out->n++;
                continue;
            }
        }
        field_name(i, nurls, field, name, sizeof(name));
        if (strcmp(field, "url") == 0 && url != NULL)
            snprintf(err, errlen, "%s: %.300s: %s", name, url, why ? why : "invalid");
        else
            snprintf(err, errlen, "%s: %s", name, why ? why : "invalid");
        return SR_ERR_INVALID;
    }
    return find_duplicate(out, err, errlen);
}

void sr_workers_pb_clear(struct sr_workers_pb *w)
{
    for (size_t i = 0; w->canonical && i < w->n; i++) /* parsed in order: the first n */
        sr_free(w->canonical[i]);
    sr_free(w->canonical);
    sr_free(w->specs);
    memset(w, 0, sizeof(*w));
}

void sr_workers_pb_field(const struct sr_workers_pb *w, const char *url, char *out, size_t len)
{
    for (size_t i = 0; i < w->n; i++) {
        if (w->specs[i].url == url) {
            field_name(i, w->nurls, "url", out, len);
            return;
        }
    }
    snprintf(out, len, "workers");
}
