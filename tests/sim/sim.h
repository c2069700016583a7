/*
 * sim: the state of one simulated SGLang worker process, shared by its
 * modules (server, api, inference). One event loop, one thread.
 */
#ifndef SR_SIM_H
#define SR_SIM_H

#include "engine.h"
#include "host_cache.h"
#include "kv_cache.h"
#include "sim_config.h"

#include "common/rand.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct sr_sim;
struct sr_sim_conn;
struct sr_h1_request;
struct sr_sim_bootstrap;
struct sr_sim_fetcher;

/* The three generation routes (inference.h). */
enum sr_sim_api_kind {
    SR_SIM_GENERATE,
    SR_SIM_COMPLETIONS,
    SR_SIM_CHAT,
};

/* SGLang's --disaggregation-mode. */
enum sr_sim_role {
    SR_SIM_ROLE_NULL,    /* whole requests (no disaggregation) */
    SR_SIM_ROLE_PREFILL, /* prefill, publish the room, answer one token */
    SR_SIM_ROLE_DECODE,  /* fetch the room, receive the KV, decode */
};

/* Counters of GET /sim/stats, for tests that assert what a worker saw.
 * Every inference request received ends as exactly one of finished, failed
 * (answered an error) or cancelled (its client went away first), unless it
 * is still in flight. Rooms count prompts (one per batch element). */
struct sr_sim_stats {
    uint64_t received, finished, failed, cancelled;
    /* prefill */
    uint64_t rooms_ready;  /* prefills finished: rooms published */
    uint64_t rooms_served; /* rooms handed to a decode worker */
    /* decode */
    uint64_t rooms_waited;    /* rooms asked for */
    uint64_t rooms_received;  /* rooms that arrived in time */
    uint64_t rooms_timed_out; /* not ready within --disaggregation-timeout-ms */
    uint64_t rooms_failed;    /* bootstrap service unreachable or refusing */
    /* gauges (decode): prompts waiting for their room or their KV */
    uint32_t kv_waiting;
    uint64_t kv_waiting_tokens;
};

/* What answers requests on one listener: the worker's routes (api.c), or
 * the prefill role's bootstrap service (bootstrap.c). main.c gives each
 * listener its own, so the server does not depend on the routes that
 * answer through it. */
struct sr_sim_routes {
    void (*request)(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req);
    /* a request that could not be parsed: status and why */
    void (*error)(struct sr_sim_conn *c, int status, const char *message);
};

struct sr_sim {
    const struct sr_sim_config *cfg;
    struct event_base *base;
    struct sr_sim_kv *kv;
    struct sr_sim_host_cache *hc; /* NULL without --host-cache-mib */
    struct sr_sim_engine *engine;
    struct sr_rng rng;
    char worker_id[256];
    char worker_id_json[512];  /* JSON string literal, quotes included */
    char model_name_json[512]; /* served model name, ditto */
    struct timespec started;   /* CLOCK_MONOTONIC */
    long long started_unix;
    uint64_t inference_requests; /* inference requests received so far */
    uint64_t request_counter;    /* for response ids */
    int forced_health;           /* 0 = the model decides; else the status to answer */
    struct evbuffer *scratch;    /* response bodies are built here, then moved out */
    struct sr_sim_conn *conns;   /* every open connection (server.c links them) */
    char *last_request;          /* JSON of the last request received (GET /sim/last_request) */
    /* prefill/decode disaggregation */
    enum sr_sim_role role;
    struct sr_sim_bootstrap *bootstrap; /* prefill: the bootstrap service */
    struct sr_sim_fetcher *fetcher;     /* decode: asks bootstrap services for rooms */
    int bootstrap_port;                 /* prefill: the bound port */
    double link_free_at; /* model seconds when the KV link is free for the next transfer */
    struct sr_sim_stats stats;
};

/* Wall-clock milliseconds since the process started. */
double sr_sim_uptime_ms(const struct sr_sim *sim);

#endif
