/* forward: request and response heads across the proxy, SSE events (see forward.h). */
#include "forward.h"

#include "common/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool name_is(const struct sr_http_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

/* Hop-by-hop headers (RFC 9110 §7.6.1), the framing we set ourselves, and
 * any header the Connection header names. A name that is not a token
 * (never from our codecs, which reject them) is dropped too: a spelling
 * such as "Transfer-Encoding " must not reach a peer that trims it. */
bool sr_forward_hop_by_hop(const struct sr_http_header *h, const struct sr_http_header *all,
                           size_t n)
{
    if (!sr_http_is_token(h->name, h->name_len))
        return true;
    static const char *const names[] = {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (name_is(h, names[i]))
            return true;
    for (size_t i = 0; i < n; i++) {
        if (!name_is(&all[i], "connection"))
            continue;
        char token[64];
        if (h->name_len >= sizeof(token))
            continue;
        memcpy(token, h->name, h->name_len);
        token[h->name_len] = '\0';
        if (sr_h1_token_list_has(all[i].value, all[i].value_len, token))
            return true;
    }
    return false;
}

int sr_forward_request_head(struct sr_buf *out, const struct sr_request *r,
                            const struct sr_url *url, const char *request_id,
                            bool drop_authorization, size_t body_len)
{
    char line[512];
    int rc = 0;
    sr_buf_reset(out);
    rc |= sr_buf_append_str(out, r->method);
    rc |= sr_buf_append(out, " ", 1);
    rc |= sr_buf_append_str(out, url->base_path);
    rc |= sr_buf_append(out, r->path, r->path_len);
    if (r->query) {
        rc |= sr_buf_append(out, "?", 1);
        rc |= sr_buf_append(out, r->query, r->query_len);
    }
    char authority[300];
    sr_url_authority(url, authority, sizeof(authority));
    snprintf(line, sizeof(line), " HTTP/1.1\r\nHost: %s\r\n", authority);
    rc |= sr_buf_append_str(out, line);
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct sr_http_header *h = &r->headers[i];
        /* X-Request-Id: exactly one goes out, ours (the client's when it is
         * safe to forward, else a fresh one). */
        if (sr_forward_hop_by_hop(h, r->headers, r->nheaders) || name_is(h, "host") ||
            name_is(h, "expect") || name_is(h, "http2-settings") || name_is(h, "x-request-id"))
            continue;
        /* A key the router checked was meant for the router: workers never
         * see it. Without router keys the client's header passes through. */
        if (drop_authorization && name_is(h, "authorization"))
            continue;
        rc |= sr_buf_append(out, h->name, h->name_len);
        rc |= sr_buf_append(out, ": ", 2);
        rc |= sr_buf_append(out, h->value, h->value_len);
        rc |= sr_buf_append(out, "\r\n", 2);
    }
    snprintf(line, sizeof(line), "X-Request-Id: %s\r\n", request_id);
    rc |= sr_buf_append_str(out, line);
    if (body_len > 0 || strcmp(r->method, "POST") == 0) {
        snprintf(line, sizeof(line), "Content-Length: %zu\r\n", body_len);
        rc |= sr_buf_append_str(out, line);
    }
    rc |= sr_buf_append(out, "\r\n", 2);
    return rc ? SR_ERR_NOMEM : 0;
}

size_t sr_forward_response_head(const struct sr_h1_response *resp, const char *request_id,
                                char *lines, size_t cap)
{
    size_t used = 0;
    bool has_id = false;
    for (size_t i = 0; i < resp->nheaders; i++) {
        const struct sr_http_header *h = &resp->headers[i];
        if (sr_forward_hop_by_hop(h, resp->headers, resp->nheaders))
            continue;
        if (name_is(h, "x-request-id"))
            has_id = true;
        size_t need = h->name_len + h->value_len + 4;
        if (used + need > cap - 128)
            break; /* oversized headers are cut, not overflowed */
        memcpy(lines + used, h->name, h->name_len);
        used += h->name_len;
        memcpy(lines + used, ": ", 2);
        used += 2;
        memcpy(lines + used, h->value, h->value_len);
        used += h->value_len;
        memcpy(lines + used, "\r\n", 2);
        used += 2;
    }
    if (!has_id)
        used += (size_t)snprintf(lines + used, cap - used, "X-Request-Id: %s\r\n", request_id);
    return used;
}

/* The byte k (1 or 2) places before data[i], from earlier chunks if need be. */
static char byte_before(const struct sr_sse_counter *c, const char *data, size_t i, size_t k)
{
    return i >= k ? data[i - k] : c->tail[k - i - 1];
}

long sr_sse_count(struct sr_sse_counter *c, const char *data, size_t len)
{
    long n = 0;
    for (const char *nl = data, *end = data + len;
         nl < end && (nl = memchr(nl, '\n', (size_t)(end - nl))) != NULL; nl++) {
        size_t i = (size_t)(nl - data);
        char b1 = byte_before(c, data, i, 1);
        if (b1 == '\n' || (b1 == '\r' && byte_before(c, data, i, 2) == '\n'))
            n++;
    }
    if (len >= 2) {
        c->tail[1] = data[len - 2];
        c->tail[0] = data[len - 1];
    } else if (len == 1) {
        c->tail[1] = c->tail[0];
        c->tail[0] = data[0];
    }
    return n;
}
