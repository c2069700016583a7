/*
 * tls_config: OpenSSL contexts built from certificate files, with the
 * checks and messages every TLS listener or client of the project needs:
 * TLS 1.2 minimum, modern ciphers only, a certificate chain and its key
 * (checked to match), an optional CA to verify the peer with, ALPN. Errors
 * are one line naming the file at fault.
 *
 * The contexts are OpenSSL's own (reference counted, thread-safe once
 * built); nothing here touches a socket.
 */
#ifndef SR_TLS_CONFIG_H
#define SR_TLS_CONFIG_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

struct sr_tls_files {
    const char *cert; /* PEM, full chain; NULL for a client without one */
    const char *key;  /* PEM private key of cert */
    const char *ca;   /* PEM CA bundle to verify the peer with, or NULL */
    /* Servers: a client must present a certificate ca verifies (mutual
     * TLS); without it, one it presents is still verified. */
    bool require_client_cert;
    /* Servers: the ALPN protocols accepted, in order of preference
     * (NULL-terminated; NULL = "h2" only, for gRPC). A client offering none
     * of them is refused; one offering no ALPN at all gets the first. */
    const char *const *alpn;
};

/* A server context: cert and key required; ca as above. NULL with a
 * one-line reason in err. */
SSL_CTX *sr_tls_server_ctx(const struct sr_tls_files *files, char *err, size_t errlen);

/* A client context: verifies the server against ca (or the system's
 * store when ca is NULL); presents cert/key when given; offers ALPN "h2".
 * NULL with a one-line reason in err. */
SSL_CTX *sr_tls_client_ctx(const struct sr_tls_files *files, char *err, size_t errlen);

#endif
