/* url: worker URL parsing (see url.h). */
#include "url.h"

#include "alloc.h"
#include "err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

static bool is_ipv6_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

static int fail(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return SR_ERR_INVALID;
}

/* Parses the port digits p[0, n) into *port. */
static int parse_port(const char *p, size_t n, uint16_t *port)
{
    if (n == 0 || n > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int sr_url_parse(const char *text, size_t len, struct sr_url *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(reason, "contains whitespace or control characters");
    }

    const char *p = text, *end = text + len;
    if (len >= 7 && strncasecmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (len >= 8 && strncasecmp(p, "https://", 8) == 0) {
        out->tls = true;
        p += 8;
    } else {
        return fail(reason, "must start with http:// or https://");
    }

    if (memchr(p, '?', (size_t)(end - p)) || memchr(p, '#', (size_t)(end - p)))
        return fail(reason, "query strings and fragments are not allowed");
    const char *auth_end = p;
    while (auth_end < end && *auth_end != '/')
        auth_end++;
    if (memchr(p, '@', (size_t)(auth_end - p)) != NULL)
        return fail(reason, "user info is not allowed");

    const char *host = p, *host_end, *port_text = NULL;
    if (p < auth_end && *p == '[') {
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (host_end == NULL)
            return fail(reason, "unterminated IPv6 address");
        for (const char *c = host; c < host_end; c++)
            if (!is_ipv6_char((unsigned char)*c))
                return fail(reason, "bad character in IPv6 address");
        if (host_end + 1 < auth_end) {
            if (host_end[1] != ':')
                return fail(reason, "unexpected text after IPv6 address");
            port_text = host_end + 2;
        }
    } else {
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (host_end != NULL)
            port_text = host_end + 1;
        else
            host_end = auth_end;
        for (const char *c = host; c < host_end; c++)
            if (!is_host_char((unsigned char)*c))
                return fail(reason, "bad character in host name");
    }
    if (host_end == host)
        return fail(reason, "empty host");
    if (host_end - host > SR_URL_MAX_HOST)
        return fail(reason, "host name longer than 253 characters");

    out->port = out->tls ? 443 : 80;
    if (port_text != NULL && parse_port(port_text, (size_t)(auth_end - port_text), &out->port) != 0)
        return fail(reason, "port must be a number between 1 and 65535");

    size_t path_len = (size_t)(end - auth_end);
    while (path_len > 0 && auth_end[path_len - 1] == '/')
        path_len--;

    out->host = sr_strndup(host, (size_t)(host_end - host));
    out->base_path = sr_strndup(auth_end, path_len);
    size_t cap = strlen("https://[]:65535") + (size_t)(host_end - host) + path_len + 1;
    out->canonical = sr_malloc(cap);
    if (out->host == NULL || out->base_path == NULL || out->canonical == NULL) {
        sr_url_clear(out);
        return SR_ERR_NOMEM;
    }
    for (char *c = out->host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    bool v6 = strchr(out->host, ':') != NULL;
    snprintf(out->canonical, cap, "%s://%s%s%s:%u%s", out->tls ? "https" : "http", v6 ? "[" : "",
             out->host, v6 ? "]" : "", (unsigned)out->port, out->base_path);
    return 0;
}

void sr_url_clear(struct sr_url *url)
{
    if (url == NULL)
        return;
    sr_free(url->host);
    sr_free(url->base_path);
    sr_free(url->canonical);
    memset(url, 0, sizeof(*url));
}

void sr_url_authority(const struct sr_url *url, char *out, size_t len)
{
    bool v6 = strchr(url->host, ':') != NULL;
    snprintf(out, len, "%s%s%s:%u", v6 ? "[" : "", url->host, v6 ? "]" : "", (unsigned)url->port);
}
