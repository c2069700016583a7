/*
 * reply: the simulated worker's JSON responses: a document, or an error
 * body in the shape SGLang's OpenAI layer uses, sent on a connection
 * (server.h). Used by the routes (api.c), inference and the server's own
 * protocol errors.
 *
 * Ownership: sr_sim_reply_json takes the caller's reference to body.
 */
#ifndef SR_SIM_REPLY_H
#define SR_SIM_REPLY_H

#include "server.h"

#include <jansson.h>

/* Sends body (NULL: out of memory, answered 500) as application/json. */
void sr_sim_reply_json(struct sr_sim_conn *c, int status, json_t *body);

/* An error response: {"object":"error","message":..,"type":..,"param":null,
 * "code":status} - the shape SGLang's OpenAI layer uses - plus, for
 * clients reading OpenAI's envelope, the same under "error". */
void sr_sim_reply_error(struct sr_sim_conn *c, int status, const char *message);

/* The same with type given: SGLang's HTTPException handler writes the
 * status as text there ("500"). */
void sr_sim_reply_error_typed(struct sr_sim_conn *c, int status, const char *type,
                              const char *message);

#endif
