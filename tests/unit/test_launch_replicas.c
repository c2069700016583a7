/* Unit tests for launcher/replicas: the router flags of each of N router
 * replicas (ports, the local NATS, metrics and admin ports) and what the
 * user's --router-* flags override. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "launcher/replicas.h"

#include <stdio.h>
#include <string.h>

/* The replica's flags as one space-separated line. */
static const char *line(char *const *user, int nuser, int index, int n)
{
    static char out[1024];
    struct sr_replica_argv a;
    assert_int_equal(sr_replica_argv(&a, user, nuser, index, n, 30000, 4222), 0);
    assert_null(a.argv[a.argc]);
    out[0] = '\0';
    for (int i = 0; i < a.argc; i++)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "", a.argv[i]);
    return out;
}

#define FLAGS(...) (char *[]){__VA_ARGS__}, (int)(sizeof((char *[]){__VA_ARGS__}) / sizeof(char *))

static void test_one_router_gets_the_user_flags_only(void **state)
{
    (void)state;
    assert_string_equal(line(FLAGS("--policy", "round_robin"), 0, 1),
                        "--port 30000 --policy round_robin");
    assert_string_equal(line(NULL, 0, 0, 1), "--port 30000");
    assert_false(sr_replicas_own_nats(NULL, 0, 1));
}

static void test_replicas_sync_through_the_local_nats(void **state)
{
    (void)state;
    assert_true(sr_replicas_own_nats(NULL, 0, 3));
    assert_string_equal(line(NULL, 0, 0, 3),
                        "--port 30000 --sync-nats-url nats://127.0.0.1:4222 --sync-group launch");
    /* Replicas after the first serve metrics on any free port. */
    assert_string_equal(line(NULL, 0, 2, 3), "--port 30002 --sync-nats-url nats://127.0.0.1:4222 "
                                             "--sync-group launch --prometheus-port 0");
}

static void test_the_user_flags_say_otherwise(void **state)
{
    (void)state;
    char *mine[] = {"--sync-nats-url", "nats://10.0.0.1:4222", "--sync-group=blue"};
    assert_false(sr_replicas_own_nats(mine, 3, 3));
    assert_string_equal(line(mine, 3, 1, 3), "--port 30001 --sync-nats-url nats://10.0.0.1:4222 "
                                             "--sync-group=blue --prometheus-port 0");
    /* Fixed metrics and admin ports: P + i; off and "any" hold for all. */
    assert_string_equal(line(FLAGS("--prometheus-port=9000", "--admin-port", "7000"), 2, 3),
                        "--port 30002 --prometheus-port=9000 --admin-port 7000 --sync-nats-url "
                        "nats://127.0.0.1:4222 --sync-group launch --prometheus-port 9002 "
                        "--admin-port 7002");
    assert_string_equal(line(FLAGS("--prometheus-port", "-1", "--admin-port", "0"), 1, 3),
                        "--port 30001 --prometheus-port -1 --admin-port 0 --sync-nats-url "
                        "nats://127.0.0.1:4222 --sync-group launch");
    assert_string_equal(line(FLAGS("--prometheus-port", "9000"), 0, 3),
                        "--port 30000 --prometheus-port 9000 --sync-nats-url "
                        "nats://127.0.0.1:4222 --sync-group launch");
}

static void test_user_value_is_the_last_one(void **state)
{
    (void)state;
    char *flags[] = {"--admin-port", "1", "--admin-port=2", "--admin-portx", "3", "--verbose"};
    assert_string_equal(sr_replicas_user_value(flags, 6, "admin-port"), "2");
    assert_string_equal(sr_replicas_user_value(flags, 6, "verbose"), "");
    assert_null(sr_replicas_user_value(flags, 6, "admin"));
    assert_null(sr_replicas_user_value(flags, 6, "sync-group"));
}

static void test_ports_must_exist(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(sr_replicas_check(NULL, 0, 64, 65472, err, sizeof(err)), 0);
    assert_int_equal(sr_replicas_check(NULL, 0, 64, 65473, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--port 65473"));
    char *metrics[] = {"--prometheus-port", "65535"};
    assert_int_equal(sr_replicas_check(metrics, 2, 1, 30000, err, sizeof(err)), 0);
    assert_int_equal(sr_replicas_check(metrics, 2, 2, 30000, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--router-prometheus-port 65535"));
}

static void test_too_many_flags(void **state)
{
    (void)state;
    static char *many[SR_REPLICA_MAX_FLAGS + 1];
    for (int i = 0; i <= SR_REPLICA_MAX_FLAGS; i++)
        many[i] = "--verbose";
    struct sr_replica_argv a;
    assert_int_equal(sr_replica_argv(&a, many, SR_REPLICA_MAX_FLAGS, 1, 2, 1, 2), 0);
    assert_int_equal(sr_replica_argv(&a, many, SR_REPLICA_MAX_FLAGS + 1, 1, 2, 1, 2), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_router_gets_the_user_flags_only),
        cmocka_unit_test(test_replicas_sync_through_the_local_nats),
        cmocka_unit_test(test_the_user_flags_say_otherwise),
        cmocka_unit_test(test_user_value_is_the_last_one),
        cmocka_unit_test(test_ports_must_exist),
        cmocka_unit_test(test_too_many_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
