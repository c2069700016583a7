/*
 * prom_text: a strict reader of the Prometheus text exposition format
 * (version 0.0.4, what vLLM, llama.cpp and SGLang serve on GET /metrics).
 * A codec: bytes in, samples out; no I/O, no allocation, no global state.
 *
 * The grammar is the format's, checked as Prometheus's own parser checks
 * it: lines end with LF (the last one may lack it); blanks and tabs
 * separate tokens; a line is empty, a comment (`# HELP name text` and
 * `# TYPE name type` are validated, any other `#` line is ignored), or a
 * sample: `name{label="value",...} value [timestamp]`. Metric names are
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label
 * values quoted with the escapes \\ \" \n only (no raw NUL); a value is a
 * decimal float, NaN, +Inf, -Inf or Inf; a timestamp an integer of
 * milliseconds. Anything else fails the whole text with the line number:
 * a worker that answers something else on /metrics is not read at all.
 *
 * Ownership: the sample's name and labels point into the caller's text,
 * valid for the duration of the callback.
 */
#ifndef SR_PROM_TEXT_H
#define SR_PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_prom_sample {
    const char *name; /* the metric name, not NUL-terminated */
    size_t name_len;
    const char *labels; /* between the braces, as written (escapes kept); NULL: none */
    size_t labels_len;
    double value;
    bool has_timestamp;
    int64_t timestamp_ms;
};

/* Called for every sample, in order; a non-zero return stops the parse
 * and becomes its result. */
typedef int (*sr_prom_sample_fn)(void *ctx, const struct sr_prom_sample *s);

/* Parses text[0, len). 0 when every line is well formed (fn saw every
 * sample), fn's non-zero return, or SR_ERR_INVALID with *bad_line (when
 * not NULL) set to the first malformed line, counted from 1. */
int sr_prom_text_parse(const char *text, size_t len, sr_prom_sample_fn fn, void *ctx,
                       size_t *bad_line);

/* Sums, for each of the n names, the values of its samples over every
 * label set into sums[i], and counts them into counts[i] (0: the name is
 * absent). Same result as sr_prom_text_parse. */
int sr_prom_text_sum(const char *text, size_t len, const char *const *names, size_t n, double *sums,
                     size_t *counts, size_t *bad_line);

#endif
