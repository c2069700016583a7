/* Unit tests for net/h1_response: responses framed by length, chunked and
 * by the close, split at every byte, paused at every body piece; keep-alive
 * rules; every limit, malformed input, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "net/h1_response.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct sr_h1_response_limits limits = {
    .max_head_bytes = 256, .max_headers = 4, .max_body_bytes = 64};

/* What the callbacks saw. */
struct seen {
    int heads;
    int status;
    long long content_length;
    char worker[32];
    char body[256];
    size_t body_len;
    bool pause_every_piece;
    int stop_at_head;
    struct sr_h1_response_parser *p;
};

static int on_head(void *ctx, const struct sr_h1_response *r)
{
    struct seen *s = ctx;
    s->heads++;
    s->status = r->status;
    s->content_length = r->content_length;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct sr_http_header *h = &r->headers[i];
        if (h->name_len == 11 && strncasecmp(h->name, "X-Worker-Id", 11) == 0 &&
            h->value_len < sizeof(s->worker)) {
            memcpy(s->worker, h->value, h->value_len);
            s->worker[h->value_len] = '\0';
        }
    }
    return s->stop_at_head;
}

static int on_body(void *ctx, const char *data, size_t len)
{
    struct seen *s = ctx;
    assert_true(s->body_len + len < sizeof(s->body));
    memcpy(s->body + s->body_len, data, len);
    s->body_len += len;
    if (s->pause_every_piece)
        sr_h1_response_parser_pause(s->p);
    return 0;
}

static const struct sr_h1_response_callbacks callbacks = {on_head, on_body};

static struct sr_h1_response_parser *new_parser(struct seen *s)
{
    memset(s, 0, sizeof(*s));
    s->p = sr_h1_response_parser_new(&limits, &callbacks, s);
    assert_non_null(s->p);
    return s->p;
}

static void assert_body(const struct seen *s, const char *want)
{
    assert_int_equal(s->body_len, strlen(want));
    assert_memory_equal(s->body, want, s->body_len);
}

/* Feeds in[0, n) in pieces of at most step bytes, re-feeding what a pause
 * left; returns the last result and where the response ended. */
static enum sr_h1r_result feed_all(struct sr_h1_response_parser *p, const char *in, size_t n,
                                   size_t step, size_t *end)
{
    size_t off = 0;
    enum sr_h1r_result r = SR_H1R_NEED_MORE;
    while (off < n) {
        size_t len = n - off < step ? n - off : step, used = 0;
        r = sr_h1_response_parser_feed(p, in + off, len, &used);
        off += used;
        if (r == SR_H1R_DONE || r == SR_H1R_ERROR)
            break;
        if (r == SR_H1R_NEED_MORE)
            assert_int_equal(used, len);
    }
    *end = off;
    return r;
}

static const char *const length_response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                           "X-Worker-Id: w1\r\nContent-Length: 11\r\n\r\n"
                                           "hello world";
static const char *const chunked_response = "HTTP/1.1 201 Created\r\nX-Worker-Id: w2\r\n"
                                            "Transfer-Encoding: chunked\r\n\r\n"
                                            "5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: t\r\n\r\n";
static const char *const close_response = "HTTP/1.1 200 OK\r\nX-Worker-Id: w3\r\n\r\nuntil close";

static void test_length_whole(void **state)
{
    (void)state;
    struct seen s;
    struct sr_h1_response_parser *p = new_parser(&s);
    size_t used = 0, n = strlen(length_response);
    assert_null(sr_h1_response_parser_head(p));
    assert_int_equal(sr_h1_response_parser_feed(p, length_response, n, &used), SR_H1R_DONE);
    assert_int_equal(used, n);
    assert_int_equal(s.heads, 1);
    assert_int_equal(s.status, 200);
    assert_int_equal(s.content_length, 11);
    assert_string_equal(s.worker, "w1");
    assert_body(&s, "hello world");
    assert_true(sr_h1_response_parser_keep_alive(p));
    const struct sr_h1_response *r = sr_h1_response_parser_head(p);
    assert_non_null(r);
    assert_int_equal(r->nheaders, 3);
    assert_int_equal(r->version_minor, 1);
    sr_h1_response_parser_free(p);
}

/* Every framing fed in pieces of every size (1 byte: split at every
 * byte), with and without a pause after every body piece. */
static void test_split_and_paused_at_every_byte(void **state)
{
    (void)state;
    static const struct {
        const char *const *in;
        int status;
        const char *worker;
        bool by_close;
    } cases[] = {
        {&length_response, 200, "w1", false},
        {&chunked_response, 201, "w2", false},
        {&close_response, 200, "w3", true},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const char *in = *cases[c].in;
        size_t n = strlen(in);
        const char *want = cases[c].by_close ? "until close" : "hello world";
        for (size_t cut = 1; cut <= n; cut++) {
            for (int pause = 0; pause < 2; pause++) {
                struct seen s;
                struct sr_h1_response_parser *p = new_parser(&s);
                s.pause_every_piece = pause;
                size_t end = 0;
                enum sr_h1r_result r = feed_all(p, in, n, cut, &end);
                if (cases[c].by_close) {
                    assert_true(r == SR_H1R_NEED_MORE || r == SR_H1R_PAUSED);
                    assert_int_equal(end, n);
                    assert_int_equal(sr_h1_response_parser_eof(p), SR_H1R_DONE);
                    assert_false(sr_h1_response_parser_keep_alive(p));
                } else {
                    assert_int_equal(r, SR_H1R_DONE);
                    assert_int_equal(end, n);
                    assert_true(sr_h1_response_parser_keep_alive(p));
                }
                assert_int_equal(s.heads, 1);
                assert_int_equal(s.status, cases[c].status);
                assert_string_equal(s.worker, cases[c].worker);
                assert_body(&s, want);
                sr_h1_response_parser_free(p);
            }
        }
    }
}

static void test_chunked_trailers_dropped(void **state)
{
    (void)state;
    struct seen s;
    struct sr_h1_response_parser *p = new_parser(&s);
    size_t used = 0;
    assert_int_equal(
        sr_h1_response_parser_feed(p, chunked_response, strlen(chunked_response), &used),
        SR_H1R_DONE);
    const struct sr_h1_response *r = sr_h1_response_parser_head(p);
    assert_int_equal(r->nheaders, 2);
    assert_int_equal(r->content_length, -1);
    assert_string_equal(s.worker, "w2");
    sr_h1_response_parser_free(p);
}

static void test_no_body_statuses(void **state)
{
    (void)state;
    static const char *const ins[] = {
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
        struct seen s;
        struct sr_h1_response_parser *p = new_parser(&s);
        size_t used = 0;
        assert_int_equal(sr_h1_response_parser_feed(p, ins[i], strlen(ins[i]), &used), SR_H1R_DONE);
        assert_int_equal(used, strlen(ins[i]));
        assert_int_equal(s.content_length, -1);
        assert_int_equal(s.body_len, 0);
        sr_h1_response_parser_free(p);
    }
}

static void test_keep_alive_rules(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool keep_alive;
    } cases[] = {
        {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true},
        {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct seen s;
        struct sr_h1_response_parser *p = new_parser(&s);
        size_t used;
        assert_int_equal(sr_h1_response_parser_feed(p, cases[i].in, strlen(cases[i].in), &used),
                         SR_H1R_DONE);
        assert_int_equal(sr_h1_response_parser_keep_alive(p), cases[i].keep_alive);
        sr_h1_response_parser_free(p);
    }
}

/* Bytes after a complete response are not consumed; after a reset the
 * parser takes the next response. */
static void test_one_response_at_a_time(void **state)
{
    (void)state;
    struct seen s;
    struct sr_h1_response_parser *p = new_parser(&s);
    const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 404 Not Found\r\n"
                     "Content-Length: 1\r\n\r\nc";
    size_t n = strlen(in), used = 0;
    assert_int_equal(sr_h1_response_parser_feed(p, in, n, &used), SR_H1R_DONE);
    size_t first = strlen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab");
    assert_int_equal(used, first);
    assert_int_equal(sr_h1_response_parser_feed(p, in + used, n - used, &used), SR_H1R_DONE);
    assert_int_equal(used, 0); /* not before a reset */
    sr_h1_response_parser_reset(p);
    assert_false(sr_h1_response_parser_started(p));
    assert_int_equal(sr_h1_response_parser_feed(p, in + first, n - first, &used), SR_H1R_DONE);
    assert_int_equal(first + used, n);
    assert_int_equal(s.status, 404);
    assert_body(&s, "abc");
    sr_h1_response_parser_free(p);
}

static void expect_error(const char *in, const char *reason)
{
    struct seen s;
    struct sr_h1_response_parser *p = new_parser(&s);
    size_t used = 0;
    assert_int_equal(sr_h1_response_parser_feed(p, in, strlen(in), &used), SR_H1R_ERROR);
    if (reason != NULL)
        assert_string_equal(sr_h1_response_parser_error(p), reason);
    /* Sticky until a reset. */
    assert_int_equal(sr_h1_response_parser_feed(p, "HTTP/1.1 200 OK\r\n", 17, &used), SR_H1R_ERROR);
    sr_h1_response_parser_reset(p);
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(sr_h1_response_parser_feed(p, ok, strlen(ok), &used), SR_H1R_DONE);
    sr_h1_response_parser_free(p);
}

static void test_limits(void **state)
{
    (void)state;
    char big[512];
    snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX-Big: %0300d\r\n\r\n", 7);
    expect_error(big, "response header fields too large");
    expect_error("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n",
                 "too many response header fields");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n", "response body too large");
    char chunks[512];
    snprintf(chunks, sizeof(chunks),
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n%064d\r\n1\r\nx\r\n", 0);
    expect_error(chunks, "response body too large");
    /* Exactly at the limits is fine. */
    struct seen s;
    struct sr_h1_response_parser *p = new_parser(&s);
    char at[256];
    snprintf(at, sizeof(at), "HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n%064d", 0);
    size_t used;
    assert_int_equal(sr_h1_response_parser_feed(p, at, strlen(at), &used), SR_H1R_DONE);
    assert_int_equal(s.body_len, 64);
    sr_h1_response_parser_free(p);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_error("HTTP/1.1 2x0 OK\r\n\r\n", NULL);
    expect_error("XTTP/1.1 200 OK\r\n\r\n", NULL);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", NULL);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", NULL);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", NULL);
    expect_error("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", NULL);
}

static void test_end_of_stream(void **state)
{
    (void)state;
    struct seen s;
    struct sr_h1_response_parser *p = new_parser(&s);
    assert_int_equal(sr_h1_response_parser_eof(p), SR_H1R_ERROR); /* nothing at all */
    assert_false(sr_h1_response_parser_started(p));
    sr_h1_response_parser_reset(p);
    const char *partial = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    size_t used;
    assert_int_equal(sr_h1_response_parser_feed(p, partial, strlen(partial), &used),
                     SR_H1R_NEED_MORE);
    assert_true(sr_h1_response_parser_started(p));
    assert_int_equal(sr_h1_response_parser_eof(p), SR_H1R_ERROR);
    assert_string_equal(sr_h1_response_parser_error(p), "the connection closed mid-response");
    sr_h1_response_parser_reset(p);
    assert_int_equal(sr_h1_response_parser_feed(p, "HTTP/1.1 20", 11, &used), SR_H1R_NEED_MORE);
    assert_int_equal(sr_h1_response_parser_eof(p), SR_H1R_ERROR);
    sr_h1_response_parser_free(p);
}

static void test_stopped_by_the_caller(void **state)
{
    (void)state;
    struct seen s;
    struct sr_h1_response_parser *p = new_parser(&s);
    s.stop_at_head = 1;
    size_t used;
    assert_int_equal(sr_h1_response_parser_feed(p, length_response, strlen(length_response), &used),
                     SR_H1R_ERROR);
    assert_string_equal(sr_h1_response_parser_error(p), "stopped by the caller");
    assert_int_equal(s.body_len, 0);
    sr_h1_response_parser_free(p);
}

/* Every allocation failing in turn: an error or the whole response, never
 * a crash or a leak. */
static void test_allocation_failures(void **state)
{
    (void)state;
    for (long k = 0; k < 8; k++) {
        struct seen s;
        memset(&s, 0, sizeof(s));
        sr_alloc_fail_after(k);
        s.p = sr_h1_response_parser_new(&limits, &callbacks, &s);
        if (s.p == NULL) {
            sr_alloc_fail_after(-1);
            continue;
        }
        size_t used;
        enum sr_h1r_result r =
            sr_h1_response_parser_feed(s.p, length_response, strlen(length_response), &used);
        sr_alloc_fail_after(-1);
        if (r == SR_H1R_DONE)
            assert_body(&s, "hello world");
        else
            assert_int_equal(r, SR_H1R_ERROR);
        sr_h1_response_parser_free(s.p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length_whole),
        cmocka_unit_test(test_split_and_paused_at_every_byte),
        cmocka_unit_test(test_chunked_trailers_dropped),
        cmocka_unit_test(test_no_body_statuses),
        cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_one_response_at_a_time),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_end_of_stream),
        cmocka_unit_test(test_stopped_by_the_caller),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
