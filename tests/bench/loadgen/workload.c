/* workload: deterministic benchmark requests (see workload.h). */
#include "workload.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/rand.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int errorf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int errorf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

static const char *const words[] = {
    "alpha", "bravo", "cargo",  "delta", "ember",  "fable", "gamma",  "harbor", "ivory",  "jolly",
    "karma", "lemon", "mango",  "noble", "ocean",  "piano", "quartz", "raven",  "solar",  "tango",
    "ultra", "vivid", "walnut", "xenon", "yacht",  "zebra", "amber",  "birch",  "cedar",  "dune",
    "eagle", "fern",  "grove",  "hazel", "island", "jade",  "kite",   "lotus",  "maple",  "nectar",
    "orbit", "pearl", "quill",  "river", "stone",  "tulip", "umber",  "valley", "willow", "yarrow",
};

void sr_wl_text(uint64_t seed, uint64_t a, uint64_t b, char *out, size_t len)
{
    struct sr_rng rng;
    sr_rng_seed(&rng, seed * 0x9e3779b97f4a7c15ULL ^ (a + 1) * 0xbf58476d1ce4e5b9ULL ^
                          (b + 1) * 0x94d049bb133111ebULL);
    size_t n = 0;
    const size_t nwords = sizeof(words) / sizeof(words[0]);
    while (n < len) {
        const char *w = words[sr_rng_below(&rng, (uint32_t)nwords)];
        size_t wl = strlen(w);
        for (size_t i = 0; i < wl && n < len; i++)
            out[n++] = w[i];
        if (n < len)
            out[n++] = ' ';
    }
}

static int grow(struct sr_workload *w, size_t *cap)
{
    return sr_grow((void **)&w->reqs, cap, w->n + 1, sizeof(*w->reqs), 256, SIZE_MAX) == 0
               ? 0
               : SR_ERR_NOMEM;
}

static int shared_prefix(const struct sr_wl_params *p, struct sr_workload *w, char *err,
                         size_t errlen)
{
    if (p->groups < 1 || p->prompts_per_group < 1 || p->system_tokens < 0 || p->question_tokens < 1)
        return errorf(err, errlen, SR_ERR_INVALID,
                      "shared-prefix needs groups >= 1, prompts >= 1, question tokens >= 1");
    size_t n = (size_t)p->groups * (size_t)p->prompts_per_group;
    w->reqs = sr_calloc(n, sizeof(*w->reqs));
    if (w->reqs == NULL)
        return SR_ERR_NOMEM;
    size_t sys = (size_t)p->system_tokens * SR_WL_BYTES_PER_TOKEN;
    size_t q = (size_t)p->question_tokens * SR_WL_BYTES_PER_TOKEN;
    for (long g = 0; g < p->groups; g++) {
        for (long k = 0; k < p->prompts_per_group; k++) {
            struct sr_wl_request *r = &w->reqs[w->n++];
            r->prompt = sr_malloc(sys + q);
            if (r->prompt == NULL)
                return SR_ERR_NOMEM;
            sr_wl_text(p->seed, (uint64_t)g, UINT32_MAX, r->prompt, sys);
            sr_wl_text(p->seed, (uint64_t)g, (uint64_t)k, r->prompt + sys, q);
            if (sys > 0 && q > 0)
                r->prompt[sys - 1] = '\n'; /* system prompt, then the question */
            r->prompt_len = sys + q;
            r->output_tokens = (uint32_t)p->output_tokens;
            r->group = (uint32_t)g;
        }
    }
    /* Seeded Fisher-Yates shuffle: groups interleave, as real traffic does. */
    struct sr_rng rng;
    sr_rng_seed(&rng, p->seed ^ 0x5851f42d4c957f2dULL);
    for (size_t i = w->n; i > 1; i--) {
        size_t j = sr_rng_below(&rng, (uint32_t)i);
        struct sr_wl_request t = w->reqs[i - 1];
        w->reqs[i - 1] = w->reqs[j];
        w->reqs[j] = t;
    }
    return 0;
}

static int multi_turn(const struct sr_wl_params *p, struct sr_workload *w, char *err, size_t errlen)
{
    if (p->users < 1 || p->turns < 1 || p->message_tokens < 1)
        return errorf(err, errlen, SR_ERR_INVALID,
                      "multi-turn needs users >= 1, turns >= 1, message tokens >= 1");
    size_t n = (size_t)p->users * (size_t)p->turns;
    w->reqs = sr_calloc(n, sizeof(*w->reqs));
    if (w->reqs == NULL)
        return SR_ERR_NOMEM;
    size_t len = (size_t)p->message_tokens * SR_WL_BYTES_PER_TOKEN;
    /* Ordered by turn, then user: turn t of every user before turn t + 1. */
    for (long t = 0; t < p->turns; t++) {
        for (long u = 0; u < p->users; u++) {
            struct sr_wl_request *r = &w->reqs[w->n++];
            r->prompt = sr_malloc(len);
            if (r->prompt == NULL)
                return SR_ERR_NOMEM;
            sr_wl_text(p->seed, 1000000 + (uint64_t)u, (uint64_t)t, r->prompt, len);
            r->prompt_len = len;
            r->output_tokens = (uint32_t)p->output_tokens;
            r->group = (uint32_t)u;
            r->turn = (uint32_t)t;
        }
    }
    return 0;
}

/* One trace line into r. */
static int trace_line(const struct sr_wl_params *p, const char *line, size_t index,
                      struct sr_wl_request *r, char *err, size_t errlen)
{
    json_t *o = json_loads(line, 0, NULL);
    const json_t *ts = json_object_get(o, "timestamp");
    const json_t *in = json_object_get(o, "input_length");
    const json_t *out = json_object_get(o, "output_length");
    const json_t *ids = json_object_get(o, "hash_ids");
    if (!json_is_number(ts) || !json_is_number(in) || !json_is_number(out) || !json_is_array(ids) ||
        json_number_value(in) < 1 || json_number_value(in) > 4e6) {
        json_decref(o);
        return errorf(err, errlen, SR_ERR_INVALID,
                      "%s: line %zu: expected timestamp, input_length, output_length, hash_ids",
                      p->trace_path, index + 1);
    }
    /* Scaled down, the trace keeps its shape: every length and the block
     * shrink together, so the same blocks are shared, each shorter. */
    double scale = p->length_scale > 0 ? p->length_scale : 1.0;
    double outputs = json_number_value(out) * scale + 0.5;
    r->arrival_ms = json_number_value(ts);
    r->output_tokens = outputs < 1 ? 1 : (uint32_t)outputs;
    r->nhash = json_array_size(ids);
    r->hash_ids = sr_calloc(r->nhash ? r->nhash : 1, sizeof(*r->hash_ids));
    double tokens = json_number_value(in) * scale + 0.5;
    size_t len = (tokens < 1 ? 1 : (size_t)tokens) * SR_WL_BYTES_PER_TOKEN;
    r->prompt = sr_malloc(len);
    if (r->hash_ids == NULL || r->prompt == NULL) {
        json_decref(o);
        return SR_ERR_NOMEM;
    }
    size_t k;
    const json_t *id;
    json_array_foreach(ids, k, id) r->hash_ids[k] = (int64_t)json_number_value(id);
    json_decref(o);
    /* Block i is the text of hash id i (its own seed), so equal ids are equal
     * text; past the listed blocks the text is unique to this request. */
    double block_tokens = SR_WL_BLOCK_TOKENS * scale + 0.5;
    const size_t block = (block_tokens < 1 ? 1 : (size_t)block_tokens) * SR_WL_BYTES_PER_TOKEN;
    for (size_t off = 0, b = 0; off < len; off += block, b++) {
        size_t n = len - off < block ? len - off : block;
        if (b < r->nhash)
            sr_wl_text(p->seed, 2000000, (uint64_t)r->hash_ids[b], r->prompt + off, n);
        else
            sr_wl_text(p->seed, 3000000 + index, b, r->prompt + off, n);
    }
    r->prompt_len = len;
    return 0;
}

static int trace(const struct sr_wl_params *p, struct sr_workload *w, char *err, size_t errlen)
{
    FILE *f = fopen(p->trace_path ? p->trace_path : "", "r");
    if (f == NULL)
        return errorf(err, errlen, SR_ERR_NOT_FOUND, "cannot read trace %s",
                      p->trace_path ? p->trace_path : "(none given)");
    char *line = NULL;
    size_t cap = 0, wcap = 0;
    ssize_t got;
    int rc = 0;
    long skipped = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) > 0) {
        if (got <= 1)
            continue;
        if (skipped < p->trace_start) {
            skipped++;
            continue;
        }
        if (p->max_requests > 0 && w->n >= (size_t)p->max_requests)
            break;
        if ((rc = grow(w, &wcap)) != 0)
            break;
        memset(&w->reqs[w->n], 0, sizeof(w->reqs[0]));
        rc = trace_line(p, line, w->n, &w->reqs[w->n], err, errlen);
        w->n++;
    }
    free(line);
    fclose(f);
    if (rc == 0 && w->n == 0)
        rc = errorf(err, errlen, SR_ERR_INVALID, "%s: no requests%s", p->trace_path,
                    p->trace_start > 0 ? " after --trace-start" : "");
    for (size_t i = 1; rc == 0 && i < w->n; i++) /* a later window starts at its own time 0 */
        w->reqs[i].arrival_ms -= w->reqs[0].arrival_ms;
    if (rc == 0)
        w->reqs[0].arrival_ms = 0;
    return rc;
}

int sr_workload_build(const struct sr_wl_params *p, struct sr_workload *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->kind = p->kind;
    int rc;
    switch (p->kind) {
    case SR_WL_SHARED_PREFIX:
        rc = shared_prefix(p, out, err, errlen);
        break;
    case SR_WL_MULTI_TURN:
        rc = multi_turn(p, out, err, errlen);
        break;
    default:
        rc = trace(p, out, err, errlen);
        break;
    }
    if (rc == SR_ERR_NOMEM)
        errorf(err, errlen, rc, "out of memory");
    if (rc == 0 && p->max_requests > 0 && out->n > (size_t)p->max_requests) {
        for (size_t i = (size_t)p->max_requests; i < out->n; i++) {
            sr_free(out->reqs[i].prompt);
            sr_free(out->reqs[i].hash_ids);
        }
        out->n = (size_t)p->max_requests;
    }
    if (rc != 0)
        sr_workload_free(out);
    return rc;
}

void sr_workload_free(struct sr_workload *w)
{
    for (size_t i = 0; w->reqs && i < w->n; i++) {
        sr_free(w->reqs[i].prompt);
        sr_free(w->reqs[i].hash_ids);
    }
    sr_free(w->reqs);
    memset(w, 0, sizeof(*w));
}
