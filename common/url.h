/*
 * url: parsing and validation of worker URLs ("http://host:port[/base]").
 *
 * Accepted: scheme http or https (case-insensitive), a host that is a DNS
 * name, an IPv4 address or a bracketed IPv6 address, an optional port in
 * [1, 65535] (default 80 / 443) and an optional base path. Rejected, with a
 * reason: other schemes, user info, query, fragment, whitespace or control
 * characters, empty host, bad port.
 *
 * Ownership: struct sr_url owns its strings; release with sr_url_clear().
 */
#ifndef SR_URL_H
#define SR_URL_H

/* The longest host name (RFC 1035: 253 characters in text form). */
#define SR_URL_MAX_HOST 253

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_url {
    bool tls;        /* https */
    char *host;      /* without brackets for IPv6 */
    uint16_t port;   /* explicit or the scheme's default */
    char *base_path; /* "" or "/prefix" without a trailing slash */
    char *canonical; /* "http://host:port/prefix": same worker => same string */
};

/* Parses text[0, len). On failure returns SR_ERR_INVALID (or SR_ERR_NOMEM)
 * and, if reason is not NULL, points it at a static description. */
int sr_url_parse(const char *text, size_t len, struct sr_url *out, const char **reason);
void sr_url_clear(struct sr_url *url);

/* The URL's authority as a Host header wants it: "host:port", the host in
 * brackets when it is an IPv6 address ("[::1]:8000"). Truncated to len. */
void sr_url_authority(const struct sr_url *url, char *out, size_t len);

#endif
