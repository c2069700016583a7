/* pd_body: the bootstrap fields of a disaggregated request (see pd_body.h). */
#include "pd_body.h"

#include "common/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One field: a value, or a list of batch copies (rooms: one each). */
static int field(struct sr_buf *out, const char *name, size_t batch, const char *value,
                 const uint64_t *rooms)
{
    int rc = sr_buf_appendf(out, "\"%s\":%s", name, batch ? "[" : "");
    size_t n = batch ? batch : 1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = sr_buf_append(out, ",", 1);
        if (rc == 0)
            rc = rooms ? sr_buf_appendf(out, "%llu", (unsigned long long)rooms[i])
                       : sr_buf_append_str(out, value);
    }
    if (rc == 0 && batch)
        rc = sr_buf_append(out, "]", 1);
    return rc;
}

int sr_pd_body_build(struct sr_buf *out, const char *body, size_t len, const char *host, int port,
                     const uint64_t *rooms, size_t batch)
{
    sr_buf_reset(out);
    size_t close = len;
    while (close > 0 && is_ws(body[close - 1]))
        close--;
    if (close == 0 || body[close - 1] != '}')
        return SR_ERR_INVALID;
    close--; /* at the object's '}' */
    size_t before = close;
    while (before > 0 && is_ws(body[before - 1]))
        before--;
    if (before == 0)
        return SR_ERR_INVALID;
    bool empty = body[before - 1] == '{';
    char host_json[300], port_json[16];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(host_json, sizeof(host_json), "\"%s%s%s\"", v6 ? "[" : "", host, v6 ? "]" : "");
    if (port < 0)
        snprintf(port_json, sizeof(port_json), "null");
    else
        snprintf(port_json, sizeof(port_json), "%d", port);
    int rc = sr_buf_append(out, body, before);
    if (rc == 0 && !empty)
        rc = sr_buf_append(out, ",", 1);
    if (rc == 0)
        rc = field(out, "bootstrap_host", batch, host_json, NULL);
    if (rc == 0)
        rc = sr_buf_append(out, ",", 1);
    if (rc == 0)
        rc = field(out, "bootstrap_port", batch, port_json, NULL);
    if (rc == 0)
        rc = sr_buf_append(out, ",", 1);
    if (rc == 0)
        rc = field(out, "bootstrap_room", batch, NULL, rooms);
    if (rc == 0)
        rc = sr_buf_append(out, body + before, len - before); /* "}" and the space around it */
    return rc;
}
