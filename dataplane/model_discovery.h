/*
 * model_discovery: learns the model each worker serves, on the main
 * thread beside the health checker, for the workers whose model no
 * administrator named (common/registry.h: the model selects a request's
 * workers once the fleet serves several).
 *
 * A healthy worker is asked, one request at a time: GET /v1/models (the
 * first entry's "id": the served model name clients send, in SGLang and
 * vLLM alike), else GET /get_model_info ("model_path"). The answer goes to
 * sr_registry_set_model (not pinned: an administrator's model is never
 * overridden). A worker is asked again every SR_MODEL_RECHECK_MS (a
 * restart may bring another model) and after a failure every
 * SR_MODEL_RETRY_MS; a worker that is not healthy is not asked. Like
 * health checks, requests carry no credentials and skip https workers.
 *
 * Not thread-safe: the main thread owns it.
 */
#ifndef SR_MODEL_DISCOVERY_H
#define SR_MODEL_DISCOVERY_H

#include "router.h"

#include <event2/event.h>

#define SR_MODEL_RECHECK_MS 30000
#define SR_MODEL_RETRY_MS   2000

struct sr_model_discovery;

/* NULL when out of memory. */
struct sr_model_discovery *sr_model_discovery_new(struct sr_router *r, struct event_base *base);
/* Accepts NULL. */
void sr_model_discovery_free(struct sr_model_discovery *d);

/* The model id in a /v1/models (first "data" entry's "id") or
 * /get_model_info ("model_path") body, into out (NUL-terminated); false
 * when the body has none that is a valid id (worker_spec.h). */
bool sr_model_from_models_list(const char *body, size_t len, char *out, size_t cap);
bool sr_model_from_model_info(const char *body, size_t len, char *out, size_t cap);

#endif
