/* pd_fields: the bootstrap fields of a PD request (see pd_fields.h). */
#include "pd_fields.h"

#include "common/err.h"

#include <stdio.h>
#include <string.h>

/* ---- the body's text, for exact integers -------------------------------- */

/* The scanner below walks JSON that cJSON has already accepted, so it only
 * needs to find where values start and end, not to validate them. */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"': past the closing quote; *escaped when it holds a backslash. */
static const char *skip_string(const char *p, const char *end, bool *escaped)
{
    *escaped = false;
    for (p++; p < end && *p != '"'; p++) {
        if (*p == '\\') {
            *escaped = true;
            p++;
        }
    }
    return p < end ? p + 1 : end;
}

static const char *skip_value(const char *p, const char *end)
{
    bool escaped;
    if (p < end && *p == '"')
        return skip_string(p, end, &escaped);
    if (p < end && (*p == '{' || *p == '[')) {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end, &escaped);
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p;
}

/* The text of the top-level member name of the object in [p, end) (its
 * first occurrence, as cJSON finds it); NULL when absent. */
static const char *raw_member(const char *p, const char *end, const char *name, const char **vend)
{
    size_t nlen = strlen(name);
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return NULL;
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return NULL;
        bool escaped;
        const char *key = p + 1, *after = skip_string(p, end, &escaped);
        bool match = !escaped && (size_t)(after - 1 - key) == nlen && memcmp(key, name, nlen) == 0;
        p = skip_ws(after, end);
        if (p >= end || *p != ':')
            return NULL;
        p = skip_ws(p + 1, end);
        const char *v = p;
        p = skip_value(p, end);
        if (match) {
            *vend = p;
            return v;
        }
        p = skip_ws(p, end);
        if (p >= end || *p != ',')
            return NULL;
        p++;
    }
}

/* A non-negative integer written in plain digits, within 64 bits. */
static bool digits_u64(const char *s, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (s >= end)
        return false;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return false;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ---- the fields ------------------------------------------------------------ */

static int bad(char *msg, size_t msg_len, const char *text)
{
    snprintf(msg, msg_len, "%s", text);
    return SR_ERR_INVALID;
}

static const cJSON *member(const cJSON *root, const char *name, bool *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    *present = v != NULL;
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* v (single) or v's items (batch) must be n values; the i-th is returned. */
static const cJSON *nth(const cJSON *v, bool batch, size_t i)
{
    return batch ? cJSON_GetArrayItem(v, (int)i) : v;
}

static bool shape_ok(const cJSON *v, bool batch, size_t n)
{
    return !batch || (cJSON_IsArray(v) && (size_t)cJSON_GetArraySize(v) == n);
}

static int parse_rooms(const cJSON *v, const char *body, size_t body_len, size_t n, bool batch,
                       struct sr_sim_pd_fields *out, char *msg, size_t msg_len)
{
    const char *vend = NULL, *raw = raw_member(body, body + body_len, "bootstrap_room", &vend);
    const char *p = raw;
    if (batch && p)
        p++; /* past '[' */
    for (size_t i = 0; i < n; i++) {
        const cJSON *x = nth(v, batch, i);
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= 18446744073709551616.0 ||
            x->valuedouble != (double)(uint64_t)x->valuedouble)
            return bad(msg, msg_len,
                       batch ? "'bootstrap_room' must be a list of integers"
                             : "'bootstrap_room' must be an integer");
        out[i].room = (uint64_t)x->valuedouble; /* exact below when written in digits */
        if (p) {
            p = skip_ws(p, vend);
            const char *e = skip_value(p, vend);
            uint64_t exact;
            /* the same member as cJSON's (an escaped or repeated key could
             * make them differ): the same double */
            if (digits_u64(p, e, &exact) && (double)exact == x->valuedouble)
                out[i].room = exact;
            p = skip_ws(e, vend);
            if (p < vend && *p == ',')
                p++;
        }
    }
    return 0;
}

static int parse_host(const cJSON *x, struct sr_sim_pd_fields *f)
{
    if (!cJSON_IsString(x))
        return SR_ERR_INVALID;
    const char *h = x->valuestring;
    size_t len = strlen(h);
    if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(f->host))
        return SR_ERR_INVALID;
    /* a name or an address (IPv6 with a %zone): nothing to escape in the
     * error messages that quote it */
    for (size_t i = 0; i < len; i++) {
        char ch = h[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' || ch == ':' ||
                  ch == '%';
        if (!ok)
            return SR_ERR_INVALID;
    }
    memcpy(f->host, h, len);
    f->host[len] = '\0';
    return 0;
}

int sr_sim_pd_fields_parse(const cJSON *root, const char *body, size_t body_len, size_t n,
                           bool batch, struct sr_sim_pd_fields *out, char *msg, size_t msg_len)
{
    bool present;
    const cJSON *room = member(root, "bootstrap_room", &present);
    if (room == NULL)
        return bad(msg, msg_len, "Disaggregated request received without bootstrap room id");
    const cJSON *host = member(root, "bootstrap_host", &present);
    if (host == NULL)
        return bad(msg, msg_len, "Disaggregated request received without bootstrap_host");
    const cJSON *port = member(root, "bootstrap_port", &present);
    if (!present) /* null is fine (the default port), a router that forgot it is not */
        return bad(msg, msg_len, "Disaggregated request received without bootstrap_port");
    if (!shape_ok(room, batch, n) || !shape_ok(host, batch, n) ||
        (port && !shape_ok(port, batch, n))) {
        snprintf(msg, msg_len,
                 "a batch of %zu prompts needs bootstrap_host, bootstrap_port and "
                 "bootstrap_room as lists of %zu",
                 n, n);
        return SR_ERR_INVALID;
    }
    int rc = parse_rooms(room, body, body_len, n, batch, out, msg, msg_len);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (parse_host(nth(host, batch, i), &out[i]) != 0)
            return bad(msg, msg_len, "'bootstrap_host' must be a host name or address");
        const cJSON *p = port ? nth(port, batch, i) : NULL;
        if (p == NULL || cJSON_IsNull(p)) {
            out[i].port = SR_SIM_DEFAULT_BOOTSTRAP_PORT;
        } else if (cJSON_IsNumber(p) && p->valuedouble >= 1 && p->valuedouble <= 65535 &&
                   p->valuedouble == (double)(int)p->valuedouble) {
            out[i].port = (int)p->valuedouble;
        } else {
            return bad(msg, msg_len, "'bootstrap_port' must be a port number or null");
        }
    }
    return 0;
}
