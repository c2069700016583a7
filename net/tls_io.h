/*
 * tls_io: the one I/O model for a connection's bytes, TLS or cleartext, on
 * a non-blocking socket the caller drives with its own readiness (libevent
 * read/write events, or poll for a blocking client).
 *
 * It owns the socket and, over TLS, the SSL object: the handshake step by
 * step (want-read / want-write reported, never waited for), reads into the
 * caller's buffer, writes from an evbuffer (cleartext: writev of what the
 * buffer holds; TLS: records of at most 16 KiB), and the close (a
 * close_notify first when asked and the handshake completed). Decrypted
 * bytes the socket no longer signals are reported by sr_tls_io_pending():
 * a caller that reads one buffer per readiness event must read again.
 *
 * Errors are negative enum sr_err: SR_ERR_IO for a peer that closed, reset
 * or failed the TLS handshake (why[] holds OpenSSL's or the system's reason
 * for a log line, empty when the peer just closed), and SR_ERR_NOMEM.
 *
 * Ownership: struct sr_tls_io is embedded in the caller's connection; after
 * sr_tls_io_init() it owns fd and ssl until sr_tls_io_close(). One thread.
 */
#ifndef SR_TLS_IO_H
#define SR_TLS_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct evbuffer;
struct ssl_st;

/* What the caller waits for before calling again. */
enum sr_tls_io_want {
    SR_TLS_IO_NONE = 0,  /* done: go on */
    SR_TLS_IO_READ = 1,  /* the socket readable */
    SR_TLS_IO_WRITE = 2, /* the socket writable */
};

struct sr_tls_io {
    int fd;             /* -1 when closed */
    struct ssl_st *ssl; /* NULL: cleartext */
    bool handshaking;   /* TLS: before the first application byte */
    char why[160];      /* the last failure's reason; "" when the peer just closed */
};

/* Takes fd (non-blocking, connected or accepted) and ssl (NULL for
 * cleartext; else already set to accept or connect state, not yet bound to
 * a socket). 0, or SR_ERR_NOMEM (nothing is taken then). */
int sr_tls_io_init(struct sr_tls_io *io, int fd, struct ssl_st *ssl);
/* Frees ssl and closes fd; sends a close_notify first (best effort) when
 * notify and the handshake was complete. Safe to call twice. */
void sr_tls_io_close(struct sr_tls_io *io, bool notify);

/* One handshake step: SR_TLS_IO_NONE when complete (at once for
 * cleartext), SR_TLS_IO_READ / SR_TLS_IO_WRITE to wait, or SR_ERR_IO. */
int sr_tls_io_handshake(struct sr_tls_io *io);

/* Reads at most room bytes into dst: the count (> 0), 0 when nothing is
 * available now (wait for readability), or SR_ERR_IO when the peer closed
 * or the connection failed. */
ssize_t sr_tls_io_read(struct sr_tls_io *io, void *dst, size_t room);
/* Decrypted bytes are waiting inside TLS (no readiness event will come). */
bool sr_tls_io_pending(const struct sr_tls_io *io);

/* Writes what out holds until it is empty or the socket is full; what was
 * written is drained from out. Returns the bytes written (0 when the socket
 * took nothing: wait for writability while out is not empty), or SR_ERR_IO
 * (out is left as it was past the failure). */
ssize_t sr_tls_io_write(struct sr_tls_io *io, struct evbuffer *out);

#endif
