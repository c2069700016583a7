/* settings: the routing settings that change at runtime (see settings.h). */
#include "settings.h"

#include "alloc.h"
#include "err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_POLICIES 16
#define MADE         (SR_ROLES * MAX_POLICIES)

struct sr_settings {
    pthread_mutex_t lock;        /* writers, and readers that saw the version move */
    struct sr_config cfg;        /* runtime fields in force */
    struct sr_settings_view now; /* what views copy (its version unused) */
    /* By role, then by index in sr_policy_names: prefill and decode
     * workers have instances of their own even under the same policy (a
     * round-robin cursor or a tree is per role). */
    struct sr_policy *made[MADE];
    atomic_ulong version;
    size_t key_unit; /* params.key_unit of every view (sr_settings_set_key_unit) */
    /* --prefill-policy, --decode-policy (fixed at start; NULL: --policy's). */
    char *role_policy_name[SR_ROLES];
};

static int instance(struct sr_settings *s, enum sr_worker_role role, const char *name,
                    const struct sr_policy_params *params, struct sr_policy **out);

/* The view's policies for the policy named policy (lock held or not yet
 * shared). */
static int view_policies(struct sr_settings *s, struct sr_settings_view *v, const char *policy)
{
    int rc = 0;
    for (int r = 0; rc == 0 && r < SR_ROLES; r++) {
        const char *name = s->role_policy_name[r] ? s->role_policy_name[r] : policy;
        rc = instance(s, (enum sr_worker_role)r, name, &v->params, &v->role_policy[r]);
    }
    v->policy = v->role_policy[SR_ROLE_REGULAR];
    return rc;
}

/* The view's per-request fields from cfg (the SR_CHANGE_REQUEST rows). */
static void view_fill(struct sr_settings_view *v, const struct sr_config *cfg)
{
    v->params = sr_config_policy_params(cfg);
    v->log_requests = cfg->log_requests;
    v->retry_max_retries = cfg->retry_max_retries;
    v->limits = sr_config_limits(cfg);
}

static size_t policy_index(const char *name)
{
    for (size_t i = 0; sr_policy_names[i] && i < MAX_POLICIES; i++)
        if (strcmp(sr_policy_names[i], name) == 0)
            return i;
    return MAX_POLICIES;
}

/* The instance for role and name, created if needed (lock held or not
 * yet shared). */
static int instance(struct sr_settings *s, enum sr_worker_role role, const char *name,
                    const struct sr_policy_params *params, struct sr_policy **out)
{
    size_t i = policy_index(name);
    if (i == MAX_POLICIES)
        return SR_ERR_INVALID;
    i += (size_t)role * MAX_POLICIES;
    if (s->made[i] == NULL) {
        int err = 0;
        s->made[i] = sr_policy_create(name, params, &err);
        if (s->made[i] == NULL)
            return err ? err : SR_ERR_NOMEM;
    }
    *out = s->made[i];
    return 0;
}

struct sr_settings *sr_settings_new(const struct sr_config *cfg, int *err)
{
    struct sr_settings *s = sr_calloc(1, sizeof(*s));
    int rc = SR_ERR_NOMEM;
    if (s == NULL)
        goto fail;
    pthread_mutex_init(&s->lock, NULL);
    if ((rc = sr_config_init(&s->cfg)) != 0) {
        pthread_mutex_destroy(&s->lock);
        sr_free(s);
        s = NULL;
        goto fail;
    }
    if ((rc = sr_config_copy_runtime(&s->cfg, cfg)) != 0)
        goto fail;
    view_fill(&s->now, &s->cfg);
    s->now.params.key_unit = s->key_unit = 1;
    rc = SR_ERR_NOMEM;
    if ((cfg->prefill_policy &&
         (s->role_policy_name[SR_ROLE_PREFILL] = sr_strdup(cfg->prefill_policy)) == NULL) ||
        (cfg->decode_policy &&
         (s->role_policy_name[SR_ROLE_DECODE] = sr_strdup(cfg->decode_policy)) == NULL))
        goto fail;
    if ((rc = view_policies(s, &s->now, s->cfg.policy)) != 0)
        goto fail;
    atomic_init(&s->version, 1);
    return s;
fail:
    sr_settings_free(s);
    if (err)
        *err = rc;
    return NULL;
}

void sr_settings_free(struct sr_settings *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < MADE; i++)
        sr_policy_destroy(s->made[i]);
    for (int r = 0; r < SR_ROLES; r++)
        sr_free(s->role_policy_name[r]);
    sr_config_clear(&s->cfg);
    pthread_mutex_destroy(&s->lock);
    sr_free(s);
}

const struct sr_settings_view *sr_settings_refresh(struct sr_settings *s,
                                                   struct sr_settings_view *view)
{
    unsigned long v = atomic_load_explicit(&s->version, memory_order_acquire);
    if (v == view->version)
        return view;
    pthread_mutex_lock(&s->lock);
    *view = s->now;
    view->version = atomic_load_explicit(&s->version, memory_order_relaxed);
    pthread_mutex_unlock(&s->lock);
    return view;
}

int sr_settings_update(struct sr_settings *s, const struct sr_settings_change *changes, size_t n,
                       size_t *bad, char *err, size_t errlen)
{
    struct sr_config next;
    int rc = sr_config_init(&next);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    if ((rc = sr_config_copy_runtime(&next, &s->cfg)) != 0)
        goto out;
    unsigned kinds = 0; /* bit (1 << change) for each kind of row changed */
    for (size_t i = 0; i < n; i++) {
        const struct sr_option *o = sr_config_find_option(changes[i].option);
        if (o != NULL && o->runtime != NULL)
            kinds |= 1u << o->runtime->change;
        if (o == NULL || o->runtime == NULL) {
            snprintf(err, errlen, "--%s: %s", changes[i].option,
                     o ? "cannot change while the router runs" : "unknown option");
            rc = SR_ERR_NOT_FOUND;
        } else {
            rc = sr_config_set(&next, changes[i].option, changes[i].value, err, errlen);
        }
        if (rc != 0) {
            if (bad)
                *bad = i;
            goto out;
        }
    }
    struct sr_settings_view now = {0};
    view_fill(&now, &next);
    now.params.key_unit = s->key_unit;
    if ((rc = view_policies(s, &now, next.policy)) != 0) {
        snprintf(err, errlen, "--policy: cannot create %s: %s", next.policy, sr_strerror(rc));
        goto out;
    }
    for (int r = 0; r < SR_ROLES; r++) {
        /* A role's old policy stops seeing where prompts go: forget its
         * history so that switching back starts clean, not from stale
         * beliefs. */
        if (s->now.role_policy[r] != now.role_policy[r])
            sr_policy_forget(s->now.role_policy[r]);
    }
    /* Swap: next takes the old fields and is cleared below. */
    struct sr_config old = s->cfg;
    s->cfg = next;
    next = old;
    s->now = now;
    if (kinds & (1u << SR_CHANGE_POLICY))
        for (size_t i = 0; i < MADE; i++)
            if (s->made[i])
                sr_policy_maintain(s->made[i], &s->now.params);
    if (kinds & (1u << SR_CHANGE_PROCESS))
        sr_config_apply_process(&s->cfg);
    atomic_fetch_add_explicit(&s->version, 1, memory_order_release);
out:
    pthread_mutex_unlock(&s->lock);
    sr_config_clear(&next);
    return rc;
}

int sr_settings_get(struct sr_settings *s, struct sr_config *out)
{
    pthread_mutex_lock(&s->lock);
    int rc = sr_config_copy_runtime(out, &s->cfg);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

struct sr_limits sr_settings_limits(struct sr_settings *s)
{
    pthread_mutex_lock(&s->lock);
    struct sr_limits limits = s->now.limits;
    pthread_mutex_unlock(&s->lock);
    return limits;
}

struct sr_policy *sr_settings_policy(struct sr_settings *s)
{
    pthread_mutex_lock(&s->lock);
    struct sr_policy *p = s->now.policy;
    pthread_mutex_unlock(&s->lock);
    return p;
}

struct sr_policy *sr_settings_role_policy(struct sr_settings *s, enum sr_worker_role role)
{
    pthread_mutex_lock(&s->lock);
    struct sr_policy *p = s->now.role_policy[(unsigned)role < SR_ROLES ? role : 0];
    pthread_mutex_unlock(&s->lock);
    return p;
}

void sr_settings_forget_worker(struct sr_settings *s, struct sr_worker *w)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < MADE; i++)
        if (s->made[i])
            sr_policy_worker_removed(s->made[i], w);
    pthread_mutex_unlock(&s->lock);
}

void sr_settings_forget_all(struct sr_settings *s)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < MADE; i++)
        if (s->made[i])
            sr_policy_forget(s->made[i]);
    pthread_mutex_unlock(&s->lock);
}

void sr_settings_set_key_unit(struct sr_settings *s, size_t unit)
{
    unit = unit > 1 ? unit : 1;
    pthread_mutex_lock(&s->lock);
    if (unit != s->key_unit) {
        s->key_unit = s->now.params.key_unit = unit;
        for (size_t i = 0; i < MADE; i++)
            if (s->made[i]) {
                sr_policy_forget(s->made[i]);
                sr_policy_maintain(s->made[i], &s->now.params);
            }
        atomic_fetch_add_explicit(&s->version, 1, memory_order_release);
    }
    pthread_mutex_unlock(&s->lock);
}

uint64_t sr_settings_maintain(struct sr_settings *s)
{
    uint64_t removed = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < MADE; i++) {
        struct sr_radix_stats before, after;
        if (s->made[i] == NULL)
            continue;
        bool tree = sr_policy_tree_stats(s->made[i], &before);
        sr_policy_maintain(s->made[i], &s->now.params);
        if (tree && sr_policy_tree_stats(s->made[i], &after))
            removed += after.evicted_bytes - before.evicted_bytes;
    }
    pthread_mutex_unlock(&s->lock);
    return removed;
}

bool sr_settings_tree_stats(struct sr_settings *s, struct sr_radix_stats *out)
{
    memset(out, 0, sizeof(*out));
    bool any = false;
    pthread_mutex_lock(&s->lock);
    for (int r = 0; r < SR_ROLES; r++) {
        struct sr_radix_stats st;
        if (!sr_policy_tree_stats(s->now.role_policy[r], &st))
            continue;
        any = true;
        out->node_count += st.node_count;
        out->text_bytes += st.text_bytes;
        out->memory_bytes += st.memory_bytes;
        out->worker_slots += st.worker_slots;
        out->inserts += st.inserts;
        out->evicted_bytes += st.evicted_bytes;
        out->refused_inserts += st.refused_inserts;
        out->passes += st.passes;
    }
    pthread_mutex_unlock(&s->lock);
    return any;
}
