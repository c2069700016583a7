/* libFuzzer target: dataplane/load_report and dataplane/prom_text on
 * arbitrary bodies, as /get_load and as /metrics answers. A success must
 * give counts within their ceilings; every parsed sample must lie inside
 * the input; a second parse must agree (no hidden state). */
#include "common/err.h"
#include "dataplane/load_report.h"
#include "dataplane/prom_text.h"

#include <stdint.h>

struct bounds {
    const char *begin, *end;
    size_t samples;
};

static int check_sample(void *ctx, const struct sr_prom_sample *s)
{
    struct bounds *b = ctx;
    if (s->name < b->begin || s->name + s->name_len > b->end || s->name_len == 0)
        __builtin_trap();
    if (s->labels && (s->labels < b->begin || s->labels + s->labels_len > b->end))
        __builtin_trap();
    b->samples++;
    return 0;
}

static void check_report(int rc, const struct sr_load_report *r)
{
    if (rc != SR_LOAD_REQUESTS)
        return;
    if (r->running < 0 || r->running > SR_LOAD_MAX_COUNT || r->waiting < 0 ||
        r->waiting > SR_LOAD_MAX_COUNT || r->tokens < -1 || r->tokens > SR_LOAD_MAX_TOKENS ||
        r->engine == NULL)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct sr_load_report a, b;
    int rc = sr_load_report_from_get_load(text, size, &a);
    if (rc != SR_LOAD_REQUESTS && rc != SR_LOAD_TOKENS_ONLY && rc != SR_ERR_INVALID &&
        rc != SR_ERR_NOMEM)
        __builtin_trap();
    check_report(rc, &a);

    rc = sr_load_report_from_metrics(text, size, &a);
    if (rc != 0 && rc != SR_ERR_INVALID && rc != SR_ERR_NOT_FOUND)
        __builtin_trap();
    check_report(rc, &a);
    if (sr_load_report_from_metrics(text, size, &b) != rc ||
        (rc == 0 && (a.running != b.running || a.waiting != b.waiting)))
        __builtin_trap();

    struct bounds bd = {text, text + size, 0};
    size_t bad = 0;
    rc = sr_prom_text_parse(text, size, check_sample, &bd, &bad);
    if ((rc != 0 && rc != SR_ERR_INVALID) || (rc == SR_ERR_INVALID && bad == 0))
        __builtin_trap();
    return 0;
}
