/* inference: the three generation routes (see inference.h). */
#include "inference.h"

#include "bootstrap.h"
#include "job.h"
#include "reply.h"
#include "room_fetch.h"
#include "shapes.h"
#include "tokens.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool done(const struct sr_sim_seq *s)
{
    return s->state == SR_SIM_SEQ_DONE;
}

/* The prompt no longer waits for its KV (decode): out of /get_load's count. */
static void kv_uncount(struct job *j, struct item *it)
{
    if (!it->kv_counted)
        return;
    it->kv_counted = false;
    j->sim->stats.kv_waiting--;
    j->sim->stats.kv_waiting_tokens -= it->seq.prompt_tokens;
}

/* Stops whatever the job still runs (sequences, room fetches, timers) and
 * frees it. */
static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->nitems; i++) {
        struct item *it = &j->items[i];
        sr_sim_engine_cancel(j->sim->engine, &it->seq);
        sr_sim_fetch_cancel(it->fetch);
        if (it->timer)
            event_free(it->timer);
        kv_uncount(j, it);
        sr_sim_key_clear(&it->key);
    }
    if (j->timer)
        event_free(j->timer);
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
            it->ids = true;
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
    if ((rc = get_bool(root, "return_logprob", &j->return_logprob, e)) != 0)
        return rc;
    const cJSON *start = field(root, "logprob_start_len");
    if (start && (!is_integer(start) || start->valuedouble < -1 || start->valuedouble > 1e9))
        return bad(e, "'logprob_start_len' must be an integer (-1: output tokens only)");
    if (start)
        j->logprob_start_len = (long)start->valuedouble;
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

/* Prefill and decode roles: every prompt's bootstrap host, port and room. */
static int parse_pd_fields(struct job *j, const cJSON *root, const struct sr_h1_request *req,
                           struct parse_error *e)
{
    struct sr_sim_pd_fields *f = sr_calloc(j->nitems, sizeof(*f));
    if (f == NULL)
        return SR_ERR_NOMEM;
    int rc = sr_sim_pd_fields_parse(root, req->body, req->body_len, j->nitems, j->batch, f, e->msg,
                                    sizeof(e->msg));
    for (size_t i = 0; rc == 0 && i < j->nitems; i++)
        j->items[i].pd = f[i];
    sr_free(f);
    return rc;
}

/* pd: read the bootstrap fields too (prefill and decode roles; a probe
 * of the cache does not need them). */
static int parse_request(struct job *j, const struct sr_h1_request *req, bool pd,
                         struct parse_error *e)
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
    if (rc == 0 && pd && j->sim->role != SR_SIM_ROLE_NULL)
        rc = parse_pd_fields(j, root, req, e);
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

/* ---- the job's life ---------------------------------------------------- */

/* Arms a timer model_s model seconds from now (wall time / --time-scale). */
static void arm(const struct sr_sim *sim, struct event *ev, double model_s)
{
    double wall = model_s > 0 ? model_s / sim->cfg->time_scale : 0;
    long long us = (long long)(wall * 1e6);
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    evtimer_add(ev, &tv);
}

/* The model time at which the KV of tokens has crossed this worker's link,
 * which carries one transfer at a time (FIFO). */
static double transfer_end(struct sr_sim *sim, uint32_t tokens)
{
    const struct sr_sim_config *cfg = sim->cfg;
    double now = sr_sim_engine_now(sim->engine);
    if (cfg->zero_latency)
        return now;
    double seconds =
        (double)tokens * (double)cfg->kv_bytes_per_token / (cfg->kv_transfer_gbps * 1e9);
    double start = sim->link_free_at > now ? sim->link_free_at : now;
    sim->link_free_at = start + seconds;
    return sim->link_free_at;
}

/* Every prompt is finished (in a stream, some may have failed): the answer. */
static void answer(struct job *j)
{
    sr_sim_conn_detach_job(j->conn);
    if (j->stream) {
        /* SGLang's prefill server streams one event per prompt, at the end */
        if (j->sim->role == SR_SIM_ROLE_PREFILL)
            for (size_t i = 0; i < j->nitems; i++)
                sr_sim_shapes_write_progress(j, &j->items[i]);
        sr_sim_shapes_write_stream_end(j);
    } else {
        sr_sim_shapes_write_whole(j);
    }
    if (j->failed)
        j->sim->stats.failed++;
    else
        j->sim->stats.finished++;
    job_free(j);
}

static void on_answer_time(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    answer(arg);
}

/* Prefill: a prompt's prefill is done: its room is ready for the decode
 * worker, and its KV leaves on the link. SGLang's prefill server answers
 * once the transfer is over, so the answer waits for the last one. */
static void publish(struct job *j, struct item *it)
{
    struct sr_sim *sim = j->sim;
    struct sr_sim_room_info info = {it->seq.prompt_tokens, it->seq.cached_tokens};
    sr_sim_bootstrap_ready(sim->bootstrap, it->pd.room, &info);
    double end = transfer_end(sim, it->seq.prompt_tokens);
    if (end > j->answer_at)
        j->answer_at = end;
}

static void all_finished(struct job *j)
{
    double wait = j->answer_at - sr_sim_engine_now(j->sim->engine);
    if (j->sim->role == SR_SIM_ROLE_PREFILL && wait > 0) {
        j->timer = evtimer_new(j->sim->base, on_answer_time, j);
        if (j->timer) { /* else at once: better early than never */
            arm(j->sim, j->timer, wait);
            return;
        }
    }
    answer(j);
}

static void on_progress(struct sr_sim_seq *seq, void *ctx)
{
    struct item *it = ctx;
    struct job *j = it->job;
    bool prefill = j->sim->role == SR_SIM_ROLE_PREFILL;
    if (j->stream && !prefill)
        sr_sim_shapes_write_progress(j, it);
    if (j->crash && seq->generated * 2 >= seq->max_new_tokens)
        sr_sim_conn_flush_and_exit(j->conn, 3);
    if (!done(seq))
        return;
    if (prefill)
        publish(j, it);
    if (++j->finished == j->nitems)
        all_finished(j);
}

/* A prompt cannot be served (decode: its KV never came, or no room in the
 * queue). Without a stream the whole request fails, as SGLang raises an
 * HTTPException for it ({"object":"error","message","type":"<status>",
 * "param":null,"code"}); in a stream /generate ends that prompt with an
 * abort and goes on, the OpenAI routes write the error event and end. */
static void fail_prompt(struct job *j, struct item *it, int status, const char *message)
{
    it->phase = PD_FAILED;
    kv_uncount(j, it);
    j->failed = true;
    if (!j->stream || j->kind != SR_SIM_GENERATE) {
        sr_sim_conn_detach_job(j->conn);
        if (j->stream) {
            sr_sim_shapes_write_stream_error(j, it, status, message);
            sr_sim_shapes_write_stream_end(j);
        } else {
            char type[16];
            snprintf(type, sizeof(type), "%d", status);
            sr_sim_reply_error_typed(j->conn, status, type, message);
        }
        j->sim->stats.failed++;
        job_free(j);
        return;
    }
    sr_sim_shapes_write_stream_error(j, it, status, message);
    if (++j->finished == j->nitems)
        answer(j);
}

/* SGLang's decode scheduler, prepare_abort() after a failed KVPoll. The
 * message holds only the id, numbers and a validated host: no JSON escaping
 * needed. */
static void transfer_failed(struct job *j, struct item *it, const char *reason)
{
    char msg[768];
    unsigned long long room = (unsigned long long)it->pd.room;
    snprintf(msg, sizeof(msg),
             "Decode transfer failed for request rank=0 decode_req.req.rid='%s-%u' "
             "decode_req.req.bootstrap_room=%llu with exception "
             "KVTransferError(bootstrap_room=%llu): %s",
             j->id, it->index, room, room, reason);
    fail_prompt(j, it, 500, msg);
}

static void timed_out(struct job *j, struct item *it)
{
    char reason[160];
    snprintf(reason, sizeof(reason), "Request %llu timed out after %.1fs in KVPoll.WaitingForInput",
             (unsigned long long)it->pd.room, sr_sim_engine_now(j->sim->engine) - j->arrived);
    j->sim->stats.rooms_timed_out++;
    transfer_failed(j, it, reason);
}

/* Decode: the prompt's KV is here; the engine decodes it (no prefill). */
static void start_decoding(struct job *j, struct item *it)
{
    struct sr_sim_seq *s = &it->seq;
    it->phase = PD_NONE;
    kv_uncount(j, it);
    s->prefilled = true;
    struct sr_sim_seq *one[1] = {s};
    if (sr_sim_engine_submit(j->sim->engine, one, 1) != 0) {
        fail_prompt(j, it, 429,
                    "The server is overloaded: too many queued requests (--max-queued-requests)");
        return;
    }
    if (done(s)) /* zero latency */
        on_progress(s, it);
}

/* Decode: the wait's deadline (PD_ROOM), or the end of the transfer (PD_KV). */
static void on_item_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct item *it = arg;
    struct job *j = it->job;
    if (it->phase == PD_KV) {
        start_decoding(j, it);
        return;
    }
    sr_sim_fetch_cancel(it->fetch);
    it->fetch = NULL;
    timed_out(j, it);
}

static void on_room(void *ctx, const struct sr_sim_fetch_result *r)
{
    struct item *it = ctx;
    struct job *j = it->job;
    struct sr_sim *sim = j->sim;
    it->fetch = NULL; /* over once this returns */
    if (r->status == 200) {
        sim->stats.rooms_received++;
        it->phase = PD_KV;
        it->seq.cached_tokens =
            r->cached_tokens < it->seq.prompt_tokens ? r->cached_tokens : it->seq.prompt_tokens;
        evtimer_del(it->timer);
        arm(sim, it->timer, transfer_end(sim, r->tokens) - sr_sim_engine_now(sim->engine));
        return;
    }
    if (r->status == 404 || r->status == 408) { /* not ready in time */
        timed_out(j, it);
        return;
    }
    /* SGLang's decode cannot reach the prefill's bootstrap server */
    sim->stats.rooms_failed++;
    sr_log_info("room %llu from %s:%d: %s", (unsigned long long)it->pd.room, it->pd.host,
                it->pd.port, r->why ? r->why : "no answer");
    char reason[400];
    bool v6 = strchr(it->pd.host, ':') != NULL;
    snprintf(reason, sizeof(reason),
             "Could not fetch prefill parallel info from bootstrap_addr: %s%s%s:%d", v6 ? "[" : "",
             it->pd.host, v6 ? "]" : "", it->pd.port);
    transfer_failed(j, it, reason);
}

/* Decode: asks each prompt's prefill worker for its room, with a deadline
 * of --disaggregation-timeout-ms. 0 or SR_ERR_NOMEM. */
static int wait_for_rooms(struct job *j)
{
    struct sr_sim *sim = j->sim;
    double timeout = sim->cfg->disaggregation_timeout_ms / 1000.0; /* model seconds */
    long wait_ms = (long)(timeout / sim->cfg->time_scale * 1000.0 + 0.999);
    for (size_t i = 0; i < j->nitems; i++) {
        struct item *it = &j->items[i];
        it->timer = evtimer_new(sim->base, on_item_timer, it);
        if (it->timer)
            it->fetch = sr_sim_fetch_room(sim->fetcher, it->pd.host, it->pd.port, it->pd.room,
                                          wait_ms, on_room, it);
        if (it->fetch == NULL)
            return SR_ERR_NOMEM;
        it->phase = PD_ROOM;
        it->kv_counted = true;
        sim->stats.kv_waiting++;
        sim->stats.kv_waiting_tokens += it->seq.prompt_tokens;
        sim->stats.rooms_waited++;
        arm(sim, it->timer, timeout);
    }
    return 0;
}

static void cancel_job(void *arg)
{
    struct job *j = arg;
    j->sim->stats.cancelled++; /* the client went away: SGLang aborts the request */
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
                             const struct sr_h1_request *req, enum sr_sim_api_kind kind, bool pd)
{
    struct job *j = sr_calloc(1, sizeof(*j));
    if (j == NULL) {
        sr_sim_reply_error(c, 500, "out of memory");
        return NULL;
    }
    j->sim = sim;
    j->conn = c;
    j->kind = kind;
    j->logprob_start_len = -1;
    struct parse_error perr = {{0}};
    int rc = parse_request(j, req, pd, &perr);
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
    struct job *j = parse_job(sim, c, req, kind, false);
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

/* Null and prefill roles: every prompt into the engine at once. 0, or the
 * error answered. */
static int submit_all(struct sr_sim *sim, struct sr_sim_conn *c, struct job *j)
{
    struct sr_sim_seq *seqs[64] = {NULL};
    struct sr_sim_seq **list = j->nitems <= 64 ? seqs : sr_calloc(j->nitems, sizeof(*list));
    if (list == NULL) {
        sr_sim_reply_error(c, 500, "out of memory");
        return SR_ERR_NOMEM;
    }
    for (size_t i = 0; i < j->nitems; i++) {
        if (sim->role == SR_SIM_ROLE_PREFILL) /* the first token only */
            j->items[i].seq.max_new_tokens = 1;
        list[i] = &j->items[i].seq;
    }
    int rc = sr_sim_engine_submit(sim->engine, list, j->nitems);
    if (list != seqs)
        sr_free(list);
    if (rc != 0)
        sr_sim_reply_error(c, 429,
                           "The server is overloaded: too many queued requests "
                           "(--max-queued-requests)");
    return rc;
}

void sr_sim_inference_handle(struct sr_sim *sim, struct sr_sim_conn *c,
                             const struct sr_h1_request *req, enum sr_sim_api_kind kind)
{
    sim->stats.received++;
    struct job *j = parse_job(sim, c, req, kind, true);
    if (j == NULL) {
        sim->stats.failed++;
        return;
    }
    j->created = (long long)time(NULL);
    j->arrived = sr_sim_engine_now(sim->engine);
    /* 24 hex digits: 64 random bits, then a 32-bit counter. */
    uint64_t r = sr_rng_next(&sim->rng), n = ++sim->request_counter;
    for (int i = 0; i < 24; i++) {
        uint64_t v = i < 16 ? r >> (60 - 4 * i) : n >> (28 - 4 * (i - 16));
        j->id[i] = "0123456789abcdef"[v & 15];
    }
    j->id[24] = '\0';
    if (apply_faults(sim, c, j)) {
        if (!sim->cfg->hang)
            sim->stats.failed++;
        job_free(j);
        return;
    }
    for (size_t i = 0; i < j->nitems; i++) {
        j->items[i].seq.on_progress = on_progress;
        j->items[i].seq.ctx = &j->items[i];
    }
    int rc = 0;
    if (sim->role == SR_SIM_ROLE_DECODE) {
        rc = wait_for_rooms(j);
        if (rc != 0)
            sr_sim_reply_error(c, 500, "out of memory");
    } else {
        rc = submit_all(sim, c, j);
    }
    if (rc != 0) {
        sim->stats.failed++;
        job_free(j);
        return;
    }
    if (j->stream)
        sr_sim_stream_begin(c, 200, "text/event-stream");
    if (sim->role != SR_SIM_ROLE_DECODE && done(&j->items[0].seq)) {
        /* zero latency: everything is ready; the last call answers */
        size_t count = j->nitems;
        struct item *items = j->items;
        for (size_t i = 0; i < count; i++)
            on_progress(&items[i].seq, &items[i]);
        return;
    }
    sr_sim_conn_attach_job(c, j, cancel_job);
}
