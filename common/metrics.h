/*
 * metrics: counters and latency histograms in Prometheus' text format.
 *
 * Each event-loop thread owns shards it alone writes (relaxed atomics, so a
 * scrape from another thread reads them without a data race); a scrape
 * merges the shards and writes the text. No I/O: rendering goes to a FILE
 * (e.g. open_memstream).
 */
#ifndef SR_METRICS_H
#define SR_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Upper bounds (seconds) of the histogram buckets; +Inf is implied. */
#define SR_HIST_BUCKETS 16
extern const double sr_hist_bounds[SR_HIST_BUCKETS];

struct sr_histogram {
    atomic_ulong counts[SR_HIST_BUCKETS + 1]; /* per bucket, not cumulative */
    atomic_ulong sum_us;
};

/* One writer thread per histogram. */
void sr_histogram_observe(struct sr_histogram *h, double seconds);

/* Relaxed add for single-writer counters. */
static inline void sr_counter_add(atomic_ulong *c, unsigned long n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline unsigned long sr_counter_get(const atomic_ulong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* "# HELP" and "# TYPE" lines. */
void sr_metrics_write_header(FILE *out, const char *name, const char *type, const char *help);

/* The merged histogram of n shards, as name_bucket/_sum/_count lines with
 * labels (e.g. "route=\"/generate\"", or "" for none). */
void sr_metrics_write_histogram(FILE *out, const char *name, const char *labels,
                                const struct sr_histogram *const *shards, size_t n);

/* Writes s with Prometheus label-value escaping (\\, \", \n). */
void sr_metrics_write_label_value(FILE *out, const char *s);

#endif
