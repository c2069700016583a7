/* load: the load model routing weighs (see load.h). */
#include "load.h"

static double nonneg(long v)
{
    return v > 0 ? (double)v : 0.0;
}

static double own_prefill_tokens(const struct sr_worker *w)
{
    return nonneg(sr_worker_pending_prefill(w)) / SR_BYTES_PER_TOKEN;
}

void sr_load_scan(struct sr_load_scan *out, const struct sr_worker_set *workers,
                  double decode_weight, uint64_t report_max_age_ms, uint64_t now_ms,
                  double request_tokens, double request_decode_tokens)
{
    out->decode_weight = decode_weight;
    out->now_ms = now_ms;
    out->report_max_age = report_max_age_ms;
    double prefill = 0, decode = 0, requests = 0;
    for (size_t i = 0; i < workers->count; i++) {
        const struct sr_worker *w = workers->workers[i];
        prefill += own_prefill_tokens(w);
        decode += nonneg(sr_worker_decode_left(w)) * decode_weight;
        requests += nonneg(sr_worker_load(w));
    }
    if (requests > 0) {
        out->mean_work = (prefill + decode) / requests;
        out->mean_decode = decode / requests;
    } else {
        out->mean_decode = (request_decode_tokens > 0 ? request_decode_tokens : 0) * decode_weight;
        out->mean_work = out->mean_decode + request_tokens;
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
           (nonneg(sr_worker_decode_left(w)) +
            nonneg(atomic_load_explicit(&w->peer_decode, memory_order_relaxed))) *
               scan->decode_weight +
           nonneg(atomic_load_explicit(&w->peer_untold, memory_order_relaxed)) * scan->mean_decode +
           external(scan, w) * scan->mean_work;
}

double sr_load_requests(const struct sr_load_scan *scan, const struct sr_worker *w)
{
    return nonneg(sr_worker_fleet_load(w)) + external(scan, w);
}
