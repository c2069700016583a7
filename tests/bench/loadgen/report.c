/* report: percentiles, hit rate, worker shares (see report.h). */
#include "report.h"

#include "common/alloc.h"

#include <stdlib.h>
#include <string.h>

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

void sr_report_build(const struct sr_result *results, size_t n, double wall_s,
                     struct sr_report *out)
{
    memset(out, 0, sizeof(*out));
    out->total = n;
    out->wall_s = wall_s;
    double *ttft = sr_calloc(n ? n : 1, sizeof(double));
    double *e2e = sr_calloc(n ? n : 1, sizeof(double));
    unsigned long long prompt = 0, cached = 0, generated = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sr_result *r = &results[i];
        if (r->status == 200) {
            if (ttft && e2e) {
                ttft[out->ok] = r->ttft_s;
                e2e[out->ok] = r->e2e_s;
            }
            out->ok++;
            prompt += r->prompt_tokens;
            cached += r->cached_tokens;
            generated += r->completion_tokens;
            const char *wid = r->worker[0] ? r->worker : "unknown";
            size_t k = 0;
            while (k < out->nworkers && strcmp(out->workers[k], wid) != 0)
                k++;
            if (k == out->nworkers && k < 64) {
                snprintf(out->workers[k], sizeof(out->workers[k]), "%s", wid);
                out->nworkers++;
            }
            if (k < 64) {
                out->per_worker[k]++;
                out->per_worker_tokens[k] += r->prompt_tokens;
            }
        } else if (r->status == 429 || r->status == 503) {
            out->rejected++;
        } else {
            out->failed++;
        }
    }
    if (ttft && e2e) {
        qsort(ttft, out->ok, sizeof(double), by_value);
        qsort(e2e, out->ok, sizeof(double), by_value);
        double sum = 0;
        for (size_t i = 0; i < out->ok; i++)
            sum += ttft[i];
        out->ttft_mean = out->ok ? sum / (double)out->ok : 0;
        out->ttft_p50 = pct(ttft, out->ok, 0.50);
        out->ttft_p90 = pct(ttft, out->ok, 0.90);
        out->ttft_p99 = pct(ttft, out->ok, 0.99);
        out->e2e_p50 = pct(e2e, out->ok, 0.50);
        out->e2e_p99 = pct(e2e, out->ok, 0.99);
    }
    sr_free(ttft);
    sr_free(e2e);
    out->rps = wall_s > 0 ? (double)out->ok / wall_s : 0;
    out->output_tps = wall_s > 0 ? (double)generated / wall_s : 0;
    out->hit_rate = prompt ? (double)cached / (double)prompt : 0;
    size_t max = 0;
    unsigned long long max_tokens = 0;
    for (size_t k = 0; k < out->nworkers; k++) {
        max = out->per_worker[k] > max ? out->per_worker[k] : max;
        if (out->per_worker_tokens[k] > max_tokens)
            max_tokens = out->per_worker_tokens[k];
    }
    out->imbalance = out->nworkers ? (double)max * (double)out->nworkers / (double)out->ok : 0;
    out->token_imbalance =
        out->nworkers && prompt ? (double)max_tokens * (double)out->nworkers / (double)prompt : 0;
}

void sr_report_print(const struct sr_report *r, const char *label, FILE *out)
{
    fprintf(out, "== %s ==\n", label);
    fprintf(out, "requests   %zu ok, %zu rejected (429/503), %zu failed, of %zu\n", r->ok,
            r->rejected, r->failed, r->total);
    fprintf(out, "throughput %.1f req/s, %.0f output tokens/s over %.2f s\n", r->rps, r->output_tps,
            r->wall_s);
    fprintf(out, "ttft       mean %.1f ms, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n",
            r->ttft_mean * 1e3, r->ttft_p50 * 1e3, r->ttft_p90 * 1e3, r->ttft_p99 * 1e3);
    fprintf(out, "latency    p50 %.1f ms, p99 %.1f ms\n", r->e2e_p50 * 1e3, r->e2e_p99 * 1e3);
    fprintf(out, "cache hits %.1f%% of prompt tokens\n", r->hit_rate * 100);
    fprintf(out, "workers    %zu, max/mean %.2f (prompt tokens %.2f):", r->nworkers, r->imbalance,
            r->token_imbalance);
    for (size_t k = 0; k < r->nworkers; k++)
        fprintf(out, " %s=%zu", r->workers[k], r->per_worker[k]);
    fprintf(out, "\n");
}

void sr_report_json(const struct sr_report *r, const char *label, FILE *out)
{
    fprintf(out,
            "{\"label\":\"%s\",\"total\":%zu,\"ok\":%zu,\"rejected\":%zu,\"failed\":%zu,"
            "\"wall_s\":%.3f,\"rps\":%.3f,\"output_tps\":%.1f,\"ttft_mean_ms\":%.3f,\"ttft_p50_"
            "ms\":%.3f,"
            "\"ttft_p90_ms\":%.3f,\"ttft_p99_ms\":%.3f,\"e2e_p50_ms\":%.3f,\"e2e_p99_ms\":%.3f,"
            "\"hit_rate\":%.4f,\"imbalance\":%.3f,\"token_imbalance\":%.3f,\"workers\":{",
            label, r->total, r->ok, r->rejected, r->failed, r->wall_s, r->rps, r->output_tps,
            r->ttft_mean * 1e3, r->ttft_p50 * 1e3, r->ttft_p90 * 1e3, r->ttft_p99 * 1e3,
            r->e2e_p50 * 1e3, r->e2e_p99 * 1e3, r->hit_rate, r->imbalance, r->token_imbalance);
    for (size_t k = 0; k < r->nworkers; k++)
        fprintf(out, "%s\"%s\":%zu", k ? "," : "", r->workers[k], r->per_worker[k]);
    fprintf(out, "}}\n");
}

void sr_report_requests_csv(const struct sr_result *results, size_t n, FILE *out)
{
    fprintf(out,
            "index,status,prompt_tokens,cached_tokens,completion_tokens,ttft_ms,e2e_ms,worker\n");
    for (size_t i = 0; i < n; i++) {
        const struct sr_result *r = &results[i];
        fprintf(out, "%zu,%d,%u,%u,%u,%.3f,%.3f,\"", i, r->status, r->prompt_tokens,
                r->cached_tokens, r->completion_tokens, r->ttft_s * 1e3, r->e2e_s * 1e3);
        /* The worker's name is what it said (X-Worker-Id): quoted, and its
         * quotes doubled, so no name can break the line. */
        for (const char *c = r->worker; *c; c++) {
            if (*c == '"')
                fputc('"', out);
            fputc(*c, out);
        }
        fputs("\"\n", out);
    }
}
