/* metrics_http: Prometheus text exposition (see metrics_http.h). */
#include "metrics_http.h"

#include "accept_guard.h"
#include "budget.h"
#include "loop.h"
#include "pipeline.h"
#include "routes.h"

#include "common/alloc.h"
#include "common/log.h"

#include "sync/sync.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>

struct sr_metrics_http {
    struct sr_router *router;
    struct evhttp *http;
};

static unsigned long sum_loops(struct sr_router *r, size_t offset)
{
    unsigned long n = 0;
    for (size_t i = 0; i < r->nloops; i++)
        n += sr_counter_get((const atomic_ulong *)((const char *)&r->loops[i]->metrics + offset));
    return n;
}

static void worker_label(FILE *out, const struct sr_worker *w)
{
    fputs("{worker=\"", out);
    sr_metrics_write_label_value(out, w->url);
    fputs("\"}", out);
}

/* Replica sync (sync/sync.h): state, traffic, drops, lag, peers. */
static void render_sync(struct sr_router *r, FILE *out)
{
    struct sr_sync_status st;
    if (r->sync == NULL || sr_sync_status(r->sync, &st) != 0)
        return;
    sr_metrics_write_header(out, "sglang_router_sync_up", "gauge",
                            "1 while this replica is joined to its --sync-group over NATS.");
    fprintf(out, "sglang_router_sync_up %d\n", st.state == SR_SYNC_UP);
    sr_metrics_write_header(out, "sglang_router_sync_state", "gauge",
                            "Replica sync state: 1 for the one in force.");
    for (int s = SR_SYNC_OFF; s <= SR_SYNC_REFUSED; s++)
        fprintf(out, "sglang_router_sync_state{state=\"%s\"} %d\n",
                sr_sync_state_name((enum sr_sync_state)s), st.state == (enum sr_sync_state)s);
    static const char *const help[] = {
        "Replica sync messages published (placements, load reports, snapshots).",
        "Replica sync payload bytes published.",
        "Replica sync messages received from peers.",
        "Replica sync payload bytes received from peers.",
        "Placements learned from peers into the tree.",
        "Snapshots of the view received from a peer.",
        "Snapshots of the view served to a peer.",
    };
    static const char *const names[] = {
        "sglang_router_sync_messages_sent_total",
        "sglang_router_sync_bytes_sent_total",
        "sglang_router_sync_messages_received_total",
        "sglang_router_sync_bytes_received_total",
        "sglang_router_sync_placements_learned_total",
        "sglang_router_sync_snapshots_received_total",
        "sglang_router_sync_snapshots_served_total",
    };
    const uint64_t values[] = {st.messages_sent,   st.bytes_sent,         st.messages_received,
                               st.bytes_received,  st.placements_learned, st.snapshots_received,
                               st.snapshots_served};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        sr_metrics_write_header(out, names[i], "counter", help[i]);
        fprintf(out, "%s %llu\n", names[i], (unsigned long long)values[i]);
    }
    sr_metrics_write_header(out, "sglang_router_sync_dropped_total", "counter",
                            "Replica sync messages dropped, by reason.");
    fprintf(out, "sglang_router_sync_dropped_total{reason=\"malformed\"} %llu\n",
            (unsigned long long)st.dropped_malformed);
    fprintf(out, "sglang_router_sync_dropped_total{reason=\"oversized\"} %llu\n",
            (unsigned long long)st.dropped_oversized);
    fprintf(out, "sglang_router_sync_dropped_total{reason=\"group\"} %llu\n",
            (unsigned long long)st.dropped_group);
    fprintf(out, "sglang_router_sync_dropped_total{reason=\"worker\"} %llu\n",
            (unsigned long long)st.dropped_worker);
    sr_metrics_write_header(out, "sglang_router_sync_lag_seconds", "gauge",
                            "From a peer's publish to its use here (moving average).");
    fprintf(out, "sglang_router_sync_lag_seconds %.6f\n", st.lag_seconds);
    sr_metrics_write_header(out, "sglang_router_sync_peers", "gauge",
                            "Replicas of the group heard from in the last seconds.");
    fprintf(out, "sglang_router_sync_peers %zu\n", st.npeers);
    sr_sync_status_clear(&st);
}

static void render_requests(struct sr_router *r, FILE *out)
{
    sr_metrics_write_header(out, "sglang_router_requests_total", "counter",
                            "Requests answered, by route and HTTP status.");
    const struct sr_route *routes = sr_routes_all();
    for (unsigned i = 0; routes[i].path; i++) {
        for (int s = 0; s < SR_STATUS_SLOTS; s++) {
            unsigned long n = 0;
            for (size_t k = 0; k < r->nloops; k++)
                n += sr_counter_get(&r->loops[k]->metrics.requests[i][s]);
            if (n == 0)
                continue;
            char status[16];
            if (sr_status_slots[s])
                snprintf(status, sizeof(status), "%d", sr_status_slots[s]);
            else
                snprintf(status, sizeof(status), "other");
            fprintf(out, "sglang_router_requests_total{route=\"%s\",status=\"%s\"} %lu\n",
                    routes[i].path, status, n);
        }
    }
    static const char *const names[] = {"sglang_router_request_duration_seconds",
                                        "sglang_router_time_to_first_byte_seconds"};
    static const char *const helps[] = {
        "Time from request to the last response byte, proxied routes.",
        "Time from request to the first response body byte (first token when streaming)."};
    for (int h = 0; h < 2; h++) {
        sr_metrics_write_header(out, names[h], "histogram", helps[h]);
        for (unsigned i = 0; routes[i].path; i++) {
            if (routes[i].kind != SR_KIND_PROXY || routes[i].text == SR_TEXT_NONE)
                continue;
            const struct sr_histogram *shards[64];
            size_t n = r->nloops < 64 ? r->nloops : 64;
            for (size_t k = 0; k < n; k++)
                shards[k] =
                    h == 0 ? &r->loops[k]->metrics.duration[i] : &r->loops[k]->metrics.ttfb[i];
            char labels[128];
            snprintf(labels, sizeof(labels), "route=\"%s\"", routes[i].path);
            sr_metrics_write_histogram(out, names[h], labels, shards, n);
        }
    }
}

/* What each worker is (role, model), to join the per-worker series on,
 * and the healthy workers of each model and role. */
static void render_roles(const struct sr_worker_set *set, FILE *out)
{
    sr_metrics_write_header(out, "sglang_router_worker_info", "gauge",
                            "1 per worker, labelled with its role (regular, prefill, decode) and "
                            "the model it serves (empty while not known).");
    for (size_t i = 0; i < set->count; i++) {
        const struct sr_worker *w = set->workers[i];
        const char *model = sr_worker_model(w);
        fputs("sglang_router_worker_info{worker=\"", out);
        sr_metrics_write_label_value(out, w->url);
        fprintf(out, "\",role=\"%s\",model=\"", sr_worker_role_name(w->role));
        sr_metrics_write_label_value(out, model ? model : "");
        fputs("\"} 1\n", out);
    }
    sr_metrics_write_header(out, "sglang_router_healthy_workers", "gauge",
                            "Workers passing health checks, by model and role.");
    for (size_t p = 0; p < set->npools; p++) {
        const struct sr_worker_pool *pool = &set->pools[p];
        for (int role = 0; role < SR_ROLES; role++) {
            const struct sr_worker_set *v = pool->role[role];
            if (v->count == 0)
                continue;
            size_t healthy = 0;
            for (size_t i = 0; i < v->count; i++)
                healthy += sr_worker_routable(v->workers[i]);
            fputs("sglang_router_healthy_workers{model=\"", out);
            sr_metrics_write_label_value(out, pool->model ? pool->model : "");
            fprintf(out, "\",role=\"%s\"} %zu\n", sr_worker_role_name((enum sr_worker_role)role),
                    healthy);
        }
    }
}

static void render_workers(struct sr_router *r, FILE *out)
{
    struct sr_worker_set *set = sr_registry_acquire(r->registry);
    if (set == NULL)
        return;
    static const char *const names[] = {
        "sglang_router_worker_healthy",          "sglang_router_worker_in_flight",
        "sglang_router_worker_processed_total",  "sglang_router_worker_failures_total",
        "sglang_router_worker_tree_bytes",       "sglang_router_worker_pending_prefill_bytes",
        "sglang_router_worker_circuit_state",    "sglang_router_worker_circuit_opened_total",
        "sglang_router_worker_reported_running", "sglang_router_worker_reported_waiting",
        "sglang_router_worker_reported_tokens",  "sglang_router_worker_external_load",
        "sglang_router_worker_decode_tokens",
    };
    static const char *const types[] = {"gauge", "gauge", "counter", "counter", "gauge",
                                        "gauge", "gauge", "counter", "gauge",   "gauge",
                                        "gauge", "gauge", "gauge"};
    static const char *const helps[] = {
        "1 when the worker passes health checks and receives traffic.",
        "Requests dispatched to the worker and not finished.",
        "Requests the worker completed.",
        "Requests that ended in a worker error.",
        "Prompt text the cache-aware tree attributes to the worker.",
        "Uncached prompt bytes dispatched to the worker and not yet answered.",
        "Circuit breaker: 0 closed, 1 open (no traffic), 2 half-open (trial requests).",
        "Times the circuit breaker opened (the worker was taken out of rotation).",
        "Requests the worker says it runs (its /get_load or /metrics); -1: no report.",
        "Requests the worker says it queues; -1: no report.",
        "Tokens the worker says it holds and queues (SGLang's num_tokens); -1: not said.",
        "Requests it reported beyond the fleet's own, counted by routing; 0 when stale.",
        "Tokens this router's requests on the worker have still to generate (load model).",
    };
    uint64_t now_ms = sr_breaker_now_ms();
    uint64_t max_age_ms = sr_config_load_max_age_ms(r->cfg);
    for (int m = 0; m < (int)(sizeof(names) / sizeof(names[0])); m++) {
        sr_metrics_write_header(out, names[m], types[m], helps[m]);
        for (size_t i = 0; i < set->count; i++) {
            struct sr_worker *w = set->workers[i];
            long v = 0;
            switch (m) {
            case 0:
                v = sr_worker_routable(w);
                break;
            case 1:
                v = sr_worker_load(w);
                break;
            case 2:
                v = (long)atomic_load(&w->processed);
                break;
            case 3:
                v = (long)atomic_load(&w->failures);
                break;
            case 4:
                v = (long)sr_policy_worker_tree_bytes(sr_settings_role_policy(r->settings, w->role),
                                                      w);
                break;
            case 5:
                v = sr_worker_pending_prefill(w);
                break;
            case 6:
                v = (long)sr_breaker_state(&w->breaker, now_ms);
                break;
            case 7:
                v = (long)sr_breaker_opened_total(&w->breaker);
                break;
            case 8:
                v = atomic_load(&w->reported_running);
                break;
            case 9:
                v = atomic_load(&w->reported_waiting);
                break;
            case 10:
                v = atomic_load(&w->reported_tokens);
                break;
            case 11:
                v = sr_worker_external_load(w, now_ms, max_age_ms);
                break;
            default:
                v = sr_worker_decode_left(w);
                break;
            }
            fputs(names[m], out);
            worker_label(out, w);
            fprintf(out, " %ld\n", v);
        }
    }
    render_roles(set, out);
    sr_worker_set_release(set);
}

void sr_metrics_render(struct sr_router *r, FILE *out)
{
    render_requests(r, out);
    render_workers(r, out);
    sr_metrics_write_header(
        out, "sglang_router_cache_aware_decisions_total", "counter",
        "Routing decisions by reason: cache_hit (match above the threshold), "
        "cache_miss (smallest tree among the workers not overloaded), imbalance "
        "(the match's worker overloaded: the least loaded), load_balanced, plain.");
    for (int o = 0; o < SR_ROUTE_OUTCOMES; o++) {
        unsigned long n = 0;
        for (size_t k = 0; k < r->nloops; k++)
            n += sr_counter_get(&r->loops[k]->metrics.decisions[o]);
        fprintf(out, "sglang_router_cache_aware_decisions_total{outcome=\"%s\"} %lu\n",
                sr_route_outcome_names[o], n);
    }
    struct sr_radix_stats ts;
    if (sr_settings_tree_stats(r->settings, &ts)) {
        sr_metrics_write_header(out, "sglang_router_tree_nodes", "gauge",
                                "Nodes of the cache-aware tree.");
        fprintf(out, "sglang_router_tree_nodes %zu\n", ts.node_count);
        sr_metrics_write_header(out, "sglang_router_tree_memory_bytes", "gauge",
                                "Heap used by the cache-aware tree.");
        fprintf(out, "sglang_router_tree_memory_bytes %zu\n", ts.memory_bytes);
    }
    sr_metrics_write_header(out, "sglang_router_retries_total", "counter",
                            "Requests sent again to another worker.");
    fprintf(out, "sglang_router_retries_total %lu\n", atomic_load(&r->retries));
    sr_metrics_write_header(out, "sglang_router_client_aborts_total", "counter",
                            "Requests whose client went away before the end.");
    fprintf(out, "sglang_router_client_aborts_total %lu\n",
            sum_loops(r, offsetof(struct sr_loop_metrics, client_aborts)));
    sr_metrics_write_header(out, "sglang_router_worker_errors_total", "counter",
                            "Failed attempts: unreachable worker, broken response, 5xx retried.");
    fprintf(out, "sglang_router_worker_errors_total %lu\n",
            sum_loops(r, offsetof(struct sr_loop_metrics, worker_errors)));
    sr_metrics_write_header(out, "sglang_router_in_flight_requests", "gauge",
                            "Proxied requests in flight.");
    fprintf(out, "sglang_router_in_flight_requests %ld\n", atomic_load(&r->in_flight));
    sr_metrics_write_header(out, "sglang_router_queued_requests", "gauge",
                            "Requests waiting for a slot (sglang_router_concurrency_limit).");
    fprintf(out, "sglang_router_queued_requests %ld\n", atomic_load(&r->queued));
    sr_metrics_write_header(out, "sglang_router_concurrency_limit", "gauge",
                            "Requests proxied at once before others queue: "
                            "--max-concurrent-requests, --max-concurrent-per-worker times "
                            "the healthy workers (0 = no limit).");
    fprintf(out, "sglang_router_concurrency_limit %ld\n", sr_pipeline_limit_in_force(r));
    sr_metrics_write_header(out, "sglang_router_connections_refused_total", "counter",
                            "Client connections closed at accept: --max-connections reached.");
    fprintf(out, "sglang_router_connections_refused_total %lu\n",
            atomic_load(&r->connections_refused));
    sr_metrics_write_header(out, "sglang_router_accept_pauses_total", "counter",
                            "Pauses in accepting: the process ran out of descriptors.");
    fprintf(out, "sglang_router_accept_pauses_total %lu\n", atomic_load(&r->accept_pauses));
    sr_metrics_write_header(out, "sglang_router_buffered_response_bytes", "gauge",
                            "Response bytes held for clients (--response-buffer-budget-bytes).");
    fprintf(out, "sglang_router_buffered_response_bytes %ld\n", sr_budget_used(r));
    sr_metrics_write_header(out, "sglang_router_slow_clients_closed_total", "counter",
                            "Clients closed over the buffer budget after reading nothing for "
                            "--slow-client-grace-secs.");
    fprintf(out, "sglang_router_slow_clients_closed_total %lu\n",
            atomic_load(&r->slow_clients_closed));
    sr_metrics_write_header(out, "sglang_router_open_connections", "gauge",
                            "Client connections open, per event-loop thread.");
    for (size_t i = 0; i < r->nloops; i++)
        fprintf(out, "sglang_router_open_connections{loop=\"%zu\"} %ld\n", i,
                atomic_load_explicit(&r->loops[i]->nconns, memory_order_relaxed));
    render_sync(r, out);
}

static void on_accept_error(struct evconnlistener *listener, void *arg)
{
    (void)arg; /* evhttp's own */
    sr_accept_guard_on_error(listener, NULL);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct sr_metrics_http *m = arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET ||
        strcmp(evhttp_request_get_uri(req), "/metrics") != 0) {
        evhttp_send_error(req, 404, "only GET /metrics here");
        return;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    sr_metrics_render(m->router, out);
    fclose(out);
    struct evbuffer *body = evbuffer_new();
    if (body == NULL || text == NULL) {
        free(text);
        if (body)
            evbuffer_free(body);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(body, text, len);
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", body);
    evbuffer_free(body);
}

struct sr_metrics_http *sr_metrics_http_new(struct sr_router *r, struct event_base *base,
                                            int *bound_port)
{
    struct sr_metrics_http *m = sr_calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->router = r;
    m->http = evhttp_new(base);
    struct evhttp_bound_socket *s =
        m->http ? evhttp_bind_socket_with_handle(m->http, r->cfg->prometheus_host,
                                                 (ev_uint16_t)r->cfg->prometheus_port)
                : NULL;
    if (s == NULL) {
        sr_log_error("cannot listen for metrics on %s:%ld", r->cfg->prometheus_host,
                     r->cfg->prometheus_port);
        sr_metrics_http_free(m);
        return NULL;
    }
    evhttp_set_gencb(m->http, on_request, m);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    /* Out of descriptors, evhttp's listener would spin on accept(). */
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s), on_accept_error);
    getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &len);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return m;
}

void sr_metrics_http_free(struct sr_metrics_http *m)
{
    if (m == NULL)
        return;
    if (m->http)
        evhttp_free(m->http);
    sr_free(m);
}
