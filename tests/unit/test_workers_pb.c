/* Unit tests for controlplane/workers_pb: SetWorkers/AddWorkers lists as
 * registry specs (every refusal names its field), records as Worker
 * messages with role, bootstrap port and model, and allocation failures. */
#include "common/alloc.h"
#include "common/err.h"
#include "common/registry.h"
#include "controlplane/workers_pb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define PB(name)      Sglang__Router__Admin__V1__##name
#define PB_INIT(name) SGLANG__ROUTER__ADMIN__V1__##name##__INIT
#define ROLE(name)    SGLANG__ROUTER__ADMIN__V1__WORKER_ROLE__WORKER_ROLE_##name

static PB(WorkerSpec) spec(char *url, int role, int port, char *model)
{
    PB(WorkerSpec) s = PB_INIT(WORKER_SPEC);
    s.url = url;
    if (role >= 0) {
        s.has_role = true;
        s.role = role;
    }
    if (port != 0) {
        s.has_bootstrap_port = true;
        s.bootstrap_port = port;
    }
    s.model_id = model;
    return s;
}

static void test_urls_and_specs_in_order(void **state)
{
    (void)state;
    char *urls[] = {"HTTP://a:8000/"};
    PB(WorkerSpec)
    s[] = {
        spec("http://p:1", ROLE(PREFILL), 8998, "m1"),  spec("http://p:2", ROLE(PREFILL), 0, NULL),
        spec("http://d:1", ROLE(DECODE), 0, "m1"),      spec("http://r:1", -1, 0, NULL),
        spec("http://r:2", ROLE(UNSPECIFIED), 0, NULL),
    };
    PB(WorkerSpec) * ptrs[] = {&s[0], &s[1], &s[2], &s[3], &s[4]};
    struct sr_workers_pb w;
    char err[400] = "";
    assert_int_equal(sr_workers_pb_specs(urls, 1, ptrs, 5, &w, err, sizeof(err)), 0);
    assert_int_equal(w.n, 6);
    assert_string_equal(w.specs[0].url, "http://a:8000");
    assert_int_equal(w.specs[0].role, SR_ROLE_REGULAR);
    assert_null(w.specs[0].model);
    assert_int_equal(w.specs[1].role, SR_ROLE_PREFILL);
    assert_int_equal(w.specs[1].bootstrap_port, 8998);
    assert_string_equal(w.specs[1].model, "m1");
    assert_int_equal(w.specs[2].bootstrap_port, SR_BOOTSTRAP_NONE);
    assert_int_equal(w.specs[3].role, SR_ROLE_DECODE);
    assert_int_equal(w.specs[4].role, SR_ROLE_REGULAR);
    assert_int_equal(w.specs[5].role, SR_ROLE_REGULAR);
    char field[48];
    sr_workers_pb_field(&w, w.specs[0].url, field, sizeof(field));
    assert_string_equal(field, "urls[0]");
    sr_workers_pb_field(&w, w.specs[3].url, field, sizeof(field));
    assert_string_equal(field, "workers[2].url");
    sr_workers_pb_field(&w, "http://elsewhere:1", field, sizeof(field));
    assert_string_equal(field, "workers");
    sr_workers_pb_clear(&w);
}

/* Each bad field alone: refused, the message starting with its name. */
static void test_refusals_name_the_field(void **state)
{
    (void)state;
    /* No URL at all. */
    PB(WorkerSpec) none = spec(NULL, ROLE(DECODE), 0, NULL), *one = &none;
    struct sr_workers_pb w;
    char err[400] = "";
    assert_int_equal(sr_workers_pb_specs(NULL, 0, &one, 1, &w, err, sizeof(err)), SR_ERR_INVALID);
    assert_string_equal(err, "workers[0].url: required");
    sr_workers_pb_clear(&w);
    struct {
        PB(WorkerSpec) s;
        const char *prefix;
    } bad[] = {
        {spec("ftp://x:1", -1, 0, NULL), "workers[1].url: ftp://x:1: "},
        {spec("http://x:1", ROLE(DECODE), 8998, NULL),
         "workers[1].bootstrap_port: only a prefill worker has a bootstrap port (this one is "
         "decode)"},
        {spec("http://x:1", -1, 8998, NULL), "workers[1].bootstrap_port: only a prefill"},
        {spec("http://x:1", ROLE(PREFILL), 70000, NULL),
         "workers[1].bootstrap_port: must be between 1 and 65535 (got 70000)"},
        {spec("http://x:1", ROLE(PREFILL), -1, NULL), "workers[1].bootstrap_port: must be"},
        {spec("http://x:1", 7, 0, NULL), "workers[1].role: not a WorkerRole (got 7)"},
        {spec("http://x:1", -1, 0, "two words"), "workers[1].model_id: must be 1-256"},
        {spec("http://x:1", -1, 0, ""), "workers[1].model_id: "},
        {spec("http://a:1", ROLE(DECODE), 0, NULL),
         "workers[1].url: http://a:1: duplicate worker URL (also urls[0])"},
        {spec("http://ok:1", -1, 0, NULL), NULL},
    };
    char *urls[] = {"http://a:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        PB(WorkerSpec) good = spec("http://fine:1", -1, 0, NULL);
        PB(WorkerSpec) * ptrs[] = {&good, &bad[i].s};
        err[0] = '\0';
        int rc = sr_workers_pb_specs(urls, 1, ptrs, 2, &w, err, sizeof(err));
        if (bad[i].prefix == NULL) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, SR_ERR_INVALID);
            if (strncmp(err, bad[i].prefix, strlen(bad[i].prefix)) != 0)
                fail_msg("case %zu: '%s' does not start with '%s'", i, err, bad[i].prefix);
        }
        sr_workers_pb_clear(&w);
    }
    /* A URL twice in urls: the later one named. */
    char *twice[] = {"http://a:1", "http://b:1", "HTTP://A:1"};
    assert_int_equal(sr_workers_pb_specs(twice, 3, NULL, 0, &w, err, sizeof(err)), SR_ERR_INVALID);
    assert_string_equal(err, "urls[2]: http://a:1: duplicate worker URL (also urls[0])");
    sr_workers_pb_clear(&w);
}

/* The specs go into a registry as they are; the records come back as
 * Worker messages with what the specs said. */
static void test_records_as_worker_messages(void **state)
{
    (void)state;
    struct sr_registry *reg = sr_registry_new();
    assert_non_null(reg);
    PB(WorkerSpec)
    s[] = {
        spec("http://p:1", ROLE(PREFILL), 8998, "m1"),
        spec("http://p:2", ROLE(PREFILL), 0, NULL),
        spec("http://d:1", ROLE(DECODE), 0, NULL),
    };
    PB(WorkerSpec) * ptrs[] = {&s[0], &s[1], &s[2]};
    char *urls[] = {"http://r:1"};
    struct sr_workers_pb w;
    char err[400];
    assert_int_equal(sr_workers_pb_specs(urls, 1, ptrs, 3, &w, err, sizeof(err)), 0);
    const char *why = NULL;
    assert_int_equal(sr_registry_replace_specs(reg, w.specs, w.n, &why), 0);
    sr_workers_pb_clear(&w);
    assert_int_equal(sr_registry_set_model(reg, "http://d:1", "m2", false, &why), 0);
    struct sr_worker_set *set = sr_registry_acquire(reg);
    assert_int_equal(set->count, 4);
    PB(Worker) m[4];
    for (size_t i = 0; i < 4; i++)
        sr_workers_pb_worker(set->workers[i], 0, 0, &m[i]);
    assert_string_equal(m[0].url, "http://r:1");
    assert_true(m[0].has_role);
    assert_int_equal(m[0].role, ROLE(REGULAR));
    assert_false(m[0].has_bootstrap_port);
    assert_null(m[0].model_id);
    assert_int_equal(m[1].role, ROLE(PREFILL));
    assert_true(m[1].has_bootstrap_port);
    assert_int_equal(m[1].bootstrap_port, 8998);
    assert_string_equal(m[1].model_id, "m1");
    assert_true(m[1].has_model_pinned && m[1].model_pinned);
    assert_int_equal(m[2].role, ROLE(PREFILL));
    assert_false(m[2].has_bootstrap_port); /* none: null */
    assert_int_equal(m[3].role, ROLE(DECODE));
    assert_string_equal(m[3].model_id, "m2"); /* discovered: not pinned */
    assert_false(m[3].model_pinned);
    sr_worker_set_release(set);
    sr_registry_free(reg);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    char *urls[] = {"http://a:1", "http://b:1"};
    PB(WorkerSpec) s = spec("http://p:1", ROLE(PREFILL), 8998, "m1"), *ptr = &s;
    for (long k = 0;; k++) {
        struct sr_workers_pb w;
        char err[400];
        sr_alloc_fail_after(k);
        int rc = sr_workers_pb_specs(urls, 2, &ptr, 1, &w, err, sizeof(err));
        sr_alloc_fail_after(-1);
        sr_workers_pb_clear(&w);
        if (rc == 0)
            break;
        assert_int_equal(rc, SR_ERR_NOMEM);
        assert_true(k < 100);
    }
}

static void test_roles_both_ways(void **state)
{
    (void)state;
    enum sr_worker_role r;
    for (int i = 0; i < SR_ROLES; i++) {
        assert_true(sr_workers_pb_role_parse(sr_workers_pb_role((enum sr_worker_role)i), &r));
        assert_int_equal(r, i);
    }
    assert_true(sr_workers_pb_role_parse(ROLE(UNSPECIFIED), &r));
    assert_int_equal(r, SR_ROLE_REGULAR);
    assert_false(sr_workers_pb_role_parse(4, &r));
    assert_false(sr_workers_pb_role_parse(-1, &r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls_and_specs_in_order),
        cmocka_unit_test(test_refusals_name_the_field),
        cmocka_unit_test(test_records_as_worker_messages),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_roles_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
