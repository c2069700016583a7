/* reply: JSON responses and SGLang-shaped error bodies (see reply.h). */
#include "reply.h"

#include <stdlib.h>
#include <string.h>

void sr_sim_reply_json(struct sr_sim_conn *c, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        sr_sim_respond(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
        return;
    }
    sr_sim_respond(c, status, "application/json", text, strlen(text));
    free(text);
}

static const char *error_type(int status)
{
    switch (status) {
    case 400:
        return "BadRequestError";
    case 401:
        return "AuthenticationError";
    case 404:
        return "NotFoundError";
    case 405:
        return "MethodNotAllowed";
    case 413:
        return "RequestTooLarge";
    case 429:
        return "RateLimitError";
    case 431:
        return "RequestHeaderFieldsTooLarge";
    case 503:
        return "ServiceUnavailableError";
    default:
        return status >= 500 ? "InternalServerError" : "BadRequestError";
    }
}

void sr_sim_reply_error_typed(struct sr_sim_conn *c, int status, const char *type,
                              const char *message)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:n, s:i, s:{s:s, s:s, s:i}}", "object", "error",
                             "message", message, "type", type, "param", "code", status, "error",
                             "message", message, "type", type, "code", status);
    sr_sim_reply_json(c, status, body);
}

void sr_sim_reply_error(struct sr_sim_conn *c, int status, const char *message)
{
    sr_sim_reply_error_typed(c, status, error_type(status), message);
}
