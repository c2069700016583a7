/* Unit tests for common/config: defaults, every flag, every kind of bad
 * value (one line naming the flag), and --help generated from the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(struct sr_config *cfg, char *err, const char *const *args)
{
    char *argv[64] = {"sglang-router"};
    int argc = 1;
    while (args[argc - 1] != NULL) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    assert_int_equal(sr_config_init(cfg), 0);
    return sr_config_parse_args(cfg, argc, argv, err, 256);
}

#define PARSE(cfg, err, ...) parse(cfg, err, (const char *const[]){__VA_ARGS__, NULL})

static void test_defaults_match_the_seed(void **state)
{
    (void)state;
    struct sr_config c;
    assert_int_equal(sr_config_init(&c), 0);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 30000);
    assert_int_equal(c.worker_urls.n, 0);
    assert_string_equal(c.policy, "cache_aware");
    assert_true(c.cache_threshold == 0.5);
    assert_true(c.cache_routing_prob == 1.0);
    assert_int_equal(c.eviction_interval_secs, 60);
    assert_int_equal(c.max_tree_size, 16777216);
    assert_int_equal(c.balance_abs_threshold, 32);
    assert_true(c.balance_rel_threshold == 1.0001);
    assert_string_equal(c.log_level, "info");
    struct sr_policy_params p = sr_config_policy_params(&c);
    assert_int_equal(p.max_tree_bytes, 16777216);
    assert_true(p.cache_threshold == 0.5);
    assert_int_equal(c.worker_load_interval_ms, 500);
    sr_config_clear(&c);
}

static void test_every_flag(void **state)
{
    (void)state;
    struct sr_config c;
    char err[256] = "";
    int rc = PARSE(&c, err, "--host", "0.0.0.0", "--port=8080", "--worker-urls", "http://w1:8000",
                   "http://W2:8000/", "--policy", "round_robin", "--cache-threshold", "0.25",
                   "--cache-routing-prob=0.75", "--eviction-interval", "5", "--max-tree-size",
                   "1024", "--balance-abs-threshold", "0", "--balance-rel-threshold", "2.5",
                   "--log-level", "debug", "--worker-urls", "http://w3:1");
    if (rc != 0)
        fail_msg("rejected: %s", err);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.worker_urls.n, 3);
    assert_string_equal(c.worker_urls.items[0], "http://w1:8000");
    assert_string_equal(c.worker_urls.items[1], "http://w2:8000");
    assert_string_equal(c.worker_urls.items[2], "http://w3:1");
    assert_string_equal(c.policy, "round_robin");
    assert_true(c.cache_threshold == 0.25);
    assert_true(c.cache_routing_prob == 0.75);
    assert_int_equal(c.eviction_interval_secs, 5);
    assert_int_equal(c.max_tree_size, 1024);
    assert_int_equal(c.balance_abs_threshold, 0);
    assert_true(c.balance_rel_threshold == 2.5);
    assert_string_equal(c.log_level, "debug");
    sr_config_clear(&c);

    for (size_t i = 0; sr_policy_names[i]; i++) {
        assert_int_equal(PARSE(&c, err, "--policy", sr_policy_names[i]), 0);
        sr_config_clear(&c);
    }
}

static void expect_error(const char *flag_in_message, const char *fragment, const char *const *args)
{
    struct sr_config c;
    char err[256] = "";
    int rc = parse(&c, err, args);
    sr_config_clear(&c);
    assert_true(rc < 0);
    if (strstr(err, flag_in_message) == NULL || strstr(err, fragment) == NULL)
        fail_msg("message '%s' lacks '%s' / '%s'", err, flag_in_message, fragment);
    assert_null(strchr(err, '\n')); /* one line */
}

#define BAD(flag, fragment, ...)                                                                   \
    expect_error(flag, fragment, (const char *const[]){__VA_ARGS__, NULL})

static void test_bad_values(void **state)
{
    (void)state;
    BAD("--cache-threshold", "between 0 and 1", "--cache-threshold", "1.5");
    BAD("--cache-threshold", "between 0 and 1", "--cache-threshold", "-0.1");
    BAD("--cache-threshold", "a number", "--cache-threshold", "half");
    BAD("--cache-threshold", "a number", "--cache-threshold", "nan");
    BAD("--cache-threshold", "a number", "--cache-threshold=");
    BAD("--cache-routing-prob", "between 0 and 1", "--cache-routing-prob", "2");
    BAD("--policy", "must be one of random, round_robin", "--policy", "fastest");
    BAD("--worker-urls", "invalid worker 'worker1:8000'", "--worker-urls", "worker1:8000");
    BAD("--worker-urls", "port", "--worker-urls", "http://w:99999");
    BAD("--worker-urls", "duplicate", "--worker-urls", "http://w:1", "http://W:1/");
    BAD("--worker-urls", "at least one value", "--worker-urls", "--port", "1");
    BAD("--port", "expected a value", "--port");
    BAD("--port", "between 0 and 65535", "--port", "70000");
    BAD("--port", "an integer", "--port", "80.5");
    BAD("--port", "an integer", "--port", " 80");
    BAD("--eviction-interval", "between 1", "--eviction-interval", "0");
    BAD("--max-tree-size", "an integer", "--max-tree-size", "16MB");
    BAD("--max-tree-size", "between 1", "--max-tree-size", "0");
    BAD("--balance-abs-threshold", "between 0", "--balance-abs-threshold", "-1");
    BAD("--balance-rel-threshold", "between 1", "--balance-rel-threshold", "0.5");
    BAD("--host", "must not be empty", "--host", "");
    BAD("--log-level", "must be one of", "--log-level", "loud");
    BAD("--bogus", "unknown option", "--bogus", "1");
    BAD("'stray'", "unexpected argument", "stray");
    BAD("--max-tree-size", "an integer", "--max-tree-size", "99999999999999999999999");
}

/* A worker's own load report counts for three poll intervals; with the
 * poll off, never. */
static void test_load_report_max_age(void **state)
{
    (void)state;
    struct sr_config c;
    char err[256] = "";
    assert_int_equal(sr_config_init(&c), 0);
    assert_int_equal(sr_config_load_max_age_ms(&c), 1500);
    sr_config_clear(&c);
    assert_int_equal(PARSE(&c, err, "--worker-load-interval-ms", "0"), 0);
    assert_int_equal(sr_config_load_max_age_ms(&c), 0);
    sr_config_clear(&c);
    assert_int_equal(PARSE(&c, err, "--worker-load-interval-ms", "3600000"), 0);
    assert_int_equal(sr_config_load_max_age_ms(&c), 10800000);
    sr_config_clear(&c);
    BAD("--worker-load-interval-ms", "between 0", "--worker-load-interval-ms", "-1");
}

static void test_help(void **state)
{
    (void)state;
    struct sr_config c;
    char err[256];
    assert_int_equal(PARSE(&c, err, "--port", "1", "--help"), SR_CONFIG_HELP);
    sr_config_clear(&c);
    assert_int_equal(PARSE(&c, err, "-h"), SR_CONFIG_HELP);
    sr_config_clear(&c);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    sr_config_print_help(out, "sglang-router");
    fclose(out);
    assert_non_null(strstr(text, "usage: sglang-router [-h]"));
#ifdef SR_WITH_ORACLE
    assert_non_null(
        strstr(text, "{random,round_robin,shortest_queue,cache_aware,cache_cost,oracle}"));
#else
    assert_non_null(strstr(text, "{random,round_robin,shortest_queue,cache_aware,cache_cost}"));
#endif
    assert_non_null(strstr(text, "--worker-urls URL [URL ...]"));
    /* Every option appears with its default from the table. */
    for (const struct sr_option *o = sr_config_options(); o->name; o++) {
        char flag[80];
        snprintf(flag, sizeof(flag), "\n  --%s", o->name); /* its own line in the list */
        const char *at = strstr(text, flag);
        assert_non_null(at);
        char after = at[strlen(flag)];
        assert_true(after == ' ' || after == '\n');
    }
    assert_non_null(strstr(text, "(default: 127.0.0.1)"));
    assert_non_null(strstr(text, "(default: 30000)"));
    assert_non_null(strstr(text, "(default: cache_aware)"));
    assert_non_null(strstr(text, "(default: 0.5)"));
    assert_non_null(strstr(text, "(default: 1.0)"));
    assert_non_null(strstr(text, "(default: 60)"));
    assert_non_null(strstr(text, "(default: 16777216)"));
    assert_non_null(strstr(text, "(default: 32)"));
    assert_non_null(strstr(text, "(default: 1.0001)"));
    free(text);
}

/* The README's flag table must list every option with its real default,
 * and mark exactly the runtime-changeable ones. */
static void test_readme_flag_table_matches_the_option_table(void **state)
{
    (void)state;
    FILE *f = fopen(SR_SOURCE_DIR "/README.md", "r");
    assert_non_null(f);
    char line[512];
    int found = 0, rows = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "| `--", 5) != 0)
            continue;
        rows++;
        for (const struct sr_option *o = sr_config_options(); o->name; o++) {
            char flag[80], def[80];
            snprintf(flag, sizeof(flag), "| `--%s", o->name);
            size_t n = strlen(flag);
            if (strncmp(line, flag, n) != 0 || (line[n] != ' ' && line[n] != '`'))
                continue;
            found++;
            if (o->default_value)
                snprintf(def, sizeof(def), "| `%s` |", o->default_value);
            else
                snprintf(def, sizeof(def), "| none |");
            if (strstr(line, def) == NULL)
                fail_msg("README row for --%s lacks default %s", o->name, def);
            if ((strstr(line, "(*changeable at runtime*) |") != NULL) != (o->runtime != NULL))
                fail_msg("README row for --%s: (*changeable at runtime*) %s", o->name,
                         o->runtime ? "missing" : "on a flag fixed at start");
        }
    }
    fclose(f);
    int options = 0;
    for (const struct sr_option *o = sr_config_options(); o->name; o++)
        options++;
    assert_int_equal(found, options);
    assert_int_equal(rows, options);
}

static void test_set_by_name_and_runtime_flags(void **state)
{
    (void)state;
    struct sr_config c;
    char err[256];
    assert_int_equal(sr_config_init(&c), 0);
    assert_int_equal(sr_config_set(&c, "cache-threshold", "0.9", err, sizeof(err)), 0);
    assert_true(c.cache_threshold == 0.9);
    assert_int_equal(sr_config_set(&c, "nope", "1", err, sizeof(err)), SR_ERR_NOT_FOUND);
    assert_non_null(sr_config_find_option("cache-threshold")->runtime);
    assert_null(sr_config_find_option("port")->runtime);
    sr_config_clear(&c);
}

/* What a program's main sees: exit status and what is printed where. */
static int run_main(const char *const *args, char **out_text, char **err_text)
{
    char *argv[16] = {"/usr/bin/sglang-router"};
    int argc = 1;
    while (args[argc - 1] != NULL) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(out_text, &olen), *err = open_memstream(err_text, &elen);
    struct sr_config c;
    int status = sr_config_from_args(&c, argc, argv, out, err);
    fclose(out);
    fclose(err);
    if (status < 0)
        sr_config_clear(&c);
    return status;
}

#define RUN(out, err, ...) run_main((const char *const[]){__VA_ARGS__, NULL}, out, err)

static void test_main_contract(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(&out, &err, "--cache-threshold", "1.5"), 2);
    assert_string_equal(err,
                        "sglang-router: --cache-threshold: must be between 0 and 1 (got 1.5)\n");
    assert_string_equal(out, "");
    free(out), free(err);

    assert_int_equal(RUN(&out, &err, "--policy", "fastest"), 2);
    assert_non_null(strstr(err, "--policy"));
    free(out), free(err);

    assert_int_equal(RUN(&out, &err, "--help"), 0);
    assert_non_null(strstr(out, "usage: sglang-router [-h]"));
    assert_string_equal(err, "");
    free(out), free(err);

    assert_int_equal(RUN(&out, &err, "--worker-urls", "http://w:1"), -1);
    assert_string_equal(err, "");
    free(out), free(err);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    for (long k = 0; k < 12; k++) {
        struct sr_config c;
        sr_alloc_fail_after(k);
        int rc = sr_config_init(&c);
        if (rc == 0) {
            char err[256];
            char *argv[] = {"r", "--worker-urls", "http://a:1", "http://b:1", "--host", "h"};
            rc = sr_config_parse_args(&c, 6, argv, err, sizeof(err));
            assert_true(rc == 0 || rc == SR_ERR_NOMEM);
            sr_config_clear(&c);
        } else {
            assert_int_equal(rc, SR_ERR_NOMEM);
        }
        sr_alloc_fail_after(-1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_the_seed),
        cmocka_unit_test(test_every_flag),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_load_report_max_age),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_readme_flag_table_matches_the_option_table),
        cmocka_unit_test(test_set_by_name_and_runtime_flags),
        cmocka_unit_test(test_main_contract),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
