/* Unit tests for net/h1_server: pipelined requests answered in order,
 * response framing (Content-Length, chunked, HTTP/1.0 until close),
 * keep-alive and close, 100 Continue, malformed input, draining, the
 * phases a connection times, and the held input's ceiling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "net/h1_server.h"
#include "net/http_status.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

/* What the callbacks saw. */
struct seen {
    struct sr_h1_server *s;
    struct evbuffer *out;
    char paths[8][32];
    int requests;
    int bad_status;
    enum sr_h1_phase phases[16];
    int nphases;
    int queued, resumed;
    bool answer_now; /* answer every request inside the callback */
};

static void on_request(void *arg, const struct sr_h1_request *req)
{
    struct seen *w = arg;
    if (w->requests < 8)
        snprintf(w->paths[w->requests], sizeof(w->paths[0]), "%.*s", (int)req->path_len, req->path);
    w->requests++;
    if (w->answer_now)
        sr_h1_server_respond(w->s, 200, "text/plain", "ok", 2, NULL);
}

static void on_bad_request(void *arg, int status, const char *reason)
{
    struct seen *w = arg;
    w->bad_status = status;
    sr_h1_server_respond(w->s, status, "text/plain", reason, strlen(reason), NULL);
}

static void on_phase(void *arg, enum sr_h1_phase phase)
{
    struct seen *w = arg;
    if (w->nphases < 16)
        w->phases[w->nphases++] = phase;
}

static void on_queued(void *arg)
{
    ((struct seen *)arg)->queued++;
}

static void on_resume(void *arg)
{
    ((struct seen *)arg)->resumed++;
}

static const struct sr_h1_server_cbs cbs = {on_request, on_bad_request, on_phase, on_queued,
                                            on_resume};
static const struct sr_h1_limits limits = {
    .max_head_bytes = 1024, .max_headers = 16, .max_body_bytes = 64};

static void setup_seen(struct seen *w, bool answer_now)
{
    memset(w, 0, sizeof(*w));
    w->answer_now = answer_now;
    w->out = evbuffer_new();
    assert_non_null(w->out);
    w->s = sr_h1_server_new(&limits, w->out, &cbs, w);
    assert_non_null(w->s);
}

static void teardown_seen(struct seen *w)
{
    sr_h1_server_free(w->s);
    evbuffer_free(w->out);
}

/* The output as a string (drained). */
static const char *output(struct seen *w)
{
    static char text[4096];
    size_t n = evbuffer_get_length(w->out);
    assert_true(n < sizeof(text));
    evbuffer_remove(w->out, text, n);
    text[n] = '\0';
    return text;
}

static void test_pipelined_answered_in_order(void **state)
{
    (void)state;
    struct seen w;
    setup_seen(&w, false);
    const char *in = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(sr_h1_server_input(w.s, in, strlen(in)), 0);
    assert_int_equal(w.requests, 1); /* the second waits for the first's answer */
    assert_string_equal(w.paths[0], "/a");
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_BUSY);
    assert_true(sr_h1_server_held(w.s) > 0);
    sr_h1_server_respond(w.s, 200, "text/plain", "A", 1, "X-One: 1\r\n");
    assert_int_equal(w.queued, 1);
    assert_int_equal(w.resumed, 1);
    assert_string_equal(output(&w), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                    "Content-Length: 1\r\nX-One: 1\r\n"
                                    "Connection: keep-alive\r\n\r\nA");
    assert_int_equal(sr_h1_server_input(w.s, NULL, 0), 0);
    assert_int_equal(w.requests, 2);
    assert_string_equal(w.paths[1], "/b");
    assert_int_equal(sr_h1_server_held(w.s), 0);
    teardown_seen(&w);
}

static void test_answered_inside_input_is_not_resumed(void **state)
{
    (void)state;
    struct seen w;
    setup_seen(&w, true);
    const char *in = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(sr_h1_server_input(w.s, in, strlen(in)), 0);
    assert_int_equal(w.requests, 2);
    assert_int_equal(w.queued, 0); /* the caller writes after input */
    assert_int_equal(w.resumed, 0);
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_IDLE);
    teardown_seen(&w);
}

static void test_chunked_and_http10(void **state)
{
    (void)state;
    struct seen w;
    setup_seen(&w, false);
    const char *in = "GET /s HTTP/1.1\r\nHost: h\r\n\r\n";
    sr_h1_server_input(w.s, in, strlen(in));
    sr_h1_server_begin(w.s, 200, "A: b\r\n", 6, -1);
    sr_h1_server_body(w.s, "0123456789abcdefXYZ", 19);
    sr_h1_server_end(w.s);
    assert_string_equal(output(&w), "HTTP/1.1 200 OK\r\nA: b\r\nTransfer-Encoding: chunked\r\n"
                                    "Connection: keep-alive\r\n\r\n13\r\n0123456789abcdefXYZ\r\n"
                                    "0\r\n\r\n");
    sr_h1_server_input(w.s, NULL, 0);
    in = "GET /t HTTP/1.0\r\n\r\n";
    sr_h1_server_input(w.s, in, strlen(in));
    sr_h1_server_begin(w.s, 200, "", 0, -1);
    sr_h1_server_body(w.s, "xy", 2);
    sr_h1_server_end(w.s);
    assert_string_equal(output(&w), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nxy");
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_CLOSING);
    teardown_seen(&w);
}

static void test_known_length_and_abort(void **state)
{
    (void)state;
    struct seen w;
    setup_seen(&w, false);
    const char *in = "GET /s HTTP/1.1\r\nHost: h\r\n\r\n";
    sr_h1_server_input(w.s, in, strlen(in));
    sr_h1_server_begin(w.s, 503, "", 0, 10);
    sr_h1_server_body(w.s, "01234", 5);
    sr_h1_server_abort(w.s);
    assert_string_equal(output(&w), "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 10\r\n"
                                    "Connection: keep-alive\r\n\r\n01234");
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_CLOSING);
    teardown_seen(&w);
}

static void test_malformed_closes(void **state)
{
    (void)state;
    struct seen w;
    setup_seen(&w, false);
    const char *in = "GET /a HTTP/1.1\r\nBad Name: x\r\n\r\n";
    sr_h1_server_input(w.s, in, strlen(in));
    assert_int_equal(w.bad_status, 400);
    assert_int_equal(w.requests, 0);
    assert_non_null(strstr(output(&w), "Connection: close\r\n"));
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_CLOSING);
    teardown_seen(&w);
}

static void test_continue_and_phases(void **state)
{
    (void)state;
    struct seen w;
    setup_seen(&w, false);
    const char *head = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
                       "Expect: 100-continue\r\n\r\n";
    sr_h1_server_input(w.s, "POST", 4);
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_HEAD);
    sr_h1_server_input(w.s, head + 4, strlen(head) - 4);
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_BODY);
    assert_string_equal(output(&w), "HTTP/1.1 100 Continue\r\n\r\n");
    sr_h1_server_input(w.s, "body", 4);
    assert_int_equal(w.requests, 1);
    assert_string_equal(output(&w), ""); /* once per request */
    sr_h1_server_respond(w.s, 204, "text/plain", "", 0, NULL);
    enum sr_h1_phase want[] = {SR_H1_HEAD, SR_H1_BODY, SR_H1_BUSY, SR_H1_IDLE};
    assert_int_equal(w.nphases, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(w.phases[i], want[i]);
    teardown_seen(&w);
}

static void test_drain(void **state)
{
    (void)state;
    struct seen w;
    setup_seen(&w, false);
    const char *in = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    sr_h1_server_input(w.s, in, strlen(in));
    sr_h1_server_drain(w.s); /* busy: the answer closes */
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_BUSY);
    sr_h1_server_respond(w.s, 200, "text/plain", "", 0, NULL);
    assert_non_null(strstr(output(&w), "Connection: close\r\n"));
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_CLOSING);
    teardown_seen(&w);

    setup_seen(&w, false);
    sr_h1_server_drain(w.s); /* idle: closes at once */
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_CLOSING);
    teardown_seen(&w);
}

static void test_held_input_ceiling(void **state)
{
    (void)state;
    struct seen w;
    setup_seen(&w, false);
    const char *in = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    sr_h1_server_input(w.s, in, strlen(in)); /* busy from now on */
    static char junk[SR_H1_SERVER_HOLD];
    memset(junk, 'x', sizeof(junk));
    assert_int_equal(sr_h1_server_input(w.s, junk, sizeof(junk)), 0);
    assert_int_equal(sr_h1_server_room(w.s), 0);
    assert_int_equal(sr_h1_server_input(w.s, "y", 1), SR_ERR_TOO_LARGE);
    assert_int_equal(sr_h1_server_phase(w.s), SR_H1_CLOSING);
    teardown_seen(&w);
}

static void test_reasons(void **state)
{
    (void)state;
    assert_string_equal(sr_http_reason(200), "OK");
    assert_string_equal(sr_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(sr_http_reason(599), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_answered_in_order),
        cmocka_unit_test(test_answered_inside_input_is_not_resumed),
        cmocka_unit_test(test_chunked_and_http10),
        cmocka_unit_test(test_known_length_and_abort),
        cmocka_unit_test(test_malformed_closes),
        cmocka_unit_test(test_continue_and_phases),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_held_input_ceiling),
        cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
