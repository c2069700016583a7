/* tls_config: OpenSSL contexts from certificate files (see tls_config.h). */
#include "tls_config.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const unsigned char alpn_h2[] = {2, 'h', '2'};

/* The reason of OpenSSL's last error, or strerror for a missing file. */
static const char *why(void)
{
    unsigned long e = ERR_peek_last_error();
    static _Thread_local char buf[160];
    if (e == 0)
        return errno ? strerror(errno) : "unknown error";
    if (ERR_GET_LIB(e) == ERR_LIB_SYS)
        return strerror(ERR_GET_REASON(e));
    const char *r = ERR_reason_error_string(e);
    snprintf(buf, sizeof(buf), "%s", r ? r : "invalid file");
    return buf;
}

static int fail(char *err, size_t errlen, const char *what, const char *path)
{
    const char *reason;
    if (access(path, R_OK) != 0)
        reason = strerror(errno); /* OpenSSL would only say "system lib" */
    else if (strcmp(why(), "PEM lib") == 0 || strcmp(why(), "no start line") == 0)
        reason = "not a PEM file of that kind";
    else
        reason = why();
    snprintf(err, errlen, "%s %s: %s", what, path, reason);
    ERR_clear_error();
    return -1;
}

static const char *const only_h2[] = {"h2", NULL};

/* The server's preference first, among what the client offers. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    const char *const *ours = arg;
    for (size_t k = 0; ours[k]; k++) {
        size_t len = strlen(ours[k]);
        for (unsigned int i = 0; i < inlen && i + 1u + in[i] <= inlen; i += 1u + in[i]) {
            if (in[i] == len && memcmp(in + i + 1, ours[k], len) == 0) {
                *out = in + i + 1;
                *outlen = in[i];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* no protocol in common */
}

static int load(SSL_CTX *ctx, const struct sr_tls_files *files, char *err, size_t errlen)
{
    errno = 0;
    if (files->cert && SSL_CTX_use_certificate_chain_file(ctx, files->cert) != 1)
        return fail(err, errlen, "certificate", files->cert);
    errno = 0;
    if (files->key && SSL_CTX_use_PrivateKey_file(ctx, files->key, SSL_FILETYPE_PEM) != 1)
        return fail(err, errlen, "private key", files->key);
    if (files->cert && files->key && SSL_CTX_check_private_key(ctx) != 1)
        return fail(err, errlen, "private key", files->key);
    errno = 0;
    if (files->ca && SSL_CTX_load_verify_locations(ctx, files->ca, NULL) != 1)
        return fail(err, errlen, "CA file", files->ca);
    return 0;
}

static SSL_CTX *base_ctx(const SSL_METHOD *method, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context: %s", why());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* TLS 1.2: forward-secret AEAD suites only; TLS 1.3's defaults are. */
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    return ctx;
}

SSL_CTX *sr_tls_server_ctx(const struct sr_tls_files *files, char *err, size_t errlen)
{
    if (files->cert == NULL || files->key == NULL) {
        snprintf(err, errlen, "TLS needs both a certificate and its private key");
        return NULL;
    }
    SSL_CTX *ctx = base_ctx(TLS_server_method(), err, errlen);
    if (ctx == NULL)
        return NULL;
    if (load(ctx, files, err, errlen) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (files->ca)
        SSL_CTX_set_verify(ctx,
                           SSL_VERIFY_PEER |
                               (files->require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"sglang-router", 13);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, (void *)(files->alpn ? files->alpn : only_h2));
    return ctx;
}

SSL_CTX *sr_tls_client_ctx(const struct sr_tls_files *files, char *err, size_t errlen)
{
    if ((files->cert == NULL) != (files->key == NULL)) {
        snprintf(err, errlen,
                 "a client certificate needs its private key, and the key its certificate");
        return NULL;
    }
    SSL_CTX *ctx = base_ctx(TLS_client_method(), err, errlen);
    if (ctx == NULL)
        return NULL;
    if (load(ctx, files, err, errlen) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (files->ca == NULL)
        SSL_CTX_set_default_verify_paths(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_alpn_protos(ctx, alpn_h2, sizeof(alpn_h2));
    return ctx;
}
