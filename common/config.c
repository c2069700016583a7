/* config: the router's option table (see config.h); parsing, validation and
 * --help are common/options. */
#include "config.h"

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
    return sr_options_find(options, name);
}

int sr_config_set(struct sr_config *cfg, const char *name, const char *value, char *err,
                  size_t errlen)
{
    return sr_options_set(options, cfg, name, value, err, errlen);
}

int sr_config_init(struct sr_config *cfg)
{
    return sr_options_init(options, cfg, sizeof(*cfg));
}

void sr_config_clear(struct sr_config *cfg)
{
    sr_options_clear(options, cfg, sizeof(*cfg));
}

int sr_config_parse_args(struct sr_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    return sr_options_parse_args(options, cfg, argc, argv, err, errlen);
}

int sr_config_from_args(struct sr_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    return sr_options_from_args(options, cfg, sizeof(*cfg), argc, argv, out, err);
}

void sr_config_print_help(FILE *out, const char *prog)
{
    sr_options_print_help(options, out, prog);
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
