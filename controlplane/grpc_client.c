/* grpc_client: a blocking gRPC client on net/h2_session and net/tls_io (see grpc_client.h). */
#include "grpc_client.h"

#include "grpc_wire.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "net/h2_session.h"
#include "net/tls_io.h"

#include <errno.h>
#include <event2/buffer.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESPONSE (64u * 1024 * 1024)

struct sr_grpc_client {
    struct sr_tls_io io;      /* the socket, TLS or cleartext (net/tls_io.h) */
    struct sr_h2_session *h2; /* net/h2_session.h */
    nghttp2_session *session; /* h2's, to submit frames */
    struct evbuffer *out;     /* bytes for the socket, filled by h2 */
    char authority[300];
    bool broken;
    char why[200];
    /* the call in progress */
    int32_t stream;
    const uint8_t *req; /* the framed request message */
    size_t req_len, req_off;
    struct sr_buf in; /* response bytes not yet delivered, up to MAX_RESPONSE */
    int http_status;
    int grpc_status; /* -1 until seen */
    char grpc_message[512];
    bool closed;
    bool stop;     /* the message callback asked to end */
    bool rst_sent; /* ... and the stream was cancelled */
    sr_grpc_message_cb cb;
    void *cb_arg;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- nghttp2 callbacks ---------------------------------------------------- */

static ssize_t read_request(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)id;
    (void)source;
    struct sr_grpc_client *c = user_data;
    size_t n = c->req_len - c->req_off;
    if (n > length)
        n = length;
    memcpy(buf, c->req + c->req_off, n);
    c->req_off += n;
    if (c->req_off == c->req_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Hands every complete message in the buffer to the callback. */
static void deliver(struct sr_grpc_client *c)
{
    const uint8_t *in = (const uint8_t *)c->in.data;
    size_t off = 0;
    uint32_t len;
    while (!c->stop && sr_grpc_announced_length(in + off, c->in.len - off, &len) &&
           c->in.len - off - SR_GRPC_PREFIX >= len) {
        if (c->cb && c->cb(c->cb_arg, in + off + SR_GRPC_PREFIX, len) != 0)
            c->stop = true;
        off += SR_GRPC_PREFIX + len;
    }
    sr_buf_consume(&c->in, off);
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *user_data)
{
    (void)session;
    (void)flags;
    struct sr_grpc_client *c = user_data;
    if (id != c->stream || c->stop)
        return 0;
    if (sr_buf_append(&c->in, data, len) != 0) {
        snprintf(c->grpc_message, sizeof(c->grpc_message), "response too large");
        c->grpc_status = SR_GRPC_RESOURCE_EXHAUSTED;
        c->stop = true;
        return 0;
    }
    deliver(c);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)session;
    (void)flags;
    struct sr_grpc_client *c = user_data;
    if (frame->hd.stream_id != c->stream)
        return 0;
    char v[512];
    size_t n = valuelen < sizeof(v) - 1 ? valuelen : sizeof(v) - 1;
    memcpy(v, value, n);
    v[n] = '\0';
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        c->http_status = atoi(v);
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        c->grpc_status = atoi(v);
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        n = sr_grpc_percent_decode(v, n);
        snprintf(c->grpc_message, sizeof(c->grpc_message), "%.*s", (int)n, v);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code,
                           void *user_data)
{
    (void)session;
    struct sr_grpc_client *c = user_data;
    if (id != c->stream)
        return 0;
    c->closed = true;
    if (c->grpc_status < 0 && error_code != NGHTTP2_NO_ERROR && !c->stop)
        snprintf(c->grpc_message, sizeof(c->grpc_message), "stream reset by the server (%s)",
                 nghttp2_http2_strerror(error_code));
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)session;
    struct sr_grpc_client *c = user_data;
    if (frame->hd.type == NGHTTP2_GOAWAY && c->stream > frame->goaway.last_stream_id &&
        !c->closed) {
        snprintf(c->grpc_message, sizeof(c->grpc_message), "the server is going away");
        c->grpc_status = SR_GRPC_UNAVAILABLE;
        c->closed = true;
    }
    return 0;
}

/* ---- connection ------------------------------------------------------------- */

static int connect_to(const char *host, const char *port, long timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(errno));
            close(fd);
            fd = -1;
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (poll(&p, 1, (int)timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
            snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port,
                     soerr ? strerror(soerr) : "timed out");
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

/* The TLS handshake on the connected socket, verifying the server's name. */
static int handshake(struct sr_grpc_client *c, SSL_CTX *tls, const char *host, long timeout_ms,
                     char *err, size_t errlen)
{
    SSL *ssl = SSL_new(tls);
    if (ssl == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    SSL_set_connect_state(ssl);
    SSL_set_tlsext_host_name(ssl, host);
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1)
        X509_VERIFY_PARAM_set1_host(param, host, 0);
    int fd = c->io.fd;
    c->io.fd = -1;
    if (sr_tls_io_init(&c->io, fd, ssl) != 0) { /* the socket stays the client's */
        SSL_free(ssl);
        c->io.fd = fd;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    long long deadline = now_ms() + timeout_ms;
    int want;
    while ((want = sr_tls_io_handshake(&c->io)) != SR_TLS_IO_NONE) {
        long long left = deadline - now_ms();
        if (want < 0 || left <= 0) {
            long verify = SSL_get_verify_result(ssl);
            if (verify != X509_V_OK)
                snprintf(err, errlen, "TLS: the server's certificate: %s",
                         X509_verify_cert_error_string(verify));
            else if (left <= 0)
                snprintf(err, errlen, "TLS handshake timed out");
            else
                snprintf(err, errlen, "TLS handshake failed: %s",
                         c->io.why[0] ? c->io.why : "connection closed");
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = want == SR_TLS_IO_READ ? POLLIN : POLLOUT};
        poll(&p, 1, (int)left);
    }
    const unsigned char *proto = NULL;
    unsigned int plen = 0;
    SSL_get0_alpn_selected(ssl, &proto, &plen);
    if (plen != 2 || memcmp(proto, "h2", 2) != 0) {
        snprintf(err, errlen, "TLS: the server did not agree to HTTP/2 (ALPN h2)");
        return -1;
    }
    return 0;
}

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return NULL;
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    return cbs;
}

struct sr_grpc_client *sr_grpc_client_connect(const char *host, const char *port, SSL_CTX *tls,
                                              long timeout_ms, char *err, size_t errlen)
{
    struct sr_grpc_client *c = sr_calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->io.fd = -1;
    sr_buf_init(&c->in, MAX_RESPONSE);
    int fd = connect_to(host, port, timeout_ms, err, errlen);
    if (fd < 0 || sr_tls_io_init(&c->io, fd, NULL) != 0) {
        if (fd >= 0)
            close(fd);
        sr_free(c);
        return NULL;
    }
    if (tls && handshake(c, tls, host, timeout_ms, err, errlen) != 0) {
        sr_grpc_client_free(c);
        return NULL;
    }
    snprintf(c->authority, sizeof(c->authority), "%s:%s", host, port);
    nghttp2_session_callbacks *cbs = make_callbacks();
    struct sr_h2_session_config h2cfg = {.client = true};
    c->out = evbuffer_new();
    if (cbs && c->out)
        c->h2 = sr_h2_session_new(&h2cfg, cbs, c, c->out);
    if (cbs)
        nghttp2_session_callbacks_del(cbs);
    if (c->h2 == NULL) {
        snprintf(err, errlen, "out of memory");
        sr_grpc_client_free(c);
        return NULL;
    }
    c->session = sr_h2_session_nghttp2(c->h2);
    return c;
}

void sr_grpc_client_free(struct sr_grpc_client *c)
{
    if (c == NULL)
        return;
    sr_h2_session_free(c->h2);
    sr_tls_io_close(&c->io, false);
    if (c->out)
        evbuffer_free(c->out);
    sr_buf_free(&c->in);
    sr_free(c);
}

/* Sends what the session has, as long as the socket takes it. false when
 * the connection failed (c->why says why). */
static bool flush(struct sr_grpc_client *c)
{
    for (;;) {
        long queued = sr_h2_session_send(c->h2);
        if (queued < 0) {
            snprintf(c->why, sizeof(c->why), "HTTP/2: %s", sr_h2_session_why(c->h2));
            return false;
        }
        size_t before = evbuffer_get_length(c->out);
        if (sr_tls_io_write(&c->io, c->out) < 0) {
            snprintf(c->why, sizeof(c->why), "%s: %s", c->io.ssl ? "TLS write" : "send",
                     c->io.why[0] ? c->io.why : "connection lost");
            return false;
        }
        /* Nothing was waiting, or the socket is full; else the session
         * may have more once the output had room. */
        if (before == 0 || evbuffer_get_length(c->out) > 0)
            return true;
    }
}

/* Sends what nghttp2 has and reads what arrives, until the call's stream
 * closed or the deadline (0 = none) passed. false on a passed deadline. */
static bool pump(struct sr_grpc_client *c, long long deadline)
{
    uint8_t buf[16384];
    while (!c->closed && !c->broken) {
        if (c->stop && !c->rst_sent) {
            nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, c->stream, NGHTTP2_CANCEL);
            c->rst_sent = true; /* the close follows */
            if (c->grpc_status < 0)
                c->grpc_status = SR_GRPC_OK;
        }
        if (!flush(c)) {
            c->broken = true;
            break;
        }
        if (c->closed)
            break; /* sending our RST_STREAM closed it */
        long long wait = -1;
        if (deadline) {
            wait = deadline - now_ms();
            if (wait <= 0)
                return false;
        }
        /* TLS may hold decrypted bytes the socket no longer shows. */
        if (!sr_tls_io_pending(&c->io)) {
            short events = POLLIN;
            if (evbuffer_get_length(c->out) > 0)
                events |= POLLOUT;
            struct pollfd p = {.fd = c->io.fd, .events = events};
            int n = poll(&p, 1, (int)(wait < 0 ? -1 : wait));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                snprintf(c->why, sizeof(c->why), "poll: %s", strerror(errno));
                c->broken = true;
                break;
            }
            if (n == 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
        }
        ssize_t got = sr_tls_io_read(&c->io, buf, sizeof(buf));
        if (got == 0)
            continue;
        if (got < 0) {
            snprintf(c->why, sizeof(c->why), "%s",
                     c->io.why[0] ? c->io.why : "the server closed the connection");
            c->broken = true;
            break;
        }
        if (sr_h2_session_recv(c->h2, buf, (size_t)got) < 0) {
            snprintf(c->why, sizeof(c->why), "HTTP/2 protocol error");
            c->broken = true;
        }
    }
    return true;
}

int sr_grpc_client_call(struct sr_grpc_client *c, const char *path, const char *token,
                        long timeout_ms, const ProtobufCMessage *req, sr_grpc_message_cb cb,
                        void *arg, char *msg, size_t msglen)
{
    if (c->broken) {
        snprintf(msg, msglen, "%s", c->why);
        return SR_GRPC_UNAVAILABLE;
    }
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *body = sr_malloc(len + SR_GRPC_PREFIX);
    if (body == NULL) {
        snprintf(msg, msglen, "out of memory");
        return SR_GRPC_RESOURCE_EXHAUSTED;
    }
    sr_grpc_prefix(body, (uint32_t)len);
    protobuf_c_message_pack(req, body + SR_GRPC_PREFIX);
    c->req = body;
    c->req_len = len + SR_GRPC_PREFIX;
    c->req_off = 0;
    sr_buf_reset(&c->in);
    c->http_status = 0;
    c->grpc_status = -1;
    c->grpc_message[0] = '\0';
    c->closed = c->stop = c->rst_sent = false;
    c->cb = cb;
    c->cb_arg = arg;

    char auth[600], timeout[16];
    nghttp2_nv hdrs[8];
    size_t n = 0;
#define NV(k, v)                                                                                   \
    hdrs[n++] =                                                                                    \
        (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE}
    NV(":method", "POST");
    NV(":scheme", c->io.ssl ? "https" : "http");
    NV(":path", path);
    NV(":authority", c->authority);
    NV("content-type", "application/grpc");
    NV("te", "trailers");
    if (timeout_ms > 0) {
        sr_grpc_format_timeout((uint64_t)timeout_ms, timeout);
        NV("grpc-timeout", timeout);
    }
    if (token) {
        snprintf(auth, sizeof(auth), "Bearer %s", token);
        NV("authorization", auth);
    }
#undef NV
    nghttp2_data_provider dp = {.read_callback = read_request};
    c->stream = nghttp2_submit_request(c->session, NULL, hdrs, n, &dp, NULL);
    int status;
    if (c->stream < 0) {
        snprintf(msg, msglen, "cannot start the call: %s", nghttp2_strerror(c->stream));
        status = SR_GRPC_INTERNAL;
    } else if (!pump(c, timeout_ms > 0 ? now_ms() + timeout_ms : 0)) {
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, c->stream, NGHTTP2_CANCEL);
        flush(c); /* best effort */
        snprintf(msg, msglen, "deadline exceeded after %ld ms", timeout_ms);
        status = SR_GRPC_DEADLINE_EXCEEDED;
    } else if (c->grpc_status >= 0) {
        snprintf(msg, msglen, "%s", c->grpc_message);
        status = c->grpc_status;
    } else if (c->broken) {
        snprintf(msg, msglen, "%s", c->why);
        status = SR_GRPC_UNAVAILABLE;
    } else if (c->http_status != 200 && c->http_status != 0) {
        snprintf(msg, msglen, "not a gRPC server (HTTP %d)", c->http_status);
        status = SR_GRPC_UNKNOWN;
    } else {
        snprintf(msg, msglen, "%s", c->grpc_message[0] ? c->grpc_message : "no grpc-status");
        status = SR_GRPC_UNKNOWN;
    }
    c->cb = NULL;
    c->req = NULL;
    sr_free(body);
    return status;
}
