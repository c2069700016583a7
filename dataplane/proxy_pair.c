/* proxy_pair: the prefill half of a disaggregated pair, its body and the
 * logprobs merged from both halves (see exchange.h). */
#include "exchange.h"
#include "pd_body.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>

/* The most of an answer held to merge logprobs (pd_logprobs.h). */
#define PD_MERGE_MAX ((size_t)64 << 20)

void sr_pair_init(struct sr_exchange *ex)
{
    /* The body plus the bootstrap fields (a batch: ~60 bytes per element). */
    sr_buf_init(&ex->body, ex->req.body_len + 4096 + (size_t)64 * (1u << 20));
    sr_buf_init(&ex->pre_answer, PD_MERGE_MAX);
    sr_buf_init(&ex->held_head, 32 * 1024);
    sr_pd_merge_init(&ex->merge, false, PD_MERGE_MAX);
}

void sr_pair_clear(struct sr_exchange *ex)
{
    sr_buf_free(&ex->body);
    sr_pd_merge_clear(&ex->merge);
    sr_buf_free(&ex->pre_answer);
    sr_buf_free(&ex->held_head);
}

/* The pair's body: the client's with the bootstrap fields of the prefill
 * worker just chosen and new rooms (pd_body.h). */
static int build_body(struct sr_exchange *ex)
{
    size_t n = ex->text.batch ? ex->text.batch : 1;
    uint64_t rooms_small[16];
    uint64_t *rooms = n <= 16 ? rooms_small : sr_malloc(n * sizeof(*rooms));
    if (rooms == NULL)
        return SR_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        rooms[i] = sr_pd_room(sr_rng_next(&ex->loop->rng));
    const struct sr_worker *p = ex->pre.worker;
    int rc = sr_pd_body_build(&ex->body, ex->req.body, ex->req.body_len, p->parsed.host,
                              p->bootstrap_port, rooms, ex->text.batch);
    if (rooms != rooms_small)
        sr_free(rooms);
    return rc;
}

int sr_pair_begin_attempt(struct sr_exchange *ex)
{
    /* Logprobs asked: decode's answer waits for prefill's (pd_logprobs.h). */
    ex->merging = ex->text.return_logprob;
    ex->pre_in = ex->decode_in = ex->began = false;
    ex->held_status = 0;
    sr_buf_reset(&ex->pre_answer);
    sr_pd_merge_clear(&ex->merge);
    sr_pd_merge_init(&ex->merge, ex->text.stream, PD_MERGE_MAX);
    int rc = build_body(ex);
    if (rc != 0) {
        sr_exchange_finish_error(ex, rc == SR_ERR_NOMEM ? 500 : 413,
                                 rc == SR_ERR_NOMEM ? "out of memory" : "request body too large");
        return -1;
    }
    return 0;
}

/* Merged bytes to the client, the held head first (whole: out is the
 * whole body, its length known). */
static void merge_send(struct sr_exchange *ex, const struct sr_buf *out, bool whole)
{
    if (ex->conn == NULL)
        return;
    if (!ex->began) {
        ex->began = ex->responded = true;
        sr_reply_begin(ex->conn, ex->held_status, ex->held_head.data, ex->held_head.len,
                       whole ? (long long)out->len : -1);
    }
    if (out->len > 0)
        sr_reply_body(ex->conn, out->data, out->len);
}

/* Both answers are in: the rest of the merged answer, and the end. */
void sr_pair_merge_complete(struct sr_exchange *ex)
{
    struct sr_buf out;
    sr_buf_init(&out, (size_t)1 << 30);
    int rc = sr_pd_merge_finish(&ex->merge, &out);
    if (rc != 0 && !ex->began) {
        sr_buf_free(&out);
        sr_exchange_finish_error(ex, 500, "out of memory while merging the prefill logprobs");
        return;
    }
    merge_send(ex, &out, !ex->merge.stream);
    sr_buf_free(&out);
    sr_exchange_finish(ex, rc == 0 ? sr_reply_end : sr_reply_abort);
}

void sr_pair_merge_decode(struct sr_exchange *ex, const char *data, size_t len)
{
    struct sr_buf out;
    sr_buf_init(&out, (size_t)1 << 30);
    if (sr_pd_merge_decode(&ex->merge, data, len, &out) != 0) {
        sr_buf_free(&out);
        sr_exchange_cancel_leg(&ex->main, SR_BREAKER_NO_VERDICT);
        if (!ex->began)
            sr_exchange_finish_error(ex, 502,
                                     "the decode worker's answer is too large to merge logprobs");
        else
            sr_exchange_finish(ex, sr_reply_abort);
        return;
    }
    merge_send(ex, &out, false);
    sr_buf_free(&out);
}

/* The prefill worker's answer is drained: its status decides whether the
 * pair failed (a 5xx, or no answer, before the client saw anything: a new
 * pair); after the client's answer began it is only accounted. */
static void pre_head(void *ctx, const struct sr_h1_response *resp)
{
    struct leg *g = ctx;
    struct sr_exchange *ex = g->ex;
    g->status = resp->status;
    if (resp->status >= 500 && !ex->responded && !ex->answered && ex->conn) {
        struct sr_upstream *up = g->up;
        g->up = NULL;
        sr_upstream_cancel(up);
        char why[48];
        snprintf(why, sizeof(why), "answered %d", resp->status);
        sr_exchange_retry_or_fail(g, resp->status, why);
    }
}

static void pre_body(void *ctx, const char *data, size_t len)
{
    struct leg *g = ctx;
    if (!g->first_byte) {
        g->first_byte = true;
        sr_exchange_prefill_over(g);
    }
    if (g->ex->merging && sr_buf_append(&g->ex->pre_answer, data, len) != 0)
        sr_buf_reset(&g->ex->pre_answer); /* too large: no logprobs to merge */
}

/* The prefill answer is over (or failed): a held decode answer can go. */
static void prefill_in(struct sr_exchange *ex)
{
    ex->pre_in = true;
    if (!ex->merging)
        return;
    sr_pd_merge_prefill(&ex->merge, ex->pre_answer.data ? ex->pre_answer.data : "",
                        ex->pre_answer.len);
    if (ex->decode_in) {
        sr_pair_merge_complete(ex);
        return;
    }
    if (ex->held_status && ex->merge.stream) { /* what decode streamed meanwhile */
        struct sr_buf out;
        sr_buf_init(&out, (size_t)1 << 30);
        if (sr_pd_merge_decode(&ex->merge, "", 0, &out) == 0)
            merge_send(ex, &out, false);
        sr_buf_free(&out);
    }
}

static void pre_done(void *ctx)
{
    struct leg *g = ctx;
    struct sr_exchange *ex = g->ex;
    g->up = NULL;
    sr_exchange_end_attempt(g, g->status < 500 ? SR_BREAKER_SUCCESS : SR_BREAKER_FAILURE);
    if (g->status >= 500)
        sr_log_warn("request %s: prefill worker %s answered %d", ex->request_id, g->worker->url,
                    g->status);
    if (ex->answered) {
        sr_exchange_free(ex);
        return;
    }
    prefill_in(ex);
}

static void pre_error(void *ctx, const char *why, bool local)
{
    struct leg *g = ctx;
    struct sr_exchange *ex = g->ex;
    g->up = NULL;
    if (!local && !ex->responded && !ex->answered && ex->conn) {
        sr_exchange_retry_or_fail(g, 502, why);
        return;
    }
    sr_exchange_end_attempt(g, local ? SR_BREAKER_NO_VERDICT : SR_BREAKER_FAILURE);
    sr_log_warn("request %s: prefill worker %s: %s", ex->request_id, g->worker->url, why);
    if (ex->answered) {
        sr_exchange_free(ex);
        return;
    }
    sr_buf_reset(&ex->pre_answer);
    prefill_in(ex);
}

const struct sr_h1_client_handler sr_pair_handler = {pre_head, pre_body, pre_done, pre_error};
