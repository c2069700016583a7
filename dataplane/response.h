/*
 * response: the one error writer of the data plane, for both protocols:
 * an OpenAI-style JSON body {"error": {"message", "type", "code"}} with
 * the status's type ("invalid_request_error", "rate_limit_error"...), and
 * Allow on a 405. Used by the pipeline, the proxy, the local routes and
 * the HTTP/1 and HTTP/2 codecs (malformed requests, limits, timeouts).
 */
#ifndef SR_RESPONSE_H
#define SR_RESPONSE_H

#include "request.h"

/* Answers c with the error response for status; message is the human
 * part (copied). Out of memory: a fixed 500 body. */
void sr_response_error(struct sr_reply *c, int status, const char *message);

/* The same with OpenAI's own type and string code, and "param": null, as
 * OpenAI answers an unknown model: (404, "invalid_request_error",
 * "model_not_found", message). */
void sr_response_error_code(struct sr_reply *c, int status, const char *type, const char *code,
                            const char *message);

#endif
