/* Unit tests for tests/sim/pd_fields: the bootstrap fields a router adds to
 * a PD request, rooms read exactly from the body's text (cJSON's doubles
 * cannot tell rooms near 2^63 apart), batches, and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pd_fields.h"

#include "common/err.h"

#include <string.h>

/* Parses body (n prompts, batch when n > 1) into out; the result code. */
static int parse(const char *body, size_t n, struct sr_sim_pd_fields *out, char *msg)
{
    cJSON *root = cJSON_Parse(body);
    assert_non_null(root);
    int rc = sr_sim_pd_fields_parse(root, body, strlen(body), n, n > 1, out, msg, 200);
    cJSON_Delete(root);
    return rc;
}

static void test_single(void **state)
{
    (void)state;
    struct sr_sim_pd_fields f[1];
    char msg[200];
    assert_int_equal(parse("{\"text\":\"hi\",\"bootstrap_host\":\"10.0.0.7\",\"bootstrap_port\":"
                           "8999,\"bootstrap_room\":9223372036854775806}",
                           1, f, msg),
                     0);
    assert_string_equal(f[0].host, "10.0.0.7");
    assert_int_equal(f[0].port, 8999);
    assert_true(f[0].room == UINT64_C(9223372036854775806));
}

static void test_exact_rooms_in_a_batch_among_tricky_members(void **state)
{
    (void)state;
    struct sr_sim_pd_fields f[2];
    char msg[200];
    /* members before the rooms hold strings with quotes, brackets, braces
     * and escapes; an escaped key that only looks like bootstrap_room */
    const char *body = "{ \"text\" : [\"a\\\"]}\", \"{[\"],"
                       " \"sampling_params\": {\"stop\": [\"]\", \"}\"], \"x\": {\"y\": [1, 2]}},"
                       " \"bootstrap_host\": [\"[::1]\", \"prefill-0.svc\"],"
                       " \"bootstrap_port\": [null, 9000],"
                       " \"bootstrap_room\" : [ 9223372036854775807 , 9223372036854775806 ] }";
    assert_int_equal(parse(body, 2, f, msg), 0);
    assert_true(f[0].room == UINT64_C(9223372036854775807));
    assert_true(f[1].room == UINT64_C(9223372036854775806));
    assert_string_equal(f[0].host, "::1");
    assert_string_equal(f[1].host, "prefill-0.svc");
    assert_int_equal(f[0].port, SR_SIM_DEFAULT_BOOTSTRAP_PORT);
    assert_int_equal(f[1].port, 9000);
}

/* Found by fuzz_sim_pd_fields: cJSON matches an escaped key
 * ("bootstrap_r\u006fom") that the raw scanner skips, which then read a
 * later "bootstrap_room" member; the room must be the member cJSON took. */
static void test_escaped_key_keeps_cjsons_member(void **state)
{
    (void)state;
    struct sr_sim_pd_fields f[1];
    char msg[200];
    assert_int_equal(parse("{\"bootstrap_host\":\"h\",\"bootstrap_port\":null,"
                           "\"bootstrap_r\\u006fom\":5,\"bootstrap_room\":922337203675807}",
                           1, f, msg),
                     0);
    assert_true(f[0].room == 5);
}

static void test_refused(void **state)
{
    (void)state;
    struct sr_sim_pd_fields f[2];
    char msg[200];
    static const struct {
        const char *body;
        size_t n;
        const char *message;
    } cases[] = {
        {"{\"bootstrap_host\":\"h\",\"bootstrap_port\":1}", 1, "without bootstrap room id"},
        {"{\"bootstrap_host\":\"h\",\"bootstrap_port\":1,\"bootstrap_room\":null}", 1,
         "without bootstrap room id"},
        {"{\"bootstrap_port\":1,\"bootstrap_room\":1}", 1, "without bootstrap_host"},
        {"{\"bootstrap_host\":\"h\",\"bootstrap_room\":1}", 1, "without bootstrap_port"},
        {"{\"bootstrap_host\":\"h\",\"bootstrap_port\":1,\"bootstrap_room\":1.5}", 1,
         "must be an integer"},
        {"{\"bootstrap_host\":\"h\",\"bootstrap_port\":1,\"bootstrap_room\":-2}", 1,
         "must be an integer"},
        {"{\"bootstrap_host\":\"h\",\"bootstrap_port\":70000,\"bootstrap_room\":1}", 1,
         "'bootstrap_port'"},
        {"{\"bootstrap_host\":\"a\\\"b\",\"bootstrap_port\":1,\"bootstrap_room\":1}", 1,
         "'bootstrap_host'"},
        {"{\"bootstrap_host\":\"\",\"bootstrap_port\":1,\"bootstrap_room\":1}", 1,
         "'bootstrap_host'"},
        {"{\"bootstrap_host\":\"h\",\"bootstrap_port\":1,\"bootstrap_room\":[1,2]}", 2,
         "lists of 2"},
        {"{\"bootstrap_host\":[\"h\"],\"bootstrap_port\":[1],\"bootstrap_room\":[1,2]}", 2,
         "lists of 2"},
        {"{\"bootstrap_host\":[\"h\",\"h\"],\"bootstrap_port\":[1,1],\"bootstrap_room\":[1,\"2\"]}",
         2, "list of integers"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msg[0] = '\0';
        assert_int_equal(parse(cases[i].body, cases[i].n, f, msg), SR_ERR_INVALID);
        if (strstr(msg, cases[i].message) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, msg, cases[i].message);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_exact_rooms_in_a_batch_among_tricky_members),
        cmocka_unit_test(test_escaped_key_keeps_cjsons_member),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
