/* policy/round_robin: routable workers in turn. A shared atomic cursor walks
 * the snapshot; workers that are unhealthy or excluded are skipped, so the
 * healthy ones still share the traffic evenly. */
#include "../alloc.h"
#include "../err.h"
#include "../policy.h"

#include <stdatomic.h>

struct round_robin {
    struct sr_policy base;
    atomic_uint_fast64_t cursor;
};

static int round_robin_select(struct sr_policy *p, const struct sr_route_request *req,
                              struct sr_worker **out)
{
    struct round_robin *rr = (struct round_robin *)p;
    size_t n = req->workers->count;
    if (n == 0)
        return SR_ERR_NO_WORKER;
    uint64_t start = atomic_fetch_add_explicit(&rr->cursor, 1, memory_order_relaxed);
    for (size_t i = 0; i < n; i++) {
        struct sr_worker *w = req->workers->workers[(start + i) % n];
        if (sr_route_allows(req, w)) {
            /* Skipped workers advance the cursor too, so the next request
             * does not land on the same worker again. */
            if (i > 0)
                atomic_fetch_add_explicit(&rr->cursor, i, memory_order_relaxed);
            *out = w;
            return 0;
        }
    }
    return SR_ERR_NO_WORKER;
}

static void round_robin_destroy(struct sr_policy *p)
{
    sr_free(p);
}

static const struct sr_policy_ops round_robin_ops = {
    .name = "round_robin",
    .select = round_robin_select,
    .destroy = round_robin_destroy,
};

struct sr_policy *sr_policy_round_robin_new(const struct sr_policy_params *params)
{
    (void)params;
    struct round_robin *rr = sr_malloc(sizeof(*rr));
    if (rr == NULL)
        return NULL;
    rr->base.ops = &round_robin_ops;
    atomic_init(&rr->cursor, 0);
    return &rr->base;
}
