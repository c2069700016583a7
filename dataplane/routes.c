/* routes: the route table (see routes.h). */
#include "routes.h"

#include <string.h>

#define PROXY(m, p, t)                                                                             \
    {                                                                                              \
        m, p, SR_KIND_PROXY, t, SR_LOCAL_NONE, false, false                                        \
    }
#define LOCAL(m, p, h)                                                                             \
    {                                                                                              \
        m, p, SR_KIND_LOCAL, SR_TEXT_NONE, SR_LOCAL_##h, false, false                              \
    }
#define ADMIN(m, p, h)                                                                             \
    {                                                                                              \
        m, p, SR_KIND_LOCAL, SR_TEXT_NONE, SR_LOCAL_##h, true, false                               \
    }
#define PROBE(m, p, h)                                                                             \
    {                                                                                              \
        m, p, SR_KIND_LOCAL, SR_TEXT_NONE, SR_LOCAL_##h, false, true                               \
    }

static const struct sr_route table[] = {
    PROXY("POST", "/generate", SR_TEXT_GENERATE),
    PROXY("POST", "/v1/completions", SR_TEXT_COMPLETIONS),
    PROXY("POST", "/v1/chat/completions", SR_TEXT_CHAT),
    {"GET", "/v1/models", SR_KIND_PROXY, SR_TEXT_NONE, SR_LOCAL_MODELS, false, false},
    PROXY("GET", "/get_model_info", SR_TEXT_NONE),
    PROXY("GET", "/model_info", SR_TEXT_NONE),
    PROXY("GET", "/get_server_info", SR_TEXT_NONE),
    PROXY("GET", "/server_info", SR_TEXT_NONE),
    PROXY("GET", "/health_generate", SR_TEXT_NONE),
    PROBE("GET", "/health", HEALTH),
    PROBE("GET", "/liveness", HEALTH),
    PROBE("GET", "/readiness", READINESS),
    LOCAL("GET", "/get_loads", GET_LOADS),
    LOCAL("POST", "/flush_cache", FLUSH_CACHE),
    ADMIN("GET", "/list_workers", LIST_WORKERS),
    ADMIN("POST", "/add_worker", ADD_WORKER),
    ADMIN("POST", "/remove_worker", REMOVE_WORKER),
    ADMIN("GET", "/workers", LIST_WORKERS),
    ADMIN("POST", "/workers", ADD_WORKERS),
    {NULL, NULL, SR_KIND_LOCAL, SR_TEXT_NONE, SR_LOCAL_NONE, false, false},
};

_Static_assert(sizeof(table) / sizeof(table[0]) <= SR_ROUTES_MAX, "raise SR_ROUTES_MAX");

const struct sr_route *sr_routes_all(void)
{
    return table;
}

unsigned sr_route_index(const struct sr_route *r)
{
    return (unsigned)(r - table);
}

const struct sr_route *sr_routes_find(const char *method, const char *path, size_t path_len,
                                      bool *path_known)
{
    *path_known = false;
    for (const struct sr_route *r = table; r->path; r++) {
        if (strlen(r->path) != path_len || memcmp(r->path, path, path_len) != 0)
            continue;
        *path_known = true;
        if (strcmp(r->method, method) == 0)
            return r;
    }
    return NULL;
}
