/* api: route table, info endpoints, health, metrics, errors (see api.h). */
#include "api.h"

#include "bootstrap.h"
#include "inference.h"
#include "reply.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SIM_VERSION "0.5.4"

typedef void (*handler_fn)(struct sr_sim *sim, struct sr_sim_conn *c,
                           const struct sr_h1_request *req);

struct route {
    const char *method;
    const char *path;
    handler_fn handle;
    bool open; /* answered without the API key */
};

static int health_status(struct sr_sim *sim)
{
    if (sim->forced_health)
        return sim->forced_health;
    long after = sim->cfg->health_fail_after_ms;
    if (after >= 0 && sr_sim_uptime_ms(sim) >= (double)after)
        return 503;
    return 200;
}

static void on_health(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    (void)req;
    int status = health_status(sim);
    if (status == 200)
        sr_sim_respond(c, 200, "text/plain", "", 0);
    else
        sr_sim_reply_error(c, status, "worker is unhealthy");
}

static const char *model_name(const struct sr_sim *sim)
{
    return sim->cfg->served_model_name ? sim->cfg->served_model_name : sim->cfg->model_path;
}

static void on_server_info(struct sr_sim *sim, struct sr_sim_conn *c,
                           const struct sr_h1_request *req)
{
    (void)req;
    const struct sr_sim_config *cfg = sim->cfg;
    struct sr_sim_engine_stats st;
    sr_sim_engine_get_stats(sim->engine, &st);
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:s, s:i, s:I, s:I, s:i, s:i, s:s, s:s, s:b,"
        " s:[{s:f, s:n, s:I, s:I, s:I, s:I, s:I, s:I}],"
        " s:{s:s?, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}}",
        "model_path", cfg->model_path, "tokenizer_path", cfg->model_path, "served_model_name",
        model_name(sim), "dp_size", 1, "tp_size", 1, "version", SIM_VERSION, "max_running_requests",
        (int)cfg->max_running_requests, "max_total_num_tokens", (json_int_t)cfg->kv_capacity_tokens,
        "max_queued_requests", (json_int_t)cfg->max_queued_requests, "page_size", 1,
        "chunked_prefill_size", -1, "worker_id", sim->worker_id, "host", cfg->host, "sim", 1,
        "internal_states", "last_gen_throughput", st.last_gen_throughput, "avg_spec_accept_length",
        "memory_usage", (json_int_t)sr_sim_kv_used_tokens(sim->kv), "num_running_reqs",
        (json_int_t)st.running, "host_cache_entries",
        (json_int_t)(sim->hc ? sr_sim_host_cache_entries(sim->hc) : 0), "host_cache_tokens",
        (json_int_t)(sim->hc ? sr_sim_host_cache_tokens(sim->hc) : 0), "host_cache_saved",
        (json_int_t)st.host_cache_saved, "host_cache_restored", (json_int_t)st.host_cache_restored,
        "sim_model", "profile", cfg->profile, "cache_sequences", (json_int_t)cfg->cache_sequences,
        "host_cache_mib", (json_int_t)cfg->host_cache_mib, "kv_bytes_per_token",
        (json_int_t)cfg->kv_bytes_per_token, "host_cache_save_us", cfg->host_cache_save_us,
        "host_cache_restore_us", cfg->host_cache_restore_us, "prefill_tokens_per_sec",
        cfg->prefill_tokens_per_sec, "prefill_overhead_ms", cfg->prefill_overhead_ms,
        "prefill_cached_token_us", cfg->prefill_cached_token_us, "decode_step_ms",
        cfg->decode_step_ms, "decode_step_growth", cfg->decode_step_growth, "decode_context_us",
        cfg->decode_context_us, "time_scale", cfg->time_scale);
    /* As SGLang's server_args: the role, and where a prefill's bootstrap
     * service listens; "fake" is SGLang's transfer backend that moves no
     * bytes, which is what this one does. */
    json_object_set_new(body, "disaggregation_mode", json_string(cfg->disaggregation_mode));
    if (sim->role != SR_SIM_ROLE_NULL)
        json_object_set_new(body, "disaggregation_transfer_backend", json_string("fake"));
    if (sim->role == SR_SIM_ROLE_PREFILL)
        json_object_set_new(body, "disaggregation_bootstrap_port",
                            json_integer(sim->bootstrap_port));
    sr_sim_reply_json(c, 200, body);
}

static void on_model_info(struct sr_sim *sim, struct sr_sim_conn *c,
                          const struct sr_h1_request *req)
{
    (void)req;
    json_t *body =
        json_pack("{s:s, s:s, s:b, s:s, s:[s], s:s}", "model_path", sim->cfg->model_path,
                  "tokenizer_path", sim->cfg->model_path, "is_generation", 1, "model_type", "llama",
                  "architectures", "LlamaForCausalLM", "worker_id", sim->worker_id);
    sr_sim_reply_json(c, 200, body);
}

/* Engines without SGLang's /get_load (vLLM, llama.cpp) answer 404, as
 * does a worker told to offer no load at all (--metrics-format none). */
static bool sglang_load_routes(const struct sr_sim *sim)
{
    return strcmp(sim->cfg->metrics_format, "sglang") == 0;
}

static void on_get_load(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    (void)req;
    if (!sglang_load_routes(sim)) {
        sr_sim_reply_error(c, 404, "Not Found");
        return;
    }
    struct sr_sim_engine_stats st;
    sr_sim_engine_get_stats(sim->engine, &st);
    json_t *body;
    /* A decode worker's prompts waiting for their room or KV wait too (in
     * SGLang's prealloc and transfer queues). */
    json_int_t waiting = (json_int_t)st.waiting + sim->stats.kv_waiting;
    json_int_t tokens = (json_int_t)(st.active_tokens + sim->stats.kv_waiting_tokens);
    /* SGLang 0.4's object counted tokens (KV tokens in use + prompt tokens
     * waiting); the array counts requests (num_reqs: running + waiting). */
    if (strcmp(sim->cfg->load_format, "object") == 0)
        body = json_pack("{s:I, s:s}", "load", tokens, "worker_id", sim->worker_id);
    else
        body = json_pack("[{s:i, s:I, s:I, s:I}]", "dp_rank", 0, "num_reqs",
                         (json_int_t)st.running + waiting, "num_waiting_reqs", waiting,
                         "num_tokens", tokens);
    sr_sim_reply_json(c, 200, body);
}

static void on_models(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    (void)req;
    json_t *body = json_pack("{s:s, s:[{s:s, s:s, s:I, s:s, s:s, s:I}]}", "object", "list", "data",
                             "id", model_name(sim), "object", "model", "created",
                             (json_int_t)sim->started_unix, "owned_by", "sglang", "root",
                             model_name(sim), "max_model_len", (json_int_t)131072);
    sr_sim_reply_json(c, 200, body);
}

/* SGLang's gauges (sglang:*), with --enable-metrics. */
static int sglang_metrics(char *text, size_t cap, const char *m,
                          const struct sr_sim_engine_stats *st, double usage)
{
    double hit = st->prompt_tokens ? (double)st->cached_tokens / (double)st->prompt_tokens : 0.0;
    return snprintf(
        text, cap,
        "# HELP sglang:num_running_reqs Running requests.\n# TYPE sglang:num_running_reqs gauge\n"
        "sglang:num_running_reqs{model_name=\"%s\"} %u\n"
        "# HELP sglang:num_queue_reqs Waiting requests.\n# TYPE sglang:num_queue_reqs gauge\n"
        "sglang:num_queue_reqs{model_name=\"%s\"} %u\n"
        "# HELP sglang:cache_hit_rate Cached prompt tokens / prompt tokens.\n"
        "# TYPE sglang:cache_hit_rate gauge\nsglang:cache_hit_rate{model_name=\"%s\"} %.6f\n"
        "# HELP sglang:token_usage KV cache used / capacity.\n# TYPE sglang:token_usage gauge\n"
        "sglang:token_usage{model_name=\"%s\"} %.6f\n"
        "# HELP sglang:prompt_tokens_total Prompt tokens.\n"
        "# TYPE sglang:prompt_tokens_total counter\n"
        "sglang:prompt_tokens_total{model_name=\"%s\"} %llu\n"
        "# HELP sglang:cached_tokens_total Prompt tokens served from the prefix cache.\n"
        "# TYPE sglang:cached_tokens_total counter\n"
        "sglang:cached_tokens_total{model_name=\"%s\"} %llu\n"
        "# HELP sglang:generation_tokens_total Generated tokens.\n"
        "# TYPE sglang:generation_tokens_total counter\n"
        "sglang:generation_tokens_total{model_name=\"%s\"} %llu\n"
        "# HELP sglang:num_requests_total Requests started.\n"
        "# TYPE sglang:num_requests_total counter\n"
        "sglang:num_requests_total{model_name=\"%s\"} %llu\n",
        m, st->running, m, st->waiting, m, hit, m, usage, m, (unsigned long long)st->prompt_tokens,
        m, (unsigned long long)st->cached_tokens, m, (unsigned long long)st->generated_tokens, m,
        (unsigned long long)st->requests);
}

/* vLLM's (V1 engine): labelled per engine and model, floats throughout. */
static int vllm_metrics(char *text, size_t cap, const char *m, const struct sr_sim_engine_stats *st,
                        double usage)
{
    return snprintf(
        text, cap,
        "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        "vllm:num_requests_running{engine=\"0\",model_name=\"%s\"} %u.0\n"
        "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
        "# TYPE vllm:num_requests_waiting gauge\n"
        "vllm:num_requests_waiting{engine=\"0\",model_name=\"%s\"} %u.0\n"
        "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
        "# TYPE vllm:kv_cache_usage_perc gauge\n"
        "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"%s\"} %.6f\n"
        "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
        "# TYPE vllm:prompt_tokens_total counter\n"
        "vllm:prompt_tokens_total{engine=\"0\",model_name=\"%s\"} %llu.0\n"
        "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n"
        "# TYPE vllm:generation_tokens_total counter\n"
        "vllm:generation_tokens_total{engine=\"0\",model_name=\"%s\"} %llu.0\n",
        m, st->running, m, st->waiting, m, usage, m, (unsigned long long)st->prompt_tokens, m,
        (unsigned long long)st->generated_tokens);
}

/* llama.cpp's server (--metrics): unlabelled. */
static int llamacpp_metrics(char *text, size_t cap, const struct sr_sim_engine_stats *st,
                            double usage, unsigned long long kv_tokens)
{
    return snprintf(text, cap,
                    "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.\n"
                    "# TYPE llamacpp:prompt_tokens_total counter\n"
                    "llamacpp:prompt_tokens_total %llu\n"
                    "# HELP llamacpp:tokens_predicted_total Number of generation tokens "
                    "processed.\n"
                    "# TYPE llamacpp:tokens_predicted_total counter\n"
                    "llamacpp:tokens_predicted_total %llu\n"
                    "# HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent "
                    "usage.\n"
                    "# TYPE llamacpp:kv_cache_usage_ratio gauge\n"
                    "llamacpp:kv_cache_usage_ratio %.6f\n"
                    "# HELP llamacpp:kv_cache_tokens KV-cache tokens.\n"
                    "# TYPE llamacpp:kv_cache_tokens gauge\n"
                    "llamacpp:kv_cache_tokens %llu\n"
                    "# HELP llamacpp:requests_processing Number of requests processing.\n"
                    "# TYPE llamacpp:requests_processing gauge\n"
                    "llamacpp:requests_processing %u\n"
                    "# HELP llamacpp:requests_deferred Number of requests deferred.\n"
                    "# TYPE llamacpp:requests_deferred gauge\n"
                    "llamacpp:requests_deferred %u\n",
                    (unsigned long long)st->prompt_tokens, (unsigned long long)st->generated_tokens,
                    usage, kv_tokens, st->running, st->waiting);
}

/* GET /metrics in the gauge names of --metrics-format; running and
 * waiting are the engine's own counts. */
static void on_metrics(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    (void)req;
    const char *format = sim->cfg->metrics_format;
    if (strcmp(format, "none") == 0) {
        sr_sim_reply_error(c, 404, "Not Found");
        return;
    }
    struct sr_sim_engine_stats st;
    sr_sim_engine_get_stats(sim->engine, &st);
    unsigned long long kv_tokens = (unsigned long long)sr_sim_kv_used_tokens(sim->kv);
    double usage = (double)kv_tokens / (double)sr_sim_kv_capacity_tokens(sim->kv);
    char text[4096];
    int n;
    if (strcmp(format, "vllm") == 0)
        n = vllm_metrics(text, sizeof(text), model_name(sim), &st, usage);
    else if (strcmp(format, "llamacpp") == 0)
        n = llamacpp_metrics(text, sizeof(text), &st, usage, kv_tokens);
    else
        n = sglang_metrics(text, sizeof(text), model_name(sim), &st, usage);
    if (n < 0 || (size_t)n >= sizeof(text)) {
        sr_sim_reply_error(c, 500, "metrics text too long");
        return;
    }
    sr_sim_respond(c, 200, "text/plain; version=0.0.4", text, (size_t)n);
}

static void on_flush_cache(struct sr_sim *sim, struct sr_sim_conn *c,
                           const struct sr_h1_request *req)
{
    (void)req;
    if (sr_sim_kv_flush(sim->kv) != 0) {
        sr_sim_reply_error(c, 500, "out of memory");
        return;
    }
    if (sim->hc)
        sr_sim_host_cache_flush(sim->hc);
    static const char msg[] = "Cache flushed.\n";
    sr_sim_respond(c, 200, "text/plain", msg, sizeof(msg) - 1);
}

/* POST /sim/health?status=503 (or 200, or 0 to let --health-fail-after-ms
 * decide): lets tests make a worker unhealthy and healthy again. */
static void on_sim_health(struct sr_sim *sim, struct sr_sim_conn *c,
                          const struct sr_h1_request *req)
{
    long status = -1;
    if (req->query && req->query_len > 7 && strncmp(req->query, "status=", 7) == 0)
        status = strtol(req->query + 7, NULL, 10);
    if (status != 0 && (status < 200 || status > 599)) {
        sr_sim_reply_error(c, 400, "expected ?status=CODE (200-599) or ?status=0");
        return;
    }
    sim->forced_health = (int)status;
    sr_sim_respond(c, 200, "text/plain", "", 0);
}

/* GET /sim/last_request: what the last request looked like on the wire
 * (method, target, headers in order, body in hex), so tests can check what
 * a proxy forwarded, byte for byte. */
static void on_last_request(struct sr_sim *sim, struct sr_sim_conn *c,
                            const struct sr_h1_request *req)
{
    (void)req;
    const char *text = sim->last_request ? sim->last_request : "null";
    sr_sim_respond(c, 200, "application/json", text, strlen(text));
}

static void remember(struct sr_sim *sim, const struct sr_h1_request *req)
{
    json_t *headers = json_array();
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sr_http_header *h = &req->headers[i];
        json_array_append_new(
            headers, json_pack("[s#, s#]", h->name, (int)h->name_len, h->value, (int)h->value_len));
    }
    char *hex = malloc(req->body_len * 2 + 1);
    if (hex == NULL) {
        json_decref(headers);
        return;
    }
    for (size_t i = 0; i < req->body_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)req->body[i]);
    hex[req->body_len * 2] = '\0';
    json_t *o = json_pack("{s:s, s:s#, s:o, s:s}", "method", req->method, "target", req->target,
                          (int)req->target_len, "headers", headers, "body_hex", hex);
    free(hex);
    free(sim->last_request);
    sim->last_request = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
}

/* GET /sim/stats: what this worker saw (sim.h), for tests. */
static void on_stats(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    (void)req;
    const struct sr_sim_stats *s = &sim->stats;
    struct sr_sim_engine_stats st;
    sr_sim_engine_get_stats(sim->engine, &st);
    uint64_t ended = s->finished + s->failed + s->cancelled;
    json_t *body = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
        " s:I, s:I}",
        "worker_id", sim->worker_id, "role", sim->cfg->disaggregation_mode, "requests_received",
        (json_int_t)s->received, "requests_finished", (json_int_t)s->finished, "requests_failed",
        (json_int_t)s->failed, "requests_cancelled", (json_int_t)s->cancelled, "requests_in_flight",
        (json_int_t)(s->received > ended ? s->received - ended : 0), "running",
        (json_int_t)st.running, "waiting", (json_int_t)st.waiting, "rooms_ready",
        (json_int_t)s->rooms_ready, "rooms_served", (json_int_t)s->rooms_served, "rooms_held",
        (json_int_t)(sim->bootstrap ? sr_sim_bootstrap_rooms_held(sim->bootstrap) : 0),
        "rooms_expired",
        (json_int_t)(sim->bootstrap ? sr_sim_bootstrap_rooms_expired(sim->bootstrap) : 0),
        "rooms_asked_now",
        (json_int_t)(sim->bootstrap ? sr_sim_bootstrap_waiting(sim->bootstrap) : 0), "rooms_waited",
        (json_int_t)s->rooms_waited, "rooms_received", (json_int_t)s->rooms_received,
        "rooms_timed_out", (json_int_t)s->rooms_timed_out, "rooms_failed",
        (json_int_t)s->rooms_failed, "kv_waiting", (json_int_t)s->kv_waiting);
    sr_sim_reply_json(c, 200, body);
}

static void on_generate(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    sr_sim_inference_handle(sim, c, req, SR_SIM_GENERATE);
}

static void on_completions(struct sr_sim *sim, struct sr_sim_conn *c,
                           const struct sr_h1_request *req)
{
    sr_sim_inference_handle(sim, c, req, SR_SIM_COMPLETIONS);
}

static void on_chat(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    sr_sim_inference_handle(sim, c, req, SR_SIM_CHAT);
}

static void on_cached_prefix(struct sr_sim *sim, struct sr_sim_conn *c,
                             const struct sr_h1_request *req)
{
    static const struct {
        const char *name;
        enum sr_sim_api_kind kind;
    } kinds[] = {{"route=generate", SR_SIM_GENERATE},
                 {"route=completions", SR_SIM_COMPLETIONS},
                 {"route=chat", SR_SIM_CHAT}};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (req->query && req->query_len == strlen(kinds[i].name) &&
            memcmp(req->query, kinds[i].name, req->query_len) == 0) {
            sr_sim_inference_probe(sim, c, req, kinds[i].kind);
            return;
        }
    }
    sr_sim_reply_error(c, 400, "expected ?route=generate|completions|chat");
}

static const struct route routes[] = {
    {"GET", "/health", on_health, true},
    {"GET", "/health_generate", on_health, true},
    {"GET", "/get_server_info", on_server_info, false},
    {"GET", "/server_info", on_server_info, false},
    {"GET", "/get_model_info", on_model_info, false},
    {"GET", "/model_info", on_model_info, false},
    {"GET", "/get_load", on_get_load, false},
    {"GET", "/v1/models", on_models, false},
    {"GET", "/metrics", on_metrics, true},
    {"POST", "/flush_cache", on_flush_cache, false},
    {"POST", "/generate", on_generate, false},
    {"POST", "/v1/completions", on_completions, false},
    {"POST", "/v1/chat/completions", on_chat, false},
    {"POST", "/sim/health", on_sim_health, true},
    {"GET", "/sim/last_request", on_last_request, true},
    {"GET", "/sim/stats", on_stats, true},
    {"POST", "/sim/cached_prefix", on_cached_prefix, true},
};

static bool authorized(const struct sr_sim *sim, const struct sr_h1_request *req)
{
    const char *key = sim->cfg->require_api_key;
    if (key == NULL)
        return true;
    const struct sr_http_header *h = sr_h1_request_header(req, "authorization");
    size_t klen = strlen(key);
    return h && h->value_len == klen + 7 && strncasecmp(h->value, "Bearer ", 7) == 0 &&
           memcmp(h->value + 7, key, klen) == 0;
}

void sr_sim_api_handle(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req)
{
    bool path_known = false;
    if (sim->cfg->record_requests && (req->path_len < 5 || memcmp(req->path, "/sim/", 5) != 0) &&
        !(req->path_len >= 7 && memcmp(req->path, "/health", 7) == 0))
        remember(sim, req);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        if (strlen(r->path) != req->path_len || memcmp(r->path, req->path, req->path_len) != 0)
            continue;
        path_known = true;
        if (strcmp(r->method, req->method) != 0)
            continue;
        if (!r->open && !authorized(sim, req)) {
            sr_sim_reply_error(c, 401,
                               "Unauthorized: a valid 'Authorization: Bearer' key is "
                               "required");
            return;
        }
        r->handle(sim, c, req);
        return;
    }
    if (path_known)
        sr_sim_reply_error(c, 405, "Method Not Allowed");
    else
        sr_sim_reply_error(c, 404, "Not Found");
}

const struct sr_sim_routes sr_sim_api_routes = {
    .request = sr_sim_api_handle,
    .error = sr_sim_reply_error,
};
