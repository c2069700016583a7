/* Unit tests for common/settings: all-or-none updates through the option
 * table, views that follow versions, policy instances per name. */
#include "common/err.h"
#include "common/settings.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_starts_from_the_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_is_all_or_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_switch_keeps_instances, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
