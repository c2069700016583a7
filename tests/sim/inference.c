/* inference: the three generation routes (see inference.h). */
#include "inference.h"

#include "put.h"
#include "reply.h"
#include "tokens.h"

#include "common/alloc.h"
#include "common/err.h"

#include <event2/buffer.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One prompt of a request. */
struct item {
    struct sr_sim_seq seq;
    struct sr_sim_key key;
    uint32_t sent; /* tokens already streamed */
    struct job *job;
    uint32_t index;
};

struct job {
    struct sr_sim *sim;
    struct sr_sim_conn *conn;
    enum sr_sim_api_kind kind;
    bool stream, include_usage, batch, crash;
    size_t nitems, finished;
    struct item *items;
    char id[40];
    long long created; /* unix seconds */
};

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->nitems; i++)
        sr_sim_key_clear(&j->items[i].key);
    sr_free(j->items);
    sr_free(j);
}

/* ---- parsing ---------------------------------------------------------- */

/* Requests are parsed with cJSON, the one place outside jansson (which the
 * router, the rest of the simulator and the load generator use): jansson's
 * string lexer takes ~32 us for a 4 KiB prompt, which capped one simulator
 * near 25,000 requests/s and made it the bottleneck of proxy benchmarks;
 * cJSON takes ~2.4 us. Measured again for issue 19 (a loaded 2-core box,
 * tests/bench/RESULTS.md "One JSON library"): json_loadb 99-159 us vs
 * cJSON 8-12 us for a 4 KiB body, 2.7-4.4 vs 0.5-0.65 us for a small one;
 * a simulator parsing with jansson served 4-10 K req/s of 4 KiB prompts
 * where the cJSON one served 16-35 K. */

/* A request shape problem: the message for the 400 answer. */
struct parse_error {
    char msg[200];
};

static int bad(struct parse_error *e, const char *msg)
{
    snprintf(e->msg, sizeof(e->msg), "%s", msg);
    return SR_ERR_INVALID;
}

static int add_items(struct job *j, size_t n)
{
    j->items = sr_calloc(n, sizeof(*j->items));
    if (j->items == NULL)
        return SR_ERR_NOMEM;
    j->nitems = n;
    for (size_t i = 0; i < n; i++) {
        j->items[i].job = j;
        j->items[i].index = (uint32_t)i;
    }
    return 0;
}

static bool is_integer(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble;
}

static bool is_id_list(const cJSON *v)
{
    if (!cJSON_IsArray(v) || v->child == NULL)
        return false;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) if (!is_integer(x)) return false;
    return true;
}

static size_t string_length(const cJSON *v)
{
    return strlen(v->valuestring);
}

/* Fills item keys from a "text"/"prompt" value: a string, a list of
 * strings, a list of token ids, or a list of such lists. */
static int parse_prompts(struct job *j, const cJSON *v, const char *field, struct parse_error *e)
{
    char msg[160];
    size_t n = 1;
    const cJSON *first = cJSON_IsArray(v) ? v->child : NULL;
    bool list_of_strings = first && cJSON_IsString(first);
    bool list_of_id_lists = first && cJSON_IsArray(first);
    if (list_of_strings || list_of_id_lists) {
        n = (size_t)cJSON_GetArraySize(v);
    } else if (!cJSON_IsString(v) && !is_id_list(v)) {
        snprintf(msg, sizeof(msg),
                 "'%s' must be a string, a list of strings, or a list of token ids", field);
        return bad(e, msg);
    }
    if (add_items(j, n) != 0)
        return SR_ERR_NOMEM;
    j->batch = list_of_strings || list_of_id_lists;
    const cJSON *p = j->batch ? first : v;
    for (size_t i = 0; i < n; i++, p = p ? p->next : NULL) {
        struct item *it = &j->items[i];
        int rc = 0;
        if (cJSON_IsString(p)) {
            size_t len = string_length(p);
            rc = sr_sim_key_add_text(&it->key, p->valuestring, len);
            it->seq.prompt_tokens = sr_sim_text_tokens(len);
            it->seq.cache_output = true;
        } else if (is_id_list(p)) {
            const cJSON *x;
            uint32_t count = 0;
            cJSON_ArrayForEach(x, p)
            {
                if (rc == 0)
                    rc = sr_sim_key_add_id(&it->key, (int64_t)x->valuedouble);
                count++;
            }
            it->seq.prompt_tokens = count;
        } else {
            snprintf(msg, sizeof(msg), "'%s'[%zu] must be a string or a list of token ids", field,
                     i);
            return bad(e, msg);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Mooncake-style "hash_ids": the cache key becomes the 512-token blocks. */
static int parse_hash_ids(struct job *j, const cJSON *root, struct parse_error *e)
{
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(root, "hash_ids");
    if (ids == NULL || cJSON_IsNull(ids))
        return 0;
    if (!cJSON_IsArray(ids) || j->nitems != 1)
        return bad(e, "'hash_ids' must be a list of integers, with a single prompt");
    struct item *it = &j->items[0];
    struct sr_sim_key key = {0};
    const cJSON *x;
    cJSON_ArrayForEach(x, ids)
    {
        if (!is_integer(x)) {
            sr_sim_key_clear(&key);
            return bad(e, "'hash_ids' must be a list of integers");
        }
        if (sr_sim_key_add_hash_block(&key, (int64_t)x->valuedouble) != 0) {
            sr_sim_key_clear(&key);
            return SR_ERR_NOMEM;
        }
    }
    sr_sim_key_clear(&it->key);
    it->key = key;
    it->seq.cache_output = false;
    it->seq.block_tokens = SR_SIM_HASH_BLOCK_TOKENS;
    return 0;
}

static int get_max_tokens(const cJSON *obj, const char *name, long dflt, long *out,
                          struct parse_error *e)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    if (v == NULL || cJSON_IsNull(v)) {
        *out = dflt;
        return 0;
    }
    if (!is_integer(v) || v->valuedouble < 0 || v->valuedouble > 10000000) {
        char msg[120];
        snprintf(msg, sizeof(msg), "'%s' must be an integer between 0 and 10000000", name);
        return bad(e, msg);
    }
    *out = (long)v->valuedouble;
    return 0;
}

static int get_bool(const cJSON *obj, const char *name, bool *out, struct parse_error *e)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v)) {
        char msg[80];
        snprintf(msg, sizeof(msg), "'%s' must be a boolean", name);
        return bad(e, msg);
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

static const cJSON *field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int parse_generate(struct job *j, const cJSON *root, long *max_new, struct parse_error *e)
{
    const cJSON *text = field(root, "text");
    const cJSON *ids = field(root, "input_ids");
    int rc;
    if (text)
        rc = parse_prompts(j, text, "text", e);
    else if (ids)
        rc = parse_prompts(j, ids, "input_ids", e);
    else
        return bad(e, "Either text or input_ids should be provided.");
    if (rc != 0)
        return rc;
    const cJSON *sp = field(root, "sampling_params");
    if (sp && !cJSON_IsObject(sp))
        return bad(e, "'sampling_params' must be an object");
    if ((rc = get_max_tokens(sp, "max_new_tokens", j->sim->cfg->output_len, max_new, e)) != 0)
        return rc;
    return get_bool(root, "stream", &j->stream, e);
}

static int parse_completions(struct job *j, const cJSON *root, long *max_new, struct parse_error *e)
{
    const cJSON *prompt = field(root, "prompt");
    if (prompt == NULL)
        return bad(e, "'prompt' is required");
    int rc = parse_prompts(j, prompt, "prompt", e);
    if (rc != 0)
        return rc;
    return get_max_tokens(root, "max_tokens", j->sim->cfg->output_len, max_new, e);
}

/* Appends one message's content (a string, or a list of {"type":"text"} parts). */
static int add_content(struct sr_sim_key *k, const cJSON *content, struct parse_error *e)
{
    if (content == NULL || cJSON_IsNull(content))
        return 0;
    if (cJSON_IsString(content))
        return sr_sim_key_add_text(k, content->valuestring, string_length(content));
    if (!cJSON_IsArray(content))
        return bad(e, "message 'content' must be a string or a list of parts");
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(text)) {
            int rc = sr_sim_key_add_text(k, text->valuestring, string_length(text));
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

#define CHAT_HEAD "<|start_header_id|>"
#define CHAT_MID  "<|end_header_id|>\n\n"
#define CHAT_END  "<|eot_id|>"

/* The prompt is the conversation rendered with a Llama-3-style template,
 * ending with the assistant header; generated text continues it, so the
 * next turn (which repeats it) finds it cached. */
static int parse_chat(struct job *j, const cJSON *root, long *max_new, struct parse_error *e)
{
    const cJSON *messages = field(root, "messages");
    if (!cJSON_IsArray(messages) || messages->child == NULL)
        return bad(e, "'messages' must be a non-empty list");
    if (add_items(j, 1) != 0)
        return SR_ERR_NOMEM;
    struct sr_sim_key *k = &j->items[0].key;
    int rc = sr_sim_key_add_text(k, "<|begin_of_text|>", 17);
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role))
            return bad(e, "every message needs a string 'role'");
        if (rc == 0)
            rc = sr_sim_key_add_text(k, CHAT_HEAD, strlen(CHAT_HEAD));
        if (rc == 0)
            rc = sr_sim_key_add_text(k, role->valuestring, string_length(role));
        if (rc == 0)
            rc = sr_sim_key_add_text(k, CHAT_MID, strlen(CHAT_MID));
        if (rc == 0)
            rc = add_content(k, cJSON_GetObjectItemCaseSensitive(m, "content"), e);
        if (rc == 0)
            rc = sr_sim_key_add_text(k, CHAT_END, strlen(CHAT_END));
        if (rc != 0)
            return rc;
    }
    rc = sr_sim_key_add_text(k, CHAT_HEAD "assistant" CHAT_MID,
                             strlen(CHAT_HEAD "assistant" CHAT_MID));
    if (rc != 0)
        return rc;
    j->items[0].seq.prompt_tokens = sr_sim_text_tokens(k->len);
    j->items[0].seq.cache_output = true;
    const char *name =
        field(root, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    return get_max_tokens(root, name, j->sim->cfg->output_len, max_new, e);
}

static int parse_request(struct job *j, const struct sr_h1_request *req, struct parse_error *e)
{
    const char *end = NULL;
    /* The body is NUL-terminated (h1_parser): requiring it rejects trailing garbage. */
    cJSON *root = cJSON_ParseWithLengthOpts(req->body, req->body_len + 1, &end, true);
    if (root == NULL) {
        size_t at = end && end >= req->body ? (size_t)(end - req->body) : 0;
        snprintf(e->msg, sizeof(e->msg), "Invalid JSON body (at byte %zu of %zu)", at,
                 req->body_len);
        return SR_ERR_INVALID;
    }
    int rc;
    long max_new = 0;
    if (!cJSON_IsObject(root)) {
        rc = bad(e, "the request body must be a JSON object");
    } else if (j->kind == SR_SIM_GENERATE) {
        rc = parse_generate(j, root, &max_new, e);
    } else {
        rc = j->kind == SR_SIM_CHAT ? parse_chat(j, root, &max_new, e)
                                    : parse_completions(j, root, &max_new, e);
        if (rc == 0)
            rc = get_bool(root, "stream", &j->stream, e);
        const cJSON *so = field(root, "stream_options");
        if (rc == 0 && cJSON_IsObject(so))
            rc = get_bool(so, "include_usage", &j->include_usage, e);
    }
    if (rc == 0)
        rc = parse_hash_ids(j, root, e);
    cJSON_Delete(root);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < j->nitems; i++) {
        struct sr_sim_seq *s = &j->items[i].seq;
        s->key = j->items[i].key.data;
        s->key_len = j->items[i].key.len;
        s->max_new_tokens = max_new > 0 ? (uint32_t)max_new : 1;
        s->digest = sr_sim_key_digest(s->key, s->key_len);
    }
    return 0;
}

/* ---- writing ---------------------------------------------------------- */

/* Appends output tokens [from, to) of a sequence. */
static void add_output(struct evbuffer *b, const struct sr_sim_seq *s, uint32_t from, uint32_t to)
{
    char chunk[1024];
    size_t used = 0;
    for (uint32_t i = from; i < to; i++) {
        memcpy(chunk + used, sr_sim_output_token(s->digest, i), SR_SIM_BYTES_PER_TOKEN);
        used += SR_SIM_BYTES_PER_TOKEN;
        if (used == sizeof(chunk)) {
            evbuffer_add(b, chunk, used);
            used = 0;
        }
    }
    evbuffer_add(b, chunk, used);
}

static bool done(const struct sr_sim_seq *s)
{
    return s->state == SR_SIM_SEQ_DONE;
}

static double latency(const struct job *j, const struct sr_sim_seq *s)
{
    double end = done(s) ? s->finished_at : sr_sim_engine_now(j->sim->engine);
    return end - s->submitted_at;
}

static void add_meta_info(struct evbuffer *b, const struct job *j, const struct item *it)
{
    const struct sr_sim_seq *s = &it->seq;
    put_str(b, "\"meta_info\":{\"id\":\"");
    put_str(b, j->id);
    put_str(b, "-");
    put_u64(b, it->index);
    put_str(b, "\",\"finish_reason\":");
    if (done(s)) {
        put_str(b, "{\"type\":\"length\",\"length\":");
        put_u64(b, s->generated);
        put_str(b, "}");
    } else {
        put_str(b, "null");
    }
    put_str(b, ",\"prompt_tokens\":");
    put_u64(b, s->prompt_tokens);
    put_str(b, ",\"completion_tokens\":");
    put_u64(b, s->generated);
    put_str(b, ",\"cached_tokens\":");
    put_u64(b, s->cached_tokens);
    put_str(b, ",\"e2e_latency\":");
    put_seconds(b, latency(j, s));
    put_str(b, "}");
}

/* SGLang's native object; streamed chunks carry the text so far. */
static void add_generate_object(struct evbuffer *b, const struct job *j, const struct item *it)
{
    evbuffer_add(b, "{\"text\":\"", 9);
    add_output(b, &it->seq, 0, it->seq.generated);
    evbuffer_add(b, "\",", 2);
    add_meta_info(b, j, it);
    if (j->batch) {
        put_str(b, ",\"index\":");
        put_u64(b, it->index);
    }
    put_str(b, ",\"worker_id\":");
    put_str(b, j->sim->worker_id_json);
    put_str(b, "}");
}

static void add_usage(struct evbuffer *b, const struct job *j)
{
    unsigned long long prompt = 0, gen = 0, cached = 0;
    for (size_t i = 0; i < j->nitems; i++) {
        prompt += j->items[i].seq.prompt_tokens;
        gen += j->items[i].seq.generated;
        cached += j->items[i].seq.cached_tokens;
    }
    evbuffer_add_printf(b,
                        "\"usage\":{\"prompt_tokens\":%llu,\"total_tokens\":%llu,"
                        "\"completion_tokens\":%llu,\"prompt_tokens_details\":{\"cached_tokens\":"
                        "%llu}}",
                        prompt, prompt + gen, gen, cached);
}

static void add_openai_prefix(struct evbuffer *b, const struct job *j, bool chunk)
{
    const char *object = j->kind == SR_SIM_CHAT
                             ? (chunk ? "chat.completion.chunk" : "chat.completion")
                             : "text_completion";
    evbuffer_add_printf(b, "{\"id\":\"%s%s\",\"object\":\"%s\",\"created\":%lld,\"model\":%s,",
                        j->kind == SR_SIM_CHAT ? "chatcmpl-" : "cmpl-", j->id, object, j->created,
                        j->sim->model_name_json);
}

static void write_whole(struct job *j)
{
    struct evbuffer *b = j->sim->scratch;
    if (j->kind == SR_SIM_GENERATE) {
        if (j->batch)
            evbuffer_add(b, "[", 1);
        for (size_t i = 0; i < j->nitems; i++) {
            if (i)
                evbuffer_add(b, ",", 1);
            add_generate_object(b, j, &j->items[i]);
        }
        if (j->batch)
            evbuffer_add(b, "]", 1);
    } else {
        add_openai_prefix(b, j, false);
        evbuffer_add(b, "\"choices\":[", 11);
        for (size_t i = 0; i < j->nitems; i++) {
            const struct sr_sim_seq *s = &j->items[i].seq;
            evbuffer_add_printf(b, "%s{\"index\":%zu,", i ? "," : "", i);
            if (j->kind == SR_SIM_CHAT)
                evbuffer_add(b, "\"message\":{\"role\":\"assistant\",\"content\":\"", 41);
            else
                evbuffer_add(b, "\"text\":\"", 8);
            add_output(b, s, 0, s->generated);
            evbuffer_add_printf(b,
                                "\"%s,\"logprobs\":null,\"finish_reason\":\"length\","
                                "\"matched_stop\":null}",
                                j->kind == SR_SIM_CHAT ? "}" : "");
        }
        evbuffer_add(b, "],", 2);
        add_usage(b, j);
        evbuffer_add_printf(b, ",\"worker_id\":%s}", j->sim->worker_id_json);
    }
    sr_sim_respond_buffer(j->conn, 200, "application/json", b);
}

/* SSE event(s) for the tokens of it generated since the last call. */
static void write_progress(struct job *j, struct item *it)
{
    struct sr_sim_seq *s = &it->seq;
    if (s->generated == it->sent && !done(s))
        return;
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        return; /* the next progress carries these tokens too */
    if (j->kind == SR_SIM_GENERATE) {
        evbuffer_add(b, "data: ", 6);
        add_generate_object(b, j, it);
        evbuffer_add(b, "\n\n", 2);
    } else {
        if (j->kind == SR_SIM_CHAT && it->sent == 0) {
            evbuffer_add(b, "data: ", 6);
            add_openai_prefix(b, j, true);
            evbuffer_add_printf(b,
                                "\"choices\":[{\"index\":%u,\"delta\":{\"role\":\"assistant\","
                                "\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],"
                                "\"worker_id\":%s}\n\n",
                                it->index, j->sim->worker_id_json);
        }
        evbuffer_add(b, "data: ", 6);
        add_openai_prefix(b, j, true);
        evbuffer_add_printf(b, "\"choices\":[{\"index\":%u,", it->index);
        evbuffer_add(b, j->kind == SR_SIM_CHAT ? "\"delta\":{\"content\":\"" : "\"text\":\"",
                     j->kind == SR_SIM_CHAT ? 20 : 8);
        add_output(b, s, it->sent, s->generated);
        evbuffer_add_printf(b,
                            "\"%s,\"logprobs\":null,\"finish_reason\":%s}],\"worker_id\":%s}\n\n",
                            j->kind == SR_SIM_CHAT ? "}" : "", done(s) ? "\"length\"" : "null",
                            j->sim->worker_id_json);
    }
    it->sent = s->generated;
    sr_sim_stream_write(j->conn, b);
    evbuffer_free(b);
}

static void write_stream_end(struct job *j)
{
    struct evbuffer *b = evbuffer_new();
    if (b != NULL) {
        if (j->kind != SR_SIM_GENERATE && j->include_usage) {
            evbuffer_add(b, "data: ", 6);
            add_openai_prefix(b, j, true);
            evbuffer_add(b, "\"choices\":[],", 13);
            add_usage(b, j);
            evbuffer_add_printf(b, ",\"worker_id\":%s}\n\n", j->sim->worker_id_json);
        }
        evbuffer_add(b, "data: [DONE]\n\n", 14);
        sr_sim_stream_write(j->conn, b);
        evbuffer_free(b);
    }
    sr_sim_stream_end(j->conn);
}

/* ---- the job's life ---------------------------------------------------- */

static void on_progress(struct sr_sim_seq *seq, void *ctx)
{
    struct item *it = ctx;
    struct job *j = it->job;
    if (j->stream)
        write_progress(j, it);
    if (j->crash && seq->generated * 2 >= seq->max_new_tokens)
        sr_sim_conn_flush_and_exit(j->conn, 3);
    if (done(seq))
        j->finished++;
    if (j->finished < j->nitems)
        return;
    sr_sim_conn_detach_job(j->conn);
    if (j->stream)
        write_stream_end(j);
    else
        write_whole(j);
    job_free(j);
}

static void cancel_job(void *arg)
{
    struct job *j = arg;
    for (size_t i = 0; i < j->nitems; i++)
        sr_sim_engine_cancel(j->sim->engine, &j->items[i].seq);
    job_free(j);
}

/* The fault knobs, in the order a test would expect them to bite. Returns
 * true when the request was dealt with (failed or left hanging). */
static bool apply_faults(struct sr_sim *sim, struct sr_sim_conn *c, struct job *j)
{
    const struct sr_sim_config *cfg = sim->cfg;
    uint64_t n = ++sim->inference_requests;
    if (cfg->crash_after > 0 && n == (uint64_t)cfg->crash_after) {
        if (!j->stream)
            sr_sim_conn_flush_and_exit(c, 3);
        j->crash = true; /* mid-stream, see on_progress */
    }
    if (cfg->hang)
        return true; /* never answered; the connection stays open */
    bool fail = n <= (uint64_t)cfg->fail_first_n ||
                (cfg->fail_rate > 0 && sr_rng_unit(&sim->rng) < cfg->fail_rate);
    if (fail) {
        char msg[96];
        snprintf(msg, sizeof(msg), "injected failure (--fail-first-n/--fail-rate), request %llu",
                 (unsigned long long)n);
        sr_sim_reply_error(c, (int)cfg->fail_status, msg);
        return true;
    }
    return false;
}

/* A job for req, parsed; NULL after answering the error. */
static struct job *parse_job(struct sr_sim *sim, struct sr_sim_conn *c,
                             const struct sr_h1_request *req, enum sr_sim_api_kind kind)
{
    struct job *j = sr_calloc(1, sizeof(*j));
    if (j == NULL) {
        sr_sim_reply_error(c, 500, "out of memory");
        return NULL;
    }
    j->sim = sim;
    j->conn = c;
    j->kind = kind;
    struct parse_error perr = {{0}};
    int rc = parse_request(j, req, &perr);
    if (rc != 0) {
        sr_sim_reply_error(c, rc == SR_ERR_NOMEM ? 500 : 400,
                           rc == SR_ERR_NOMEM ? "out of memory" : perr.msg);
        job_free(j);
        return NULL;
    }
    return j;
}

void sr_sim_inference_probe(struct sr_sim *sim, struct sr_sim_conn *c,
                            const struct sr_h1_request *req, enum sr_sim_api_kind kind)
{
    struct job *j = parse_job(sim, c, req, kind);
    if (j == NULL)
        return;
    /* The first prompt decides, as a router routes a batch by its first. */
    char body[128];
    int n = snprintf(body, sizeof(body), "{\"cached_tokens\":%u,\"prompt_tokens\":%u}",
                     sr_sim_engine_cached_tokens(sim->engine, &j->items[0].seq),
                     j->items[0].seq.prompt_tokens);
    sr_sim_respond(c, 200, "application/json", body, (size_t)n);
    job_free(j);
}

void sr_sim_inference_handle(struct sr_sim *sim, struct sr_sim_conn *c,
                             const struct sr_h1_request *req, enum sr_sim_api_kind kind)
{
    struct job *j = parse_job(sim, c, req, kind);
    if (j == NULL)
        return;
    j->created = (long long)time(NULL);
    /* 24 hex digits: 64 random bits, then a 32-bit counter. */
    uint64_t r = sr_rng_next(&sim->rng), n = ++sim->request_counter;
    for (int i = 0; i < 24; i++) {
        uint64_t v = i < 16 ? r >> (60 - 4 * i) : n >> (28 - 4 * (i - 16));
        j->id[i] = "0123456789abcdef"[v & 15];
    }
    j->id[24] = '\0';
    if (apply_faults(sim, c, j)) {
        job_free(j);
        return;
    }
    struct sr_sim_seq *seqs[64];
    struct sr_sim_seq **list = j->nitems <= 64 ? seqs : sr_calloc(j->nitems, sizeof(*list));
    if (list == NULL) {
        sr_sim_reply_error(c, 500, "out of memory");
        job_free(j);
        return;
    }
    for (size_t i = 0; i < j->nitems; i++) {
        j->items[i].seq.on_progress = on_progress;
        j->items[i].seq.ctx = &j->items[i];
        list[i] = &j->items[i].seq;
    }
    int rc = sr_sim_engine_submit(sim->engine, list, j->nitems);
    if (list != seqs)
        sr_free(list);
    if (rc != 0) {
        sr_sim_reply_error(c, 429,
                           "The server is overloaded: too many queued requests "
                           "(--max-queued-requests)");
        job_free(j);
        return;
    }
    if (j->stream)
        sr_sim_stream_begin(c, 200, "text/event-stream");
    if (done(&j->items[0].seq)) { /* zero latency: everything is ready */
        j->finished = j->nitems - 1;
        for (size_t i = 0; i + 1 < j->nitems; i++)
            if (j->stream)
                write_progress(j, &j->items[i]);
        on_progress(&j->items[j->nitems - 1].seq, &j->items[j->nitems - 1]);
        return;
    }
    sr_sim_conn_attach_job(c, j, cancel_job);
}
