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

/* What answers requests: the routes (api.c). main.c sets them, so the
 * server does not depend on the routes that answer through it. */
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
    const struct sr_sim_routes *routes;
    char *last_request; /* JSON of the last request received (GET /sim/last_request) */
};

/* Wall-clock milliseconds since the process started. */
double sr_sim_uptime_ms(const struct sr_sim *sim);

#endif
