/* policy/random: every request to a uniformly random routable worker. */
#include "../alloc.h"
#include "../err.h"
#include "../policy.h"

static int random_select(struct sr_policy *p, const struct sr_route_request *req,
                         struct sr_worker **out)
{
    (void)p;
    *out = sr_route_pick_random(req);
    return *out ? 0 : SR_ERR_NO_WORKER;
}

static void random_destroy(struct sr_policy *p)
{
    sr_free(p);
}

static const struct sr_policy_ops random_ops = {
    .name = "random",
    .select = random_select,
    .destroy = random_destroy,
};

struct sr_policy *sr_policy_random_new(const struct sr_policy_params *params)
{
    (void)params;
    struct sr_policy *p = sr_malloc(sizeof(*p));
    if (p != NULL)
        p->ops = &random_ops;
    return p;
}
