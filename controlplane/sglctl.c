/*
 * sglctl: the command-line client of the router's gRPC admin API.
 *
 *   sglctl [--addr HOST:PORT] [--token-file F | --token T] [--tls --ca F --cert F --key F]
 *          [--timeout S] [--json] COMMAND ...
 *
 * Commands map one to one onto RouterAdmin / grpc.health.v1 calls; output
 * is an aligned table (or JSON with --json, one object per line). Exit
 * status: 0 success, 1 the call failed (the gRPC status name and message
 * are printed), 2 a usage error.
 */
#include "config_pb.h"
#include "grpc_client.h"
#include "grpc_wire.h"
#include "pb_json.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/secret.h"
#include "common/tls_config.h"

#include "grpc/health/v1/health.pb-c.h"
#include "sglang/router/admin/v1/admin.pb-c.h"

#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PB(name)      Sglang__Router__Admin__V1__##name
#define PB_INIT(name) SGLANG__ROUTER__ADMIN__V1__##name##__INIT
#define SERVICE       "/sglang.router.admin.v1.RouterAdmin/"

#define EXIT_CALL  1
#define EXIT_USAGE 2

struct ctl {
    char host[256];
    char port[16];
    const char *token;
    bool tls;
    struct sr_tls_files tls_files; /* client certificate, CA */
    long timeout_ms;
    bool json;
    struct sr_grpc_client *client;
};

static const char usage[] =
    "usage: sglctl [--addr HOST:PORT] [--token-file F | --token T]\n"
    "              [--tls [--ca F] [--cert F --key F]]\n"
    "              [--timeout SECS] [--json] COMMAND\n"
    "\n"
    "The router's admin API (start the router with --admin-port PORT).\n"
    "\n"
    "commands:\n"
    "  workers list                   the workers, their health, circuit breaker and counters\n"
    "  workers set URL...             replace the whole list\n"
    "  workers add URL...             add workers (all or none)\n"
    "  workers remove URL...          remove workers (all or none)\n"
    "  config get                     the routing settings in force\n"
    "  config set --FLAG VALUE ...    change settings (router flag names)\n"
    "  stats trees                    the cache-aware tree per worker\n"
    "  stats queues                   in-flight, processed, failures per worker\n"
    "  stats watch [--interval-ms N] [--count N]\n"
    "                                 a snapshot every interval\n"
    "  evict                          run a tree eviction pass now\n"
    "  flush-cache [--workers]        empty the router's tree (and the workers' caches)\n"
    "  health [--service NAME]        grpc.health.v1 Check\n"
    "  sync                           replica sync: state, group, servers, counters, peers\n"
    "  sync set --nats-url URL... [--group NAME] [--token-file F | --user U --password-file F]\n"
    "           [--tls-ca F] [--tls-cert F --tls-key F]\n"
    "                                 join replicas over NATS (files are read here)\n"
    "  sync set --off                 leave them\n"
    "\n"
    "options:\n"
    "  --addr HOST:PORT   admin address (default $SGLCTL_ADDR or 127.0.0.1:30001)\n"
    "  --token-file F     bearer token from this file (trailing whitespace trimmed)\n"
    "  --token T          bearer token (default $SGLCTL_TOKEN; visible in ps: prefer\n"
    "                     --token-file or the variable)\n"
    "  --tls              TLS, verifying the router's certificate (system CAs)\n"
    "  --ca FILE          ... against this CA instead (implies --tls)\n"
    "  --cert F --key F   present this client certificate (mutual TLS)\n"
    "  --timeout SECS     deadline of each call (default 10)\n"
    "  --json             JSON output, one object per line\n"
    "  -h, --help         this help; COMMAND --help for a command's\n"
    "\n"
    "exit status: 0 ok, 1 the call failed, 2 usage error\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sglctl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (sglctl --help)\n");
    va_end(ap);
    return EXIT_USAGE;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* ---- calls ------------------------------------------------------------------ */

struct reply {
    const ProtobufCMessageDescriptor *type;
    ProtobufCMessage *msg; /* the last one received */
    int (*each)(struct ctl *ctl, const ProtobufCMessage *msg, void *arg); /* streaming */
    void *each_arg;
    struct ctl *ctl;
    bool bad;
};

static int on_message(void *arg, const uint8_t *data, size_t len)
{
    struct reply *r = arg;
    ProtobufCMessage *m = protobuf_c_message_unpack(r->type, NULL, len, data);
    if (m == NULL) {
        r->bad = true;
        return 1;
    }
    if (r->each) {
        int stop = r->each(r->ctl, m, r->each_arg);
        protobuf_c_message_free_unpacked(m, NULL);
        return stop;
    }
    if (r->msg)
        protobuf_c_message_free_unpacked(r->msg, NULL);
    r->msg = m;
    return 0;
}

static bool connected(struct ctl *ctl)
{
    if (ctl->client)
        return true;
    char err[400];
    SSL_CTX *tls = NULL;
    if (ctl->tls && (tls = sr_tls_client_ctx(&ctl->tls_files, err, sizeof(err))) == NULL) {
        fprintf(stderr, "sglctl: %s\n", err);
        return false;
    }
    ctl->client =
        sr_grpc_client_connect(ctl->host, ctl->port, tls, ctl->timeout_ms, err, sizeof(err));
    SSL_CTX_free(tls);
    if (ctl->client == NULL) {
        fprintf(stderr, "sglctl: UNAVAILABLE: %s\n", err);
        return false;
    }
    return true;
}

/* One call; the response message in *out (free with
 * protobuf_c_message_free_unpacked), or an error printed and false. */
static bool call(struct ctl *ctl, const char *path, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *resp_type, struct reply *r, long timeout_ms)
{
    if (!connected(ctl))
        return false;
    r->type = resp_type;
    r->ctl = ctl;
    char msg[600];
    int status = sr_grpc_client_call(ctl->client, path, ctl->token, timeout_ms, req, on_message, r,
                                     msg, sizeof(msg));
    if (status == SR_GRPC_OK && r->bad) {
        status = SR_GRPC_INTERNAL;
        snprintf(msg, sizeof(msg), "cannot parse the response");
    }
    if (status == SR_GRPC_OK && r->msg == NULL && r->each == NULL) {
        status = SR_GRPC_INTERNAL;
        snprintf(msg, sizeof(msg), "no response message");
    }
    if (status != SR_GRPC_OK) {
        fprintf(stderr, "sglctl: %s: %s\n", sr_grpc_status_name(status), msg);
        if (r->msg)
            protobuf_c_message_free_unpacked(r->msg, NULL);
        r->msg = NULL;
        return false;
    }
    return true;
}

static void print_json(const ProtobufCMessage *m)
{
    json_t *j = sr_pb_to_json(m);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
    fflush(stdout);
}

/* ---- tables ------------------------------------------------------------------- */

static const char *health_name(int h)
{
    switch (h) {
    case SGLANG__ROUTER__ADMIN__V1__WORKER_HEALTH__WORKER_HEALTH_PENDING:
        return "pending";
    case SGLANG__ROUTER__ADMIN__V1__WORKER_HEALTH__WORKER_HEALTH_HEALTHY:
        return "healthy";
    case SGLANG__ROUTER__ADMIN__V1__WORKER_HEALTH__WORKER_HEALTH_UNHEALTHY:
        return "unhealthy";
    default:
        return "unknown";
    }
}

static const char *circuit_name(int c)
{
    switch (c) {
    case SGLANG__ROUTER__ADMIN__V1__CIRCUIT_STATE__CIRCUIT_STATE_CLOSED:
        return "closed";
    case SGLANG__ROUTER__ADMIN__V1__CIRCUIT_STATE__CIRCUIT_STATE_OPEN:
        return "open";
    case SGLANG__ROUTER__ADMIN__V1__CIRCUIT_STATE__CIRCUIT_STATE_HALF_OPEN:
        return "half_open";
    default:
        return "unknown";
    }
}

static int url_width(PB(Worker) * *ws, size_t n)
{
    int w = 3;
    for (size_t i = 0; i < n; i++)
        if (ws[i]->url && (int)strlen(ws[i]->url) > w)
            w = (int)strlen(ws[i]->url);
    return w;
}

static void print_workers(PB(Worker) * *ws, size_t n)
{
    int w = url_width(ws, n);
    printf("%-*s  %-9s  %-9s  %9s  %10s  %8s  %15s  %16s  %16s  %13s\n", w, "URL", "HEALTH",
           "CIRCUIT", "IN_FLIGHT", "PROCESSED", "FAILURES", "PENDING_PREFILL", "REPORTED_RUNNING",
           "REPORTED_WAITING", "EXTERNAL_LOAD");
    for (size_t i = 0; i < n; i++) {
        /* The worker's own figures: "-" when it said nothing (-1, or a
         * router that does not send them). */
        char running[24] = "-", waiting[24] = "-";
        if (ws[i]->has_reported_running && ws[i]->reported_running >= 0)
            snprintf(running, sizeof(running), "%lld", (long long)ws[i]->reported_running);
        if (ws[i]->has_reported_waiting && ws[i]->reported_waiting >= 0)
            snprintf(waiting, sizeof(waiting), "%lld", (long long)ws[i]->reported_waiting);
        printf("%-*s  %-9s  %-9s  %9lld  %10llu  %8llu  %15lld  %16s  %16s  %13lld\n", w,
               ws[i]->url, health_name(ws[i]->health), circuit_name(ws[i]->circuit_state),
               (long long)ws[i]->in_flight, (unsigned long long)ws[i]->processed,
               (unsigned long long)ws[i]->failures, (long long)ws[i]->pending_prefill_bytes,
               running, waiting, (long long)ws[i]->external_load);
    }
    if (n == 0)
        printf("(no workers)\n");
}

static void print_list(const char *label, char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%s %s\n", label, items[i]);
}

/* ---- commands ------------------------------------------------------------------ */

static int cmd_workers(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0])) {
        printf("usage: sglctl workers list | set URL... | add URL... | remove URL...\n");
        return argc < 1 ? EXIT_USAGE : 0;
    }
    const char *sub = argv[0];
    struct reply r = {0};
    if (strcmp(sub, "list") == 0) {
        if (argc > 1)
            return usage_error("workers list takes no arguments (got '%s')", argv[1]);
        PB(ListWorkersRequest) req = PB_INIT(LIST_WORKERS_REQUEST);
        if (!call(ctl, SERVICE "ListWorkers", &req.base,
                  &sglang__router__admin__v1__list_workers_response__descriptor, &r,
                  ctl->timeout_ms))
            return EXIT_CALL;
        PB(ListWorkersResponse) *resp = (void *)r.msg;
        if (ctl->json)
            print_json(r.msg);
        else
            print_workers(resp->workers, resp->n_workers);
        protobuf_c_message_free_unpacked(r.msg, NULL);
        return 0;
    }
    bool set = strcmp(sub, "set") == 0, add = strcmp(sub, "add") == 0,
         remove = strcmp(sub, "remove") == 0;
    if (!set && !add && !remove)
        return usage_error("unknown workers command '%s'", sub);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-')
            return usage_error("unexpected option '%s' (workers take URLs)", argv[i]);
    if (argc < 2 && !set)
        return usage_error("workers %s needs at least one URL", sub);
    char **urls = argv + 1;
    size_t n = (size_t)(argc - 1);
    PB(Worker) **workers = NULL;
    size_t nworkers = 0;
    if (set) {
        PB(SetWorkersRequest) req = PB_INIT(SET_WORKERS_REQUEST);
        req.n_urls = n;
        req.urls = urls;
        if (!call(ctl, SERVICE "SetWorkers", &req.base,
                  &sglang__router__admin__v1__set_workers_response__descriptor, &r,
                  ctl->timeout_ms))
            return EXIT_CALL;
        PB(SetWorkersResponse) *resp = (void *)r.msg;
        if (!ctl->json) {
            print_list("added", resp->added, resp->n_added);
            print_list("removed", resp->removed, resp->n_removed);
        }
        workers = resp->workers;
        nworkers = resp->n_workers;
    } else if (add) {
        PB(AddWorkersRequest) req = PB_INIT(ADD_WORKERS_REQUEST);
        req.n_urls = n;
        req.urls = urls;
        if (!call(ctl, SERVICE "AddWorkers", &req.base,
                  &sglang__router__admin__v1__add_workers_response__descriptor, &r,
                  ctl->timeout_ms))
            return EXIT_CALL;
        PB(AddWorkersResponse) *resp = (void *)r.msg;
        if (!ctl->json)
            print_list("added", resp->added, resp->n_added);
        workers = resp->workers;
        nworkers = resp->n_workers;
    } else {
        PB(RemoveWorkersRequest) req = PB_INIT(REMOVE_WORKERS_REQUEST);
        req.n_urls = n;
        req.urls = urls;
        if (!call(ctl, SERVICE "RemoveWorkers", &req.base,
                  &sglang__router__admin__v1__remove_workers_response__descriptor, &r,
                  ctl->timeout_ms))
            return EXIT_CALL;
        PB(RemoveWorkersResponse) *resp = (void *)r.msg;
        if (!ctl->json)
            print_list("removed", resp->removed, resp->n_removed);
        workers = resp->workers;
        nworkers = resp->n_workers;
    }
    if (ctl->json)
        print_json(r.msg);
    else
        print_workers(workers, nworkers);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return 0;
}

/* config: the flags and the lines printed are the option table's rows
 * marked runtime-changeable, in its order (config_pb.h). */

static void print_config(const PB(RouterConfig) * c)
{
    for (const struct sr_option *o = sr_config_options(); o->name; o++) {
        char buf[64];
        const char *text = o->runtime ? sr_config_pb_text(c, o, false, buf, sizeof(buf)) : NULL;
        if (text)
            printf("%-22s %s\n", o->name, text);
    }
}

static void config_usage(void)
{
    printf("usage: sglctl config get\n       sglctl config set");
    for (const struct sr_option *o = sr_config_options(); o->name; o++) {
        if (o->runtime == NULL)
            continue;
        if (o->type == SR_OPT_FLAG) {
            printf(" [--%s[=true|false]]", o->name);
        } else if (o->type == SR_OPT_CHOICE) {
            printf(" [--%s {", o->name);
            for (size_t i = 0; o->choices[i]; i++)
                printf("%s%s", i ? "," : "", o->choices[i]);
            printf("}]");
        } else {
            printf(" [--%s %s]", o->name, o->metavar ? o->metavar : "V");
        }
    }
    printf("\n");
}

/* Fills cfg from "--flag value", "--flag=value" and, for a FLAG, "--flag"
 * alone (true); values are borrowed from argv. 0 or EXIT_USAGE (printed). */
static int config_set_args(PB(RouterConfig) * cfg, int argc, char **argv)
{
    if (argc < 1)
        return usage_error("config set needs at least one %s", "--FLAG VALUE");
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i], *value = NULL, *eq = strchr(arg, '=');
        char flag[64];
        snprintf(flag, sizeof(flag), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
        const struct sr_option *o =
            strncmp(flag, "--", 2) == 0 ? sr_config_find_option(flag + 2) : NULL;
        if (o == NULL || o->runtime == NULL)
            return usage_error("config set: %s flag '%s'", o ? "not a runtime" : "unknown", flag);
        if (eq)
            value = eq + 1;
        else if (o->type == SR_OPT_FLAG && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
            value = "true";
        else if (i + 1 < argc)
            value = argv[++i];
        if (value == NULL)
            return usage_error("config set: %s needs a value", flag);
        char err[200];
        if (sr_config_pb_set_text(cfg, o, value, err, sizeof(err)) != 0)
            return usage_error("config set: %s", err);
    }
    return 0;
}

static int cmd_config(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0]) || (argc > 1 && is_help(argv[1]))) {
        config_usage();
        return argc < 1 ? EXIT_USAGE : 0;
    }
    struct reply r = {0};
    PB(RouterConfig) * shown;
    if (strcmp(argv[0], "get") == 0) {
        if (argc > 1)
            return usage_error("config get takes no arguments (got '%s')", argv[1]);
        PB(GetConfigRequest) req = PB_INIT(GET_CONFIG_REQUEST);
        if (!call(ctl, SERVICE "GetConfig", &req.base,
                  &sglang__router__admin__v1__get_config_response__descriptor, &r, ctl->timeout_ms))
            return EXIT_CALL;
        shown = ((PB(GetConfigResponse) *)r.msg)->config;
    } else if (strcmp(argv[0], "set") == 0) {
        PB(RouterConfig) cfg = PB_INIT(ROUTER_CONFIG);
        int rc = config_set_args(&cfg, argc - 1, argv + 1);
        if (rc != 0)
            return rc;
        PB(UpdateConfigRequest) req = PB_INIT(UPDATE_CONFIG_REQUEST);
        req.config = &cfg;
        if (!call(ctl, SERVICE "UpdateConfig", &req.base,
                  &sglang__router__admin__v1__update_config_response__descriptor, &r,
                  ctl->timeout_ms))
            return EXIT_CALL;
        shown = ((PB(UpdateConfigResponse) *)r.msg)->config;
    } else {
        return usage_error("unknown config command '%s'", argv[0]);
    }
    if (ctl->json)
        print_json(r.msg);
    else if (shown)
        print_config(shown);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return 0;
}

static void print_trees(const PB(GetTreeStatsResponse) * t)
{
    if (!t->has_tree) {
        printf("the policy in force keeps no tree\n");
        return;
    }
    int w = 3;
    for (size_t i = 0; i < t->n_workers; i++)
        if ((int)strlen(t->workers[i]->url) > w)
            w = (int)strlen(t->workers[i]->url);
    printf("%-*s  %12s\n", w, "URL", "TEXT_BYTES");
    for (size_t i = 0; i < t->n_workers; i++)
        printf("%-*s  %12llu\n", w, t->workers[i]->url,
               (unsigned long long)t->workers[i]->text_bytes);
    printf("total: %llu text bytes, %llu nodes, %llu bytes of memory\n",
           (unsigned long long)t->total_text_bytes, (unsigned long long)t->total_nodes,
           (unsigned long long)t->memory_bytes);
}

static void print_queues(const PB(GetQueueStatsResponse) * q)
{
    print_workers(q->workers, q->n_workers);
    printf("router: %lld in flight, %lld queued, %llu retries\n", (long long)q->in_flight,
           (long long)q->queued, (unsigned long long)q->retries);
}

struct watch_state {
    long count, seen;
};

static int on_snapshot(struct ctl *ctl, const ProtobufCMessage *m, void *arg)
{
    struct watch_state *w = arg;
    const PB(StatsSnapshot) *s = (const void *)m;
    if (ctl->json) {
        print_json(m);
    } else {
        time_t secs = (time_t)(s->unix_ms / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&secs, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        printf("%s.%03uZ", when, (unsigned)(s->unix_ms % 1000));
        if (s->queues) {
            printf("  in_flight=%lld queued=%lld", (long long)s->queues->in_flight,
                   (long long)s->queues->queued);
            for (size_t i = 0; i < s->queues->n_workers; i++)
                printf("  %s=%lld", s->queues->workers[i]->url,
                       (long long)s->queues->workers[i]->in_flight);
        }
        if (s->trees && s->trees->has_tree)
            printf("  tree=%lluB", (unsigned long long)s->trees->total_text_bytes);
        if (s->sync && s->sync->state && strcmp(s->sync->state, "off") != 0)
            printf("  sync=%s peers=%zu", s->sync->state, s->sync->n_peers);
        printf("\n");
        fflush(stdout);
    }
    return w->count > 0 && ++w->seen >= w->count;
}

static int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0]) || (argc > 1 && is_help(argv[1]))) {
        printf("usage: sglctl stats trees | queues | watch [--interval-ms N] [--count N]\n");
        return argc < 1 ? EXIT_USAGE : 0;
    }
    struct reply r = {0};
    if (strcmp(argv[0], "trees") == 0 || strcmp(argv[0], "queues") == 0) {
        if (argc > 1)
            return usage_error("stats takes no further arguments (got '%s')", argv[1]);
        bool trees = argv[0][0] == 't';
        PB(GetTreeStatsRequest) treq = PB_INIT(GET_TREE_STATS_REQUEST);
        PB(GetQueueStatsRequest) qreq = PB_INIT(GET_QUEUE_STATS_REQUEST);
        bool ok = trees ? call(ctl, SERVICE "GetTreeStats", &treq.base,
                               &sglang__router__admin__v1__get_tree_stats_response__descriptor, &r,
                               ctl->timeout_ms)
                        : call(ctl, SERVICE "GetQueueStats", &qreq.base,
                               &sglang__router__admin__v1__get_queue_stats_response__descriptor, &r,
                               ctl->timeout_ms);
        if (!ok)
            return EXIT_CALL;
        if (ctl->json)
            print_json(r.msg);
        else if (trees)
            print_trees((void *)r.msg);
        else
            print_queues((void *)r.msg);
        protobuf_c_message_free_unpacked(r.msg, NULL);
        return 0;
    }
    if (strcmp(argv[0], "watch") != 0)
        return usage_error("unknown stats command '%s'", argv[0]);
    PB(WatchStatsRequest) req = PB_INIT(WATCH_STATS_REQUEST);
    struct watch_state w = {0};
    for (int i = 1; i < argc; i++) {
        bool interval = strcmp(argv[i], "--interval-ms") == 0;
        if ((!interval && strcmp(argv[i], "--count") != 0) || i + 1 >= argc)
            return usage_error("stats watch: unexpected '%s'", argv[i]);
        char *end = NULL;
        long v = strtol(argv[++i], &end, 10);
        if (*end != '\0' || v < 0)
            return usage_error("stats watch: not a count: '%s'", argv[i]);
        if (interval) {
            req.has_interval_ms = true;
            req.interval_ms = (uint32_t)v;
        } else {
            w.count = v;
        }
    }
    r.each = on_snapshot;
    r.each_arg = &w;
    /* A watch runs until --count snapshots or the user stops it. */
    return call(ctl, SERVICE "WatchStats", &req.base,
                &sglang__router__admin__v1__stats_snapshot__descriptor, &r, 0)
               ? 0
               : EXIT_CALL;
}

static int cmd_evict(struct ctl *ctl, int argc, char **argv)
{
    if (argc > 0 && is_help(argv[0])) {
        printf("usage: sglctl evict\n");
        return 0;
    }
    if (argc > 0)
        return usage_error("evict takes no arguments (got '%s')", argv[0]);
    struct reply r = {0};
    PB(EvictNowRequest) req = PB_INIT(EVICT_NOW_REQUEST);
    if (!call(ctl, SERVICE "EvictNow", &req.base,
              &sglang__router__admin__v1__evict_now_response__descriptor, &r, ctl->timeout_ms))
        return EXIT_CALL;
    if (ctl->json)
        print_json(r.msg);
    else
        printf("evicted %llu bytes\n",
               (unsigned long long)((PB(EvictNowResponse) *)r.msg)->evicted_bytes);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return 0;
}

static int cmd_flush(struct ctl *ctl, int argc, char **argv)
{
    PB(FlushCacheRequest) req = PB_INIT(FLUSH_CACHE_REQUEST);
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: sglctl flush-cache [--workers]\n");
            return 0;
        }
        if (strcmp(argv[i], "--workers") != 0)
            return usage_error("flush-cache: unexpected '%s'", argv[i]);
        req.has_workers = req.workers = true;
    }
    struct reply r = {0};
    if (!call(ctl, SERVICE "FlushCache", &req.base,
              &sglang__router__admin__v1__flush_cache_response__descriptor, &r, ctl->timeout_ms))
        return EXIT_CALL;
    PB(FlushCacheResponse) *resp = (void *)r.msg;
    int status = resp->n_failed ? EXIT_CALL : 0;
    if (ctl->json) {
        print_json(r.msg);
    } else {
        printf("router tree emptied\n");
        print_list("flushed", resp->flushed, resp->n_flushed);
        print_list("failed", resp->failed, resp->n_failed);
    }
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return status;
}

static int cmd_health(struct ctl *ctl, int argc, char **argv)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            printf("usage: sglctl health [--service NAME]\n");
            return 0;
        }
        if (strcmp(argv[i], "--service") != 0 || i + 1 >= argc)
            return usage_error("health: unexpected '%s'", argv[i]);
        req.service = argv[++i];
    }
    struct reply r = {0};
    if (!call(ctl, "/grpc.health.v1.Health/Check", &req.base,
              &grpc__health__v1__health_check_response__descriptor, &r, ctl->timeout_ms))
        return EXIT_CALL;
    Grpc__Health__V1__HealthCheckResponse *resp = (void *)r.msg;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &grpc__health__v1__health_check_response__serving_status__descriptor, resp->status);
    if (ctl->json)
        print_json(r.msg);
    else
        printf("%s\n", v ? v->name : "UNKNOWN");
    int status = resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                     ? 0
                     : EXIT_CALL;
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return status;
}

/* ---- sync ----------------------------------------------------------------------- */

static void print_sync(const PB(SyncStatus) * s)
{
    printf("%-11s %s\n", "state", s->state ? s->state : "unknown");
    printf("%-11s %s\n", "group", s->group ? s->group : "-");
    for (size_t i = 0; i < s->n_servers; i++)
        printf("%-11s %s\n", "server", s->servers[i]);
    printf("%-11s %s\n", "replica", s->replica_id ? s->replica_id : "-");
    printf("%-11s %llu messages, %llu bytes\n", "sent", (unsigned long long)s->messages_sent,
           (unsigned long long)s->bytes_sent);
    printf("%-11s %llu messages, %llu bytes, %llu dropped\n", "received",
           (unsigned long long)s->messages_received, (unsigned long long)s->bytes_received,
           (unsigned long long)s->dropped);
    printf("%-11s %llu learned, lag %.3f s\n", "placements",
           (unsigned long long)s->placements_learned, s->lag_seconds);
    printf("%-11s %llu received, %llu served\n", "snapshots",
           (unsigned long long)s->snapshots_received, (unsigned long long)s->snapshots_served);
    if (s->last_error)
        printf("%-11s %s\n", "last_error", s->last_error);
    printf("%-11s %zu\n", "peers", s->n_peers);
    if (s->n_peers == 0)
        return;
    printf("%-16s  %14s  %9s\n", "PEER", "LAST_SEEN_SECS", "IN_FLIGHT");
    for (size_t i = 0; i < s->n_peers; i++)
        printf("%-16s  %14.1f  %9lld\n", s->peers[i]->replica_id ? s->peers[i]->replica_id : "?",
               s->peers[i]->last_seen_secs, (long long)s->peers[i]->in_flight);
}

/* What `sync set` reads from its files, owned (secrets wiped on release). */
struct sync_files {
    char *token, *password, *ca, *cert, *key;
};

static void sync_files_clear(struct sync_files *f)
{
    sr_secret_string_free(f->token);
    sr_secret_string_free(f->password);
    sr_secret_string_free(f->ca);
    sr_secret_string_free(f->cert);
    sr_secret_string_free(f->key);
}

/* One file option of `sync set` read into *slot: a secret (its first line)
 * or PEM text. false after a usage error was printed. */
static bool sync_file(const char *flag, const char *path, bool secret, char **slot)
{
    if (*slot != NULL) {
        usage_error("sync set: %s given twice", flag);
        return false;
    }
    char why[400];
    *slot = secret ? sr_secret_read_one(flag, path, why, sizeof(why))
                   : sr_secret_read_text(flag, path, why, sizeof(why));
    if (*slot == NULL)
        usage_error("sync set: %s", why);
    return *slot != NULL;
}

/* "--name value" or "--name=value" at argv[*i]; the value or NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* Fills in from `sync set` arguments; URLs and names are borrowed from
 * argv, files read into files. 0 or EXIT_USAGE (printed). */
static int sync_set_args(PB(SyncSettings) * in, struct sync_files *files, int argc, char **argv)
{
    static const struct {
        const char *flag;
        bool secret;
        size_t slot;
    } file_opts[] = {
        {"--token-file", true, offsetof(struct sync_files, token)},
        {"--password-file", true, offsetof(struct sync_files, password)},
        {"--tls-ca", false, offsetof(struct sync_files, ca)},
        {"--tls-cert", false, offsetof(struct sync_files, cert)},
        {"--tls-key", false, offsetof(struct sync_files, key)},
    };
    bool off = false;
    for (int i = 0; i < argc; i++) {
        const char *v;
        size_t k = 0;
        if (strcmp(argv[i], "--off") == 0) {
            off = true;
        } else if ((v = option_value(argc, argv, &i, "--nats-url")) != NULL) {
            in->nats_urls[in->n_nats_urls++] = (char *)v;
        } else if ((v = option_value(argc, argv, &i, "--group")) != NULL) {
            in->group = (char *)v;
        } else if ((v = option_value(argc, argv, &i, "--user")) != NULL) {
            in->user = (char *)v;
        } else {
            while (k < sizeof(file_opts) / sizeof(file_opts[0]) &&
                   (v = option_value(argc, argv, &i, file_opts[k].flag)) == NULL)
                k++;
            if (k == sizeof(file_opts) / sizeof(file_opts[0]))
                return usage_error("sync set: unexpected '%s'", argv[i]);
            char **slot = (char **)((char *)files + file_opts[k].slot);
            if (!sync_file(file_opts[k].flag, v, file_opts[k].secret, slot))
                return EXIT_USAGE;
        }
    }
    if (off && argc > 1)
        return usage_error("sync set: --off takes no other option");
    if (!off && in->n_nats_urls == 0)
        return usage_error("sync set needs --nats-url URL (or --off)");
    in->token = files->token;
    in->password = files->password;
    in->tls_ca_pem = files->ca;
    in->tls_cert_pem = files->cert;
    in->tls_key_pem = files->key;
    return 0;
}

static int sync_set(struct ctl *ctl, int argc, char **argv, struct reply *r)
{
    PB(SyncSettings) in = PB_INIT(SYNC_SETTINGS);
    struct sync_files files = {0};
    in.nats_urls = sr_calloc((size_t)argc + 1, sizeof(*in.nats_urls));
    if (in.nats_urls == NULL) {
        fprintf(stderr, "sglctl: out of memory\n");
        return EXIT_CALL;
    }
    int rc = sync_set_args(&in, &files, argc, argv);
    if (rc == 0) {
        PB(SetSyncRequest) req = PB_INIT(SET_SYNC_REQUEST);
        req.settings = &in;
        if (!call(ctl, SERVICE "SetSync", &req.base,
                  &sglang__router__admin__v1__set_sync_response__descriptor, r, ctl->timeout_ms))
            rc = EXIT_CALL;
    }
    sync_files_clear(&files);
    sr_free(in.nats_urls);
    return rc;
}

static int cmd_sync(struct ctl *ctl, int argc, char **argv)
{
    bool set = argc > 0 && strcmp(argv[0], "set") == 0;
    if ((argc > 0 && is_help(argv[0])) || (set && argc > 1 && is_help(argv[1]))) {
        printf("usage: sglctl sync\n"
               "       sglctl sync set --nats-url URL [--nats-url URL...] [--group NAME]\n"
               "                       [--token-file F | --user U --password-file F]\n"
               "                       [--tls-ca F] [--tls-cert F --tls-key F]\n"
               "       sglctl sync set --off\n"
               "The NATS token, password, CA, certificate and key are read from the files\n"
               "here and sent to the router, which never answers them back.\n");
        return 0;
    }
    struct reply r = {0};
    const PB(SyncStatus) * status;
    if (set) {
        int rc = sync_set(ctl, argc - 1, argv + 1, &r);
        if (rc != 0)
            return rc;
        status = ((PB(SetSyncResponse) *)r.msg)->status;
    } else {
        if (argc > 0)
            return usage_error("unknown sync command '%s'", argv[0]);
        PB(GetSyncRequest) req = PB_INIT(GET_SYNC_REQUEST);
        if (!call(ctl, SERVICE "GetSync", &req.base,
                  &sglang__router__admin__v1__get_sync_response__descriptor, &r, ctl->timeout_ms))
            return EXIT_CALL;
        status = ((PB(GetSyncResponse) *)r.msg)->status;
    }
    if (ctl->json)
        print_json(r.msg);
    else if (status)
        print_sync(status);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return 0;
}

/* ---- main ------------------------------------------------------------------------- */

static bool split_addr(const char *addr, struct ctl *ctl)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || colon[1] == '\0')
        return false;
    const char *host = addr;
    size_t hlen = (size_t)(colon - addr);
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') { /* [::1]:port */
        host++;
        hlen -= 2;
    }
    if (hlen >= sizeof(ctl->host) || strlen(colon + 1) >= sizeof(ctl->port))
        return false;
    memcpy(ctl->host, host, hlen);
    ctl->host[hlen] = '\0';
    snprintf(ctl->port, sizeof(ctl->port), "%s", colon + 1);
    char *end = NULL;
    long port = strtol(ctl->port, &end, 10);
    return *end == '\0' && port > 0 && port < 65536;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {.timeout_ms = 10000, .token = getenv("SGLCTL_TOKEN")};
    const char *token_file = NULL, *token_flag = NULL;
    const char *addr = getenv("SGLCTL_ADDR");
    if (addr == NULL || addr[0] == '\0')
        addr = "127.0.0.1:30001";
    if (ctl.token && ctl.token[0] == '\0')
        ctl.token = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *opt = argv[i];
        const char *eq = strchr(opt, '=');
        char name[32];
        snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - opt) : (int)strlen(opt), opt);
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        bool takes_value = strcmp(name, "--addr") == 0 || strcmp(name, "--token") == 0 ||
                           strcmp(name, "--token-file") == 0 || strcmp(name, "--timeout") == 0 ||
                           strcmp(name, "--ca") == 0 || strcmp(name, "--cert") == 0 ||
                           strcmp(name, "--key") == 0;
        if (is_help(opt)) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(opt, "--json") == 0) {
            ctl.json = true;
            continue;
        } else if (strcmp(opt, "--tls") == 0) {
            ctl.tls = true;
            continue;
        } else if (!takes_value) {
            return usage_error("unknown option '%s'", opt);
        }
        if (value == NULL)
            return usage_error("%s needs a value", name);
        if (!eq)
            i++;
        if (strcmp(name, "--addr") == 0) {
            addr = value;
        } else if (strcmp(name, "--ca") == 0) {
            ctl.tls_files.ca = value;
            ctl.tls = true;
        } else if (strcmp(name, "--cert") == 0) {
            ctl.tls_files.cert = value;
            ctl.tls = true;
        } else if (strcmp(name, "--key") == 0) {
            ctl.tls_files.key = value;
            ctl.tls = true;
        } else if (strcmp(name, "--token") == 0) {
            token_flag = value;
        } else if (strcmp(name, "--token-file") == 0) {
            token_file = value;
        } else {
            char *end = NULL;
            double secs = strtod(value, &end);
            if (*value == '\0' || *end != '\0' || !(secs > 0) || secs > 86400)
                return usage_error("--timeout: not a number of seconds: '%s'", value);
            ctl.timeout_ms = (long)ceil(secs * 1000);
        }
    }
    if (!split_addr(addr, &ctl))
        return usage_error("--addr: expected HOST:PORT (got '%s')", addr);
    if (token_flag && token_file)
        return usage_error("--token and --token-file: give one of them");
    if (token_flag)
        ctl.token = token_flag[0] ? token_flag : NULL;
    if (i >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    char *file_token = NULL;
    if (token_file) {
        char why[400];
        file_token = sr_secret_read_one("--token-file", token_file, why, sizeof(why));
        if (file_token == NULL)
            return usage_error("%s", why);
        ctl.token = file_token;
    }
    const char *cmd = argv[i];
    int rest = argc - i - 1;
    char **args = argv + i + 1;
    int status;
    if (strcmp(cmd, "workers") == 0)
        status = cmd_workers(&ctl, rest, args);
    else if (strcmp(cmd, "config") == 0)
        status = cmd_config(&ctl, rest, args);
    else if (strcmp(cmd, "stats") == 0)
        status = cmd_stats(&ctl, rest, args);
    else if (strcmp(cmd, "evict") == 0)
        status = cmd_evict(&ctl, rest, args);
    else if (strcmp(cmd, "flush-cache") == 0)
        status = cmd_flush(&ctl, rest, args);
    else if (strcmp(cmd, "health") == 0)
        status = cmd_health(&ctl, rest, args);
    else if (strcmp(cmd, "sync") == 0)
        status = cmd_sync(&ctl, rest, args);
    else
        status = usage_error("unknown command '%s'", cmd);
    sr_grpc_client_free(ctl.client);
    sr_secret_string_free(file_token);
    return status;
}
