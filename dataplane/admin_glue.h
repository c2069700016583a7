/*
 * admin_glue: what the admin API (controlplane/admin_service.h) needs from
 * the data plane, as its hooks: the router's request counters and a
 * flush of every worker's cache (a fan-out on the admin thread's loop).
 */
#ifndef SR_ADMIN_GLUE_H
#define SR_ADMIN_GLUE_H

#include "router.h"

#include "controlplane/admin_service.h"

struct sr_admin_hooks sr_admin_glue_hooks(struct sr_router *r);

#endif
