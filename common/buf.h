/*
 * buf: the one growable byte buffer, and the one growth rule for arrays.
 *
 * A struct sr_buf has a ceiling fixed when it is set up: growing past it
 * fails with SR_ERR_TOO_LARGE (a caller answers 413, 431,
 * RESOURCE_EXHAUSTED or applies backpressure), never grows further. The
 * bytes are kept NUL-terminated (data[len] == 0 once anything was
 * appended), so text built in a buffer can be handed to C string
 * functions; the terminator does not count against the ceiling.
 *
 * sr_grow() is the same rule for arrays of any element type: capacity
 * doubles (from a first size) up to a maximum count.
 *
 * Ownership: the buffer owns data; sr_buf_take() hands it to the caller.
 * Not thread-safe: one owner at a time.
 */
#ifndef SR_BUF_H
#define SR_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct sr_buf {
    char *data; /* NULL until the first growth */
    size_t len;
    size_t cap; /* bytes allocated, the terminator's included */
    size_t max; /* ceiling on len */
};

/* An empty buffer that may hold up to max bytes. No allocation. */
void sr_buf_init(struct sr_buf *b, size_t max);
/* Frees the bytes; the buffer is empty (same ceiling) afterwards. */
void sr_buf_free(struct sr_buf *b);
/* Empties the buffer, keeping its memory. */
void sr_buf_reset(struct sr_buf *b);

/* Makes room for n more bytes: 0, SR_ERR_TOO_LARGE past the ceiling,
 * SR_ERR_NOMEM (the buffer is unchanged on failure). */
int sr_buf_reserve(struct sr_buf *b, size_t n);
/* Appends n bytes / a NUL-terminated string / printf-style text. Same
 * returns as sr_buf_reserve; nothing is appended on failure. */
int sr_buf_append(struct sr_buf *b, const void *p, size_t n);
int sr_buf_append_str(struct sr_buf *b, const char *s);
int sr_buf_appendf(struct sr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sr_buf_vappendf(struct sr_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* The free space after len, for writing in place (after sr_buf_reserve);
 * then sr_buf_commit(b, n) counts n of those bytes in. */
char *sr_buf_tail(struct sr_buf *b);
void sr_buf_commit(struct sr_buf *b, size_t n);
/* Drops the first n bytes (n <= len). */
void sr_buf_consume(struct sr_buf *b, size_t n);
/* Hands the bytes (NUL-terminated, possibly NULL when empty) to the
 * caller, who frees them with sr_free; the buffer is left empty. */
char *sr_buf_take(struct sr_buf *b, size_t *len);

/* Makes *items (of *cap elements of size each) hold at least need
 * elements: capacity doubles from first, capped at max. 0,
 * SR_ERR_TOO_LARGE when need > max, SR_ERR_NOMEM (items unchanged). */
int sr_grow(void **items, size_t *cap, size_t need, size_t size, size_t first, size_t max);
/* The capacity sr_grow() would give (cap <= need <= max): for a block a
 * caller lays out itself. */
size_t sr_grow_count(size_t cap, size_t need, size_t first, size_t max);

#endif
