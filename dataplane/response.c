/* response: the OpenAI-style JSON error writer (see response.h). */
#include "response.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *error_type(int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 405:
        return "method_not_allowed";
    case 408:
        return "request_timeout";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 431:
        return "request_header_fields_too_large";
    case 502:
        return "bad_gateway";
    case 503:
        return "service_unavailable";
    case 504:
        return "gateway_timeout";
    default:
        return status >= 500 ? "internal_error" : "invalid_request_error";
    }
}

static void respond_json(struct sr_reply *c, int status, json_t *body);

void sr_response_error(struct sr_reply *c, int status, const char *message)
{
    respond_json(c, status,
                 json_pack("{s:{s:s, s:s, s:i}}", "error", "message", message, "type",
                           error_type(status), "code", status));
}

void sr_response_error_code(struct sr_reply *c, int status, const char *type, const char *code,
                            const char *message)
{
    respond_json(c, status,
                 json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message", message, "type", type,
                           "param", "code", code));
}

/* Sends body (taken over) as the error response for status. */
static void respond_json(struct sr_reply *c, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    static const char fallback[] = "{\"error\":{\"message\":\"out of memory\",\"type\":"
                                   "\"internal_error\",\"code\":500}}";
    const char *extra = status == 405 ? "Allow: GET, POST\r\n" : NULL;
    if (text)
        sr_reply_respond(c, status, "application/json", text, strlen(text), extra);
    else
        sr_reply_respond(c, 500, "application/json", fallback, sizeof(fallback) - 1, NULL);
    free(text);
}
