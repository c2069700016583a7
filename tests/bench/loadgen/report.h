/*
 * report: what a run measured, as a readable table and as JSON. Every
 * comparison counts rejections (429, 503) apart from failures: a router
 * can look fast by shedding load.
 */
#ifndef SR_REPORT_H
#define SR_REPORT_H

#include "run.h"

#include <stdio.h>

struct sr_report {
    size_t total, ok, rejected, failed;
    double wall_s, rps, output_tps;
    double ttft_mean;
    double ttft_p50, ttft_p90, ttft_p99, e2e_p50, e2e_p99; /* seconds, ok requests */
    double hit_rate;                                       /* cached / prompt tokens */
    size_t nworkers;
    double imbalance;       /* max / mean requests per worker */
    double token_imbalance; /* max / mean prompt tokens per worker: the work, not the count */
    char workers[64][64];
    size_t per_worker[64];
    unsigned long long per_worker_tokens[64]; /* prompt tokens */
};

void sr_report_build(const struct sr_result *results, size_t n, double wall_s,
                     struct sr_report *out);
void sr_report_print(const struct sr_report *r, const char *label, FILE *out);
void sr_report_json(const struct sr_report *r, const char *label, FILE *out);

/* One line per request, in workload order, after a header line. */
void sr_report_requests_csv(const struct sr_result *results, size_t n, FILE *out);

#endif
