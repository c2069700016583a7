/* Unit tests for controlplane/config_pb: the option table's runtime rows
 * and RouterConfig's fields are one list, and values cross both ways. */
#include "common/err.h"
#include "controlplane/config_pb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define INIT SGLANG__ROUTER__ADMIN__V1__ROUTER_CONFIG__INIT

/* Every runtime row names a field of its type, every field one row. */
static void test_table_and_message_agree(void **state)
{
    (void)state;
    char err[300] = "";
    if (sr_config_pb_check(err, sizeof(err)) != 0)
        fail_msg("%s", err);
    int rows = 0;
    for (const struct sr_option *o = sr_config_options(); o->name; o++) {
        if (o->runtime) {
            rows++;
            assert_non_null(sr_config_pb_field(o));
        } else {
            assert_null(sr_config_pb_field(o));
        }
    }
    assert_int_equal(rows, sglang__router__admin__v1__router_config__descriptor.n_fields);
}

/* GetConfig's message holds every runtime value, and its text sets the
 * same value through the option table (UpdateConfig's path). */
static void test_config_to_message_and_back(void **state)
{
    (void)state;
    struct sr_config cfg, back;
    char err[300], buf[64];
    assert_int_equal(sr_config_init(&cfg), 0);
    assert_int_equal(sr_config_init(&back), 0);
    assert_int_equal(sr_config_set(&cfg, "cache-threshold", "0.1", err, sizeof(err)), 0);
    assert_int_equal(sr_config_set(&cfg, "log-requests", "true", err, sizeof(err)), 0);
    assert_int_equal(sr_config_set(&cfg, "retry-max-retries", "0", err, sizeof(err)), 0);
    assert_int_equal(sr_config_set(&cfg, "log-level", "warn", err, sizeof(err)), 0);
    Sglang__Router__Admin__V1__RouterConfig msg = INIT;
    sr_config_pb_from_config(&cfg, &msg);
    assert_true(msg.has_log_requests && msg.log_requests);
    assert_true(msg.has_retry_max_retries && msg.retry_max_retries == 0);
    assert_string_equal(msg.log_level, "warn");
    for (const struct sr_option *o = sr_config_options(); o->name; o++) {
        if (o->runtime == NULL)
            continue;
        const char *text = sr_config_pb_text(&msg, o, true, buf, sizeof(buf));
        assert_non_null(text);
        assert_int_equal(sr_config_set(&back, o->name, text, err, sizeof(err)), 0);
    }
    assert_true(back.cache_threshold == 0.1);
    assert_true(back.log_requests);
    assert_int_equal(back.retry_max_retries, 0);
    assert_string_equal(back.log_level, "warn");
    sr_config_clear(&cfg);
    sr_config_clear(&back);
}

/* sglctl's path: text into the message; only what was set is present. */
static void test_set_text(void **state)
{
    (void)state;
    Sglang__Router__Admin__V1__RouterConfig msg = INIT;
    char err[200], buf[64];
    const struct sr_option *retries = sr_config_find_option("retry-max-retries");
    const struct sr_option *logreq = sr_config_find_option("log-requests");
    const struct sr_option *threshold = sr_config_find_option("cache-threshold");
    assert_null(sr_config_pb_text(&msg, retries, true, buf, sizeof(buf)));
    assert_null(sr_config_pb_text(&msg, sr_config_find_option("policy"), true, buf, sizeof(buf)));
    assert_int_equal(sr_config_pb_set_text(&msg, retries, "3", err, sizeof(err)), 0);
    assert_string_equal(sr_config_pb_text(&msg, retries, true, buf, sizeof(buf)), "3");
    assert_int_equal(sr_config_pb_set_text(&msg, logreq, "false", err, sizeof(err)), 0);
    assert_true(msg.has_log_requests && !msg.log_requests);
    assert_int_equal(sr_config_pb_set_text(&msg, threshold, "0.3", err, sizeof(err)), 0);
    assert_string_equal(sr_config_pb_text(&msg, threshold, false, buf, sizeof(buf)), "0.3");
    assert_int_equal(sr_config_pb_set_text(&msg, threshold, "high", err, sizeof(err)),
                     SR_ERR_INVALID);
    assert_non_null(strstr(err, "not a number"));
    assert_int_equal(sr_config_pb_set_text(&msg, logreq, "yes", err, sizeof(err)), SR_ERR_INVALID);
    assert_int_equal(sr_config_pb_set_text(&msg, retries, "2x", err, sizeof(err)), SR_ERR_INVALID);
    assert_int_equal(
        sr_config_pb_set_text(&msg, sr_config_find_option("port"), "1", err, sizeof(err)),
        SR_ERR_INVALID);
    assert_non_null(strstr(err, "cannot change"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_and_message_agree),
        cmocka_unit_test(test_config_to_message_and_back),
        cmocka_unit_test(test_set_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
