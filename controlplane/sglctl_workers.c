/* sglctl workers: list, set, add, remove, model; and the worker table
 * (see sglctl.h). Workers are given in the router's text form
 * (common/worker_spec.h) and flags: URL[@MODEL] is a regular worker,
 * --prefill URL[@MODEL] [PORT|none] a prefill worker and its bootstrap
 * port, --decode URL[@MODEL]... decode workers (every URL up to the next
 * option, as the router's --decode), --worker-urls URL[@MODEL]... regular
 * ones again. */
#include "sglctl.h"
#include "workers_pb.h"

#include "common/alloc.h"
#include "common/worker_spec.h"

#include <stdio.h>
#include <string.h>

static const char workers_usage[] =
    "usage: sglctl workers list\n"
    "       sglctl workers set [URL[@MODEL]...] [--prefill URL[@MODEL] [PORT|none]]...\n"
    "                          [--decode URL[@MODEL]...] [--worker-urls URL[@MODEL]...]\n"
    "       sglctl workers add (as set: at least one worker)\n"
    "       sglctl workers remove URL...\n"
    "       sglctl workers model URL MODEL\n"
    "set replaces the whole list, add adds to it (all or none). A bare URL is a\n"
    "regular worker; --prefill takes one prefill worker and its KV bootstrap\n"
    "port (none or absent: null); --decode and --worker-urls take every URL up\n"
    "to the next option. @MODEL names the model a worker serves (else the\n"
    "router discovers it); model pins the model of a registered worker.\n";

/* ---- the table ----------------------------------------------------------------- */

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

/* "regular", "prefill", "decode"; "-" from a router that does not say. */
static const char *role_name(const PB(Worker) * w)
{
    enum sr_worker_role role;
    if (!w->has_role || !sr_workers_pb_role_parse(w->role, &role))
        return "-";
    return sr_worker_role_name(role);
}

/* A column's width w, widened to fit text. */
static int widen(int w, const char *text)
{
    return text && (int)strlen(text) > w ? (int)strlen(text) : w;
}

/* The columns of old come first (scripts may read them by position); role,
 * bootstrap port, model and decode tokens follow. */
void sr_ctl_print_workers(PB(Worker) * *ws, size_t n)
{
    int w = (int)strlen("URL"), mw = (int)strlen("MODEL");
    for (size_t i = 0; i < n; i++) {
        w = widen(w, ws[i]->url);
        mw = widen(mw, ws[i]->model_id);
    }
    printf("%-*s  %-9s  %-9s  %9s  %10s  %8s  %15s  %16s  %16s  %13s  %-7s  %-9s  %-*s  %s\n", w,
           "URL", "HEALTH", "CIRCUIT", "IN_FLIGHT", "PROCESSED", "FAILURES", "PENDING_PREFILL",
           "REPORTED_RUNNING", "REPORTED_WAITING", "EXTERNAL_LOAD", "ROLE", "BOOTSTRAP", mw,
           "MODEL", "DECODE_TOKENS");
    for (size_t i = 0; i < n; i++) {
        /* The worker's own figures: "-" when it said nothing (-1, or a
         * router that does not send them). */
        char running[24] = "-", waiting[24] = "-", bootstrap[16] = "-", decode[24] = "-";
        if (ws[i]->has_reported_running && ws[i]->reported_running >= 0)
            snprintf(running, sizeof(running), "%lld", (long long)ws[i]->reported_running);
        if (ws[i]->has_reported_waiting && ws[i]->reported_waiting >= 0)
            snprintf(waiting, sizeof(waiting), "%lld", (long long)ws[i]->reported_waiting);
        if (ws[i]->has_decode_tokens)
            snprintf(decode, sizeof(decode), "%lld", (long long)ws[i]->decode_tokens);
        /* A prefill worker's port, or "none" (null); "-" for the others. */
        if (ws[i]->has_bootstrap_port)
            snprintf(bootstrap, sizeof(bootstrap), "%d", (int)ws[i]->bootstrap_port);
        else if (strcmp(role_name(ws[i]), "prefill") == 0)
            snprintf(bootstrap, sizeof(bootstrap), "none");
        printf("%-*s  %-9s  %-9s  %9lld  %10llu  %8llu  %15lld  %16s  %16s  %13lld  %-7s  %-9s  "
               "%-*s  %s\n",
               w, ws[i]->url, health_name(ws[i]->health), circuit_name(ws[i]->circuit_state),
               (long long)ws[i]->in_flight, (unsigned long long)ws[i]->processed,
               (unsigned long long)ws[i]->failures, (long long)ws[i]->pending_prefill_bytes,
               running, waiting, (long long)ws[i]->external_load, role_name(ws[i]), bootstrap, mw,
               ws[i]->model_id ? ws[i]->model_id : "-", decode);
    }
    if (n == 0)
        printf("(no workers)\n");
}

/* ---- set and add ---------------------------------------------------------------- */

/* The workers of `workers set|add`: regular ones without a model go in
 * urls (as every router reads them), the others as WorkerSpecs. */
struct worker_args {
    struct sr_worker_spec_text *texts; /* owned */
    size_t ntexts;
    char **urls; /* borrowed from texts */
    size_t nurls;
    PB(WorkerSpec) * specs;
    PB(WorkerSpec) * *ptrs;
    size_t nspecs;
};

static void worker_args_clear(struct worker_args *a)
{
    for (size_t i = 0; a->texts && i < a->ntexts; i++)
        sr_worker_spec_text_clear(&a->texts[i]);
    sr_free(a->texts);
    sr_free(a->urls);
    sr_free(a->specs);
    sr_free(a->ptrs);
}

/* One worker's text, parsed for role into the request. 0 or EXIT_USAGE
 * (printed). */
static int add_worker(struct worker_args *a, const char *sub, const char *flag, const char *text,
                      enum sr_worker_role role)
{
    const char *why = NULL;
    struct sr_worker_spec_text *t = &a->texts[a->ntexts];
    if (sr_worker_spec_parse(text, role, t, &why) != 0)
        return sr_ctl_usage_error("workers %s: %s%s'%s': %s", sub, flag ? flag : "",
                                  flag ? " " : "", text, why ? why : "out of memory");
    a->ntexts++;
    const struct sr_worker_spec *s = &t->spec;
    if (role == SR_ROLE_REGULAR && s->model == NULL) {
        a->urls[a->nurls++] = (char *)s->url;
        return 0;
    }
    PB(WorkerSpec) spec = PB_INIT(WORKER_SPEC);
    spec.url = (char *)s->url;
    spec.has_role = true;
    spec.role = sr_workers_pb_role(role);
    spec.has_bootstrap_port = role == SR_ROLE_PREFILL && s->bootstrap_port != SR_BOOTSTRAP_NONE;
    spec.bootstrap_port = spec.has_bootstrap_port ? s->bootstrap_port : 0;
    spec.model_id = (char *)s->model;
    a->specs[a->nspecs] = spec;
    a->ptrs[a->nspecs] = &a->specs[a->nspecs];
    a->nspecs++;
    return 0;
}

/* The arguments after `workers set|add` into a (allocated for argc). 0 or
 * EXIT_USAGE (printed). */
static int worker_args_parse(struct worker_args *a, const char *sub, int argc, char **argv)
{
    size_t cap = (size_t)argc + 1;
    a->texts = sr_calloc(cap, sizeof(*a->texts));
    a->urls = sr_calloc(cap, sizeof(*a->urls));
    a->specs = sr_calloc(cap, sizeof(*a->specs));
    a->ptrs = sr_calloc(cap, sizeof(*a->ptrs));
    if (!a->texts || !a->urls || !a->specs || !a->ptrs) {
        fprintf(stderr, "sglctl: out of memory\n");
        return EXIT_CALL;
    }
    enum sr_worker_role role = SR_ROLE_REGULAR;
    const char *list = NULL; /* the list option in force */
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        int rc = 0;
        if (strcmp(arg, "--decode") == 0 || strcmp(arg, "--worker-urls") == 0) {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
                return sr_ctl_usage_error("workers %s: %s needs at least one URL", sub, arg);
            role = arg[2] == 'd' ? SR_ROLE_DECODE : SR_ROLE_REGULAR;
            list = arg;
        } else if (strcmp(arg, "--prefill") == 0) {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
                return sr_ctl_usage_error("workers %s: --prefill needs a URL", sub);
            /* URL, then its bootstrap port when the next argument is one
             * (as the router reads --prefill). */
            const char *url = argv[++i], *next = i + 1 < argc ? argv[i + 1] : "";
            char joined[2048];
            if ((strcmp(next, "none") == 0 || (next[0] >= '0' && next[0] <= '9')) &&
                snprintf(joined, sizeof(joined), "%s %s", url, next) < (int)sizeof(joined)) {
                i++;
                url = joined;
            }
            rc = add_worker(a, sub, "--prefill", url, SR_ROLE_PREFILL);
            role = SR_ROLE_REGULAR;
            list = NULL;
        } else if (arg[0] == '-') {
            return sr_ctl_usage_error("workers %s: unexpected option '%s'", sub, arg);
        } else {
            rc = add_worker(a, sub, list, arg, role);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int set_or_add(struct ctl *ctl, bool set, int argc, char **argv)
{
    const char *sub = set ? "set" : "add";
    struct worker_args a = {0};
    int rc = worker_args_parse(&a, sub, argc, argv);
    if (rc == 0 && !set && a.ntexts == 0)
        rc = sr_ctl_usage_error("workers add needs at least one worker");
    struct reply r = {0};
    PB(Worker) **workers = NULL;
    size_t nworkers = 0;
    if (rc == 0 && set) {
        PB(SetWorkersRequest) req = PB_INIT(SET_WORKERS_REQUEST);
        req.n_urls = a.nurls;
        req.urls = a.urls;
        req.n_workers = a.nspecs;
        req.workers = a.ptrs;
        if (!sr_ctl_call(ctl, SERVICE "SetWorkers", &req.base,
                         &sglang__router__admin__v1__set_workers_response__descriptor, &r,
                         ctl->timeout_ms)) {
            rc = EXIT_CALL;
        } else {
            PB(SetWorkersResponse) *resp = (void *)r.msg;
            if (!ctl->json) {
                sr_ctl_print_list("added", resp->added, resp->n_added);
                sr_ctl_print_list("removed", resp->removed, resp->n_removed);
            }
            workers = resp->workers;
            nworkers = resp->n_workers;
        }
    } else if (rc == 0) {
        PB(AddWorkersRequest) req = PB_INIT(ADD_WORKERS_REQUEST);
        req.n_urls = a.nurls;
        req.urls = a.urls;
        req.n_workers = a.nspecs;
        req.workers = a.ptrs;
        if (!sr_ctl_call(ctl, SERVICE "AddWorkers", &req.base,
                         &sglang__router__admin__v1__add_workers_response__descriptor, &r,
                         ctl->timeout_ms)) {
            rc = EXIT_CALL;
        } else {
            PB(AddWorkersResponse) *resp = (void *)r.msg;
            if (!ctl->json)
                sr_ctl_print_list("added", resp->added, resp->n_added);
            workers = resp->workers;
            nworkers = resp->n_workers;
        }
    }
    worker_args_clear(&a);
    if (rc != 0)
        return rc;
    if (ctl->json)
        sr_ctl_print_json(r.msg);
    else
        sr_ctl_print_workers(workers, nworkers);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return 0;
}

/* ---- list, remove, model ----------------------------------------------------------- */

static int list(struct ctl *ctl, int argc, char **argv)
{
    if (argc > 0)
        return sr_ctl_usage_error("workers list takes no arguments (got '%s')", argv[0]);
    struct reply r = {0};
    PB(ListWorkersRequest) req = PB_INIT(LIST_WORKERS_REQUEST);
    if (!sr_ctl_call(ctl, SERVICE "ListWorkers", &req.base,
                     &sglang__router__admin__v1__list_workers_response__descriptor, &r,
                     ctl->timeout_ms))
        return EXIT_CALL;
    PB(ListWorkersResponse) *resp = (void *)r.msg;
    if (ctl->json)
        sr_ctl_print_json(r.msg);
    else
        sr_ctl_print_workers(resp->workers, resp->n_workers);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return 0;
}

static int remove_workers(struct ctl *ctl, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-')
            return sr_ctl_usage_error("workers remove: unexpected option '%s' (it takes URLs)",
                                      argv[i]);
    if (argc < 1)
        return sr_ctl_usage_error("workers remove needs at least one URL");
    struct reply r = {0};
    PB(RemoveWorkersRequest) req = PB_INIT(REMOVE_WORKERS_REQUEST);
    req.n_urls = (size_t)argc;
    req.urls = argv;
    if (!sr_ctl_call(ctl, SERVICE "RemoveWorkers", &req.base,
                     &sglang__router__admin__v1__remove_workers_response__descriptor, &r,
                     ctl->timeout_ms))
        return EXIT_CALL;
    PB(RemoveWorkersResponse) *resp = (void *)r.msg;
    if (ctl->json) {
        sr_ctl_print_json(r.msg);
    } else {
        sr_ctl_print_list("removed", resp->removed, resp->n_removed);
        sr_ctl_print_workers(resp->workers, resp->n_workers);
    }
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return 0;
}

static int model(struct ctl *ctl, int argc, char **argv)
{
    if (argc != 2 || argv[0][0] == '-' || argv[1][0] == '-')
        return sr_ctl_usage_error("workers model takes a URL and a model id");
    struct reply r = {0};
    PB(SetWorkerModelRequest) req = PB_INIT(SET_WORKER_MODEL_REQUEST);
    req.url = argv[0];
    req.model_id = argv[1];
    if (!sr_ctl_call(ctl, SERVICE "SetWorkerModel", &req.base,
                     &sglang__router__admin__v1__set_worker_model_response__descriptor, &r,
                     ctl->timeout_ms))
        return EXIT_CALL;
    PB(SetWorkerModelResponse) *resp = (void *)r.msg;
    if (ctl->json)
        sr_ctl_print_json(r.msg);
    else
        sr_ctl_print_workers(&resp->worker, resp->worker ? 1 : 0);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return 0;
}

int sr_ctl_workers(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 1 || sr_ctl_is_help(argv[0]) || (argc > 1 && sr_ctl_is_help(argv[1]))) {
        fputs(workers_usage, stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "list") == 0)
        return list(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "set") == 0 || strcmp(sub, "add") == 0)
        return set_or_add(ctl, sub[0] == 's', argc - 1, argv + 1);
    if (strcmp(sub, "remove") == 0)
        return remove_workers(ctl, argc - 1, argv + 1);
    if (strcmp(sub, "model") == 0)
        return model(ctl, argc - 1, argv + 1);
    return sr_ctl_usage_error("unknown workers command '%s'", sub);
}
