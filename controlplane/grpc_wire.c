/* grpc_wire: gRPC protocol data (see grpc_wire.h). */
#include "grpc_wire.h"

#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *sr_grpc_status_name(int code)
{
    if (code < 0 || code > SR_GRPC_UNAUTHENTICATED)
        return "UNKNOWN";
    return status_names[code];
}

void sr_grpc_prefix(uint8_t out[SR_GRPC_PREFIX], uint32_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

bool sr_grpc_announced_length(const uint8_t *body, size_t body_len, uint32_t *len)
{
    if (body_len < SR_GRPC_PREFIX)
        return false;
    *len = (uint32_t)body[1] << 24 | (uint32_t)body[2] << 16 | (uint32_t)body[3] << 8 |
           (uint32_t)body[4];
    return true;
}

enum sr_grpc_unframe sr_grpc_unframe(const uint8_t *body, size_t body_len, const uint8_t **msg,
                                     size_t *len)
{
    if (body_len == 0)
        return SR_GRPC_NO_MESSAGE;
    uint32_t n;
    if (!sr_grpc_announced_length(body, body_len, &n) || body_len - SR_GRPC_PREFIX < n)
        return SR_GRPC_TRUNCATED;
    if (body[0] != 0)
        return SR_GRPC_COMPRESSED;
    if (body_len - SR_GRPC_PREFIX > n)
        return SR_GRPC_MANY;
    *msg = body + SR_GRPC_PREFIX;
    *len = n;
    return SR_GRPC_ONE_MESSAGE;
}

/* Reads a varint at *p (below end); false when cut short. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Skips n bytes; false when fewer remain (the pointer never passes end). */
static bool skip(const uint8_t **p, const uint8_t *end, uint64_t n)
{
    if (n > (uint64_t)(end - *p))
        return false;
    *p += n;
    return true;
}

static bool strings_without_nul(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                                int depth)
{
    const uint8_t *end = p + len;
    while (p < end && depth < SR_GRPC_MAX_NESTING) {
        uint64_t key, n;
        if (!read_varint(&p, end, &key))
            return true;
        switch (key & 7) {
        case 0:
            if (!read_varint(&p, end, &n))
                return true;
            continue;
        case 1:
            if (!skip(&p, end, 8))
                return true;
            continue;
        case 5:
            if (!skip(&p, end, 4))
                return true;
            continue;
        case 2:
            break;
        default:
            return true;
        }
        if (!read_varint(&p, end, &n) || n > (uint64_t)(end - p))
            return true;
        const ProtobufCFieldDescriptor *f =
            key >> 3 <= UINT32_MAX
                ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                : NULL;
        if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, '\0', (size_t)n))
            return false;
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
            !strings_without_nul(f->descriptor, p, (size_t)n, depth + 1))
            return false;
        p += n;
    }
    return true;
}

bool sr_grpc_strings_without_nul(const ProtobufCMessageDescriptor *d, const uint8_t *msg,
                                 size_t len)
{
    return strings_without_nul(d, msg, len, 0);
}

bool sr_grpc_parse_timeout(const char *value, size_t len, uint64_t *ms)
{
    if (len < 2 || len > 9)
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return false;
        n = n * 10 + (uint64_t)(value[i] - '0');
    }
    switch (value[len - 1]) {
    case 'H':
        *ms = n * 3600000;
        return true;
    case 'M':
        *ms = n * 60000;
        return true;
    case 'S':
        *ms = n * 1000;
        return true;
    case 'm':
        *ms = n;
        return true;
    case 'u':
        *ms = (n + 999) / 1000;
        return true;
    case 'n':
        *ms = (n + 999999) / 1000000;
        return true;
    default:
        return false;
    }
}

void sr_grpc_format_timeout(uint64_t ms, char out[16])
{
    /* At most 8 digits: switch to coarser units as needed. */
    if (ms <= 99999999)
        snprintf(out, 16, "%llum", (unsigned long long)ms);
    else if (ms / 1000 <= 99999999)
        snprintf(out, 16, "%lluS", (unsigned long long)(ms / 1000));
    else
        snprintf(out, 16, "%lluH", (unsigned long long)(ms / 3600000 % 100000000));
}

size_t sr_grpc_percent_encode(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (cap == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool plain = *p >= 0x20 && *p <= 0x7E && *p != '%';
        size_t need = plain ? 1 : 3;
        if (n + need >= cap)
            break;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

size_t sr_grpc_percent_decode(char *s, size_t len)
{
    size_t w = 0;
    for (size_t r = 0; r < len; r++) {
        int hi, lo;
        if (s[r] == '%' && r + 2 < len && (hi = hexval(s[r + 1])) >= 0 &&
            (lo = hexval(s[r + 2])) >= 0) {
            s[w++] = (char)(hi << 4 | lo);
            r += 2;
        } else {
            s[w++] = s[r];
        }
    }
    if (w < len)
        s[w] = '\0';
    return w;
}
