/* worker_spec: a worker's URL, role, bootstrap port and model (see worker_spec.h). */
#include "worker_spec.h"

#include "alloc.h"
#include "err.h"
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[SR_ROLES] = {"regular", "prefill", "decode"};

const char *sr_worker_role_name(enum sr_worker_role role)
{
    return (unsigned)role < SR_ROLES ? role_names[role] : "regular";
}

bool sr_worker_role_parse(const char *s, size_t len, enum sr_worker_role *out)
{
    for (int i = 0; i < SR_ROLES; i++) {
        if (strlen(role_names[i]) == len && memcmp(s, role_names[i], len) == 0) {
            *out = (enum sr_worker_role)i;
            return true;
        }
    }
    return false;
}

bool sr_model_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > SR_MODEL_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* "none", or a port in [1, 65535]. */
static bool parse_bootstrap(const char *s, int *port)
{
    if (strcmp(s, "none") == 0) {
        *port = SR_BOOTSTRAP_NONE;
        return true;
    }
    long v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return false;
    *port = (int)v;
    return true;
}

int sr_worker_spec_parse(const char *text, enum sr_worker_role role,
                         struct sr_worker_spec_text *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    const char *why = NULL;
    char *copy = sr_strdup(text);
    if (copy == NULL)
        return SR_ERR_NOMEM;
    int port = SR_BOOTSTRAP_NONE;
    char *space = strchr(copy, ' ');
    if (space != NULL) {
        *space = '\0';
        if (role != SR_ROLE_PREFILL)
            why = "unexpected space (a model id has none; only a prefill worker takes a "
                  "bootstrap port after its URL)";
        else if (!parse_bootstrap(space + 1, &port))
            why = "the bootstrap port must be a port number (1-65535) or none";
    }
    char *model = NULL;
    char *scheme = strstr(copy, "://");
    char *at = strchr(scheme ? scheme + 3 : copy, '@');
    if (why == NULL && at != NULL) {
        *at = '\0';
        model = at + 1;
        if (!sr_model_name_valid(model, strlen(model)))
            why = "the model id must be 1-256 printable characters without spaces, quotes or "
                  "backslashes";
    }
    struct sr_url url = {0};
    int rc = why ? SR_ERR_INVALID : sr_url_parse(copy, strlen(copy), &url, &why);
    if (rc != 0) {
        sr_free(copy);
        if (reason)
            *reason = why;
        return rc;
    }
    /* One block: the canonical URL, then the model. */
    size_t ulen = strlen(url.canonical), mlen = model ? strlen(model) : 0;
    out->storage = sr_malloc(ulen + mlen + 2);
    if (out->storage == NULL) {
        sr_url_clear(&url);
        sr_free(copy);
        return SR_ERR_NOMEM;
    }
    memcpy(out->storage, url.canonical, ulen + 1);
    out->spec.url = out->storage;
    if (model) {
        memcpy(out->storage + ulen + 1, model, mlen + 1);
        out->spec.model = out->storage + ulen + 1;
    }
    out->spec.role = role;
    out->spec.bootstrap_port = port;
    sr_url_clear(&url);
    sr_free(copy);
    return 0;
}

void sr_worker_spec_text_clear(struct sr_worker_spec_text *t)
{
    sr_free(t->storage);
    memset(t, 0, sizeof(*t));
}

void sr_worker_spec_format(const struct sr_worker_spec *spec, char *out, size_t len)
{
    int n = snprintf(out, len, "%s%s%s", spec->url, spec->model ? "@" : "",
                     spec->model ? spec->model : "");
    if (spec->role == SR_ROLE_PREFILL && n >= 0 && (size_t)n < len) {
        if (spec->bootstrap_port == SR_BOOTSTRAP_NONE)
            snprintf(out + n, len - (size_t)n, " none");
        else
            snprintf(out + n, len - (size_t)n, " %d", spec->bootstrap_port);
    }
}
