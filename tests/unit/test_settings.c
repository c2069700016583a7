/* Unit tests for common/settings: all-or-none updates through the option
 * table, views that follow versions, policy instances per name. */
#include "common/err.h"
#include "common/log.h"
#include "common/route_key.h"
#include "common/settings.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct fixture {
    struct sr_config cfg;
    struct sr_settings *s;
};

static int setup(void **state)
{
    static struct fixture f;
    assert_int_equal(sr_config_init(&f.cfg), 0);
    assert_int_equal(sr_config_set(&f.cfg, "cache-threshold", "0.3", NULL, 0), 0);
    int err = 0;
    f.s = sr_settings_new(&f.cfg, &err);
    assert_non_null(f.s);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sr_settings_free(f->s);
    sr_config_clear(&f->cfg);
    return 0;
}

static void test_starts_from_the_config(void **state)
{
    struct fixture *f = *state;
    struct sr_settings_view v = {0};
    sr_settings_refresh(f->s, &v);
    assert_true(v.version > 0);
    assert_true(v.params.cache_threshold == 0.3);
    assert_string_equal(sr_policy_name(v.policy), "cache_aware");
    struct sr_config now;
    assert_int_equal(sr_config_init(&now), 0);
    assert_int_equal(sr_settings_get(f->s, &now), 0);
    assert_true(now.cache_threshold == 0.3);
    assert_string_equal(now.policy, "cache_aware");
    sr_config_clear(&now);
}

static void test_update_is_all_or_none(void **state)
{
    struct fixture *f = *state;
    struct sr_settings_view v = {0};
    sr_settings_refresh(f->s, &v);
    unsigned long before = v.version;
    char err[200];
    size_t bad = 99;
    struct sr_settings_change bad_batch[] = {
        {"cache-threshold", "0.9"},
        {"cache-routing-prob", "2"},
    };
    assert_int_equal(sr_settings_update(f->s, bad_batch, 2, &bad, err, sizeof(err)),
                     SR_ERR_INVALID);
    assert_int_equal(bad, 1);
    assert_non_null(strstr(err, "--cache-routing-prob"));
    sr_settings_refresh(f->s, &v);
    assert_int_equal(v.version, before); /* nothing changed */
    assert_true(v.params.cache_threshold == 0.3);

    struct sr_settings_change not_runtime[] = {{"port", "80"}};
    assert_int_equal(sr_settings_update(f->s, not_runtime, 1, &bad, err, sizeof(err)),
                     SR_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "cannot change"));
    struct sr_settings_change unknown[] = {{"no-such-flag", "1"}};
    assert_int_equal(sr_settings_update(f->s, unknown, 1, &bad, err, sizeof(err)),
                     SR_ERR_NOT_FOUND);

    struct sr_settings_change good[] = {{"cache-threshold", "0.9"}, {"max-tree-size", "1000"}};
    assert_int_equal(sr_settings_update(f->s, good, 2, &bad, err, sizeof(err)), 0);
    sr_settings_refresh(f->s, &v);
    assert_true(v.version > before);
    assert_true(v.params.cache_threshold == 0.9);
    assert_int_equal(v.params.max_tree_bytes, 1000);
}

static void test_policy_switch_keeps_instances(void **state)
{
    struct fixture *f = *state;
    struct sr_policy *first = sr_settings_policy(f->s);
    char err[200];
    struct sr_settings_change to_rr[] = {{"policy", "round_robin"}};
    struct sr_settings_change back[] = {{"policy", "cache_aware"}};
    struct sr_settings_change wrong[] = {{"policy", "fastest"}};
    assert_int_equal(sr_settings_update(f->s, wrong, 1, NULL, err, sizeof(err)), SR_ERR_INVALID);
    assert_non_null(strstr(err, "must be one of"));
    assert_int_equal(sr_settings_update(f->s, to_rr, 1, NULL, err, sizeof(err)), 0);
    assert_string_equal(sr_policy_name(sr_settings_policy(f->s)), "round_robin");
    assert_int_equal(sr_settings_update(f->s, back, 1, NULL, err, sizeof(err)), 0);
    assert_ptr_equal(sr_settings_policy(f->s), first); /* the same instance again */
}

/* A valid value for o other than its default, as text. */
static void other_value(const struct sr_option *o, char *buf, size_t len)
{
    switch (o->type) {
    case SR_OPT_INT:
    case SR_OPT_FLOAT: {
        double d = o->default_value ? strtod(o->default_value, NULL) : 0;
        double v = d == o->max ? o->min : o->max;
        snprintf(buf, len, o->type == SR_OPT_INT ? "%.0f" : "%.17g", v);
        break;
    }
    case SR_OPT_CHOICE:
        for (size_t i = 0; o->choices[i]; i++)
            if (strcmp(o->choices[i], o->default_value) != 0)
                snprintf(buf, len, "%s", o->choices[i]);
        break;
    case SR_OPT_FLAG:
        snprintf(buf, len, "%s", o->default_value ? "false" : "true");
        break;
    default:
        fail_msg("--%s: a runtime-changeable option of a type that cannot change", o->name);
    }
}

/* Whether the field of o holds the same value in a and b. */
static bool same(const struct sr_option *o, const struct sr_config *a, const struct sr_config *b)
{
    const char *x = (const char *)a + o->offset, *y = (const char *)b + o->offset;
    switch (o->type) {
    case SR_OPT_CHOICE:
    case SR_OPT_STRING:
        return strcmp(*(char *const *)x, *(char *const *)y) == 0;
    case SR_OPT_INT:
        return *(const long *)x == *(const long *)y;
    case SR_OPT_FLOAT:
        return *(const double *)x == *(const double *)y;
    case SR_OPT_FLAG:
        return *(const bool *)x == *(const bool *)y;
    default:
        return false;
    }
}

/* Every row the table marks runtime-changeable changes through the
 * settings, alone, and the settings in force show it. */
static void test_every_runtime_row_changes(void **state)
{
    struct fixture *f = *state;
    enum sr_log_level level = sr_log_get_level();
    int rows = 0;
    for (const struct sr_option *o = sr_config_options(); o->name; o++) {
        if (o->runtime == NULL)
            continue;
        rows++;
        char value[64], err[200];
        other_value(o, value, sizeof(value));
        struct sr_config now, want;
        assert_int_equal(sr_config_init(&now), 0);
        assert_int_equal(sr_config_init(&want), 0);
        assert_int_equal(sr_settings_get(f->s, &now), 0);
        assert_int_equal(sr_config_set(&want, o->name, value, err, sizeof(err)), 0);
        if (same(o, &now, &want))
            fail_msg("--%s: %s is the value in force already", o->name, value);
        struct sr_settings_change one[] = {{o->name, value}};
        assert_int_equal(sr_settings_update(f->s, one, 1, NULL, err, sizeof(err)), 0);
        assert_int_equal(sr_settings_get(f->s, &now), 0);
        if (!same(o, &now, &want))
            fail_msg("--%s: %s did not take effect", o->name, value);
        sr_config_clear(&want);
        sr_config_clear(&now);
    }
    assert_true(rows >= 12);
    sr_log_set_level(level);
}

/* The three that were read from the start-up config once: the per-request
 * ones reach the view, the log level the process-wide threshold. */
static void test_request_and_process_settings(void **state)
{
    struct fixture *f = *state;
    struct sr_settings_view v = {0};
    enum sr_log_level level = sr_log_get_level();
    assert_false(sr_settings_refresh(f->s, &v)->log_requests);
    assert_int_equal(v.retry_max_retries, 5);
    char err[200];
    struct sr_settings_change batch[] = {
        {"log-requests", "true"}, {"retry-max-retries", "0"}, {"log-level", "error"}};
    assert_int_equal(sr_settings_update(f->s, batch, 3, NULL, err, sizeof(err)), 0);
    assert_true(sr_settings_refresh(f->s, &v)->log_requests);
    assert_int_equal(v.retry_max_retries, 0);
    assert_int_equal(sr_log_get_level(), SR_LOG_ERROR);
    struct sr_settings_change debug[] = {{"log-level", "debug"}};
    assert_int_equal(sr_settings_update(f->s, debug, 1, NULL, err, sizeof(err)), 0);
    assert_int_equal(sr_log_get_level(), SR_LOG_DEBUG);
    sr_log_set_level(level);
}

/* Replica sync switches routing keys to digests: the trees empty (their
 * keys meant text) and views see the new unit. */
static void test_key_unit_empties_the_trees(void **state)
{
    struct fixture *f = *state;
    struct sr_settings_view v = {0};
    sr_settings_refresh(f->s, &v);
    assert_int_equal(v.params.key_unit, 1);
    struct sr_policy *p = v.policy;
    assert_int_equal(sr_policy_learn(p, "some text", 9, 0, 0), 0);
    struct sr_radix_stats st;
    assert_true(sr_policy_tree_stats(p, &st));
    assert_int_equal(st.text_bytes, 9);
    sr_settings_set_key_unit(f->s, SR_ROUTE_KEY_UNIT);
    sr_settings_refresh(f->s, &v);
    assert_int_equal(v.params.key_unit, SR_ROUTE_KEY_UNIT);
    assert_true(sr_policy_tree_stats(p, &st));
    assert_int_equal(st.text_bytes, 0);
    /* Runtime updates keep the unit. */
    struct sr_settings_change c = {"cache-threshold", "0.3"};
    char err[200];
    assert_int_equal(sr_settings_update(f->s, &c, 1, NULL, err, sizeof(err)), 0);
    sr_settings_refresh(f->s, &v);
    assert_int_equal(v.params.key_unit, SR_ROUTE_KEY_UNIT);
    sr_settings_set_key_unit(f->s, 1);
    sr_settings_refresh(f->s, &v);
    assert_int_equal(v.params.key_unit, 1);
}

/* Each role has its own instance, even under the same policy; an unset
 * role policy follows --policy, a set one stays when --policy changes. */
static void test_policies_by_role(void **state)
{
    (void)state;
    struct sr_config cfg;
    assert_int_equal(sr_config_init(&cfg), 0);
    assert_int_equal(sr_config_set(&cfg, "policy", "round_robin", NULL, 0), 0);
    assert_int_equal(sr_config_set(&cfg, "decode-policy", "shortest_queue", NULL, 0), 0);
    int err = 0;
    struct sr_settings *s = sr_settings_new(&cfg, &err);
    assert_non_null(s);
    struct sr_settings_view v = {0};
    sr_settings_refresh(s, &v);
    assert_ptr_equal(v.policy, v.role_policy[SR_ROLE_REGULAR]);
    assert_string_equal(sr_policy_name(v.role_policy[SR_ROLE_PREFILL]), "round_robin");
    assert_ptr_not_equal(v.role_policy[SR_ROLE_PREFILL], v.role_policy[SR_ROLE_REGULAR]);
    assert_string_equal(sr_policy_name(v.role_policy[SR_ROLE_DECODE]), "shortest_queue");
    assert_ptr_equal(sr_settings_role_policy(s, SR_ROLE_DECODE), v.role_policy[SR_ROLE_DECODE]);
    struct sr_settings_change c = {"policy", "cache_aware"};
    char msg[200];
    assert_int_equal(sr_settings_update(s, &c, 1, NULL, msg, sizeof(msg)), 0);
    sr_settings_refresh(s, &v);
    assert_string_equal(sr_policy_name(v.role_policy[SR_ROLE_PREFILL]), "cache_aware");
    assert_string_equal(sr_policy_name(v.role_policy[SR_ROLE_DECODE]), "shortest_queue");
    struct sr_radix_stats st;
    assert_true(sr_settings_tree_stats(s, &st));
    sr_settings_free(s);
    sr_config_clear(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_starts_from_the_config, setup, teardown),
        cmocka_unit_test(test_policies_by_role),
        cmocka_unit_test_setup_teardown(test_key_unit_empties_the_trees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_is_all_or_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_switch_keeps_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_runtime_row_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_and_process_settings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
