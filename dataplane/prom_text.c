/* prom_text: the Prometheus text format, strictly (see prom_text.h). */
#include "prom_text.h"

#include "common/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One line, [p, end): end is its LF or the end of the text. */
struct cursor {
    const char *p, *end;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void skip_blanks(struct cursor *c)
{
    while (c->p < c->end && is_blank(*c->p))
        c->p++;
}

static bool is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A metric name (colons allowed) or a label name at c->p; its length, 0
 * when there is none. */
static size_t scan_name(struct cursor *c, bool metric)
{
    const char *p = c->p;
    if (p == c->end || !(is_alpha_(*p) || (metric && *p == ':')))
        return 0;
    p++;
    while (p < c->end && (is_alpha_(*p) || is_digit(*p) || (metric && *p == ':')))
        p++;
    size_t n = (size_t)(p - c->p);
    c->p = p;
    return n;
}

/* The token up to the next blank or the line's end. */
static size_t scan_token(struct cursor *c)
{
    const char *p = c->p;
    while (c->p < c->end && !is_blank(*c->p))
        c->p++;
    return (size_t)(c->p - p);
}

static bool equals(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* [+-]? (D+ (. D*)? | . D+) ([eE] [+-]? D+)? */
static bool decimal_float(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < n && is_digit(s[i]))
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp = 0;
        while (i < n && is_digit(s[i]))
            i++, exp++;
        if (exp == 0)
            return false;
    }
    return i == n;
}

static bool parse_value(const char *s, size_t n, double *out)
{
    if (equals(s, n, "NaN")) {
        *out = NAN;
        return true;
    }
    if (equals(s, n, "+Inf") || equals(s, n, "Inf") || equals(s, n, "-Inf")) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    char buf[64];
    if (n == 0 || n >= sizeof(buf) || !decimal_float(s, n))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *endp = NULL;
    *out = strtod(buf, &endp);
    return endp == buf + n;
}

static bool parse_timestamp(const char *s, size_t n, int64_t *out)
{
    size_t i = s[0] == '-';
    if (n == i || n - i > 18)
        return false;
    int64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = s[0] == '-' ? -v : v;
    return true;
}

/* {name="value", ...} at c->p (after the brace); leaves c->p past the
 * closing brace. */
static bool parse_labels(struct cursor *c)
{
    for (;;) {
        skip_blanks(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return true;
        }
        if (scan_name(c, false) == 0)
            return false;
        skip_blanks(c);
        if (c->p == c->end || *c->p++ != '=')
            return false;
        skip_blanks(c);
        if (c->p == c->end || *c->p++ != '"')
            return false;
        while (c->p < c->end && *c->p != '"') {
            if (*c->p == '\0')
                return false;
            if (*c->p == '\\') {
                if (c->end - c->p < 2 || (c->p[1] != '\\' && c->p[1] != '"' && c->p[1] != 'n'))
                    return false;
                c->p++;
            }
            c->p++;
        }
        if (c->p == c->end)
            return false; /* unterminated value */
        c->p++;
        skip_blanks(c);
        if (c->p < c->end && *c->p == ',')
            c->p++;
        else if (c->p == c->end || *c->p != '}')
            return false;
    }
}

static bool parse_sample(struct cursor *c, struct sr_prom_sample *s)
{
    *s = (struct sr_prom_sample){.name = c->p};
    s->name_len = scan_name(c, true);
    if (s->name_len == 0)
        return false;
    const char *after_name = c->p;
    skip_blanks(c);
    if (c->p < c->end && *c->p == '{') {
        s->labels = ++c->p;
        if (!parse_labels(c))
            return false;
        s->labels_len = (size_t)(c->p - 1 - s->labels);
        skip_blanks(c);
    } else if (c->p == after_name) {
        return false; /* a value right after the name ("a-1") */
    }
    const char *v = c->p;
    if (!parse_value(v, scan_token(c), &s->value))
        return false;
    skip_blanks(c);
    if (c->p < c->end) {
        const char *t = c->p;
        if (!parse_timestamp(t, scan_token(c), &s->timestamp_ms))
            return false;
        s->has_timestamp = true;
        skip_blanks(c);
    }
    return c->p == c->end;
}

/* The HELP text: any bytes, with \\ and \n the only escapes. */
static bool help_text(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p == '\\' && (++p == end || (*p != '\\' && *p != 'n')))
            return false;
    return true;
}

static bool type_name(const char *s, size_t n)
{
    static const char *const types[] = {"counter", "gauge", "histogram",      "summary", "untyped",
                                        "unknown", "info",  "gaugehistogram", "stateset"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (equals(s, n, types[i]))
            return true;
    return false;
}

/* A line starting with '#' (c->p past it): HELP and TYPE are checked,
 * other comments pass. */
static bool parse_comment(struct cursor *c)
{
    skip_blanks(c);
    const char *word = c->p;
    size_t n = scan_token(c);
    bool help = equals(word, n, "HELP"), type = equals(word, n, "TYPE");
    if (!help && !type)
        return true;
    if (c->p == c->end || !is_blank(*c->p))
        return false;
    skip_blanks(c);
    if (scan_name(c, true) == 0)
        return false;
    if (c->p < c->end && !is_blank(*c->p))
        return false;
    skip_blanks(c);
    if (help)
        return help_text(c->p, c->end);
    const char *t = c->p;
    size_t tn = scan_token(c);
    skip_blanks(c);
    return type_name(t, tn) && c->p == c->end;
}

int sr_prom_text_parse(const char *text, size_t len, sr_prom_sample_fn fn, void *ctx,
                       size_t *bad_line)
{
    const char *p = text, *end = text + len;
    for (size_t line = 1; p < end; line++) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        struct cursor c = {p, lf ? lf : end};
        p = lf ? lf + 1 : end;
        skip_blanks(&c);
        bool ok = true;
        if (c.p == c.end)
            continue;
        if (*c.p == '#') {
            c.p++;
            ok = parse_comment(&c);
        } else {
            struct sr_prom_sample s;
            ok = parse_sample(&c, &s);
            if (ok) {
                int rc = fn(ctx, &s);
                if (rc != 0)
                    return rc;
            }
        }
        if (!ok) {
            if (bad_line)
                *bad_line = line;
            return SR_ERR_INVALID;
        }
    }
    return 0;
}

struct sum_ctx {
    const char *const *names;
    size_t n;
    double *sums;
    size_t *counts;
};

static int add_sample(void *arg, const struct sr_prom_sample *s)
{
    struct sum_ctx *sc = arg;
    for (size_t i = 0; i < sc->n; i++)
        if (equals(s->name, s->name_len, sc->names[i])) {
            sc->sums[i] += s->value;
            sc->counts[i]++;
        }
    return 0;
}

int sr_prom_text_sum(const char *text, size_t len, const char *const *names, size_t n, double *sums,
                     size_t *counts, size_t *bad_line)
{
    for (size_t i = 0; i < n; i++) {
        sums[i] = 0;
        counts[i] = 0;
    }
    struct sum_ctx sc = {names, n, sums, counts};
    return sr_prom_text_parse(text, len, add_sample, &sc, bad_line);
}
