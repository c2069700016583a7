/* config: the option table, argv parsing, validation and --help
 * (see config.h). */
#include "config.h"

#include "alloc.h"
#include "err.h"
#include "url.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};

#define FIELD(f) offsetof(struct sr_config, f)

/* Every router option, its default and its bounds: the single source. */
static const struct sr_option options[] = {
    {"host", SR_OPT_STRING, "HOST", "127.0.0.1", 0, 0, NULL, false, FIELD(host),
     "Host address to bind the router server"},
    {"port", SR_OPT_INT, "PORT", "30000", 0, 65535, NULL, false, FIELD(port),
     "Port number to bind the router server (0 picks a free port)"},
    {"worker-urls", SR_OPT_URL_LIST, "URL", NULL, 0, 0, NULL, false, FIELD(worker_urls),
     "List of worker URLs (e.g., http://worker1:8000 http://worker2:8000)"},
    {"policy", SR_OPT_CHOICE, NULL, "cache_aware", 0, 0, sr_policy_names, true, FIELD(policy),
     "Load balancing policy to use"},
    {"cache-threshold", SR_OPT_FLOAT, "CACHE_THRESHOLD", "0.5", 0, 1, NULL, true,
     FIELD(cache_threshold), "Cache threshold (0.0-1.0) for cache-aware routing"},
    {"cache-routing-prob", SR_OPT_FLOAT, "CACHE_ROUTING_PROB", "1.0", 0, 1, NULL, true,
     FIELD(cache_routing_prob), "Probability of using cache-aware routing (0.0-1.0)"},
    {"eviction-interval", SR_OPT_INT, "EVICTION_INTERVAL", "60", 1, 31536000, NULL, true,
     FIELD(eviction_interval_secs), "Interval in seconds between cache eviction operations"},
    {"max-tree-size", SR_OPT_INT, "MAX_TREE_SIZE", "16777216", 1, 1099511627776.0, NULL, true,
     FIELD(max_tree_size),
     "Maximum size of the approximation tree for cache-aware routing, in text bytes per worker"},
    {"balance-abs-threshold", SR_OPT_INT, "BALANCE_ABS_THRESHOLD", "32", 0, 1000000000, NULL, true,
     FIELD(balance_abs_threshold),
     "Loads are imbalanced when max - min in-flight requests exceeds this ..."},
    {"balance-rel-threshold", SR_OPT_FLOAT, "BALANCE_REL_THRESHOLD", "1.0001", 1, 1000000, NULL,
     true, FIELD(balance_rel_threshold),
     "... and max exceeds min times this; imbalanced loads go to the least-loaded worker"},
    {"log-level", SR_OPT_CHOICE, NULL, "info", 0, 0, log_levels, true, FIELD(log_level),
     "Log verbosity"},
    {NULL, 0, NULL, NULL, 0, 0, NULL, false, 0, NULL},
};

const struct sr_option *sr_config_options(void)
{
    return options;
}

const struct sr_option *sr_config_find_option(const char *name)
{
    for (const struct sr_option *o = options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static int errorf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int errorf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int parse_number(const struct sr_option *o, const char *value, double *out, char *err,
                        size_t errlen)
{
    char *end = NULL;
    errno = 0;
    bool integer = o->type == SR_OPT_INT;
    double v;
    if (integer) {
        long long n = strtoll(value, &end, 10);
        v = (double)n;
    } else {
        v = strtod(value, &end);
    }
    if (value[0] == '\0' || value[0] == ' ' || *end != '\0' || errno == ERANGE || !isfinite(v))
        return errorf(err, errlen, SR_ERR_INVALID, "--%s: must be %s (got '%s')", o->name,
                      integer ? "an integer" : "a number", value);
    if (v < o->min || v > o->max)
        return errorf(err, errlen, SR_ERR_INVALID, "--%s: must be between %.15g and %.15g (got %s)",
                      o->name, o->min, o->max, value);
    *out = v;
    return 0;
}

static int set_string(char **slot, const char *value)
{
    char *copy = sr_strdup(value);
    if (copy == NULL)
        return SR_ERR_NOMEM;
    sr_free(*slot);
    *slot = copy;
    return 0;
}

static int append_url(struct sr_config *cfg, const struct sr_option *o, const char *value,
                      char *err, size_t errlen)
{
    struct sr_url url;
    const char *why = NULL;
    int rc = sr_url_parse(value, strlen(value), &url, &why);
    if (rc == SR_ERR_NOMEM)
        return rc;
    if (rc != 0)
        return errorf(err, errlen, rc, "--%s: invalid URL '%s': %s", o->name, value, why);
    for (size_t i = 0; i < cfg->n_worker_urls; i++) {
        if (strcmp(cfg->worker_urls[i], url.canonical) == 0) {
            sr_url_clear(&url);
            return errorf(err, errlen, SR_ERR_INVALID, "--%s: duplicate worker URL '%s'", o->name,
                          value);
        }
    }
    char **list = sr_realloc(cfg->worker_urls, (cfg->n_worker_urls + 1) * sizeof(*list));
    if (list == NULL) {
        sr_url_clear(&url);
        return SR_ERR_NOMEM;
    }
    cfg->worker_urls = list;
    list[cfg->n_worker_urls++] = url.canonical; /* taken over from url */
    url.canonical = NULL;
    sr_url_clear(&url);
    return 0;
}

static int set_option(struct sr_config *cfg, const struct sr_option *o, const char *value,
                      char *err, size_t errlen)
{
    void *field = (char *)cfg + o->offset;
    double number;
    int rc;
    switch (o->type) {
    case SR_OPT_STRING:
        if (value[0] == '\0')
            return errorf(err, errlen, SR_ERR_INVALID, "--%s: must not be empty", o->name);
        return set_string(field, value);
    case SR_OPT_INT:
        if ((rc = parse_number(o, value, &number, err, errlen)) != 0)
            return rc;
        *(long *)field = (long)number;
        return 0;
    case SR_OPT_FLOAT:
        if ((rc = parse_number(o, value, &number, err, errlen)) != 0)
            return rc;
        *(double *)field = number;
        return 0;
    case SR_OPT_CHOICE:
        for (size_t i = 0; o->choices[i]; i++)
            if (strcmp(value, o->choices[i]) == 0)
                return set_string(field, value);
        {
            char list[256] = "";
            for (size_t i = 0; o->choices[i]; i++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", o->choices[i]);
            }
            return errorf(err, errlen, SR_ERR_INVALID, "--%s: must be one of %s (got '%s')",
                          o->name, list, value);
        }
    case SR_OPT_URL_LIST:
        return append_url(cfg, o, value, err, errlen);
    }
    return SR_ERR_INVALID;
}

int sr_config_set(struct sr_config *cfg, const char *name, const char *value, char *err,
                  size_t errlen)
{
    const struct sr_option *o = sr_config_find_option(name);
    if (o == NULL)
        return errorf(err, errlen, SR_ERR_NOT_FOUND, "unknown option --%s", name);
    int rc = set_option(cfg, o, value, err, errlen);
    if (rc == SR_ERR_NOMEM)
        errorf(err, errlen, rc, "--%s: out of memory", name);
    return rc;
}

int sr_config_init(struct sr_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (const struct sr_option *o = options; o->name; o++) {
        if (o->default_value == NULL)
            continue;
        int rc = set_option(cfg, o, o->default_value, NULL, 0);
        if (rc != 0) {
            sr_config_clear(cfg);
            return rc;
        }
    }
    return 0;
}

void sr_config_clear(struct sr_config *cfg)
{
    if (cfg == NULL)
        return;
    for (const struct sr_option *o = options; o->name; o++) {
        void *field = (char *)cfg + o->offset;
        if (o->type == SR_OPT_STRING || o->type == SR_OPT_CHOICE) {
            sr_free(*(char **)field);
        } else if (o->type == SR_OPT_URL_LIST) {
            for (size_t i = 0; i < cfg->n_worker_urls; i++)
                sr_free(cfg->worker_urls[i]);
            sr_free(cfg->worker_urls);
        }
    }
    memset(cfg, 0, sizeof(*cfg));
}

static bool is_flag(const char *arg)
{
    return strncmp(arg, "--", 2) == 0 && arg[2] != '\0';
}

int sr_config_parse_args(struct sr_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return SR_CONFIG_HELP;
        if (!is_flag(arg))
            return errorf(err, errlen, SR_ERR_INVALID, "unexpected argument '%s'", arg);

        char name[64];
        const char *eq = strchr(arg + 2, '=');
        size_t name_len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (name_len >= sizeof(name))
            return errorf(err, errlen, SR_ERR_INVALID, "unknown option %s", arg);
        memcpy(name, arg + 2, name_len);
        name[name_len] = '\0';
        const struct sr_option *o = sr_config_find_option(name);
        if (o == NULL)
            return errorf(err, errlen, SR_ERR_INVALID, "unknown option --%s (see --help)", name);

        int rc;
        if (eq != NULL) {
            rc = sr_config_set(cfg, name, eq + 1, err, errlen);
        } else if (i + 1 >= argc || is_flag(argv[i + 1])) {
            rc = errorf(err, errlen, SR_ERR_INVALID, "--%s: expected %s", name,
                        o->type == SR_OPT_URL_LIST ? "at least one value" : "a value");
        } else if (o->type == SR_OPT_URL_LIST) {
            rc = 0;
            while (rc == 0 && i + 1 < argc && !is_flag(argv[i + 1]))
                rc = sr_config_set(cfg, name, argv[++i], err, errlen);
        } else {
            rc = sr_config_set(cfg, name, argv[++i], err, errlen);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sr_config_from_args(struct sr_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    const char *prog = argc > 0 ? argv[0] : "sglang-router";
    const char *slash = strrchr(prog, '/');
    prog = slash ? slash + 1 : prog;
    if (sr_config_init(cfg) != 0) {
        fprintf(err, "%s: out of memory\n", prog);
        return 1;
    }
    char msg[512];
    int rc = sr_config_parse_args(cfg, argc, argv, msg, sizeof(msg));
    if (rc == 0)
        return -1;
    sr_config_clear(cfg);
    if (rc == SR_CONFIG_HELP) {
        sr_config_print_help(out, prog);
        return 0;
    }
    fprintf(err, "%s: %s\n", prog, msg);
    return rc == SR_ERR_NOMEM ? 1 : 2;
}

/* "--name METAVAR" as shown in usage and help. */
static void format_flag(const struct sr_option *o, char *buf, size_t len)
{
    char meta[160];
    if (o->type == SR_OPT_CHOICE) {
        size_t used = (size_t)snprintf(meta, sizeof(meta), "{");
        for (size_t i = 0; o->choices[i] && used < sizeof(meta); i++)
            used += (size_t)snprintf(meta + used, sizeof(meta) - used, "%s%s", i ? "," : "",
                                     o->choices[i]);
        if (used < sizeof(meta))
            snprintf(meta + used, sizeof(meta) - used, "}");
    } else if (o->type == SR_OPT_URL_LIST) {
        snprintf(meta, sizeof(meta), "%s [%s ...]", o->metavar, o->metavar);
    } else {
        snprintf(meta, sizeof(meta), "%s", o->metavar);
    }
    snprintf(buf, len, "--%s %s", o->name, meta);
}

void sr_config_print_help(FILE *out, const char *prog)
{
    char flag[256];
    fprintf(out, "usage: %s [-h]", prog);
    for (const struct sr_option *o = options; o->name; o++) {
        format_flag(o, flag, sizeof(flag));
        fprintf(out, " [%s]", flag);
    }
    fprintf(out, "\n\noptions:\n  %-22s show this help message and exit\n", "-h, --help");
    for (const struct sr_option *o = options; o->name; o++) {
        format_flag(o, flag, sizeof(flag));
        if (strlen(flag) > 22)
            fprintf(out, "  %s\n  %-22s", flag, "");
        else
            fprintf(out, "  %-22s", flag);
        fprintf(out, " %s (default: %s)\n", o->help, o->default_value ? o->default_value : "None");
    }
}

struct sr_policy_params sr_config_policy_params(const struct sr_config *cfg)
{
    return (struct sr_policy_params){
        .cache_threshold = cfg->cache_threshold,
        .cache_routing_prob = cfg->cache_routing_prob,
        .balance_abs_threshold = cfg->balance_abs_threshold,
        .balance_rel_threshold = cfg->balance_rel_threshold,
        .max_tree_bytes = (size_t)cfg->max_tree_size,
        .eviction_interval_ms = (uint64_t)cfg->eviction_interval_secs * 1000,
    };
}
