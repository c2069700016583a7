/*
 * exchange: one proxied request's state, private to the proxy's two files:
 * proxy.c (the exchange: routing, the worker that answers the client, the
 * client's side, every end) and proxy_pair.c (disaggregated serving: the
 * prefill half of a pair, the bootstrap body, logprobs merged from both
 * halves). Nothing else includes it.
 *
 * An exchange belongs to its loop; it ends once, through sr_exchange_free
 * (called by the finish functions), whatever ends it.
 */
#ifndef SR_EXCHANGE_H
#define SR_EXCHANGE_H

#include "forward.h"
#include "loop.h"
#include "oracle_probe.h"
#include "pd_logprobs.h"
#include "routes.h"
#include "upstream.h"

#include "common/buf.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define MAX_EXCLUDED 64

/* One worker's part of an exchange: the worker that answers the client
 * (a regular or a decode worker), or in disaggregated serving the prefill
 * worker beside it, whose answer is drained. */
struct leg {
    struct sr_exchange *ex;
    struct sr_worker *worker;  /* this attempt's (borrowed from the exchange's set) */
    struct sr_policy *policy;  /* that chose it (settings keep it alive) */
    bool counted;              /* this attempt holds an in-flight count */
    uint32_t ticket;           /* its circuit breaker ticket (breaker.h) */
    size_t prefill;            /* its prompt bytes still counted as pending prefill */
    long decode;               /* its tokens still counted as to generate (decode_left) */
    long generated;            /* tokens seen streaming back in this attempt */
    struct sr_sse_counter sse; /* its streamed answer's events (forward.h) */
    struct sr_upstream *up;
    struct sr_buf head; /* the request head for this attempt's worker */
    int status;         /* its answer's status; 0 until the head came */
    bool first_byte;
};

struct sr_exchange {
    struct sr_loop *loop;
    struct sr_reply *conn; /* NULL once the client is gone */
    /* proxy.h's sr_proxy_end_cb: called once, at the very end */
    void (*end)(struct sr_loop *l, const struct sr_route *route, int status);
    const struct sr_route *route;
    struct sr_request req;
    struct sr_text_buf text_buf;
    struct sr_routing_text text;
    char request_id[72];
    struct sr_worker_set *set;         /* referenced for the exchange's life */
    const struct sr_worker_pool *pool; /* the model's workers (borrowed from set) */
    struct leg main;                   /* answers the client */
    struct leg pre;                    /* disaggregated: the prefill worker */
    bool pd;                           /* served by a prefill/decode pair */
    struct sr_buf body;                /* pd: the body with the bootstrap fields */
    /* pd with return_logprob (pd_logprobs.h): decode's answer is held
     * until prefill's is in, then merged. */
    bool merging;
    struct sr_pd_merge merge;
    struct sr_buf pre_answer; /* prefill's answer, collected */
    struct sr_buf held_head;  /* decode's response head lines, not sent yet */
    int held_status;
    bool pre_in;                      /* prefill's answer is complete (or failed) */
    bool decode_in;                   /* decode's answer is complete, waiting for prefill's */
    bool began;                       /* the merged answer's head went to the client */
    struct sr_exchange *next, **prev; /* in l->detached while answered */
    uint32_t excluded[MAX_EXCLUDED];
    size_t nexcluded;
    int attempts;
    struct event *deadline;
    bool responded; /* the response head went to the client */
    bool answered;  /* the client's answer is complete; the prefill leg may still drain */
    int status;
    struct timespec started;
    char last_error[160];
    struct sr_oracle_probe *probe; /* the oracle policy's question to the workers, or NULL */
    unsigned char *key; /* the routing key when it is not the text (replica sync), or NULL */
    size_t key_len;
};

/* ---- proxy.c ---- */

/* Chooses workers (a pair when the pool is disaggregated) and sends. */
void sr_exchange_attempt(struct sr_exchange *ex);
/* The worker started answering: its prefill is over (once per attempt). */
void sr_exchange_prefill_over(struct leg *g);
/* -1 in flight for the leg's attempt and its outcome to the worker's
 * circuit breaker, exactly once. */
void sr_exchange_end_attempt(struct leg *g, enum sr_breaker_outcome outcome);
/* Stops a leg's request, if it runs, with outcome for its worker. */
void sr_exchange_cancel_leg(struct leg *g, enum sr_breaker_outcome outcome);
/* Leg g failed before the client saw a byte: a new attempt, or the error. */
void sr_exchange_retry_or_fail(struct leg *g, int status, const char *why);
/* Ends the exchange: an error answer (nothing sent yet), or after the
 * answer (last: sr_reply_end or sr_reply_abort; NULL: the client left). */
void sr_exchange_finish_error(struct sr_exchange *ex, int status, const char *message);
void sr_exchange_finish(struct sr_exchange *ex, void (*last)(struct sr_reply *c));
void sr_exchange_free(struct sr_exchange *ex);

/* ---- proxy_pair.c ---- */

/* The prefill leg's answer handler. */
extern const struct sr_h1_client_handler sr_pair_handler;
/* The pair's buffers, at the exchange's start and end. */
void sr_pair_init(struct sr_exchange *ex);
void sr_pair_clear(struct sr_exchange *ex);
/* A new pair is chosen: its body (new rooms) and merge state. 0, or the
 * exchange was answered with an error and freed. */
int sr_pair_begin_attempt(struct sr_exchange *ex);
/* Decode's answer while it is held for merging (ex->merging and its head
 * held): on to the client as merged events allow. */
void sr_pair_merge_decode(struct sr_exchange *ex, const char *data, size_t len);
/* Both answers are in: the rest of the merged answer, and the end. */
void sr_pair_merge_complete(struct sr_exchange *ex);

#endif
