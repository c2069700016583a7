/* proxy: one proxied request from routing to the last byte (see proxy.h). */
#include "proxy.h"

#include "exchange.h"

#include "budget.h"
#include "forward.h"
#include "loop.h"
#include "oracle_probe.h"
#include "response.h"
#include "upstream.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/route_key.h"
#include "common/worker_spec.h"

#include "sync/sync.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The request head for a worker beyond the client's header limit: the
 * worker's base path, Host and X-Request-Id. */
#define HEAD_SLACK (64 * 1024)

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- the exchange's end --------------------------------------------------- */

/* The worker answers: its prefill of this prompt is over. Once per attempt. */
void sr_exchange_prefill_over(struct leg *g)
{
    if (g->prefill == 0)
        return;
    sr_policy_started(g->policy, g->worker, g->prefill);
    g->prefill = 0;
}

/* Streamed tokens came back: that much less to generate. */
static void decoded(struct leg *g, long tokens)
{
    g->generated += tokens;
    if (tokens > g->decode)
        tokens = g->decode;
    if (tokens <= 0)
        return;
    sr_policy_decoded(g->policy, g->worker, tokens);
    g->decode -= tokens;
}

/* -1 in-flight for this leg's attempt, and its outcome to the worker's
 * circuit breaker, exactly once. FAILURE: a connection error, a timeout or
 * a 5xx from the worker; SUCCESS: any other answer (a 4xx is the client's
 * fault); NO_VERDICT: the client left, the router failed itself, or the
 * other half of a pair failed. */
void sr_exchange_end_attempt(struct leg *g, enum sr_breaker_outcome outcome)
{
    if (!g->counted)
        return;
    struct sr_router *r = g->ex->loop->router;
    g->counted = false;
    sr_exchange_prefill_over(g);
    if (g->decode > 0) /* whatever it did not generate, it never will */
        sr_policy_decoded(g->policy, g->worker, g->decode);
    g->decode = 0;
    sr_policy_complete(g->policy, g->worker, outcome);
    atomic_fetch_sub_explicit(&r->in_flight, 1, memory_order_relaxed);
    struct sr_breaker *b = &g->worker->breaker;
    if (sr_breaker_record(b, &r->breaker, g->ticket, outcome, sr_breaker_now_ms())) {
        enum sr_breaker_state st = sr_breaker_state(b, sr_breaker_now_ms());
        if (st == SR_BREAKER_OPEN)
            sr_log_warn("worker %s: circuit breaker open (requests failing); no traffic for %lds",
                        g->worker->url, r->cfg->cb_timeout_duration_secs);
        else
            sr_log_info("worker %s: circuit breaker %s", g->worker->url, sr_breaker_state_name(st));
    }
}

/* Stops a leg's request, if it runs, with outcome for its worker. */
void sr_exchange_cancel_leg(struct leg *g, enum sr_breaker_outcome outcome)
{
    if (g->up) {
        struct sr_upstream *up = g->up;
        g->up = NULL;
        sr_upstream_cancel(up);
    }
    sr_exchange_end_attempt(g, outcome);
}

void sr_exchange_free(struct sr_exchange *ex)
{
    struct sr_loop *l = ex->loop;
    if (ex->prev) { /* off the loop's detached list */
        *ex->prev = ex->next;
        if (ex->next)
            ex->next->prev = ex->prev;
    }
    sr_exchange_cancel_leg(&ex->main, SR_BREAKER_NO_VERDICT); /* client gone, or our own error */
    sr_exchange_cancel_leg(&ex->pre, SR_BREAKER_NO_VERDICT);
    if (ex->deadline)
        event_free(ex->deadline);
    sr_oracle_probe_free(ex->probe);
    sr_worker_set_release(ex->set);
    sr_text_buf_clear(&ex->text_buf);
    sr_free(ex->key);
    sr_buf_free(&ex->main.head);
    sr_buf_free(&ex->pre.head);
    sr_pair_clear(ex);
    const struct sr_route *route = ex->route;
    int status = ex->status;
    sr_proxy_end_cb end = ex->end;
    sr_free(ex);
    end(l, route, status);
}

static void log_request(struct sr_exchange *ex)
{
    if (!sr_settings_refresh(ex->loop->router->settings, &ex->loop->settings)->log_requests)
        return;
    if (ex->pd && ex->pre.worker)
        sr_log_info("%s %.*s %d prefill=%s decode=%s id=%s %.3fs attempts=%d", ex->req.method,
                    (int)ex->req.path_len, ex->req.path, ex->status, ex->pre.worker->url,
                    ex->main.worker ? ex->main.worker->url : "-", ex->request_id,
                    since(&ex->started), ex->attempts);
    else
        sr_log_info("%s %.*s %d worker=%s id=%s %.3fs attempts=%d", ex->req.method,
                    (int)ex->req.path_len, ex->req.path, ex->status,
                    ex->main.worker ? ex->main.worker->url : "-", ex->request_id,
                    since(&ex->started), ex->attempts);
}

/* Ends the exchange with an error response (nothing was sent yet). */
/* The request's views (its path in the log line) are valid until the
 * reply ends: the exchange is logged before its last word to the client. */
void sr_exchange_finish_error(struct sr_exchange *ex, int status, const char *message)
{
    ex->status = status;
    log_request(ex);
    if (ex->conn) {
        sr_reply_detach(ex->conn);
        sr_response_error(ex->conn, status, message);
    }
    sr_exchange_free(ex);
}

/* Ends the exchange after the response went (last: sr_reply_end, or
 * sr_reply_abort for a truncated one; NULL when the client is gone, which
 * cancels both halves of a pair). A prefill worker still answering after
 * the client's answer is complete is drained first: its request is not
 * cut (nothing is wrong with it) and its load is released when it ends. */
void sr_exchange_finish(struct sr_exchange *ex, void (*last)(struct sr_reply *c))
{
    struct sr_loop_metrics *m = &ex->loop->metrics;
    sr_histogram_observe(&m->duration[sr_route_index(ex->route)], since(&ex->started));
    log_request(ex);
    if (last && ex->conn) {
        sr_reply_detach(ex->conn);
        last(ex->conn);
        ex->conn = NULL;
        if (ex->pre.up != NULL && last == sr_reply_end) {
            ex->answered = true;
            struct sr_loop *l = ex->loop;
            ex->next = l->detached;
            if (ex->next)
                ex->next->prev = &ex->next;
            ex->prev = &l->detached;
            l->detached = ex;
            return; /* pre_done / pre_error free the exchange */
        }
    }
    sr_exchange_free(ex);
}

/* ---- attempts -------------------------------------------------------------- */

static void on_head(void *ctx, const struct sr_h1_response *resp);
static void on_body(void *ctx, const char *data, size_t len);
static void on_done(void *ctx);
static void on_error(void *ctx, const char *why, bool responded);

static const struct sr_h1_client_handler handler = {on_head, on_body, on_done, on_error};

static bool may_retry(struct sr_exchange *ex)
{
    return !ex->responded && ex->conn != NULL &&
           ex->attempts <= ex->loop->settings.retry_max_retries && ex->nexcluded < MAX_EXCLUDED;
}

/* Leg g failed before the client saw anything: another worker (for a
 * pair, a new pair: the other half is cancelled), or the error. */
void sr_exchange_retry_or_fail(struct leg *g, int status, const char *why)
{
    struct sr_exchange *ex = g->ex;
    sr_exchange_end_attempt(g,
                            SR_BREAKER_FAILURE); /* 502 (connection), or an answered 502/503/504 */
    if (status == 502) {
        /* The worker could not be reached or broke the connection: this
         * counts like a failed health check (HAProxy's "observe layer4"),
         * so a dead worker stops getting traffic after --health-failure-
         * threshold such failures instead of at the next probes; only
         * active checks bring it back. */
        const struct sr_config *cfg = ex->loop->router->cfg;
        if (sr_worker_report_check(g->worker, false, (int)cfg->health_success_threshold,
                                   (int)cfg->health_failure_threshold))
            sr_log_warn("worker %s is unhealthy: %s", g->worker->url, why);
    }
    snprintf(ex->last_error, sizeof(ex->last_error), "%sworker %s: %s",
             !ex->pd         ? ""
             : g == &ex->pre ? "prefill "
                             : "decode ",
             g->worker->url, why);
    sr_log_warn("request %s: %s", ex->request_id, ex->last_error);
    sr_counter_add(&ex->loop->metrics.worker_errors, 1);
    ex->excluded[ex->nexcluded++] = g->worker->id;
    /* The other half of a pair waits for a transfer that is not coming. */
    sr_exchange_cancel_leg(g == &ex->main ? &ex->pre : &ex->main, SR_BREAKER_NO_VERDICT);
    if (may_retry(ex)) {
        atomic_fetch_add_explicit(&ex->loop->router->retries, 1, memory_order_relaxed);
        sr_exchange_attempt(ex);
        return;
    }
    sr_exchange_finish_error(ex, status, ex->last_error);
}

static void on_head(void *ctx, const struct sr_h1_response *resp)
{
    struct leg *g = ctx;
    struct sr_exchange *ex = g->ex;
    int s = resp->status;
    if ((s == 502 || s == 503 || s == 504) && may_retry(ex)) {
        struct sr_upstream *up = g->up;
        g->up = NULL;
        sr_upstream_cancel(up); /* the rest of this answer is not wanted */
        char why[48];
        snprintf(why, sizeof(why), "answered %d", s);
        sr_exchange_retry_or_fail(g, s, why);
        return;
    }
    g->status = ex->status = s;
    bool hold = ex->merging && s == 200;
    if (!hold)
        ex->responded = true;
    char lines[16384];
    size_t used = sr_forward_response_head(resp, ex->request_id, lines, sizeof(lines));
    if (hold) { /* sent with the merged answer (merge_send) */
        ex->held_status = s;
        sr_buf_reset(&ex->held_head);
        if (sr_buf_append(&ex->held_head, lines, used) != 0)
            ex->merging = false; /* out of memory: the answer goes as it is */
        else
            return;
        ex->responded = true;
    }
    sr_reply_begin(ex->conn, s, lines, used, resp->content_length);
}

static void on_drained(void *arg)
{
    struct leg *g = arg;
    if (g->up)
        sr_upstream_pause(g->up, false);
}

static void on_body(void *ctx, const char *data, size_t len)
{
    struct leg *g = ctx;
    struct sr_exchange *ex = g->ex;
    if (!g->first_byte) {
        g->first_byte = true;
        sr_histogram_observe(&ex->loop->metrics.ttfb[sr_route_index(ex->route)],
                             since(&ex->started));
        sr_exchange_prefill_over(g);
    }
    if (ex->text.stream && g->counted)
        decoded(g, sr_sse_count(&g->sse, data, len));
    if (ex->merging && ex->held_status) {
        sr_pair_merge_decode(ex, data, len);
        return;
    }
    sr_reply_body(ex->conn, data, len);
    if (sr_reply_output_full(ex->conn, sr_budget_response_mark(ex->loop->router))) {
        sr_upstream_pause(g->up, true);
        sr_reply_set_drain_cb(ex->conn, on_drained, g);
    }
}

static void on_done(void *ctx)
{
    struct leg *g = ctx;
    struct sr_exchange *ex = g->ex;
    g->up = NULL; /* back in the pool, or closed, by upstream.c */
    if (!g->first_byte)
        sr_histogram_observe(&ex->loop->metrics.ttfb[sr_route_index(ex->route)],
                             since(&ex->started));
    if (ex->text.stream && ex->status == 200 && g->generated > 0) /* 1/16: a few dozen answers */
        ex->loop->output_tokens += ((double)g->generated - ex->loop->output_tokens) / 16;
    sr_exchange_end_attempt(g, ex->status < 500 ? SR_BREAKER_SUCCESS : SR_BREAKER_FAILURE);
    if (ex->merging && ex->held_status) {
        ex->decode_in = true;
        if (ex->pre_in)
            sr_pair_merge_complete(ex);
        return; /* pre_done / pre_error complete it */
    }
    sr_exchange_finish(ex, sr_reply_end);
}

static void on_error(void *ctx, const char *why, bool local)
{
    struct leg *g = ctx;
    struct sr_exchange *ex = g->ex;
    g->up = NULL;
    if (local) {
        /* Out of descriptors: no worker is to blame (no breaker failure, no
         * health mark) and another attempt would fail the same way. */
        sr_exchange_end_attempt(g, SR_BREAKER_NO_VERDICT);
        sr_log_warn("request %s: cannot connect to worker %s: %s", ex->request_id, g->worker->url,
                    why);
        sr_exchange_finish_error(ex, 503, "the router is out of file descriptors; try again");
        return;
    }
    if (!ex->responded) {
        sr_exchange_retry_or_fail(g, 502, why);
        return;
    }
    /* Mid-response: the client gets a truncated response. */
    sr_exchange_end_attempt(g, SR_BREAKER_FAILURE);
    sr_log_warn("request %s: worker %s failed mid-response: %s", ex->request_id, g->worker->url,
                why);
    sr_counter_add(&ex->loop->metrics.worker_errors, 1);
    sr_exchange_finish(ex, sr_reply_abort);
}

/* ---- choosing workers ------------------------------------------------------ */

/* The policy's choice (info routes: any available worker) that its
 * circuit breaker admits; a worker that refuses (its half-open trials are
 * taken) is excluded and the choice made again. 0, SR_ERR_NO_WORKER, or
 * SR_ERR_CIRCUIT_OPEN when healthy workers exist but every breaker is open. */
static int pick(struct sr_exchange *ex, struct sr_policy *policy, struct sr_route_request *rr,
                uint32_t *ticket, struct sr_worker **out)
{
    const struct sr_breaker_config *cfg = &ex->loop->router->breaker;
    for (;;) {
        struct sr_worker *w = NULL;
        int rc = 0;
        rr->now_ms = sr_breaker_now_ms();
        rr->nexcluded = ex->nexcluded;
        if (ex->route->text != SR_TEXT_NONE) {
            rc = sr_policy_select(policy, rr, &w);
        } else {
            w = sr_route_pick_random(rr);
            rc = w ? 0 : SR_ERR_NO_WORKER;
        }
        if (rc != 0 || w == NULL)
            break;
        if (sr_breaker_admit(&w->breaker, cfg, rr->now_ms, ticket)) {
            *out = w;
            return 0;
        }
        if (ex->nexcluded == MAX_EXCLUDED)
            break;
        ex->excluded[ex->nexcluded++] = w->id;
    }
    if (rr->worker_limit > 0) {
        /* Every worker it may use holds its --max-concurrent-per-worker
         * (the router's one total cannot bound each pool of several models
         * or prefill/decode pairs, and a retry excludes the workers it
         * tried): the choice is made as without the limit. */
        rr->worker_limit = 0;
        return pick(ex, policy, rr, ticket, out);
    }
    for (size_t i = 0; i < rr->workers->count; i++)
        if (sr_worker_routable(rr->workers->workers[i]))
            return SR_ERR_CIRCUIT_OPEN;
    return SR_ERR_NO_WORKER;
}

/* The routing key: the text itself, or while replica sync is configured
 * its block digests (common/route_key.h), made once per request. */
static int routing_key(struct sr_exchange *ex, const void **key, size_t *len)
{
    *key = ex->text.text;
    *len = ex->text.len;
    if (sr_policy_key_unit(&ex->loop->settings.params) == 1 || ex->route->text == SR_TEXT_NONE)
        return 0;
    if (ex->key == NULL) {
        ex->key_len = sr_route_key_len(ex->text.len);
        ex->key = sr_malloc(ex->key_len ? ex->key_len : 1);
        if (ex->key == NULL)
            return SR_ERR_NOMEM;
        sr_route_key_make(ex->text.text, ex->text.len, ex->key);
    }
    *key = ex->key;
    *len = ex->key_len;
    return 0;
}

/* The tokens the request will generate, as the load model counts them:
 * its limit when it sets one, else what answers streamed lately averaged. */
static long expected_output(const struct sr_exchange *ex)
{
    if (ex->route->text == SR_TEXT_NONE)
        return 0;
    if (ex->text.max_tokens >= 0)
        return ex->text.max_tokens < (1L << 24) ? ex->text.max_tokens : (1L << 24);
    return (long)(ex->loop->output_tokens + 0.5);
}

/* Why no worker of a role could be chosen, as the client reads it. */
static void fail_pick(struct sr_exchange *ex, int rc, enum sr_worker_role role)
{
    char msg[200];
    const char *what = role == SR_ROLE_PREFILL  ? "prefill "
                       : role == SR_ROLE_DECODE ? "decode "
                                                : "";
    if (ex->last_error[0])
        sr_exchange_finish_error(ex, 502, ex->last_error);
    else if (rc == SR_ERR_CIRCUIT_OPEN) {
        snprintf(msg, sizeof(msg),
                 "every healthy %sworker's circuit breaker is open (too many failed requests); "
                 "they get trial requests again after --cb-timeout-duration-secs",
                 what);
        sr_exchange_finish_error(ex, 503, msg);
    } else {
        snprintf(msg, sizeof(msg), "no healthy %sworker is available", what);
        sr_exchange_finish_error(ex, 503, msg);
    }
}

/* Chooses leg g's worker among the pool's workers of role and counts it
 * dispatched (+1 in flight, its prefill and decode work). 0, or the
 * exchange has been answered (an error) and freed. */
static int dispatch_leg(struct sr_exchange *ex, struct leg *g, enum sr_worker_role role,
                        const void *key, size_t key_len)
{
    struct sr_loop *l = ex->loop;
    struct sr_router *r = l->router;
    struct sr_policy *policy = l->settings.role_policy[role];
    enum sr_route_outcome outcome = SR_ROUTE_PLAIN;
    size_t prefill = 0, nprobe = 0;
    const uint32_t *probe_cached = sr_oracle_probe_cached(ex->probe, &nprobe);
    /* A pair: the prefill worker computes the prompt, the decode worker
     * generates; each counts only its own part. */
    bool computes = role != SR_ROLE_DECODE, generates = role != SR_ROLE_PREFILL;
    const struct sr_worker_set *workers = ex->pool ? ex->pool->role[role] : ex->set;
    struct sr_route_request rr = {
        .workers = workers,
        .text = key,
        .text_len = key_len,
        .excluded = ex->excluded,
        .nexcluded = ex->nexcluded,
        .rng = &l->rng,
        .params = &l->settings.params,
        .outcome = &outcome,
        .probe_cached = probe_cached,
        .nprobe = nprobe,
        .prefill = &prefill,
        .decode_tokens = generates ? expected_output(ex) : 0,
        .worker_limit = l->settings.limits.max_concurrent_per_worker,
    };
    struct sr_worker *w = NULL;
    int rc = pick(ex, policy, &rr, &g->ticket, &w);
    if (rc != 0) {
        sr_exchange_cancel_leg(&ex->pre, SR_BREAKER_NO_VERDICT); /* a prefill already chosen */
        fail_pick(ex, rc, ex->pd ? role : SR_ROLE_REGULAR);
        return -1;
    }
    if (ex->route->text != SR_TEXT_NONE && computes)
        sr_counter_add(&l->metrics.decisions[outcome], 1);
    if (!computes)
        prefill = 0;
    g->worker = w;
    g->policy = policy;
    sr_policy_dispatch(policy, w, prefill, rr.decode_tokens);
    if (key != ex->text.text)
        sr_sync_placed(r->sync, w, key, key_len, prefill);
    atomic_fetch_add_explicit(&r->in_flight, 1, memory_order_relaxed);
    g->counted = true;
    g->prefill = prefill;
    g->decode = rr.decode_tokens;
    g->generated = 0;
    g->status = 0;
    g->first_byte = false;
    g->sse = (struct sr_sse_counter){{0}};
    return 0;
}

/* Sends leg g's request (body: what its worker gets). 0, or the exchange
 * has been answered and freed. */
static int send_leg(struct sr_exchange *ex, struct leg *g, const char *body, size_t body_len,
                    const struct sr_h1_client_handler *h)
{
    if (sr_forward_request_head(&g->head, &ex->req, &g->worker->parsed, ex->request_id,
                                ex->loop->router->api_keys != NULL, body_len) != 0) {
        sr_exchange_finish_error(ex, 500, "out of memory");
        return -1;
    }
    struct sr_h1_client_request ur = {g->head.data, g->head.len, body, body_len};
    g->up = sr_upstream_start(ex->loop, g->worker, &ur, h, g);
    if (g->up == NULL) {
        sr_exchange_finish_error(ex, 500, "out of memory");
        return -1;
    }
    return 0;
}

void sr_exchange_attempt(struct sr_exchange *ex)
{
    struct sr_loop *l = ex->loop;
    ex->attempts++;
    sr_settings_refresh(l->router->settings, &l->settings);
    const void *key;
    size_t key_len;
    if (routing_key(ex, &key, &key_len) != 0) {
        sr_exchange_finish_error(ex, 500, "out of memory");
        return;
    }
    if (!ex->pd) {
        if (dispatch_leg(ex, &ex->main, SR_ROLE_REGULAR, key, key_len) == 0)
            send_leg(ex, &ex->main, ex->req.body, ex->req.body_len, &handler);
        return;
    }
    /* A pair, chosen independently: the prefill side by its policy (where
     * the prefix cache is), the decode side by its own; both get the same
     * body at once. */
    if (dispatch_leg(ex, &ex->pre, SR_ROLE_PREFILL, key, key_len) != 0 ||
        dispatch_leg(ex, &ex->main, SR_ROLE_DECODE, key, key_len) != 0)
        return;
    if (sr_pair_begin_attempt(ex) != 0)
        return;
    if (send_leg(ex, &ex->pre, ex->body.data, ex->body.len, &sr_pair_handler) == 0)
        send_leg(ex, &ex->main, ex->body.data, ex->body.len, &handler);
}

/* ---- client side ------------------------------------------------------- */

/* The oracle's answers are in (oracle_probe.h). */
static void probed(void *arg)
{
    sr_exchange_attempt(arg);
}

static void on_client_gone(void *arg)
{
    struct sr_exchange *ex = arg;
    ex->conn = NULL;
    sr_counter_add(&ex->loop->metrics.client_aborts, 1);
    ex->status = 499;             /* nginx's "client closed request" */
    sr_exchange_finish(ex, NULL); /* cancels both halves: the workers stop */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sr_exchange *ex = arg;
    if (ex->answered) { /* only a prefill answer was still draining */
        sr_exchange_cancel_leg(&ex->pre, SR_BREAKER_FAILURE);
        sr_exchange_free(ex);
        return;
    }
    sr_exchange_cancel_leg(&ex->main, SR_BREAKER_FAILURE);
    sr_exchange_cancel_leg(&ex->pre,
                           ex->pre.first_byte ? SR_BREAKER_NO_VERDICT : SR_BREAKER_FAILURE);
    if (!ex->responded) {
        sr_exchange_finish_error(ex, 504,
                                 "the worker did not answer within --request-timeout-secs");
        return;
    }
    ex->status = 504;
    sr_exchange_finish(ex, sr_reply_abort);
}

static void set_request_id(struct sr_exchange *ex)
{
    const struct sr_http_header *h = sr_request_header(&ex->req, "x-request-id");
    if (h && h->value_len > 0 && h->value_len < sizeof(ex->request_id)) {
        bool sane = true;
        for (size_t i = 0; i < h->value_len; i++)
            sane &= h->value[i] > 0x20 && h->value[i] < 0x7f;
        if (sane) {
            memcpy(ex->request_id, h->value, h->value_len);
            ex->request_id[h->value_len] = '\0';
            return;
        }
    }
    uint64_t a = sr_rng_next(&ex->loop->rng), b = sr_rng_next(&ex->loop->rng);
    snprintf(ex->request_id, sizeof(ex->request_id), "%016llx%016llx", (unsigned long long)a,
             (unsigned long long)b);
}

/* The model's workers (registry.h's pools), or the request answered: 400
 * when several models are served and it names none, 404 (OpenAI's
 * model_not_found) when none serves the one it names. Info routes (no
 * body) go to any worker. */
static int choose_pool(struct sr_exchange *ex)
{
    const struct sr_worker_pool *pool = NULL;
    enum sr_pool_lookup found =
        sr_worker_set_pool(ex->set, ex->text.model, ex->text.model_len, &pool);
    if (ex->route->text == SR_TEXT_NONE) {
        ex->pool = NULL; /* any worker answers what it is */
        return 0;
    }
    if (found == SR_POOL_MODEL_REQUIRED) {
        ex->status = 400;
        log_request(ex);
        sr_reply_detach(ex->conn);
        sr_response_error_code(ex->conn, 400, "invalid_request_error", "missing_model",
                               "several models are served here: name one in the request's "
                               "\"model\" field (GET /v1/models lists them)");
        sr_exchange_free(ex);
        return -1;
    }
    if (found == SR_POOL_MODEL_UNKNOWN) {
        char msg[SR_MODEL_MAX + 96];
        snprintf(msg, sizeof(msg),
                 "The model `%.*s` does not exist or you do not have access to it.",
                 (int)(ex->text.model_len < SR_MODEL_MAX ? ex->text.model_len : SR_MODEL_MAX),
                 ex->text.model);
        ex->status = 404;
        log_request(ex);
        sr_reply_detach(ex->conn);
        sr_response_error_code(ex->conn, 404, "invalid_request_error", "model_not_found", msg);
        sr_exchange_free(ex);
        return -1;
    }
    ex->pool = pool;
    ex->pd = sr_worker_pool_disaggregated(pool);
    if (ex->pd && ex->text.sets_bootstrap) {
        sr_exchange_finish_error(
            ex, 400,
            "bootstrap_host, bootstrap_port and bootstrap_room are set by the router "
            "in disaggregated serving; remove them from the request");
        return -1;
    }
    return 0;
}

void sr_proxy_start(struct sr_reply *c, const struct sr_request *req, const struct sr_route *route,
                    sr_proxy_end_cb end)
{
    struct sr_loop *l = sr_reply_loop(c);
    struct sr_exchange *ex = sr_calloc(1, sizeof(*ex));
    if (ex == NULL) {
        sr_response_error(c, 500, "out of memory");
        end(l, route, 0);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &ex->started);
    ex->loop = l;
    ex->conn = c;
    ex->end = end;
    ex->route = route;
    ex->req = *req;
    size_t head_max = (size_t)l->router->cfg->max_header_size + HEAD_SLACK;
    sr_buf_init(&ex->main.head, head_max);
    sr_buf_init(&ex->pre.head, head_max);
    sr_pair_init(ex);
    ex->main.ex = ex->pre.ex = ex;
    ex->text.text = "";
    set_request_id(ex);
    ex->set = sr_loop_workers(l);
    sr_worker_set_ref(ex->set);
    ex->deadline = evtimer_new(l->base, on_deadline, ex);
    if (ex->deadline == NULL) {
        sr_exchange_finish_error(ex, 500, "out of memory");
        return;
    }
    if (route->text != SR_TEXT_NONE) {
        const char *why = NULL;
        int rc = sr_routing_text_extract(route->text, req->body, req->body_len, &ex->text_buf,
                                         &ex->text, &why);
        if (rc != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "invalid JSON body: %s", why);
            sr_exchange_finish_error(ex, rc == SR_ERR_NOMEM ? 500 : 400, msg);
            return;
        }
    }
    if (choose_pool(ex) != 0)
        return;
    struct timeval tv = {l->router->cfg->request_timeout_secs, 0};
    event_add(ex->deadline, &tv);
    sr_reply_attach(c, ex, on_client_gone);
    sr_settings_refresh(l->router->settings, &l->settings);
    if (route->text != SR_TEXT_NONE && !ex->pd && sr_policy_needs_probe(l->settings.policy)) {
        /* The oracle asks the workers first; attempt() runs once they all
         * answered. */
        ex->probe = sr_oracle_probe_start(l, ex->pool ? ex->pool->role[SR_ROLE_REGULAR] : ex->set,
                                          route->text, req->body, req->body_len, probed, ex);
        if (ex->probe == NULL)
            sr_exchange_finish_error(ex, 500, "out of memory");
        return;
    }
    sr_exchange_attempt(ex);
}

bool sr_proxy_idle(const struct sr_loop *l)
{
    return l->detached == NULL;
}

void sr_proxy_close_detached(struct sr_loop *l)
{
    while (l->detached)
        sr_exchange_free(l->detached); /* cancels the prefill answer still draining */
}
