/*
 * conn: one client connection, from accept to close, on the loop that
 * accepted it: the socket and TLS on net/tls_io (non-blocking handshake,
 * records written 16 KiB at a time; plain HTTP on the TLS port answered
 * 400), timeouts,
 * writes coalesced once per event (writev), backpressure. The bytes it
 * reads go to the connection's protocol: HTTP/1 (h1.h) by default, HTTP/2
 * (h2.h) when the client says so (ALPN h2, or the cleartext preface).
 * The protocols queue their output in the connection's buffer and ask it
 * to write, to arm its timer or to close.
 *
 * Reads land in the loop's scratch buffer; only bytes a protocol must
 * keep (pipelined requests behind a busy one) are held per connection.
 *
 * A connection never frees itself inside a call from outside: closes go
 * through its own event. When it closes, the protocol tells the
 * exchanges answering its requests (their gone callbacks) first.
 *
 * Backpressure: the protocol's replies tell the proxy whether the output
 * is past a mark (budget.h); writing it below the low watermark resumes
 * them. Over the router's buffer budget, sr_client_reap_stalled() closes
 * the clients that hold the most and have read nothing for the grace
 * period.
 *
 * Ownership: the loop's list (l->conns) links its connections; each is
 * freed by conn.c only. One loop, one thread.
 */
#ifndef SR_CONN_H
#define SR_CONN_H

#include <stdbool.h>
#include <stddef.h>

struct sr_loop;
struct sr_client;
struct sockaddr;

/* Accepts a new client socket on l (fd is owned from now on). */
void sr_client_accept(struct sr_loop *l, int fd, const struct sockaddr *addr);

/* Drain: idle connections close now; busy ones after their responses
 * (HTTP/2: GOAWAY, open streams finish). */
void sr_client_drain(struct sr_client *c);
/* Force: close now, cancelling what is in flight. */
void sr_client_close_now(struct sr_client *c);
struct sr_client *sr_client_next(const struct sr_client *c);

/* Over the buffer budget: closes l's connections that hold more than
 * SR_BUDGET_MARK_LOW response bytes and wrote nothing for
 * --slow-client-grace-secs, the largest first, while the router stays over
 * budget. Returns how many were closed. From l's thread, outside any
 * connection's callback. */
size_t sr_client_reap_stalled(struct sr_loop *l);

#endif
