/* Unit tests for dataplane/h1_parser: requests whole, split at every byte,
 * pipelined, chunked; keep-alive rules; every limit and malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "net/h1_parser.h"

#include <stdio.h>
#include <string.h>

static const struct sr_h1_limits limits = {
    .max_head_bytes = 1024, .max_headers = 8, .max_body_bytes = 64};

static struct sr_h1_parser *new_parser(void)
{
    struct sr_h1_parser *p = sr_h1_parser_new(&limits);
    assert_non_null(p);
    return p;
}

static void assert_view(const char *ptr, size_t len, const char *want)
{
    assert_int_equal(len, strlen(want));
    assert_memory_equal(ptr, want, len);
}

static void test_post_with_body_and_query(void **state)
{
    (void)state;
    struct sr_h1_parser *p = new_parser();
    const char *in = "POST /generate?x=1&y=2 HTTP/1.1\r\nHost: w\r\nContent-Length: 5\r\n"
                     "X-Request-Id: abc\r\n\r\nhello";
    size_t used = 0;
    assert_int_equal(sr_h1_parser_feed(p, in, strlen(in), &used), SR_H1_REQUEST);
    assert_int_equal(used, strlen(in));
    const struct sr_h1_request *r = sr_h1_parser_request(p);
    assert_string_equal(r->method, "POST");
    assert_view(r->target, r->target_len, "/generate?x=1&y=2");
    assert_view(r->path, r->path_len, "/generate");
    assert_view(r->query, r->query_len, "x=1&y=2");
    assert_int_equal(r->nheaders, 3);
    const struct sr_http_header *h = sr_h1_request_header(r, "x-request-id");
    assert_non_null(h);
    assert_view(h->value, h->value_len, "abc");
    assert_view(r->body, r->body_len, "hello");
    assert_int_equal(r->body[r->body_len], '\0');
    assert_true(r->keep_alive);
    sr_h1_parser_free(p);
}

static void test_split_at_every_byte(void **state)
{
    (void)state;
    const char *in =
        "POST /v1/completions HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
    size_t n = strlen(in);
    for (size_t cut = 1; cut < n; cut++) {
        struct sr_h1_parser *p = new_parser();
        size_t used = 0;
        assert_int_equal(sr_h1_parser_feed(p, in, cut, &used), SR_H1_NEED_MORE);
        assert_int_equal(used, cut);
        assert_int_equal(sr_h1_parser_feed(p, in + cut, n - cut, &used), SR_H1_REQUEST);
        const struct sr_h1_request *r = sr_h1_parser_request(p);
        assert_view(r->path, r->path_len, "/v1/completions");
        assert_view(r->body, r->body_len, "{\"a\":1}");
        const struct sr_http_header *h = sr_h1_request_header(r, "Content-Type");
        assert_view(h->value, h->value_len, "application/json");
        sr_h1_parser_free(p);
    }
}

/* Found by fuzzing: trailers after a chunked body grew the header buffers
 * that the request's views point into. They are dropped now. */
static void test_chunked_trailers_leave_the_headers_alone(void **state)
{
    (void)state;
    struct sr_h1_parser *p = new_parser();
    const char *in = "POST /g HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
                     "2\r\nhi\r\n0\r\nX-Trailer: t\r\nX-More: m\r\n\r\n";
    size_t used;
    assert_int_equal(sr_h1_parser_feed(p, in, strlen(in), &used), SR_H1_REQUEST);
    const struct sr_h1_request *r = sr_h1_parser_request(p);
    assert_int_equal(r->nheaders, 3);
    const struct sr_http_header *h = sr_h1_request_header(r, "x-a");
    assert_non_null(h);
    assert_view(h->value, h->value_len, "1");
    assert_null(sr_h1_request_header(r, "x-trailer"));
    assert_view(r->body, r->body_len, "hi");
    sr_h1_parser_free(p);
}

static void test_pipelined_requests_one_at_a_time(void **state)
{
    (void)state;
    struct sr_h1_parser *p = new_parser();
    const char *in =
        "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    size_t n = strlen(in), used = 0;
    assert_int_equal(sr_h1_parser_feed(p, in, n, &used), SR_H1_REQUEST);
    assert_int_equal(used, strlen("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"));
    const struct sr_h1_request *r = sr_h1_parser_request(p);
    assert_view(r->path, r->path_len, "/a");
    assert_true(r->keep_alive);
    size_t first = used;
    sr_h1_parser_next(p);
    assert_null(sr_h1_parser_request(p));
    assert_int_equal(sr_h1_parser_feed(p, in + first, n - first, &used), SR_H1_REQUEST);
    assert_int_equal(first + used, n);
    r = sr_h1_parser_request(p);
    assert_view(r->path, r->path_len, "/b");
    assert_false(r->keep_alive);
    sr_h1_parser_free(p);
}

static void test_keep_alive_rules(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool keep_alive;
    } cases[] = {
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sr_h1_parser *p = new_parser();
        size_t used;
        assert_int_equal(sr_h1_parser_feed(p, cases[i].in, strlen(cases[i].in), &used),
                         SR_H1_REQUEST);
        assert_int_equal(sr_h1_parser_request(p)->keep_alive, cases[i].keep_alive);
        sr_h1_parser_free(p);
    }
}

static void test_upgrade_is_ignored_and_body_kept(void **state)
{
    (void)state;
    struct sr_h1_parser *p = new_parser();
    const char *in = "POST /generate HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                     "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
                     "Content-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t used;
    assert_int_equal(sr_h1_parser_feed(p, in, strlen(in), &used), SR_H1_REQUEST);
    const struct sr_h1_request *r = sr_h1_parser_request(p);
    assert_view(r->body, r->body_len, "{}");
    sr_h1_parser_next(p);
    size_t used2;
    assert_int_equal(sr_h1_parser_feed(p, in + used, strlen(in) - used, &used2), SR_H1_REQUEST);
    sr_h1_parser_free(p);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct sr_h1_parser *p = new_parser();
    const char *head =
        "POST /g HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    size_t used;
    assert_int_equal(sr_h1_parser_feed(p, head, strlen(head), &used), SR_H1_NEED_MORE);
    assert_true(sr_h1_parser_headers_done(p));
    assert_true(sr_h1_parser_expects_continue(p));
    assert_int_equal(sr_h1_parser_feed(p, "{}", 2, &used), SR_H1_REQUEST);
    assert_true(sr_h1_parser_request(p)->expect_continue);
    assert_false(sr_h1_parser_expects_continue(p));
    sr_h1_parser_free(p);
}

static void expect_error_n(const char *in, size_t len, int status)
{
    struct sr_h1_parser *p = new_parser();
    size_t used;
    assert_int_equal(sr_h1_parser_feed(p, in, len, &used), SR_H1_ERROR);
    assert_int_equal(sr_h1_parser_error_status(p), status);
    assert_true(strlen(sr_h1_parser_error_reason(p)) > 0);
    /* Sticky: the connection is done. */
    assert_int_equal(sr_h1_parser_feed(p, "GET / HTTP/1.1\r\n\r\n", 18, &used), SR_H1_ERROR);
    sr_h1_parser_free(p);
}

static void expect_error(const char *in, int status)
{
    expect_error_n(in, strlen(in), status);
}

static void test_limits_and_malformed_input(void **state)
{
    (void)state;
    char big[2048];
    snprintf(big, sizeof(big), "GET /%01500d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    expect_error(big, 431);
    expect_error(
        "GET / HTTP/1.1\r\nHost: h\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\ng: 1\r\n"
        "h: 1\r\ni: 1\r\n\r\n",
        431);
    expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n", 413);
    char chunked[512];
    snprintf(
        chunked, sizeof(chunked),
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n%064d\r\n1\r\nx\r\n",
        0);
    expect_error(chunked, 413);
    expect_error("GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n", 400);
    expect_error("NOTAMETHOD / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                 400);
}

/* Request smuggling (issue 18): the lenient libhttp-parser acts on
 * "Transfer-Encoding : chunked" while a worker that trims the name may
 * read the body as a second request. Any name that is not a token is a
 * 400, as are NUL, CR and LF in values. */
static void test_header_names_must_be_tokens(void **state)
{
    (void)state;
    expect_error("GET /v1/models HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n"
                 "39\r\n0\r\n\r\nGET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n",
                 400);
    expect_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", 400);
    expect_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 5\r\n\r\nhello", 400);
    expect_error("GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n", 400);
    static const char nul[] = "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n";
    expect_error_n(nul, sizeof(nul) - 1, 400);
    struct sr_h1_parser *p = new_parser();
    const char *ok = "GET / HTTP/1.1\r\nHost: x\r\nX-Odd!#$%&'*+.^_`|~9: v\r\n\r\n";
    size_t used;
    assert_int_equal(sr_h1_parser_feed(p, ok, strlen(ok), &used), SR_H1_REQUEST);
    assert_non_null(sr_h1_request_header(sr_h1_parser_request(p), "x-odd!#$%&'*+.^_`|~9"));
    sr_h1_parser_free(p);
    assert_true(sr_http_is_token("content-length", 14));
    assert_false(sr_http_is_token("content-length ", 15));
    assert_false(sr_http_is_token("", 0));
}

/* The lenient library takes any two bytes after chunk data for its CRLF;
 * a front proxy that frames the body differently would disagree with us. */
static void test_chunk_data_must_end_with_crlf(void **state)
{
    (void)state;
    const char *bad[] = {
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXY0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\rX0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\n\r0\r\n\r\n",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        expect_error(bad[k], 400);
        size_t n = strlen(bad[k]);
        for (size_t cut = 1; cut < n; cut++) { /* wherever the bytes are split */
            struct sr_h1_parser *p = new_parser();
            size_t used = 0;
            enum sr_h1_result r = sr_h1_parser_feed(p, bad[k], cut, &used);
            if (r == SR_H1_NEED_MORE)
                r = sr_h1_parser_feed(p, bad[k] + cut, n - cut, &used);
            assert_int_equal(r, SR_H1_ERROR);
            assert_int_equal(sr_h1_parser_error_status(p), 400);
            sr_h1_parser_free(p);
        }
    }
}

static void test_host_rules(void **state)
{
    (void)state;
    expect_error("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    expect_error("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    struct sr_h1_parser *p = new_parser();
    const char *in = "GET / HTTP/1.0\r\n\r\n"; /* HTTP/1.0 may leave it out */
    size_t used;
    assert_int_equal(sr_h1_parser_feed(p, in, strlen(in), &used), SR_H1_REQUEST);
    sr_h1_parser_free(p);
}

/* RFC 9112 §3.2.2: servers accept absolute-form targets. */
static void test_absolute_form_target(void **state)
{
    (void)state;
    struct sr_h1_parser *p = new_parser();
    const char *in = "GET http://router.example:30000/v1/models?a=1 HTTP/1.1\r\n\r\n";
    size_t used;
    assert_int_equal(sr_h1_parser_feed(p, in, strlen(in), &used), SR_H1_REQUEST);
    const struct sr_h1_request *r = sr_h1_parser_request(p);
    assert_view(r->path, r->path_len, "/v1/models");
    assert_view(r->query, r->query_len, "a=1");
    sr_h1_parser_next(p);
    const char *bare = "GET HTTPS://router.example HTTP/1.1\r\nHost: router.example\r\n\r\n";
    assert_int_equal(sr_h1_parser_feed(p, bare, strlen(bare), &used), SR_H1_REQUEST);
    r = sr_h1_parser_request(p);
    assert_view(r->path, r->path_len, "/");
    assert_null(r->query);
    sr_h1_parser_free(p);
    expect_error("GET ftp://router.example/x HTTP/1.1\r\n\r\n", 400);
}

static void test_body_exactly_at_the_limit(void **state)
{
    (void)state;
    struct sr_h1_parser *p = new_parser();
    char in[256];
    snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 64\r\n\r\n%064d", 7);
    size_t used;
    assert_int_equal(sr_h1_parser_feed(p, in, strlen(in), &used), SR_H1_REQUEST);
    assert_int_equal(sr_h1_parser_request(p)->body_len, 64);
    sr_h1_parser_free(p);
}

static void test_out_of_memory_is_a_500(void **state)
{
    (void)state;
    const char *in = "POST /generate HTTP/1.1\r\nHost: h\r\nA: b\r\nContent-Length: 3\r\n\r\nabc";
    for (long k = 0; k < 8; k++) {
        sr_alloc_fail_after(k);
        struct sr_h1_parser *p = sr_h1_parser_new(&limits);
        if (p == NULL)
            continue;
        size_t used;
        enum sr_h1_result r = sr_h1_parser_feed(p, in, strlen(in), &used);
        if (r == SR_H1_ERROR)
            assert_int_equal(sr_h1_parser_error_status(p), 500);
        else
            assert_int_equal(r, SR_H1_REQUEST);
        sr_h1_parser_free(p);
    }
    sr_alloc_fail_after(-1);
}

static void test_token_lists(void **state)
{
    (void)state;
    const char *v = "keep-alive, Upgrade ,te";
    assert_true(sr_h1_token_list_has(v, strlen(v), "upgrade"));
    assert_true(sr_h1_token_list_has(v, strlen(v), "TE"));
    assert_false(sr_h1_token_list_has(v, strlen(v), "close"));
    assert_false(sr_h1_token_list_has(v, strlen(v), "keep"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_with_body_and_query),
        cmocka_unit_test(test_split_at_every_byte),
        cmocka_unit_test(test_chunked_trailers_leave_the_headers_alone),
        cmocka_unit_test(test_pipelined_requests_one_at_a_time),
        cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_upgrade_is_ignored_and_body_kept),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_limits_and_malformed_input),
        cmocka_unit_test(test_header_names_must_be_tokens),
        cmocka_unit_test(test_chunk_data_must_end_with_crlf),
        cmocka_unit_test(test_host_rules),
        cmocka_unit_test(test_absolute_form_target),
        cmocka_unit_test(test_body_exactly_at_the_limit),
        cmocka_unit_test(test_out_of_memory_is_a_500),
        cmocka_unit_test(test_token_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
