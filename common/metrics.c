/* metrics: histogram buckets and Prometheus text (see metrics.h). */
#include "metrics.h"

const double sr_hist_bounds[SR_HIST_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
};

void sr_histogram_observe(struct sr_histogram *h, double seconds)
{
    size_t i = 0;
    while (i < SR_HIST_BUCKETS && seconds > sr_hist_bounds[i])
        i++;
    sr_counter_add(&h->counts[i], 1);
    sr_counter_add(&h->sum_us, seconds > 0 ? (unsigned long)(seconds * 1e6) : 0);
}

void sr_metrics_write_header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void sr_metrics_write_histogram(FILE *out, const char *name, const char *labels,
                                const struct sr_histogram *const *shards, size_t n)
{
    unsigned long counts[SR_HIST_BUCKETS + 1] = {0}, sum_us = 0;
    for (size_t s = 0; s < n; s++) {
        for (size_t i = 0; i <= SR_HIST_BUCKETS; i++)
            counts[i] += sr_counter_get(&shards[s]->counts[i]);
        sum_us += sr_counter_get(&shards[s]->sum_us);
    }
    const char *sep = labels[0] ? "," : "";
    unsigned long cumulative = 0;
    for (size_t i = 0; i < SR_HIST_BUCKETS; i++) {
        cumulative += counts[i];
        fprintf(out, "%s_bucket{%s%sle=\"%g\"} %lu\n", name, labels, sep, sr_hist_bounds[i],
                cumulative);
    }
    cumulative += counts[SR_HIST_BUCKETS];
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", name, labels, sep, cumulative);
    fprintf(out, "%s_sum{%s} %.6f\n", name, labels, (double)sum_us / 1e6);
    fprintf(out, "%s_count{%s} %lu\n", name, labels, cumulative);
}

void sr_metrics_write_label_value(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', out);
        if (*s == '\n') {
            fputs("\\n", out);
            continue;
        }
        fputc(*s, out);
    }
}
