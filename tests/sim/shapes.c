/* shapes: SGLang's and OpenAI's response bodies (see shapes.h). */
#include "shapes.h"

#include "put.h"
#include "server.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

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

/* From the request's arrival: a decode worker's includes the wait for the
 * room and the KV, before its sequence reached the engine. */
static double latency(const struct job *j, const struct sr_sim_seq *s)
{
    double end = done(s) ? s->finished_at : sr_sim_engine_now(j->sim->engine);
    double start = s->prefilled || s->state == SR_SIM_SEQ_NEW ? j->arrived : s->submitted_at;
    return end - start;
}

static void add_logprob(struct evbuffer *b, bool first, double lp, uint32_t id)
{
    if (!first)
        evbuffer_add(b, ",", 1);
    if (lp == 0)
        evbuffer_add(b, "[null,", 6);
    else
        evbuffer_add_printf(b, "[%.3f,", lp);
    put_u64(b, id);
    evbuffer_add(b, ",null]", 6);
}

/* return_logprob, as SGLang lists them: [logprob, token_id, null] (no
 * text), the prompt's from logprob_start_len (-1: none; the first prompt
 * token has no logprob: null). A decode worker never saw the prompt's
 * logits: its input list is empty, the prefill worker's answer has it. */
static void add_logprobs(struct evbuffer *b, const struct job *j, const struct item *it)
{
    const struct sr_sim_seq *s = &it->seq;
    put_str(b, ",\"input_token_logprobs\":[");
    long from = j->logprob_start_len;
    if (from >= 0 && j->sim->role != SR_SIM_ROLE_DECODE) {
        for (uint32_t i = (uint32_t)from; i < s->prompt_tokens; i++) {
            uint32_t id = sr_sim_prompt_token_id(s->key, s->key_len, i, it->ids);
            add_logprob(b, i == (uint32_t)from, i ? sr_sim_token_logprob(s->digest ^ id ^ i) : 0,
                        id);
        }
    }
    put_str(b, "],\"output_token_logprobs\":[");
    for (uint32_t i = 0; i < s->generated; i++) {
        uint32_t id = sr_sim_output_token_id(s->digest, i);
        add_logprob(b, i == 0, sr_sim_token_logprob(s->digest + i), id);
    }
    put_str(b, "]");
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
        /* a prefill worker's one token: SGLang's FINISH_LENGTH(length=0) */
        put_str(b, "{\"type\":\"length\",\"length\":");
        put_u64(b, j->sim->role == SR_SIM_ROLE_PREFILL ? 0 : s->generated);
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
    if (j->return_logprob)
        add_logprobs(b, j, it);
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

void sr_sim_shapes_write_whole(struct job *j)
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
void sr_sim_shapes_write_progress(struct job *j, struct item *it)
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

void sr_sim_shapes_write_stream_end(struct job *j)
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

static const char *status_name(int status)
{
    switch (status) {
    case 429:
        return "TOO_MANY_REQUESTS";
    case 503:
        return "SERVICE_UNAVAILABLE";
    default:
        return "INTERNAL_SERVER_ERROR";
    }
}

void sr_sim_shapes_write_stream_error(struct job *j, struct item *it, int status,
                                      const char *message)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        return;
    /* message: ASCII without quotes or backslashes (inference.c writes it) */
    if (j->kind == SR_SIM_GENERATE) {
        const struct sr_sim_seq *s = &it->seq;
        put_str(b, "data: {\"text\":\"\",\"meta_info\":{\"id\":\"");
        put_str(b, j->id);
        put_str(b, "-");
        put_u64(b, it->index);
        evbuffer_add_printf(b,
                            "\",\"finish_reason\":{\"type\":\"abort\",\"message\":\"%s\","
                            "\"status_code\":%d},\"prompt_tokens\":%u,\"completion_tokens\":0,"
                            "\"cached_tokens\":0,\"e2e_latency\":",
                            message, status, s->prompt_tokens);
        put_seconds(b, latency(j, s));
        put_str(b, "}");
        if (j->batch) {
            put_str(b, ",\"index\":");
            put_u64(b, it->index);
        }
        put_str(b, ",\"worker_id\":");
        put_str(b, j->sim->worker_id_json);
        put_str(b, "}\n\n");
    } else {
        evbuffer_add_printf(b,
                            "data: {\"error\":{\"object\":\"error\",\"message\":\"%s\",\"type\":"
                            "\"%s\",\"param\":null,\"code\":%d}}\n\n",
                            message, status_name(status), status);
    }
    sr_sim_stream_write(j->conn, b);
    evbuffer_free(b);
}
