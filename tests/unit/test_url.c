/* Unit tests for common/url: worker URL validation and canonical form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/url.h"

#include <stdio.h>
#include <string.h>

static void expect_ok(const char *text, const char *canonical, const char *host, int port, int tls)
{
    struct sr_url u;
    const char *why = NULL;
    int rc = sr_url_parse(text, strlen(text), &u, &why);
    if (rc != 0)
        fail_msg("'%s' rejected: %s", text, why);
    assert_string_equal(u.canonical, canonical);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_int_equal(u.tls, tls);
    sr_url_clear(&u);
}

static void expect_bad(const char *text, const char *reason_part)
{
    struct sr_url u;
    const char *why = NULL;
    assert_int_equal(sr_url_parse(text, strlen(text), &u, &why), SR_ERR_INVALID);
    assert_non_null(why);
    if (strstr(why, reason_part) == NULL)
        fail_msg("'%s': reason '%s' lacks '%s'", text, why, reason_part);
}

static void test_valid_urls(void **state)
{
    (void)state;
    expect_ok("http://worker1:8000", "http://worker1:8000", "worker1", 8000, 0);
    expect_ok("HTTP://Worker1:8000/", "http://worker1:8000", "worker1", 8000, 0);
    expect_ok("http://10.0.0.7", "http://10.0.0.7:80", "10.0.0.7", 80, 0);
    expect_ok("https://gpu-3.example.com", "https://gpu-3.example.com:443", "gpu-3.example.com",
              443, 1);
    expect_ok("http://[::1]:31000", "http://[::1]:31000", "::1", 31000, 0);
    expect_ok("http://w:1/v1/base/", "http://w:1/v1/base", "w", 1, 0);
}

static void test_invalid_urls(void **state)
{
    (void)state;
    expect_bad("worker1:8000", "http://");
    expect_bad("ftp://worker1", "http://");
    expect_bad("http://", "empty host");
    expect_bad("http://:8000", "empty host");
    expect_bad("http://w:0", "port");
    expect_bad("http://w:65536", "port");
    expect_bad("http://w:80a", "port");
    expect_bad("http://w:", "port");
    expect_bad("http://user@w:80", "user info");
    expect_bad("http://w:80/?x=1", "query");
    expect_bad("http://w:80#frag", "query");
    expect_bad("http://w 1:80", "whitespace");
    expect_bad("http://w\x01:80", "control");
    expect_bad("http://[::1:80", "IPv6");
    expect_bad("http://[::1]x", "after IPv6");
    expect_bad("http://wo$rker", "host name");
}

/* Issue 18: a 5,000-character host name was accepted. */
static void test_host_length_limit(void **state)
{
    (void)state;
    char url[6000], canonical[6100];
    memset(url, 0, sizeof(url));
    strcpy(url, "http://");
    memset(url + 7, 'a', 253);
    snprintf(canonical, sizeof(canonical), "%s:80", url);
    expect_ok(url, canonical, url + 7, 80, 0);
    url[7 + 253] = 'a';
    expect_bad(url, "longer than 253");
    memset(url + 7, 'b', 5000);
    strcat(url, ":8000");
    expect_bad(url, "longer than 253");
}

/* The Host header of a worker: IPv6 hosts in brackets (a bare "::1:8000"
 * is no valid authority; fan-outs and the oracle probe once sent it). */
static void test_authority(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"http://w1:8000/base", "w1:8000"},
        {"http://[::1]:8000", "[::1]:8000"},
        {"https://[fe80::1]", "[fe80::1]:443"},
        {"http://10.0.0.1", "10.0.0.1:80"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sr_url u;
        assert_int_equal(sr_url_parse(cases[i][0], strlen(cases[i][0]), &u, NULL), 0);
        char out[300];
        sr_url_authority(&u, out, sizeof(out));
        assert_string_equal(out, cases[i][1]);
        sr_url_clear(&u);
    }
}

static void test_allocation_failure(void **state)
{
    (void)state;
    for (long k = 0; k < 3; k++) {
        struct sr_url u;
        sr_alloc_fail_after(k);
        int rc = sr_url_parse("http://w:1", 10, &u, NULL);
        sr_alloc_fail_after(-1);
        assert_int_equal(rc, SR_ERR_NOMEM);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_urls),         cmocka_unit_test(test_invalid_urls),
        cmocka_unit_test(test_host_length_limit),  cmocka_unit_test(test_authority),
        cmocka_unit_test(test_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
