/*
 * grpc_client: a small blocking gRPC client over HTTP/2 (net/h2_session and
 * net/tls_io on a socket driven by poll: TLS with ALPN h2, optionally
 * presenting a client certificate, or cleartext h2c with prior knowledge),
 * for sglctl. One connection, one call at a time; unary and
 * server-streaming calls; a deadline per call (sent as grpc-timeout and
 * enforced locally: the stream is reset when it passes).
 */
#ifndef SR_GRPC_CLIENT_H
#define SR_GRPC_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

struct sr_grpc_client;

struct ssl_ctx_st;

/* Connects to host:port within timeout_ms, over TLS when tls is not NULL
 * (the server's certificate is verified against host). NULL with a
 * one-line reason. */
struct sr_grpc_client *sr_grpc_client_connect(const char *host, const char *port,
                                              struct ssl_ctx_st *tls, long timeout_ms, char *err,
                                              size_t errlen);
void sr_grpc_client_free(struct sr_grpc_client *c);

/* Called with each response message (packed); return non-zero to end the
 * call early (it is then cancelled and reported as OK). */
typedef int (*sr_grpc_message_cb)(void *arg, const uint8_t *data, size_t len);

/* Makes one call to path ("/package.Service/Method") with request packed
 * from req, a bearer token (or NULL) and a deadline (0 = none). Returns the
 * gRPC status (enum sr_grpc_status: transport failures are UNAVAILABLE,
 * a passed deadline DEADLINE_EXCEEDED, a non-gRPC answer UNKNOWN) and the
 * status message in msg. */
int sr_grpc_client_call(struct sr_grpc_client *c, const char *path, const char *token,
                        long timeout_ms, const ProtobufCMessage *req, sr_grpc_message_cb cb,
                        void *arg, char *msg, size_t msglen);

#endif
