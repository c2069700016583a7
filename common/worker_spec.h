/*
 * worker_spec: what an administrator says about a worker when adding it:
 * its URL, its role in a disaggregated fleet (regular, prefill, decode),
 * a prefill worker's KV bootstrap port, and the model it serves (or
 * nothing: the router discovers it). One text form serves the command
 * line, option files and the routes that take a worker as one string:
 *
 *     URL[@MODEL][ BOOTSTRAP]      BOOTSTRAP: a port, or "none" (prefill only)
 *
 * The model is split off at the first '@' after "://" (worker URLs carry
 * no user info, so that '@' is never the URL's). Model ids are 1-256
 * printable ASCII characters without spaces, quotes or backslashes (so
 * they go into JSON, headers and metric labels unescaped).
 *
 * A codec: text in, fields out, no I/O.
 */
#ifndef SR_WORKER_SPEC_H
#define SR_WORKER_SPEC_H

#include "worker.h"

#include <stdbool.h>
#include <stddef.h>

#define SR_MODEL_MAX 256

struct sr_worker_spec {
    const char *url;          /* as given; the registry canonicalises it */
    enum sr_worker_role role; /* SR_ROLE_REGULAR unless said */
    int bootstrap_port;       /* prefill: SR_BOOTSTRAP_NONE or 1..65535 */
    const char *model;        /* NULL: to be discovered */
};

/* A parsed text: spec points into storage (owned; sr_worker_spec_text_clear). */
struct sr_worker_spec_text {
    struct sr_worker_spec spec;
    char *storage;
};

/* Parses the text form for a worker of role (a bootstrap part only for
 * SR_ROLE_PREFILL). 0, SR_ERR_INVALID with *reason set, or SR_ERR_NOMEM.
 * The URL is checked (sr_url_parse) and replaced by its canonical form. */
int sr_worker_spec_parse(const char *text, enum sr_worker_role role,
                         struct sr_worker_spec_text *out, const char **reason);
void sr_worker_spec_text_clear(struct sr_worker_spec_text *t);

/* The canonical text form of spec into out (truncated to len). */
void sr_worker_spec_format(const struct sr_worker_spec *spec, char *out, size_t len);

bool sr_model_name_valid(const char *s, size_t len);

/* "regular", "prefill", "decode"; parse returns false for anything else. */
const char *sr_worker_role_name(enum sr_worker_role role);
bool sr_worker_role_parse(const char *s, size_t len, enum sr_worker_role *out);

#endif
