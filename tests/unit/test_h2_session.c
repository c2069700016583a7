/* Tests for net/h2_session: a client and a server session wired back to
 * back through their output buffers (no sockets): SETTINGS announced, one
 * exchange, the rule that a send asked for inside a callback waits for the
 * outermost call, the high watermark, GOAWAY, and a peer that breaks the
 * protocol or floods SETTINGS (the flood options are set). */
#include "net/h2_session.h"

#include "common/err.h"

#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

struct side {
    struct sr_h2_session *s;
    struct evbuffer *out;
    int32_t stream;     /* server: the request's stream; client: the one it opened */
    bool got_end;       /* END_STREAM seen */
    size_t body;        /* DATA bytes received */
    long inner_send;    /* what a send from inside a callback returned */
    size_t answer_size; /* server: bytes of response body */
    size_t answer_off;
};

static ssize_t read_answer(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                           uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)id;
    (void)source;
    struct side *sd = user_data;
    size_t n = sd->answer_size - sd->answer_off;
    if (n > length)
        n = length;
    memset(buf, 'x', n);
    sd->answer_off += n;
    if (sd->answer_off == sd->answer_size)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct side *sd = user_data;
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        sd->got_end = true;
        sd->stream = frame->hd.stream_id;
        if (nghttp2_session_check_server_session(session)) {
            nghttp2_nv nv[] = {{(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0}};
            nghttp2_data_provider dp = {.read_callback = read_answer};
            assert_int_equal(nghttp2_submit_response(session, sd->stream, nv, 1, &dp), 0);
            sd->inner_send = sr_h2_session_send(sd->s); /* inside recv: deferred */
        }
    }
    return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *user_data)
{
    (void)session;
    (void)flags;
    (void)id;
    (void)data;
    ((struct side *)user_data)->body += len;
    return 0;
}

static void side_init(struct side *sd, bool client, size_t high_water)
{
    memset(sd, 0, sizeof(*sd));
    nghttp2_session_callbacks *cbs;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    struct sr_h2_session_config cfg = {
        .client = client,
        .max_concurrent_streams = client ? 0 : 7,
        .max_header_list = client ? 0 : 4096,
        .out_high_water = high_water,
    };
    sd->out = evbuffer_new();
    sd->inner_send = -100;
    sd->s = sr_h2_session_new(&cfg, cbs, sd, sd->out);
    nghttp2_session_callbacks_del(cbs);
    assert_non_null(sd->s);
}

static void side_free(struct side *sd)
{
    sr_h2_session_free(sd->s);
    evbuffer_free(sd->out);
}

/* Moves what from has queued into to; the result of to's recv. */
static int deliver(struct side *from, struct side *to)
{
    size_t len = evbuffer_get_length(from->out);
    uint8_t *data = evbuffer_pullup(from->out, -1);
    int rc = sr_h2_session_recv(to->s, data, len);
    evbuffer_drain(from->out, len);
    return rc;
}

/* Both ways until neither has anything to send. */
static void exchange(struct side *a, struct side *b)
{
    for (int i = 0; i < 100; i++) {
        assert_true(sr_h2_session_send(a->s) >= 0);
        assert_true(sr_h2_session_send(b->s) >= 0);
        if (evbuffer_get_length(a->out) == 0 && evbuffer_get_length(b->out) == 0)
            return;
        assert_int_equal(deliver(a, b), 0);
        assert_int_equal(deliver(b, a), 0);
    }
    fail_msg("the sessions never went quiet");
}

static int32_t request(struct side *client)
{
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":path", (uint8_t *)"/", 5, 1, 0},
        {(uint8_t *)":authority", (uint8_t *)"t", 10, 1, 0},
    };
    return nghttp2_submit_request(sr_h2_session_nghttp2(client->s), NULL, nv, 4, NULL, NULL);
}

static void settings_and_one_exchange(void **state)
{
    (void)state;
    struct side client, server;
    side_init(&client, true, 0);
    side_init(&server, false, 0);
    server.answer_size = 100000; /* more than a window's worth: WINDOW_UPDATEs too */
    client.stream = request(&client);
    assert_true(client.stream > 0);
    exchange(&client, &server);
    nghttp2_session *cs = sr_h2_session_nghttp2(client.s);
    assert_int_equal(
        nghttp2_session_get_remote_settings(cs, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 7);
    assert_int_equal(nghttp2_session_get_remote_settings(cs, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE),
                     4096);
    assert_true(server.got_end);
    assert_int_equal(server.inner_send, 0); /* deferred, then sent on the way out */
    assert_true(client.got_end);
    assert_int_equal(client.body, 100000);
    side_free(&client);
    side_free(&server);
}

static void send_stops_at_the_high_watermark(void **state)
{
    (void)state;
    struct side client, server;
    side_init(&client, true, 0);
    side_init(&server, false, 20000);
    /* A wide window so that only the watermark holds the server back. */
    nghttp2_settings_entry wide = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20};
    nghttp2_session *cs = sr_h2_session_nghttp2(client.s);
    assert_int_equal(nghttp2_submit_settings(cs, NGHTTP2_FLAG_NONE, &wide, 1), 0);
    assert_int_equal(nghttp2_session_set_local_window_size(cs, NGHTTP2_FLAG_NONE, 0, 1 << 20), 0);
    server.answer_size = 200000;
    request(&client);
    size_t most = 0;
    for (int i = 0; i < 200 && !client.got_end; i++) {
        assert_true(sr_h2_session_send(client.s) >= 0);
        assert_true(sr_h2_session_send(server.s) >= 0);
        size_t queued = evbuffer_get_length(server.out);
        most = queued > most ? queued : most;
        assert_int_equal(deliver(&client, &server), 0);
        assert_int_equal(deliver(&server, &client), 0);
    }
    assert_true(client.got_end);
    assert_int_equal(client.body, 200000);
    assert_true(most >= 20000);
    assert_true(most < 20000 + 16384 + 9 + 64); /* at most one frame past the mark */
    side_free(&client);
    side_free(&server);
}

static void goaway_ends_the_session(void **state)
{
    (void)state;
    struct side client, server;
    side_init(&client, true, 0);
    side_init(&server, false, 0);
    exchange(&client, &server);
    assert_false(sr_h2_session_done(server.s));
    assert_int_equal(sr_h2_session_goaway(server.s), 0);
    exchange(&client, &server);
    assert_true(sr_h2_session_done(server.s));
    side_free(&client);
    side_free(&server);
}

static void a_broken_peer_is_an_error_with_a_goaway(void **state)
{
    (void)state;
    struct side server;
    side_init(&server, false, 0);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int rc = sr_h2_session_recv(server.s, (const uint8_t *)junk, sizeof(junk) - 1);
    assert_int_equal(rc, SR_ERR_INVALID);
    assert_true(evbuffer_get_length(server.out) > 0); /* SETTINGS and GOAWAY, already queued */
    assert_string_not_equal(sr_h2_session_why(server.s), "no error");
    side_free(&server);
}

/* Sends one SETTINGS frame of n entries from a new client: true when the
 * server took it and still reads. */
static bool settings_accepted(size_t n)
{
    struct side client, server;
    side_init(&client, true, 0);
    side_init(&server, false, 0);
    nghttp2_settings_entry many[100];
    for (size_t i = 0; i < n; i++)
        many[i] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    nghttp2_session *cs = sr_h2_session_nghttp2(client.s);
    assert_int_equal(nghttp2_submit_settings(cs, NGHTTP2_FLAG_NONE, many, n), 0);
    assert_true(sr_h2_session_send(client.s) > 0);
    assert_int_equal(deliver(&client, &server), 0);
    /* Refused: nghttp2 answers GOAWAY(ENHANCE_YOUR_CALM) and reads no more. */
    bool accepted = !sr_h2_session_done(server.s);
    side_free(&client);
    side_free(&server);
    return accepted;
}

static void a_settings_flood_is_refused(void **state)
{
    (void)state;
    assert_true(settings_accepted(64)); /* our limit, above nghttp2's default of 32 */
    assert_false(settings_accepted(65));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(settings_and_one_exchange),
        cmocka_unit_test(send_stops_at_the_high_watermark),
        cmocka_unit_test(goaway_ends_the_session),
        cmocka_unit_test(a_broken_peer_is_an_error_with_a_goaway),
        cmocka_unit_test(a_settings_flood_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
