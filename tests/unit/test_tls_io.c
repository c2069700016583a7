/* Tests for net/tls_io over a socketpair: cleartext and TLS (a certificate
 * made here in memory): the handshake stepped on both sides, an evbuffer
 * larger than a TLS record and than the socket's buffer written and read
 * back, would-block reported as 0, and a peer's close as SR_ERR_IO with
 * an empty reason. */
#include "net/tls_io.h"

#include "common/err.h"

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define PAYLOAD (300 * 1024)

static void pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
}

/* Writes out from a to b while reading on b, until everything arrived;
 * returns the bytes read. */
static size_t transfer(struct sr_tls_io *a, struct evbuffer *out, struct sr_tls_io *b)
{
    static char buf[64 * 1024];
    size_t got = 0;
    for (int i = 0; i < 10000 && (evbuffer_get_length(out) > 0 || got < PAYLOAD); i++) {
        assert_true(sr_tls_io_write(a, out) >= 0);
        ssize_t n;
        while ((n = sr_tls_io_read(b, buf, sizeof(buf))) > 0) {
            for (ssize_t k = 0; k < n; k++)
                assert_int_equal(buf[k], (char)('a' + (got + (size_t)k) % 26));
            got += (size_t)n;
        }
        assert_int_equal(n, 0); /* nothing more now: not an error */
    }
    return got;
}

static struct evbuffer *payload(void)
{
    struct evbuffer *out = evbuffer_new();
    for (size_t i = 0; i < PAYLOAD; i++) {
        char ch = (char)('a' + i % 26);
        evbuffer_add(out, &ch, 1);
    }
    return out;
}

static void cleartext(void **state)
{
    (void)state;
    int fds[2];
    pair(fds);
    struct sr_tls_io a, b;
    assert_int_equal(sr_tls_io_init(&a, fds[0], NULL), 0);
    assert_int_equal(sr_tls_io_init(&b, fds[1], NULL), 0);
    assert_int_equal(sr_tls_io_handshake(&a), SR_TLS_IO_NONE);
    struct evbuffer *out = payload();
    assert_int_equal(transfer(&a, out, &b), PAYLOAD);
    assert_false(sr_tls_io_pending(&b));
    sr_tls_io_close(&a, true);
    char c;
    assert_int_equal(sr_tls_io_read(&b, &c, 1), SR_ERR_IO);
    assert_string_equal(b.why, "");
    evbuffer_add(out, "x", 1);
    assert_int_equal(sr_tls_io_write(&b, out), SR_ERR_IO); /* no SIGPIPE either */
    sr_tls_io_close(&b, false);
    sr_tls_io_close(&b, false); /* twice is fine */
    evbuffer_free(out);
}

/* A server context with a fresh self-signed P-256 certificate. */
static SSL_CTX *server_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    assert_non_null(key);
    assert_non_null(cert);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

static void over_tls(void **state)
{
    (void)state;
    SSL_CTX *sctx = server_ctx();
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method()); /* verifies nothing: a test */
    int fds[2];
    pair(fds);
    SSL *sssl = SSL_new(sctx), *cssl = SSL_new(cctx);
    SSL_set_accept_state(sssl);
    SSL_set_connect_state(cssl);
    struct sr_tls_io s, c;
    assert_int_equal(sr_tls_io_init(&s, fds[0], sssl), 0);
    assert_int_equal(sr_tls_io_init(&c, fds[1], cssl), 0);
    struct evbuffer *out = payload();
    assert_int_equal(sr_tls_io_write(&c, out), 0); /* nothing before the handshake */
    int rs = -1, rc = -1;
    for (int i = 0; i < 100 && (rs != SR_TLS_IO_NONE || rc != SR_TLS_IO_NONE); i++) {
        rc = sr_tls_io_handshake(&c);
        rs = sr_tls_io_handshake(&s);
        assert_true(rc >= 0 && rs >= 0);
    }
    assert_int_equal(rs, SR_TLS_IO_NONE);
    assert_int_equal(rc, SR_TLS_IO_NONE);
    assert_false(s.handshaking);
    assert_int_equal(transfer(&c, out, &s), PAYLOAD);
    /* One record, read a byte at a time: the rest waits inside TLS. */
    evbuffer_add(out, "abc", 3);
    assert_int_equal(sr_tls_io_write(&c, out), 3);
    char ch;
    assert_int_equal(sr_tls_io_read(&s, &ch, 1), 1);
    assert_true(sr_tls_io_pending(&s));
    char rest[2];
    assert_int_equal(sr_tls_io_read(&s, rest, 2), 2);
    assert_false(sr_tls_io_pending(&s));
    sr_tls_io_close(&c, true); /* close_notify */
    assert_int_equal(sr_tls_io_read(&s, &ch, 1), SR_ERR_IO);
    assert_string_equal(s.why, "");
    sr_tls_io_close(&s, false);
    evbuffer_free(out);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void a_failed_handshake_says_why(void **state)
{
    (void)state;
    SSL_CTX *sctx = server_ctx();
    int fds[2];
    pair(fds);
    SSL *sssl = SSL_new(sctx);
    SSL_set_accept_state(sssl);
    struct sr_tls_io s;
    assert_int_equal(sr_tls_io_init(&s, fds[0], sssl), 0);
    static const char plain[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fds[1], plain, sizeof(plain) - 1, 0), (ssize_t)sizeof(plain) - 1);
    assert_int_equal(sr_tls_io_handshake(&s), SR_ERR_IO);
    assert_string_not_equal(s.why, "");
    sr_tls_io_close(&s, true); /* no close_notify before the handshake */
    close(fds[1]);
    SSL_CTX_free(sctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cleartext),
        cmocka_unit_test(over_tls),
        cmocka_unit_test(a_failed_handshake_says_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
