/* tls_io: non-blocking TLS or cleartext I/O on one socket (see tls_io.h). */
#include "tls_io.h"

#include "common/err.h"

#include <errno.h>
#include <event2/buffer.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TLS_RECORD_BYTES (16 * 1024)
#define WRITE_IOVECS     64

/* OpenSSL's reason, or nothing when the peer just closed. */
static void set_why(struct sr_tls_io *io)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(io->why, sizeof(io->why), "%s", r ? r : "");
}

int sr_tls_io_init(struct sr_tls_io *io, int fd, struct ssl_st *ssl)
{
    memset(io, 0, sizeof(*io));
    io->fd = -1;
    if (ssl && SSL_set_fd(ssl, fd) != 1)
        return SR_ERR_NOMEM;
    io->fd = fd;
    io->ssl = ssl;
    io->handshaking = ssl != NULL;
    return SR_OK;
}

void sr_tls_io_close(struct sr_tls_io *io, bool notify)
{
    if (io->ssl) {
        if (notify && !io->handshaking)
            SSL_shutdown(io->ssl); /* close_notify, best effort */
        SSL_free(io->ssl);
        io->ssl = NULL;
    }
    if (io->fd >= 0) {
        close(io->fd);
        io->fd = -1;
    }
}

int sr_tls_io_handshake(struct sr_tls_io *io)
{
    if (!io->handshaking)
        return SR_TLS_IO_NONE;
    ERR_clear_error();
    int rc = SSL_do_handshake(io->ssl);
    if (rc == 1) {
        io->handshaking = false;
        return SR_TLS_IO_NONE;
    }
    switch (SSL_get_error(io->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return SR_TLS_IO_READ;
    case SSL_ERROR_WANT_WRITE:
        return SR_TLS_IO_WRITE;
    default:
        set_why(io);
        return SR_ERR_IO;
    }
}

ssize_t sr_tls_io_read(struct sr_tls_io *io, void *dst, size_t room)
{
    if (io->ssl == NULL) {
        ssize_t n = read(io->fd, dst, room);
        if (n > 0)
            return n;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        snprintf(io->why, sizeof(io->why), "%s", n == 0 ? "" : strerror(errno));
        return SR_ERR_IO;
    }
    ERR_clear_error();
    int n = SSL_read(io->ssl, dst, (int)(room > INT_MAX ? INT_MAX : room));
    if (n > 0)
        return n;
    int e = SSL_get_error(io->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    set_why(io);
    return SR_ERR_IO;
}

bool sr_tls_io_pending(const struct sr_tls_io *io)
{
    return io->ssl && !io->handshaking && SSL_pending(io->ssl) > 0;
}

/* TLS: a record at a time. */
static ssize_t write_tls(struct sr_tls_io *io, struct evbuffer *out)
{
    ssize_t written = 0;
    while (evbuffer_get_length(out) > 0) {
        size_t len = evbuffer_get_length(out);
        if (len > TLS_RECORD_BYTES)
            len = TLS_RECORD_BYTES;
        unsigned char *data = evbuffer_pullup(out, (ssize_t)len);
        if (data == NULL)
            return SR_ERR_NOMEM;
        ERR_clear_error();
        int n = SSL_write(io->ssl, data, (int)len);
        if (n > 0) {
            evbuffer_drain(out, (size_t)n);
            written += n;
            continue;
        }
        int e = SSL_get_error(io->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
            break;
        set_why(io);
        return SR_ERR_IO;
    }
    return written;
}

/* Cleartext: writev of the buffer's chunks (MSG_NOSIGNAL: a peer gone is
 * an error, not a signal). */
static ssize_t write_plain(struct sr_tls_io *io, struct evbuffer *out)
{
    ssize_t written = 0;
    while (evbuffer_get_length(out) > 0) {
        struct evbuffer_iovec v[WRITE_IOVECS];
        int n = evbuffer_peek(out, -1, NULL, v, WRITE_IOVECS);
        if (n > WRITE_IOVECS)
            n = WRITE_IOVECS;
        struct iovec iov[WRITE_IOVECS];
        for (int i = 0; i < n; i++)
            iov[i] = (struct iovec){v[i].iov_base, v[i].iov_len};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t sent = sendmsg(io->fd, &msg, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            snprintf(io->why, sizeof(io->why), "%s", strerror(errno));
            return SR_ERR_IO;
        }
        evbuffer_drain(out, (size_t)sent);
        written += sent;
    }
    return written;
}

ssize_t sr_tls_io_write(struct sr_tls_io *io, struct evbuffer *out)
{
    if (io->handshaking)
        return 0; /* nothing leaves before the handshake */
    return io->ssl ? write_tls(io, out) : write_plain(io, out);
}
