/*
 * pd_fields: the fields a router adds to a request for prefill/decode
 * disaggregation: bootstrap_host (the prefill worker's host; IPv6 in
 * brackets or not), bootstrap_port (an integer, or null for SGLang's
 * default 8998) and bootstrap_room (an integer), each a list of n for a
 * batch of n prompts. Rooms are read from the body's text, exactly: cJSON
 * holds numbers as doubles, which cannot tell rooms near 2^63 apart.
 *
 * No I/O. Ownership: the caller's (out is filled in place).
 */
#ifndef SR_SIM_PD_FIELDS_H
#define SR_SIM_PD_FIELDS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SR_SIM_DEFAULT_BOOTSTRAP_PORT 8998

/* One prompt's fields. */
struct sr_sim_pd_fields {
    char host[256]; /* brackets removed; NUL-terminated */
    int port;
    uint64_t room;
};

/* Fills out[0..n) from root (body, body_len: the same request as text,
 * already accepted by cJSON). batch: the request has a list of n prompts
 * (each field must then be a list of n). 0, or SR_ERR_INVALID with the 400
 * message in msg. */
int sr_sim_pd_fields_parse(const cJSON *root, const char *body, size_t body_len, size_t n,
                           bool batch, struct sr_sim_pd_fields *out, char *msg, size_t msg_len);

#endif
