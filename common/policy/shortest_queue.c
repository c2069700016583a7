/* policy/shortest_queue: the routable worker with the least work (the
 * load model of load.h: prefill and decode tokens outstanding; with
 * requests all alike, the fewest in flight); ties broken at random. */
#include "../alloc.h"
#include "../err.h"
#include "../policy.h"

static int shortest_queue_select(struct sr_policy *p, const struct sr_route_request *req,
                                 struct sr_worker **out)
{
    (void)p;
    *out = sr_route_pick_least_loaded(req, NULL, NULL, NULL);
    return *out ? 0 : SR_ERR_NO_WORKER;
}

static void shortest_queue_destroy(struct sr_policy *p)
{
    sr_free(p);
}

static const struct sr_policy_ops shortest_queue_ops = {
    .name = "shortest_queue",
    .select = shortest_queue_select,
    .destroy = shortest_queue_destroy,
};

struct sr_policy *sr_policy_shortest_queue_new(const struct sr_policy_params *params)
{
    (void)params;
    struct sr_policy *p = sr_malloc(sizeof(*p));
    if (p != NULL)
        p->ops = &shortest_queue_ops;
    return p;
}
