/*
 * sglctl: the command-line client of the router's gRPC admin API.
 *
 *   sglctl [--addr HOST:PORT] [--token-file F | --token T] [--tls --ca F --cert F --key F]
 *          [--timeout S] [--json] COMMAND ...
 *
 * Commands map one to one onto RouterAdmin / grpc.health.v1 calls; output
 * is an aligned table (or JSON with --json, one object per line). Exit
 * status: 0 success, 1 the call failed (the gRPC status name and message
 * are printed), 2 a usage error. This file: options, the calls, and the
 * config, stats, evict, flush-cache and health commands (sglctl.h).
 */
#include "sglctl.h"

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

#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: sglctl [--addr HOST:PORT] [--token-file F | --token T]\n"
    "              [--tls [--ca F] [--cert F --key F]]\n"
    "              [--timeout SECS] [--json] COMMAND\n"
    "\n"
    "The router's admin API (start the router with --admin-port PORT).\n"
    "\n"
    "commands:\n"
    "  workers list                   the workers: role, model, bootstrap port, health,\n"
    "                                 circuit breaker and counters\n"
    "  workers set WORKER...          replace the whole list; WORKER: URL[@MODEL] (regular),\n"
    "                                 --prefill URL[@MODEL] [PORT|none], --decode URL[@MODEL]...\n"
    "  workers add WORKER...          add workers (all or none)\n"
    "  workers remove URL...          remove workers (all or none)\n"
    "  workers model URL MODEL        pin the model a worker serves\n"
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

int sr_ctl_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sglctl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (sglctl --help)\n");
    va_end(ap);
    return EXIT_USAGE;
}

bool sr_ctl_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* ---- calls ------------------------------------------------------------------ */

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
bool sr_ctl_call(struct ctl *ctl, const char *path, const ProtobufCMessage *req,
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

void sr_ctl_print_json(const ProtobufCMessage *m)
{
    json_t *j = sr_pb_to_json(m);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
    fflush(stdout);
}

void sr_ctl_print_list(const char *label, char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%s %s\n", label, items[i]);
}

/* config: the flags and the lines printed are the option table's rows
 * marked runtime-changeable, in its order (config_pb.h). */

static void print_config(const PB(RouterConfig) * c)
{
    int width = 0; /* the longest runtime flag's name: one column of values */
    for (const struct sr_option *o = sr_config_options(); o->name; o++)
        if (o->runtime && (int)strlen(o->name) > width)
            width = (int)strlen(o->name);
    for (const struct sr_option *o = sr_config_options(); o->name; o++) {
        char buf[64];
        const char *text = o->runtime ? sr_config_pb_text(c, o, false, buf, sizeof(buf)) : NULL;
        if (text)
            printf("%-*s  %s\n", width, o->name, text);
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
        return sr_ctl_usage_error("config set needs at least one %s", "--FLAG VALUE");
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i], *value = NULL, *eq = strchr(arg, '=');
        char flag[64];
        snprintf(flag, sizeof(flag), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
        const struct sr_option *o =
            strncmp(flag, "--", 2) == 0 ? sr_config_find_option(flag + 2) : NULL;
        if (o == NULL || o->runtime == NULL)
            return sr_ctl_usage_error("config set: %s flag '%s'", o ? "not a runtime" : "unknown",
                                      flag);
        if (eq)
            value = eq + 1;
        else if (o->type == SR_OPT_FLAG && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
            value = "true";
        else if (i + 1 < argc)
            value = argv[++i];
        if (value == NULL)
            return sr_ctl_usage_error("config set: %s needs a value", flag);
        char err[200];
        if (sr_config_pb_set_text(cfg, o, value, err, sizeof(err)) != 0)
            return sr_ctl_usage_error("config set: %s", err);
    }
    return 0;
}

static int cmd_config(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 1 || sr_ctl_is_help(argv[0]) || (argc > 1 && sr_ctl_is_help(argv[1]))) {
        config_usage();
        return argc < 1 ? EXIT_USAGE : 0;
    }
    struct reply r = {0};
    PB(RouterConfig) * shown;
    if (strcmp(argv[0], "get") == 0) {
        if (argc > 1)
            return sr_ctl_usage_error("config get takes no arguments (got '%s')", argv[1]);
        PB(GetConfigRequest) req = PB_INIT(GET_CONFIG_REQUEST);
        if (!sr_ctl_call(ctl, SERVICE "GetConfig", &req.base,
                         &sglang__router__admin__v1__get_config_response__descriptor, &r,
                         ctl->timeout_ms))
            return EXIT_CALL;
        shown = ((PB(GetConfigResponse) *)r.msg)->config;
    } else if (strcmp(argv[0], "set") == 0) {
        PB(RouterConfig) cfg = PB_INIT(ROUTER_CONFIG);
        int rc = config_set_args(&cfg, argc - 1, argv + 1);
        if (rc != 0)
            return rc;
        PB(UpdateConfigRequest) req = PB_INIT(UPDATE_CONFIG_REQUEST);
        req.config = &cfg;
        if (!sr_ctl_call(ctl, SERVICE "UpdateConfig", &req.base,
                         &sglang__router__admin__v1__update_config_response__descriptor, &r,
                         ctl->timeout_ms))
            return EXIT_CALL;
        shown = ((PB(UpdateConfigResponse) *)r.msg)->config;
    } else {
        return sr_ctl_usage_error("unknown config command '%s'", argv[0]);
    }
    if (ctl->json)
        sr_ctl_print_json(r.msg);
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
    sr_ctl_print_workers(q->workers, q->n_workers);
    printf("router: %lld in flight, %lld queued, %llu retries", (long long)q->in_flight,
           (long long)q->queued, (unsigned long long)q->retries);
    if (q->concurrency_limit > 0)
        printf(", at most %lld at once\n", (long long)q->concurrency_limit);
    else
        printf(", no concurrency limit\n");
}

struct watch_state {
    long count, seen;
};

static int on_snapshot(struct ctl *ctl, const ProtobufCMessage *m, void *arg)
{
    struct watch_state *w = arg;
    const PB(StatsSnapshot) *s = (const void *)m;
    if (ctl->json) {
        sr_ctl_print_json(m);
    } else {
        time_t secs = (time_t)(s->unix_ms / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&secs, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        printf("%s.%03uZ", when, (unsigned)(s->unix_ms % 1000));
        if (s->queues) {
            printf("  in_flight=%lld queued=%lld limit=%lld", (long long)s->queues->in_flight,
                   (long long)s->queues->queued, (long long)s->queues->concurrency_limit);
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
    if (argc < 1 || sr_ctl_is_help(argv[0]) || (argc > 1 && sr_ctl_is_help(argv[1]))) {
        printf("usage: sglctl stats trees | queues | watch [--interval-ms N] [--count N]\n");
        return argc < 1 ? EXIT_USAGE : 0;
    }
    struct reply r = {0};
    if (strcmp(argv[0], "trees") == 0 || strcmp(argv[0], "queues") == 0) {
        if (argc > 1)
            return sr_ctl_usage_error("stats takes no further arguments (got '%s')", argv[1]);
        bool trees = argv[0][0] == 't';
        PB(GetTreeStatsRequest) treq = PB_INIT(GET_TREE_STATS_REQUEST);
        PB(GetQueueStatsRequest) qreq = PB_INIT(GET_QUEUE_STATS_REQUEST);
        bool ok =
            trees ? sr_ctl_call(ctl, SERVICE "GetTreeStats", &treq.base,
                                &sglang__router__admin__v1__get_tree_stats_response__descriptor, &r,
                                ctl->timeout_ms)
                  : sr_ctl_call(ctl, SERVICE "GetQueueStats", &qreq.base,
                                &sglang__router__admin__v1__get_queue_stats_response__descriptor,
                                &r, ctl->timeout_ms);
        if (!ok)
            return EXIT_CALL;
        if (ctl->json)
            sr_ctl_print_json(r.msg);
        else if (trees)
            print_trees((void *)r.msg);
        else
            print_queues((void *)r.msg);
        protobuf_c_message_free_unpacked(r.msg, NULL);
        return 0;
    }
    if (strcmp(argv[0], "watch") != 0)
        return sr_ctl_usage_error("unknown stats command '%s'", argv[0]);
    PB(WatchStatsRequest) req = PB_INIT(WATCH_STATS_REQUEST);
    struct watch_state w = {0};
    for (int i = 1; i < argc; i++) {
        bool interval = strcmp(argv[i], "--interval-ms") == 0;
        if ((!interval && strcmp(argv[i], "--count") != 0) || i + 1 >= argc)
            return sr_ctl_usage_error("stats watch: unexpected '%s'", argv[i]);
        char *end = NULL;
        long v = strtol(argv[++i], &end, 10);
        if (*end != '\0' || v < 0)
            return sr_ctl_usage_error("stats watch: not a count: '%s'", argv[i]);
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
    return sr_ctl_call(ctl, SERVICE "WatchStats", &req.base,
                       &sglang__router__admin__v1__stats_snapshot__descriptor, &r, 0)
               ? 0
               : EXIT_CALL;
}

static int cmd_evict(struct ctl *ctl, int argc, char **argv)
{
    if (argc > 0 && sr_ctl_is_help(argv[0])) {
        printf("usage: sglctl evict\n");
        return 0;
    }
    if (argc > 0)
        return sr_ctl_usage_error("evict takes no arguments (got '%s')", argv[0]);
    struct reply r = {0};
    PB(EvictNowRequest) req = PB_INIT(EVICT_NOW_REQUEST);
    if (!sr_ctl_call(ctl, SERVICE "EvictNow", &req.base,
                     &sglang__router__admin__v1__evict_now_response__descriptor, &r,
                     ctl->timeout_ms))
        return EXIT_CALL;
    if (ctl->json)
        sr_ctl_print_json(r.msg);
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
        if (sr_ctl_is_help(argv[i])) {
            printf("usage: sglctl flush-cache [--workers]\n");
            return 0;
        }
        if (strcmp(argv[i], "--workers") != 0)
            return sr_ctl_usage_error("flush-cache: unexpected '%s'", argv[i]);
        req.has_workers = req.workers = true;
    }
    struct reply r = {0};
    if (!sr_ctl_call(ctl, SERVICE "FlushCache", &req.base,
                     &sglang__router__admin__v1__flush_cache_response__descriptor, &r,
                     ctl->timeout_ms))
        return EXIT_CALL;
    PB(FlushCacheResponse) *resp = (void *)r.msg;
    int status = resp->n_failed ? EXIT_CALL : 0;
    if (ctl->json) {
        sr_ctl_print_json(r.msg);
    } else {
        printf("router tree emptied\n");
        sr_ctl_print_list("flushed", resp->flushed, resp->n_flushed);
        sr_ctl_print_list("failed", resp->failed, resp->n_failed);
    }
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return status;
}

static int cmd_health(struct ctl *ctl, int argc, char **argv)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    for (int i = 0; i < argc; i++) {
        if (sr_ctl_is_help(argv[i])) {
            printf("usage: sglctl health [--service NAME]\n");
            return 0;
        }
        if (strcmp(argv[i], "--service") != 0 || i + 1 >= argc)
            return sr_ctl_usage_error("health: unexpected '%s'", argv[i]);
        req.service = argv[++i];
    }
    struct reply r = {0};
    if (!sr_ctl_call(ctl, "/grpc.health.v1.Health/Check", &req.base,
                     &grpc__health__v1__health_check_response__descriptor, &r, ctl->timeout_ms))
        return EXIT_CALL;
    Grpc__Health__V1__HealthCheckResponse *resp = (void *)r.msg;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &grpc__health__v1__health_check_response__serving_status__descriptor, resp->status);
    if (ctl->json)
        sr_ctl_print_json(r.msg);
    else
        printf("%s\n", v ? v->name : "UNKNOWN");
    int status = resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                     ? 0
                     : EXIT_CALL;
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return status;
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
        if (sr_ctl_is_help(opt)) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(opt, "--json") == 0) {
            ctl.json = true;
            continue;
        } else if (strcmp(opt, "--tls") == 0) {
            ctl.tls = true;
            continue;
        } else if (!takes_value) {
            return sr_ctl_usage_error("unknown option '%s'", opt);
        }
        if (value == NULL)
            return sr_ctl_usage_error("%s needs a value", name);
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
                return sr_ctl_usage_error("--timeout: not a number of seconds: '%s'", value);
            ctl.timeout_ms = (long)ceil(secs * 1000);
        }
    }
    if (!split_addr(addr, &ctl))
        return sr_ctl_usage_error("--addr: expected HOST:PORT (got '%s')", addr);
    if (token_flag && token_file)
        return sr_ctl_usage_error("--token and --token-file: give one of them");
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
            return sr_ctl_usage_error("%s", why);
        ctl.token = file_token;
    }
    const char *cmd = argv[i];
    int rest = argc - i - 1;
    char **args = argv + i + 1;
    int status;
    if (strcmp(cmd, "workers") == 0)
        status = sr_ctl_workers(&ctl, rest, args);
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
        status = sr_ctl_sync(&ctl, rest, args);
    else
        status = sr_ctl_usage_error("unknown command '%s'", cmd);
    sr_grpc_client_free(ctl.client);
    sr_secret_string_free(file_token);
    return status;
}
