/* load: the load model routing weighs (see load.h). */
#include "load.h"

#include "policy.h"

static double nonneg(long v)
{
    return v > 0 ? (double)v : 0.0;
}

static double own_prefill_tokens(const struct sr_worker *w)
{
    return nonneg(sr_worker_pending_prefill(w)) / SR_BYTES_PER_TOKEN;
}

void sr_load_scan(const struct sr_route_request *req, struct sr_load_scan *out)
{
    const struct sr_policy_params *prm = req->params;
    out->decode_weight = prm->decode_weight;
    out->now_ms = req->now_ms;
    out->report_max_age = prm->report_max_age_ms;
    double prefill = 0, decode = 0, requests = 0;
    for (size_t i = 0; i < req->workers->count; i++) {
        const struct sr_worker *w = req->workers->workers[i];
        prefill += own_prefill_tokens(w);
        decode += nonneg(sr_worker_decode_left(w)) * prm->decode_weight;
        requests += nonneg(sr_worker_load(w));
    }
    if (requests > 0) {
        out->mean_work = (prefill + decode) / requests;
        out->mean_decode = decode / requests;
    } else {
        out->mean_decode = nonneg(req->decode_tokens) * prm->decode_weight;
        out->mean_work = out->mean_decode + (double)req->text_len *
                                                (double)sr_policy_key_unit(prm) /
                                                SR_BYTES_PER_TOKEN;
    }
    if (out->mean_work < 1)
        out->mean_work = 1;
}

static double external(const struct sr_load_scan *scan, const struct sr_worker *w)
{
    return nonneg(sr_worker_external_load(w, scan->now_ms, scan->report_max_age));
}

double sr_load_work(const struct sr_load_scan *scan, const struct sr_worker *w)
{
    return own_prefill_tokens(w) +
           nonneg(atomic_load_explicit(&w->peer_prefill, memory_order_relaxed)) /
               SR_BYTES_PER_TOKEN +
           nonneg(sr_worker_decode_left(w)) * scan->decode_weight +
           nonneg(atomic_load_explicit(&w->peer_in_flight, memory_order_relaxed)) *
               scan->mean_decode +
           external(scan, w) * scan->mean_work;
}

double sr_load_requests(const struct sr_load_scan *scan, const struct sr_worker *w)
{
    return nonneg(sr_worker_fleet_load(w)) + external(scan, w);
}
