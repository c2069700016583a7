/*
 * api: the simulated worker's routes (SGLang's endpoint shapes) and faults.
 * Inference requests are handed to inference.c; bodies are sent by reply.c.
 */
#ifndef SR_SIM_API_H
#define SR_SIM_API_H

#include "server.h"
#include "sim.h"

#include "net/h1_parser.h"

/* Answers (or starts answering) one parsed request. */
void sr_sim_api_handle(struct sr_sim *sim, struct sr_sim_conn *c, const struct sr_h1_request *req);

/* The routes as the server calls them (sim.h): requests, parse errors. */
extern const struct sr_sim_routes sr_sim_api_routes;

#endif
