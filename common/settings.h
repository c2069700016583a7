/*
 * settings: the router's settings that may change while traffic flows (the
 * rows the option table, common/config.c, marks runtime-changeable), shared
 * by every thread.
 *
 * Writers (the admin API) apply a batch of changes (option name and value
 * text, validated by the option table, so the bounds and messages are the
 * command line's) all or none. Each row says how its change takes effect:
 * SR_CHANGE_POLICY rows re-tune every policy instance; SR_CHANGE_REQUEST
 * rows are read per request from the view; SR_CHANGE_PROCESS rows set
 * process-wide state at once (the log threshold). Readers (loop threads)
 * keep a view, the policy params and policy and the per-request settings in
 * force, and refresh it with one atomic load per request: a change applies
 * atomically to new requests, and the request path takes no lock while
 * nothing changes.
 *
 * Policies: one instance per worker role and name (a prefill and a decode
 * worker under the same policy still have their own round-robin cursor or
 * tree), created on first use and kept until
 * sr_settings_free(), so switching policy is a pointer change; requests
 * routed by the old policy finish normally (load accounting lives on the
 * workers) and its tree is emptied, since it stops seeing where prompts go.
 * Every instance hears of removed workers (sr_settings_forget_worker, wired
 * to the registry's listener by the owner) and of maintenance.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef SR_SETTINGS_H
#define SR_SETTINGS_H

#include "config.h"
#include "policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_settings;

struct sr_settings_view {
    struct sr_policy_params params;
    struct sr_policy *policy; /* borrowed; lives as long as the settings */
    /* By worker role (worker.h): regular workers' is policy; prefill and
     * decode workers' are --prefill-policy and --decode-policy, or policy
     * when those are not set. */
    struct sr_policy *role_policy[SR_ROLES];
    bool log_requests;       /* --log-requests */
    long retry_max_retries;  /* --retry-max-retries */
    struct sr_limits limits; /* the concurrency limit and its queue */
    unsigned long version;   /* 0 = never refreshed */
};

/* Takes the runtime options of cfg (copied). NULL with *err set
 * (SR_ERR_NOMEM, or SR_ERR_INVALID for an unknown policy). */
struct sr_settings *sr_settings_new(const struct sr_config *cfg, int *err);
/* Accepts NULL. No view may be used afterwards. */
void sr_settings_free(struct sr_settings *s);

/* Brings view up to date if the settings changed since it was filled;
 * returns view. */
const struct sr_settings_view *sr_settings_refresh(struct sr_settings *s,
                                                   struct sr_settings_view *view);

struct sr_settings_change {
    const char *option; /* the flag's name without dashes, e.g. "cache-threshold" */
    const char *value;  /* as on the command line */
};

/* Applies every change or none. 0; SR_ERR_INVALID / SR_ERR_NOT_FOUND (an
 * unknown option, or one not changeable at runtime) with a one-line message
 * naming the flag in err; SR_ERR_NOMEM. *bad (if not NULL) gets the index
 * of the change at fault. */
int sr_settings_update(struct sr_settings *s, const struct sr_settings_change *changes, size_t n,
                       size_t *bad, char *err, size_t errlen);

/* A copy of the settings in force, in a struct initialised by
 * sr_config_init() (only the runtime fields are meaningful). 0 or
 * SR_ERR_NOMEM. */
int sr_settings_get(struct sr_settings *s, struct sr_config *out);

/* The concurrency limit and its queue in force, for threads without a
 * view (metrics, admin). */
struct sr_limits sr_settings_limits(struct sr_settings *s);

/* The policy in force (borrowed) and the version of the settings. */
struct sr_policy *sr_settings_policy(struct sr_settings *s);
/* The trees of the policies in force, every role's, added up; false when
 * none keeps a tree. */
bool sr_settings_tree_stats(struct sr_settings *s, struct sr_radix_stats *out);
/* The policy that chooses workers of role (borrowed). */
struct sr_policy *sr_settings_role_policy(struct sr_settings *s, enum sr_worker_role role);

/* Every policy instance forgets what it believed w holds (w left, or
 * emptied its cache): its tree entries go. */
void sr_settings_forget_worker(struct sr_settings *s, struct sr_worker *w);
/* Every policy instance forgets everything (its tree is emptied). */
void sr_settings_forget_all(struct sr_settings *s);
/* What routing keys are (struct sr_policy_params.key_unit): 1, the routing
 * text; SR_ROUTE_KEY_UNIT, its block digests (route_key.h), while replica
 * sync is configured. A change empties every tree (its keys meant something
 * else) and applies to requests that refresh their view afterwards; one
 * still routing with the old key leaves an entry nothing matches, which
 * ages out. */
void sr_settings_set_key_unit(struct sr_settings *s, size_t unit);

/* Applies the params in force to every instance's tree and runs an eviction
 * pass on each now; returns the worker-bytes removed. */
uint64_t sr_settings_maintain(struct sr_settings *s);

#endif
