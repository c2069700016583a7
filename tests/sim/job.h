/*
 * job: one inference request in flight, shared by inference.c (its life:
 * parsing, the engine, prefill/decode disaggregation, faults) and shapes.c
 * (its response bodies). Private to those two files.
 *
 * Ownership: a job owns its items, their keys, timers and room fetches; it
 * is attached to its connection (server.h) until answered, and freed by
 * whoever answers it or by the connection closing first.
 */
#ifndef SR_SIM_JOB_H
#define SR_SIM_JOB_H

#include "pd_fields.h"
#include "sim.h"
#include "tokens.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

struct sr_sim_fetch;

/* Where a prompt is in the decode role's wait for its KV. */
enum pd_phase {
    PD_NONE,  /* not waiting (null and prefill roles; decode once submitted) */
    PD_ROOM,  /* asking the prefill worker's bootstrap service for the room */
    PD_KV,    /* the room is ready: the KV is on its way */
    PD_FAILED /* the room never came: answered with SGLang's transfer error */
};

/* One prompt of a request. */
struct item {
    struct sr_sim_seq seq;
    struct sr_sim_key key;
    uint32_t sent; /* tokens already streamed */
    struct job *job;
    uint32_t index;
    bool ids; /* the prompt was token ids (input_ids, or a list of ids) */
    /* prefill/decode disaggregation */
    struct sr_sim_pd_fields pd;
    enum pd_phase phase;
    struct sr_sim_fetch *fetch; /* decode, PD_ROOM */
    struct event *timer;        /* decode: the wait's deadline, then the transfer */
    bool kv_counted;            /* in sim->stats.kv_waiting */
};

struct job {
    struct sr_sim *sim;
    struct sr_sim_conn *conn;
    enum sr_sim_api_kind kind;
    bool stream, include_usage, batch, crash;
    bool return_logprob;
    long logprob_start_len; /* -1: output tokens only, as SGLang's default */
    size_t nitems, finished;
    struct item *items;
    char id[40];
    long long created; /* unix seconds */
    double arrived;    /* model seconds */
    bool failed;       /* a prompt ended in an error (counted in stats.failed) */
    /* prefill: the answer waits for the KV to leave */
    struct event *timer;
    double answer_at; /* model seconds */
};

#endif
