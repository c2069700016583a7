/*
 * api: the simulated worker's routes (SGLang's endpoint shapes), faults and
 * error bodies. Inference requests are handed to inference.c.
 */
#ifndef SR_SIM_API_H
#define SR_SIM_API_H

#include "server.h"
#include "sim.h"

#include "net/h1_parser.h"

/* Answers (or starts answering) one parsed request. */
void sr_sim_api_handle(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req);

/* An error response: {"object":"error","message":..,"type":..,"param":null,
 * "code":status} — the shape SGLang's OpenAI layer uses — plus, for
 * clients reading OpenAI's envelope, the same under "error". */
void sr_sim_api_error(struct sr_sim_conn *c, int status, const char *message);

#endif
