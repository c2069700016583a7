/* h1_head: one HTTP/1 message's header block, collected in pieces (see h1_head.h). */
#include "h1_head.h"

#include "common/alloc.h"
#include "common/err.h"

struct sr_h1_head_span {
    size_t name_off, name_len;
    size_t value_off, value_len;
};

void sr_h1_head_init(struct sr_h1_head *h, size_t max_bytes, size_t max_headers)
{
    sr_buf_init(&h->bytes, max_bytes);
    h->spans = NULL;
    h->headers = NULL;
    h->n = h->cap = 0;
    h->max_headers = max_headers;
    h->in_value = false;
}

void sr_h1_head_free(struct sr_h1_head *h)
{
    sr_buf_free(&h->bytes);
    sr_free(h->spans);
    sr_free(h->headers);
    sr_h1_head_init(h, h->bytes.max, h->max_headers);
}

void sr_h1_head_reset(struct sr_h1_head *h)
{
    sr_buf_reset(&h->bytes);
    h->n = 0;
    h->in_value = false;
}

int sr_h1_head_add(struct sr_h1_head *h, const char *at, size_t len)
{
    int rc = sr_buf_append(&h->bytes, at, len);
    return rc == SR_ERR_TOO_LARGE ? SR_H1_HEAD_TOO_LARGE : rc;
}

int sr_h1_head_name(struct sr_h1_head *h, const char *at, size_t len)
{
    if (h->n == 0 || h->in_value) {
        if (h->n == h->max_headers)
            return SR_H1_HEAD_TOO_MANY;
        /* spans and headers grow together (one capacity for both) */
        size_t cap = h->cap;
        if (sr_grow((void **)&h->spans, &cap, h->n + 1, sizeof(*h->spans), 16, h->max_headers) !=
                0 ||
            sr_grow((void **)&h->headers, &h->cap, h->n + 1, sizeof(*h->headers), 16,
                    h->max_headers) != 0)
            return SR_ERR_NOMEM;
        h->spans[h->n++] = (struct sr_h1_head_span){.name_off = h->bytes.len};
        h->in_value = false;
    }
    h->spans[h->n - 1].name_len += len;
    return sr_h1_head_add(h, at, len);
}

int sr_h1_head_value(struct sr_h1_head *h, const char *at, size_t len)
{
    if (h->n == 0)
        return 0; /* the parser never gives a value before a name */
    struct sr_h1_head_span *s = &h->spans[h->n - 1];
    if (!h->in_value) {
        s->value_off = h->bytes.len;
        h->in_value = true;
    }
    s->value_len += len;
    return sr_h1_head_add(h, at, len);
}

struct sr_http_header *sr_h1_head_finish(struct sr_h1_head *h, size_t *n)
{
    for (size_t i = 0; i < h->n; i++) {
        const struct sr_h1_head_span *s = &h->spans[i];
        h->headers[i] = (struct sr_http_header){h->bytes.data + s->name_off, s->name_len,
                                                h->bytes.data + s->value_off, s->value_len};
    }
    *n = h->n;
    return h->headers;
}
