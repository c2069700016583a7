/*
 * h2_session: the one HTTP/2 session layer (nghttp2), server or client side,
 * under the router's public port (dataplane/h2.c), the gRPC admin server
 * (controlplane/grpc_server.c) and sglctl's gRPC client
 * (controlplane/grpc_client.c).
 *
 * It owns what the three share: the nghttp2_option set (bounded SETTINGS
 * entries, bounded CONTINUATION frames, the rapid-reset limit: the known
 * HTTP/2 floods, on every session), the SETTINGS we announce first, and the
 * receive/send pump over any transport. Bytes read from the peer go in
 * through sr_h2_session_recv(); what nghttp2 has to send is serialized
 * (nghttp2_session_mem_send) into the caller's output evbuffer, up to a
 * high watermark, by sr_h2_session_send(); the caller writes that buffer
 * to its transport (net/tls_io.h) and calls send again when it drained.
 *
 * The rule "never call nghttp2_session_send/recv from inside nghttp2's
 * callbacks" lives here: a send asked for while recv or send is running
 * (a stream callback finishing a response) is remembered and done when the
 * outermost call returns.
 *
 * Callers keep their own nghttp2 callbacks (streams, headers, data) and
 * their own user_data; they submit frames (responses, requests, RST_STREAM)
 * on the nghttp2_session from sr_h2_session_nghttp2(), then call send.
 *
 * Ownership: the layer owns the nghttp2_session; out and the callbacks'
 * user_data are the caller's and must outlive the session. The callbacks
 * object is copied by nghttp2 at creation. One session per connection, one
 * thread.
 */
#ifndef SR_H2_SESSION_H
#define SR_H2_SESSION_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct sr_h2_session;

/* Per-use values; the rest of the options are the same for every session. */
struct sr_h2_session_config {
    bool client; /* the client side (sends the connection preface), else the server */
    /* SETTINGS_MAX_CONCURRENT_STREAMS and SETTINGS_MAX_HEADER_LIST_SIZE we
     * announce to the peer; 0 leaves the protocol's default. */
    uint32_t max_concurrent_streams;
    uint32_t max_header_list;
    /* sr_h2_session_send() stops filling out at this many bytes (0: 64 KiB). */
    size_t out_high_water;
};

/* A session with its SETTINGS queued (sent by the first
 * sr_h2_session_send). NULL when out of memory. */
struct sr_h2_session *sr_h2_session_new(const struct sr_h2_session_config *cfg,
                                        const nghttp2_session_callbacks *cbs, void *user_data,
                                        struct evbuffer *out);
/* Deletes the nghttp2 session (its stream close callbacks do not run).
 * Accepts NULL. */
void sr_h2_session_free(struct sr_h2_session *s);

/* The nghttp2 session, to submit frames and read stream state. Owned by s. */
nghttp2_session *sr_h2_session_nghttp2(struct sr_h2_session *s);

/* Feeds len bytes from the peer to nghttp2, then sends what it queued (a
 * GOAWAY after a protocol error too). 0, or a negative enum sr_err: the
 * connection must close once the output is written (SR_ERR_INVALID: the
 * peer broke the protocol; SR_ERR_NOMEM). */
int sr_h2_session_recv(struct sr_h2_session *s, const uint8_t *data, size_t len);
/* Serializes what nghttp2 has to send into out, until out holds the high
 * watermark or nothing is left. Returns the bytes added (a deferred call
 * from inside a callback returns 0), or a negative enum sr_err when the
 * session failed (the connection must close). */
long sr_h2_session_send(struct sr_h2_session *s);

/* Nothing more will be read or sent (both sides ended, or GOAWAY and no
 * streams left): once out is written, the connection may close. */
bool sr_h2_session_done(struct sr_h2_session *s);
/* Graceful stop: GOAWAY(NO_ERROR) naming the last stream processed; open
 * streams finish. Queued only: send it. */
int sr_h2_session_goaway(struct sr_h2_session *s);
/* Ends the session at once: GOAWAY with error_code (an NGHTTP2_* error
 * code), then nothing more is read. Queued only: send it. */
int sr_h2_session_terminate(struct sr_h2_session *s, uint32_t error_code);

/* nghttp2's words for the last failure of recv or send, for a log line. */
const char *sr_h2_session_why(const struct sr_h2_session *s);

/* An nghttp2 library error code as an enum sr_err. */
int sr_h2_err(int nghttp2_rc);

#endif
