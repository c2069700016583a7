/* buf: the bounded byte buffer and the array growth rule (buf.h). */
#include "buf.h"

#include "alloc.h"
#include "err.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void sr_buf_init(struct sr_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sr_buf_free(struct sr_buf *b)
{
    sr_free(b->data);
    sr_buf_init(b, b->max);
}

void sr_buf_reset(struct sr_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

size_t sr_grow_count(size_t cap, size_t need, size_t first, size_t max)
{
    size_t n = cap ? cap : (first ? first : 1);
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    return n > max ? max : n;
}

int sr_grow(void **items, size_t *cap, size_t need, size_t size, size_t first, size_t max)
{
    if (need <= *cap)
        return 0;
    if (need > max || size == 0 || need > SIZE_MAX / size)
        return SR_ERR_TOO_LARGE;
    size_t n = sr_grow_count(*cap, need, first, max);
    if (n > SIZE_MAX / size)
        n = need;
    void *p = sr_realloc(*items, n * size);
    if (p == NULL)
        return SR_ERR_NOMEM;
    *items = p;
    *cap = n;
    return 0;
}

int sr_buf_reserve(struct sr_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n || b->len + n == SIZE_MAX)
        return SR_ERR_TOO_LARGE;
    size_t need = b->len + n + 1; /* the terminator */
    if (need <= b->cap)
        return 0;
    size_t limit = b->max == SIZE_MAX ? SIZE_MAX : b->max + 1;
    int rc = sr_grow((void **)&b->data, &b->cap, need, 1, 256, limit);
    if (rc == 0 && b->len == 0)
        b->data[0] = '\0';
    return rc;
}

char *sr_buf_tail(struct sr_buf *b)
{
    return b->data + b->len;
}

void sr_buf_commit(struct sr_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

int sr_buf_append(struct sr_buf *b, const void *p, size_t n)
{
    int rc = sr_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    sr_buf_commit(b, n);
    return 0;
}

int sr_buf_append_str(struct sr_buf *b, const char *s)
{
    return sr_buf_append(b, s, strlen(s));
}

int sr_buf_vappendf(struct sr_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    char probe[1];
    int n = vsnprintf(probe, 0, fmt, ap);
    if (n < 0) {
        va_end(again);
        return SR_ERR_INVALID;
    }
    int rc = sr_buf_reserve(b, (size_t)n);
    if (rc == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    return rc;
}

int sr_buf_appendf(struct sr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sr_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void sr_buf_consume(struct sr_buf *b, size_t n)
{
    if (n >= b->len) {
        sr_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *sr_buf_take(struct sr_buf *b, size_t *len)
{
    char *p = b->data;
    if (len != NULL)
        *len = b->len;
    sr_buf_init(b, b->max);
    return p;
}
