/* load_report: a worker's own load from its /get_load or /metrics body
 * (see load_report.h). */
#include "load_report.h"

#include "prom_text.h"

#include "common/err.h"

#include <jansson.h>
#include <math.h>

/* An integer field of a rank, within [0, max]; false when absent, of
 * another type or out of range. */
static bool count_field(const json_t *rank, const char *name, json_int_t max, json_int_t *out)
{
    const json_t *v = json_object_get(rank, name);
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return *out >= 0 && *out <= max;
}

/* [{"num_reqs", "num_waiting_reqs", "num_tokens"}, ...]: the sums. */
static int from_ranks(const json_t *ranks, struct sr_load_report *out)
{
    size_t n = json_array_size(ranks);
    if (n == 0)
        return SR_ERR_INVALID; /* no rank has a fresh figure */
    json_int_t running = 0, waiting = 0, tokens = 0;
    bool have_tokens = true;
    for (size_t i = 0; i < n; i++) {
        const json_t *rank = json_array_get(ranks, i);
        json_int_t reqs, w, t;
        if (!json_is_object(rank) || !count_field(rank, "num_reqs", SR_LOAD_MAX_COUNT, &reqs) ||
            !count_field(rank, "num_waiting_reqs", SR_LOAD_MAX_COUNT, &w) || w > reqs)
            return SR_ERR_INVALID;
        running += reqs - w;
        waiting += w;
        if (json_object_get(rank, "num_tokens") == NULL)
            have_tokens = false;
        else if (!count_field(rank, "num_tokens", SR_LOAD_MAX_TOKENS, &t))
            return SR_ERR_INVALID;
        else
            tokens += t;
        if (running > SR_LOAD_MAX_COUNT || waiting > SR_LOAD_MAX_COUNT ||
            tokens > SR_LOAD_MAX_TOKENS)
            return SR_ERR_INVALID;
    }
    *out = (struct sr_load_report){
        .running = (long)running,
        .waiting = (long)waiting,
        .tokens = have_tokens ? (long)tokens : -1,
        .engine = "sglang",
    };
    return SR_LOAD_REQUESTS;
}

int sr_load_report_from_get_load(const char *body, size_t len, struct sr_load_report *out)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return json_error_code(&jerr) == json_error_out_of_memory ? SR_ERR_NOMEM : SR_ERR_INVALID;
    int rc = SR_ERR_INVALID;
    json_int_t tokens;
    if (json_is_array(root)) {
        rc = from_ranks(root, out);
    } else if (json_is_object(root) && count_field(root, "load", SR_LOAD_MAX_TOKENS, &tokens)) {
        *out = (struct sr_load_report){
            .running = -1, .waiting = -1, .tokens = (long)tokens, .engine = "sglang"};
        rc = SR_LOAD_TOKENS_ONLY;
    }
    json_decref(root);
    return rc;
}

/* A gauge's sum as a count: finite, whole, within [0, SR_LOAD_MAX_COUNT]. */
static bool as_count(double v, long *out)
{
    if (!isfinite(v) || v < 0 || v > (double)SR_LOAD_MAX_COUNT || v != floor(v))
        return false;
    *out = (long)v;
    return true;
}

int sr_load_report_from_metrics(const char *text, size_t len, struct sr_load_report *out)
{
    static const struct {
        const char *engine;
        const char *running, *waiting;
    } families[] = {
        {"sglang", "sglang:num_running_reqs", "sglang:num_queue_reqs"},
        {"vllm", "vllm:num_requests_running", "vllm:num_requests_waiting"},
        {"llamacpp", "llamacpp:requests_processing", "llamacpp:requests_deferred"},
    };
    enum { NFAMILIES = sizeof(families) / sizeof(families[0]) };
    const char *names[2 * NFAMILIES];
    for (size_t i = 0; i < NFAMILIES; i++) {
        names[2 * i] = families[i].running;
        names[2 * i + 1] = families[i].waiting;
    }
    double sums[2 * NFAMILIES];
    size_t counts[2 * NFAMILIES];
    int rc = sr_prom_text_sum(text, len, names, 2 * NFAMILIES, sums, counts, NULL);
    if (rc != 0)
        return SR_ERR_INVALID;
    for (size_t i = 0; i < NFAMILIES; i++) {
        if (counts[2 * i] == 0 || counts[2 * i + 1] == 0)
            continue;
        long running, waiting;
        if (!as_count(sums[2 * i], &running) || !as_count(sums[2 * i + 1], &waiting))
            return SR_ERR_INVALID;
        *out = (struct sr_load_report){
            .running = running, .waiting = waiting, .tokens = -1, .engine = families[i].engine};
        return 0;
    }
    return SR_ERR_NOT_FOUND;
}
