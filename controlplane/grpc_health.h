/*
 * grpc_health: the standard grpc.health.v1 service (Check and Watch) for
 * an sr_grpc_server, over a status source the embedding service supplies.
 *
 * The source answers, for a service name ("" = the server as a whole), one
 * of GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__*, or -1 for
 * a name it does not serve. Check answers NOT_FOUND for such a name; Watch
 * streams SERVICE_UNKNOWN, as the protocol asks, and every later change
 * (the source is asked every 500 ms) until the client cancels.
 *
 * Server thread only, like every handler. Nothing is owned across calls:
 * a Watch keeps a copy of the service name and its timer until the call
 * ends.
 */
#ifndef SR_GRPC_HEALTH_H
#define SR_GRPC_HEALTH_H

#include "grpc_server.h"

typedef int (*sr_grpc_health_status_fn)(void *ctx, const char *service);

/* Handlers, to be called from the embedding service's method table entries
 * for "/grpc.health.v1.Health/Check" and ".../Watch" (both take a
 * grpc.health.v1.HealthCheckRequest). */
void sr_grpc_health_check(struct sr_grpc_call *call, const ProtobufCMessage *request,
                          sr_grpc_health_status_fn status, void *ctx);
void sr_grpc_health_watch(struct sr_grpc_call *call, const ProtobufCMessage *request,
                          sr_grpc_health_status_fn status, void *ctx);

#endif
