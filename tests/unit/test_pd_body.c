/* Unit tests for dataplane/pd_body: the bootstrap fields added to a
 * disaggregated request's body (single, batch, null port, IPv6 host,
 * whitespace and an empty object), and model discovery's body readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "dataplane/model_discovery.h"
#include "dataplane/pd_body.h"

#include <string.h>

static void expect_body(const char *in, const char *host, int port, const uint64_t *rooms,
                        size_t batch, const char *want)
{
    struct sr_buf out;
    sr_buf_init(&out, 1 << 20);
    assert_int_equal(sr_pd_body_build(&out, in, strlen(in), host, port, rooms, batch), 0);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    sr_buf_free(&out);
}

static void test_fields(void **state)
{
    (void)state;
    uint64_t one[] = {42}, three[] = {1, 2, 3};
    expect_body("{\"text\":\"hi\"}", "10.0.0.1", 8998, one, 0,
                "{\"text\":\"hi\",\"bootstrap_host\":\"10.0.0.1\",\"bootstrap_port\":8998,"
                "\"bootstrap_room\":42}");
    expect_body("{}", "h", -1, one, 0,
                "{\"bootstrap_host\":\"h\",\"bootstrap_port\":null,\"bootstrap_room\":42}");
    expect_body(" { \"a\" : [1] }\n", "::1", 7, three, 3,
                " { \"a\" : [1],\"bootstrap_host\":[\"[::1]\",\"[::1]\",\"[::1]\"],"
                "\"bootstrap_port\":[7,7,7],\"bootstrap_room\":[1,2,3] }\n");
    assert_int_equal(sr_pd_room(UINT64_MAX), (uint64_t)INT64_MAX);
    struct sr_buf out;
    sr_buf_init(&out, 16);
    assert_int_equal(sr_pd_body_build(&out, "[1]", 3, "h", 1, one, 0), SR_ERR_INVALID);
    assert_int_equal(sr_pd_body_build(&out, "{\"a\":1}", 7, "h", 1, one, 0), SR_ERR_TOO_LARGE);
    sr_buf_free(&out);
}

static void test_model_discovery_bodies(void **state)
{
    (void)state;
    char m[300];
    const char *list = "{\"object\":\"list\",\"data\":[{\"id\":\"org/m\",\"root\":\"/p\"}]}";
    assert_true(sr_model_from_models_list(list, strlen(list), m, sizeof(m)));
    assert_string_equal(m, "org/m");
    const char *info = "{\"model_path\":\"meta/x\",\"is_generation\":true}";
    assert_true(sr_model_from_model_info(info, strlen(info), m, sizeof(m)));
    assert_string_equal(m, "meta/x");
    const char *bad[] = {"{\"data\":[]}", "{\"data\":[{\"id\":\"a b\"}]}", "nope",
                         "{\"data\":[{\"id\":7}]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(sr_model_from_models_list(bad[i], strlen(bad[i]), m, sizeof(m)));
    assert_false(sr_model_from_model_info("{}", 2, m, sizeof(m)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_model_discovery_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
