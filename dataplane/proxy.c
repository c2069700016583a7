/* proxy: one proxied request from routing to the last byte (see proxy.h). */
#include "proxy.h"

#include "budget.h"
#include "loop.h"
#include "oracle_probe.h"
#include "response.h"
#include "upstream.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/route_key.h"

#include "sync/sync.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_EXCLUDED 64

/* The request head for a worker beyond the client's header limit: the
 * worker's base path, Host and X-Request-Id. */
#define HEAD_SLACK (64 * 1024)

struct exchange {
    struct sr_loop *loop;
    struct sr_reply *conn; /* NULL once the client is gone */
    sr_proxy_end_cb end;
    const struct sr_route *route;
    struct sr_request req;
    struct sr_text_buf text_buf;
    struct sr_routing_text text;
    char request_id[72];
    struct sr_worker_set *set; /* referenced for the exchange's life */
    struct sr_worker *worker;  /* this attempt's (borrowed from set) */
    struct sr_policy *policy;  /* that chose it (settings keep it alive) */
    bool counted;              /* this attempt holds an in-flight count */
    uint32_t ticket;           /* its circuit breaker ticket (breaker.h) */
    size_t prefill;            /* its prompt bytes still counted as pending prefill */
    long decode;               /* its tokens still counted as to generate (decode_left) */
    long generated;            /* tokens seen streaming back in this attempt */
    char sse_tail[2];          /* the last two response bytes: [0] last, [1] before it */
    uint32_t excluded[MAX_EXCLUDED];
    size_t nexcluded;
    int attempts;
    struct sr_upstream *up;
    struct event *deadline;
    struct sr_buf head; /* the request head for this attempt's worker */
    bool responded;     /* the response head went to the client */
    bool first_byte;
    int status;
    struct timespec started;
    char last_error[160];
    struct sr_oracle_probe *probe; /* the oracle policy's question to the workers, or NULL */
    unsigned char *key; /* the routing key when it is not the text (replica sync), or NULL */
    size_t key_len;
};

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- headers ------------------------------------------------------------ */

static bool name_is(const struct sr_http_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

/* Hop-by-hop headers (RFC 9110 §7.6.1), the framing we set ourselves, and
 * any header the Connection header names. A name that is not a token
 * (never from our codecs, which reject them) is dropped too: a spelling
 * such as "Transfer-Encoding " must not reach a peer that trims it. */
static bool hop_by_hop(const struct sr_http_header *h, const struct sr_http_header *all, size_t n)
{
    if (!sr_http_is_token(h->name, h->name_len))
        return true;
    static const char *const names[] = {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (name_is(h, names[i]))
            return true;
    for (size_t i = 0; i < n; i++) {
        if (!name_is(&all[i], "connection"))
            continue;
        char token[64];
        if (h->name_len >= sizeof(token))
            continue;
        memcpy(token, h->name, h->name_len);
        token[h->name_len] = '\0';
        if (sr_h1_token_list_has(all[i].value, all[i].value_len, token))
            return true;
    }
    return false;
}

static int head_add(struct exchange *ex, const char *p, size_t n)
{
    return sr_buf_append(&ex->head, p, n);
}

static int head_str(struct exchange *ex, const char *s)
{
    return sr_buf_append_str(&ex->head, s);
}

/* The request as the worker gets it: its base path, its Host, end-to-end
 * headers as the client sent them, X-Request-Id, the body's length. */
static int build_request_head(struct exchange *ex)
{
    const struct sr_request *r = &ex->req;
    const struct sr_url *url = &ex->worker->parsed;
    char line[512];
    int rc = 0;
    sr_buf_reset(&ex->head);
    rc |= head_str(ex, r->method);
    rc |= head_add(ex, " ", 1);
    rc |= head_str(ex, url->base_path);
    rc |= head_add(ex, r->path, r->path_len);
    if (r->query) {
        rc |= head_add(ex, "?", 1);
        rc |= head_add(ex, r->query, r->query_len);
    }
    char authority[300];
    sr_url_authority(url, authority, sizeof(authority));
    snprintf(line, sizeof(line), " HTTP/1.1\r\nHost: %s\r\n", authority);
    rc |= head_str(ex, line);
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct sr_http_header *h = &r->headers[i];
        /* X-Request-Id: exactly one goes out, ours (the client's when it is
         * safe to forward, else a fresh one). */
        if (hop_by_hop(h, r->headers, r->nheaders) || name_is(h, "host") || name_is(h, "expect") ||
            name_is(h, "http2-settings") || name_is(h, "x-request-id"))
            continue;
        /* A key the router checked was meant for the router: workers never
         * see it. Without router keys the client's header passes through. */
        if (ex->loop->router->api_keys && name_is(h, "authorization"))
            continue;
        rc |= head_add(ex, h->name, h->name_len);
        rc |= head_add(ex, ": ", 2);
        rc |= head_add(ex, h->value, h->value_len);
        rc |= head_add(ex, "\r\n", 2);
    }
    snprintf(line, sizeof(line), "X-Request-Id: %s\r\n", ex->request_id);
    rc |= head_str(ex, line);
    if (r->body_len > 0 || strcmp(r->method, "POST") == 0) {
        snprintf(line, sizeof(line), "Content-Length: %zu\r\n", r->body_len);
        rc |= head_str(ex, line);
    }
    rc |= head_add(ex, "\r\n", 2);
    return rc ? -1 : 0;
}

/* ---- the exchange's end --------------------------------------------------- */

/* The worker answers: its prefill of this prompt is over. Once per attempt. */
static void prefill_over(struct exchange *ex)
{
    if (ex->prefill == 0)
        return;
    sr_policy_started(ex->policy, ex->worker, ex->prefill);
    ex->prefill = 0;
}

/* Streamed tokens came back: that much less to generate. */
static void decoded(struct exchange *ex, long tokens)
{
    ex->generated += tokens;
    if (tokens > ex->decode)
        tokens = ex->decode;
    if (tokens <= 0)
        return;
    sr_policy_decoded(ex->policy, ex->worker, tokens);
    ex->decode -= tokens;
}

/* The byte k (1 or 2) places before data[i], from earlier chunks if need be. */
static char byte_before(const struct exchange *ex, const char *data, size_t i, size_t k)
{
    return i >= k ? data[i - k] : ex->sse_tail[k - i - 1];
}

/* Server-sent events in a chunk of a streamed answer, each ended by a
 * blank line ("\n\n" or "\n\r\n"): each carries about one token (SGLang
 * and OpenAI-style servers stream token by token). */
static long count_events(struct exchange *ex, const char *data, size_t len)
{
    long n = 0;
    for (const char *nl = data, *end = data + len;
         nl < end && (nl = memchr(nl, '\n', (size_t)(end - nl))) != NULL; nl++) {
        size_t i = (size_t)(nl - data);
        char b1 = byte_before(ex, data, i, 1);
        if (b1 == '\n' || (b1 == '\r' && byte_before(ex, data, i, 2) == '\n'))
            n++;
    }
    if (len >= 2) {
        ex->sse_tail[1] = data[len - 2];
        ex->sse_tail[0] = data[len - 1];
    } else if (len == 1) {
        ex->sse_tail[1] = ex->sse_tail[0];
        ex->sse_tail[0] = data[0];
    }
    return n;
}

/* -1 in-flight for this attempt, and its outcome to the worker's circuit
 * breaker, exactly once. FAILURE: a connection error, a timeout or a 5xx
 * from the worker; SUCCESS: any other answer (a 4xx is the client's fault);
 * NO_VERDICT: the client left, or the router failed itself. */
static void end_attempt(struct exchange *ex, enum sr_breaker_outcome outcome)
{
    if (!ex->counted)
        return;
    ex->counted = false;
    prefill_over(ex);
    if (ex->decode > 0) /* whatever it did not generate, it never will */
        sr_policy_decoded(ex->policy, ex->worker, ex->decode);
    ex->decode = 0;
    sr_policy_complete(ex->policy, ex->worker, outcome);
    atomic_fetch_sub_explicit(&ex->loop->router->in_flight, 1, memory_order_relaxed);
    struct sr_breaker *b = &ex->worker->breaker;
    if (sr_breaker_record(b, &ex->loop->router->breaker, ex->ticket, outcome,
                          sr_breaker_now_ms())) {
        enum sr_breaker_state st = sr_breaker_state(b, sr_breaker_now_ms());
        if (st == SR_BREAKER_OPEN)
            sr_log_warn("worker %s: circuit breaker open (requests failing); no traffic for %lds",
                        ex->worker->url, ex->loop->router->cfg->cb_timeout_duration_secs);
        else
            sr_log_info("worker %s: circuit breaker %s", ex->worker->url,
                        sr_breaker_state_name(st));
    }
}

static void exchange_free(struct exchange *ex)
{
    struct sr_loop *l = ex->loop;
    end_attempt(ex, SR_BREAKER_NO_VERDICT); /* client gone, or our own error */
    if (ex->up)
        sr_upstream_cancel(ex->up);
    if (ex->deadline)
        event_free(ex->deadline);
    sr_oracle_probe_free(ex->probe);
    sr_worker_set_release(ex->set);
    sr_text_buf_clear(&ex->text_buf);
    sr_free(ex->key);
    sr_buf_free(&ex->head);
    const struct sr_route *route = ex->route;
    int status = ex->status;
    sr_proxy_end_cb end = ex->end;
    sr_free(ex);
    end(l, route, status);
}

static void log_request(struct exchange *ex)
{
    if (!sr_settings_refresh(ex->loop->router->settings, &ex->loop->settings)->log_requests)
        return;
    sr_log_info("%s %.*s %d worker=%s id=%s %.3fs attempts=%d", ex->req.method,
                (int)ex->req.path_len, ex->req.path, ex->status, ex->worker ? ex->worker->url : "-",
                ex->request_id, since(&ex->started), ex->attempts);
}

/* Ends the exchange with an error response (nothing was sent yet). */
/* The request's views (its path in the log line) are valid until the
 * reply ends: the exchange is logged before its last word to the client. */
static void finish_error(struct exchange *ex, int status, const char *message)
{
    ex->status = status;
    log_request(ex);
    if (ex->conn) {
        sr_reply_detach(ex->conn);
        sr_response_error(ex->conn, status, message);
    }
    exchange_free(ex);
}

/* Ends the exchange after the response went (last: sr_reply_end, or
 * sr_reply_abort for a truncated one; NULL when the client is gone). */
static void finish(struct exchange *ex, void (*last)(struct sr_reply *c))
{
    struct sr_loop_metrics *m = &ex->loop->metrics;
    sr_histogram_observe(&m->duration[sr_route_index(ex->route)], since(&ex->started));
    log_request(ex);
    if (last && ex->conn) {
        sr_reply_detach(ex->conn);
        last(ex->conn);
    }
    exchange_free(ex);
}

/* ---- attempts -------------------------------------------------------------- */

static void attempt(struct exchange *ex);

static void on_head(void *ctx, const struct sr_h1_response *resp);
static void on_body(void *ctx, const char *data, size_t len);
static void on_done(void *ctx);
static void on_error(void *ctx, const char *why, bool responded);

static const struct sr_h1_client_handler handler = {on_head, on_body, on_done, on_error};

static bool may_retry(struct exchange *ex)
{
    return !ex->responded && ex->conn != NULL &&
           ex->attempts <= ex->loop->settings.retry_max_retries && ex->nexcluded < MAX_EXCLUDED;
}

/* This attempt failed before the client saw anything: another worker, or
 * the error. */
static void retry_or_fail(struct exchange *ex, int status, const char *why)
{
    end_attempt(ex, SR_BREAKER_FAILURE); /* 502 (connection), or an answered 502/503/504 */
    if (status == 502) {
        /* The worker could not be reached or broke the connection: this
         * counts like a failed health check (HAProxy's "observe layer4"),
         * so a dead worker stops getting traffic after --health-failure-
         * threshold such failures instead of at the next probes; only
         * active checks bring it back. */
        const struct sr_config *cfg = ex->loop->router->cfg;
        if (sr_worker_report_check(ex->worker, false, (int)cfg->health_success_threshold,
                                   (int)cfg->health_failure_threshold))
            sr_log_warn("worker %s is unhealthy: %s", ex->worker->url, why);
    }
    snprintf(ex->last_error, sizeof(ex->last_error), "worker %s: %s", ex->worker->url, why);
    sr_log_warn("request %s: %s", ex->request_id, ex->last_error);
    sr_counter_add(&ex->loop->metrics.worker_errors, 1);
    ex->excluded[ex->nexcluded++] = ex->worker->id;
    if (may_retry(ex)) {
        atomic_fetch_add_explicit(&ex->loop->router->retries, 1, memory_order_relaxed);
        attempt(ex);
        return;
    }
    finish_error(ex, status, ex->last_error);
}

static void on_head(void *ctx, const struct sr_h1_response *resp)
{
    struct exchange *ex = ctx;
    int s = resp->status;
    if ((s == 502 || s == 503 || s == 504) && may_retry(ex)) {
        struct sr_upstream *up = ex->up;
        ex->up = NULL;
        sr_upstream_cancel(up); /* the rest of this answer is not wanted */
        char why[48];
        snprintf(why, sizeof(why), "answered %d", s);
        retry_or_fail(ex, s, why);
        return;
    }
    ex->status = s;
    ex->responded = true;
    char lines[16384];
    size_t used = 0;
    bool has_id = false;
    for (size_t i = 0; i < resp->nheaders; i++) {
        const struct sr_http_header *h = &resp->headers[i];
        if (hop_by_hop(h, resp->headers, resp->nheaders))
            continue;
        if (name_is(h, "x-request-id"))
            has_id = true;
        size_t need = h->name_len + h->value_len + 4;
        if (used + need > sizeof(lines) - 128)
            break; /* oversized headers are cut, not overflowed */
        memcpy(lines + used, h->name, h->name_len);
        used += h->name_len;
        memcpy(lines + used, ": ", 2);
        used += 2;
        memcpy(lines + used, h->value, h->value_len);
        used += h->value_len;
        memcpy(lines + used, "\r\n", 2);
        used += 2;
    }
    if (!has_id)
        used += (size_t)snprintf(lines + used, sizeof(lines) - used, "X-Request-Id: %s\r\n",
                                 ex->request_id);
    sr_reply_begin(ex->conn, s, lines, used, resp->content_length);
}

static void on_drained(void *arg)
{
    struct exchange *ex = arg;
    if (ex->up)
        sr_upstream_pause(ex->up, false);
}

static void on_body(void *ctx, const char *data, size_t len)
{
    struct exchange *ex = ctx;
    if (!ex->first_byte) {
        ex->first_byte = true;
        sr_histogram_observe(&ex->loop->metrics.ttfb[sr_route_index(ex->route)],
                             since(&ex->started));
        prefill_over(ex);
    }
    if (ex->text.stream && ex->counted)
        decoded(ex, count_events(ex, data, len));
    sr_reply_body(ex->conn, data, len);
    if (sr_reply_output_full(ex->conn, sr_budget_response_mark(ex->loop->router))) {
        sr_upstream_pause(ex->up, true);
        sr_reply_set_drain_cb(ex->conn, on_drained, ex);
    }
}

static void on_done(void *ctx)
{
    struct exchange *ex = ctx;
    ex->up = NULL; /* back in the pool, or closed, by upstream.c */
    if (!ex->first_byte)
        sr_histogram_observe(&ex->loop->metrics.ttfb[sr_route_index(ex->route)],
                             since(&ex->started));
    if (ex->text.stream && ex->status == 200 && ex->generated > 0) /* 1/16: a few dozen answers */
        ex->loop->output_tokens += ((double)ex->generated - ex->loop->output_tokens) / 16;
    end_attempt(ex, ex->status < 500 ? SR_BREAKER_SUCCESS : SR_BREAKER_FAILURE);
    finish(ex, sr_reply_end);
}

static void on_error(void *ctx, const char *why, bool local)
{
    struct exchange *ex = ctx;
    ex->up = NULL;
    if (local) {
        /* Out of descriptors: no worker is to blame (no breaker failure, no
         * health mark) and another attempt would fail the same way. */
        end_attempt(ex, SR_BREAKER_NO_VERDICT);
        sr_log_warn("request %s: cannot connect to worker %s: %s", ex->request_id, ex->worker->url,
                    why);
        finish_error(ex, 503, "the router is out of file descriptors; try again");
        return;
    }
    if (!ex->responded) {
        retry_or_fail(ex, 502, why);
        return;
    }
    /* Mid-response: the client gets a truncated response. */
    end_attempt(ex, SR_BREAKER_FAILURE);
    sr_log_warn("request %s: worker %s failed mid-response: %s", ex->request_id, ex->worker->url,
                why);
    sr_counter_add(&ex->loop->metrics.worker_errors, 1);
    finish(ex, sr_reply_abort);
}

/* The policy's choice (info routes: any available worker) that its
 * circuit breaker admits; a worker that refuses (its half-open trials are
 * taken) is excluded and the choice made again. 0, SR_ERR_NO_WORKER, or
 * SR_ERR_CIRCUIT_OPEN when healthy workers exist but every breaker is open. */
static int pick(struct exchange *ex, struct sr_policy *policy, struct sr_route_request *rr,
                struct sr_worker **out)
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
        if (sr_breaker_admit(&w->breaker, cfg, rr->now_ms, &ex->ticket)) {
            *out = w;
            return 0;
        }
        if (ex->nexcluded == MAX_EXCLUDED)
            break;
        ex->excluded[ex->nexcluded++] = w->id;
    }
    for (size_t i = 0; i < ex->set->count; i++)
        if (sr_worker_routable(ex->set->workers[i]))
            return SR_ERR_CIRCUIT_OPEN;
    return SR_ERR_NO_WORKER;
}

/* The routing key: the text itself, or while replica sync is configured
 * its block digests (common/route_key.h), made once per request. */
static int routing_key(struct exchange *ex, const void **key, size_t *len)
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
static long expected_output(const struct exchange *ex)
{
    if (ex->route->text == SR_TEXT_NONE)
        return 0;
    if (ex->text.max_tokens >= 0)
        return ex->text.max_tokens < (1L << 24) ? ex->text.max_tokens : (1L << 24);
    return (long)(ex->loop->output_tokens + 0.5);
}

static void attempt(struct exchange *ex)
{
    struct sr_loop *l = ex->loop;
    struct sr_router *r = l->router;
    ex->attempts++;
    sr_settings_refresh(r->settings, &l->settings);
    struct sr_policy *policy = l->settings.policy;
    const void *key;
    size_t key_len;
    if (routing_key(ex, &key, &key_len) != 0) {
        finish_error(ex, 500, "out of memory");
        return;
    }
    enum sr_route_outcome outcome = SR_ROUTE_PLAIN;
    size_t prefill = 0, nprobe = 0;
    const uint32_t *probe_cached = sr_oracle_probe_cached(ex->probe, &nprobe);
    struct sr_route_request rr = {
        .workers = ex->set,
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
        .decode_tokens = expected_output(ex),
    };
    struct sr_worker *w = NULL;
    int rc = pick(ex, policy, &rr, &w);
    if (rc != 0) {
        if (ex->last_error[0])
            finish_error(ex, 502, ex->last_error);
        else if (rc == SR_ERR_CIRCUIT_OPEN)
            finish_error(ex, 503,
                         "every healthy worker's circuit breaker is open (too many failed "
                         "requests); they get trial requests again after "
                         "--cb-timeout-duration-secs");
        else
            finish_error(ex, 503, "no healthy worker is available");
        return;
    }
    if (ex->route->text != SR_TEXT_NONE)
        sr_counter_add(&l->metrics.decisions[outcome], 1);
    ex->worker = w;
    ex->policy = policy;
    sr_policy_dispatch(policy, w, prefill, rr.decode_tokens);
    if (key != ex->text.text)
        sr_sync_placed(r->sync, w, key, key_len, prefill);
    atomic_fetch_add_explicit(&r->in_flight, 1, memory_order_relaxed);
    ex->counted = true;
    ex->prefill = prefill;
    ex->decode = rr.decode_tokens;
    ex->generated = 0;
    ex->sse_tail[0] = ex->sse_tail[1] = 0;
    if (build_request_head(ex) != 0) {
        finish_error(ex, 500, "out of memory");
        return;
    }
    struct sr_h1_client_request ur = {ex->head.data, ex->head.len, ex->req.body, ex->req.body_len};
    ex->up = sr_upstream_start(l, w, &ur, &handler, ex);
    if (ex->up == NULL)
        finish_error(ex, 500, "out of memory");
}

/* ---- client side ------------------------------------------------------- */

/* The oracle's answers are in (oracle_probe.h). */
static void probed(void *arg)
{
    attempt(arg);
}

static void on_client_gone(void *arg)
{
    struct exchange *ex = arg;
    ex->conn = NULL;
    sr_counter_add(&ex->loop->metrics.client_aborts, 1);
    ex->status = 499; /* nginx's "client closed request" */
    finish(ex, NULL); /* cancels the upstream: the worker stops generating */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct exchange *ex = arg;
    if (ex->up) {
        sr_upstream_cancel(ex->up);
        ex->up = NULL;
    }
    end_attempt(ex, SR_BREAKER_FAILURE);
    if (!ex->responded) {
        finish_error(ex, 504, "the worker did not answer within --request-timeout-secs");
        return;
    }
    ex->status = 504;
    finish(ex, sr_reply_abort);
}

static void set_request_id(struct exchange *ex)
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

void sr_proxy_start(struct sr_reply *c, const struct sr_request *req, const struct sr_route *route,
                    sr_proxy_end_cb end)
{
    struct sr_loop *l = sr_reply_loop(c);
    struct exchange *ex = sr_calloc(1, sizeof(*ex));
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
    sr_buf_init(&ex->head, (size_t)l->router->cfg->max_header_size + HEAD_SLACK);
    ex->text.text = "";
    set_request_id(ex);
    ex->set = sr_loop_workers(l);
    sr_worker_set_ref(ex->set);
    ex->deadline = evtimer_new(l->base, on_deadline, ex);
    if (ex->deadline == NULL) {
        finish_error(ex, 500, "out of memory");
        return;
    }
    if (route->text != SR_TEXT_NONE) {
        const char *why = NULL;
        int rc = sr_routing_text_extract(route->text, req->body, req->body_len, &ex->text_buf,
                                         &ex->text, &why);
        if (rc != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "invalid JSON body: %s", why);
            finish_error(ex, rc == SR_ERR_NOMEM ? 500 : 400, msg);
            return;
        }
    }
    struct timeval tv = {l->router->cfg->request_timeout_secs, 0};
    event_add(ex->deadline, &tv);
    sr_reply_attach(c, ex, on_client_gone);
    sr_settings_refresh(l->router->settings, &l->settings);
    if (route->text != SR_TEXT_NONE && sr_policy_needs_probe(l->settings.policy)) {
        /* The oracle asks the workers first; attempt() runs once they all
         * answered. */
        ex->probe =
            sr_oracle_probe_start(l, ex->set, route->text, req->body, req->body_len, probed, ex);
        if (ex->probe == NULL)
            finish_error(ex, 500, "out of memory");
        return;
    }
    attempt(ex);
}
