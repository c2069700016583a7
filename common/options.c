/* options: table-driven argv parsing, validation and --help (see options.h). */
#include "options.h"

#include "worker_spec.h"

#include "alloc.h"
#include "err.h"
#include "url.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const struct sr_option *sr_options_find(const struct sr_option *table, const char *name)
{
    for (const struct sr_option *o = table; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static int errorf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int errorf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int parse_number(const struct sr_option *o, const char *value, double *out, char *err,
                        size_t errlen)
{
    char *end = NULL;
    errno = 0;
    bool integer = o->type == SR_OPT_INT;
    double v;
    if (integer) {
        long long n = strtoll(value, &end, 10);
        v = (double)n;
    } else {
        v = strtod(value, &end);
    }
    if (value[0] == '\0' || value[0] == ' ' || *end != '\0' || errno == ERANGE || !isfinite(v))
        return errorf(err, errlen, SR_ERR_INVALID, "--%s: must be %s (got '%s')", o->name,
                      integer ? "an integer" : "a number", value);
    if (v < o->min || v > o->max)
        return errorf(err, errlen, SR_ERR_INVALID, "--%s: must be between %.15g and %.15g (got %s)",
                      o->name, o->min, o->max, value);
    *out = v;
    return 0;
}

static int set_string(char **slot, const char *value)
{
    char *copy = sr_strdup(value);
    if (copy == NULL)
        return SR_ERR_NOMEM;
    sr_free(*slot);
    *slot = copy;
    return 0;
}

static int append_url(struct sr_strlist *list, const struct sr_option *o, const char *value,
                      char *err, size_t errlen)
{
    struct sr_url url;
    const char *why = NULL;
    int rc = sr_url_parse(value, strlen(value), &url, &why);
    if (rc == SR_ERR_NOMEM)
        return rc;
    if (rc != 0)
        return errorf(err, errlen, rc, "--%s: invalid URL '%s': %s", o->name, value, why);
    for (size_t i = 0; i < list->n; i++) {
        if (strcmp(list->items[i], url.canonical) == 0) {
            sr_url_clear(&url);
            return errorf(err, errlen, SR_ERR_INVALID, "--%s: duplicate worker URL '%s'", o->name,
                          value);
        }
    }
    char **items = sr_realloc(list->items, (list->n + 1) * sizeof(*items));
    if (items == NULL) {
        sr_url_clear(&url);
        return SR_ERR_NOMEM;
    }
    list->items = items;
    items[list->n++] = url.canonical; /* taken over from url */
    url.canonical = NULL;
    sr_url_clear(&url);
    return 0;
}

/* Appends a copy of value to list. 0 or SR_ERR_NOMEM. */
static int list_push(struct sr_strlist *list, const char *value)
{
    char *copy = sr_strdup(value);
    char **items = copy ? sr_realloc(list->items, (list->n + 1) * sizeof(*items)) : NULL;
    if (items == NULL) {
        sr_free(copy);
        return SR_ERR_NOMEM;
    }
    list->items = items;
    items[list->n++] = copy;
    return 0;
}

/* A worker spec (worker_spec.h) in canonical text form; the URL not twice. */
static int append_worker(struct sr_strlist *list, const struct sr_option *o, const char *value,
                         enum sr_worker_role role, char *err, size_t errlen)
{
    struct sr_worker_spec_text t;
    const char *why = NULL;
    int rc = sr_worker_spec_parse(value, role, &t, &why);
    if (rc == SR_ERR_NOMEM)
        return rc;
    if (rc != 0)
        return errorf(err, errlen, rc, "--%s: invalid worker '%s': %s", o->name, value, why);
    size_t ulen = strlen(t.spec.url);
    for (size_t i = 0; i < list->n; i++) {
        const char *item = list->items[i];
        if (strncmp(item, t.spec.url, ulen) == 0 &&
            (item[ulen] == '\0' || item[ulen] == '@' || item[ulen] == ' ')) {
            sr_worker_spec_text_clear(&t);
            return errorf(err, errlen, SR_ERR_INVALID, "--%s: duplicate worker URL '%s'", o->name,
                          value);
        }
    }
    char text[2048];
    sr_worker_spec_format(&t.spec, text, sizeof(text));
    sr_worker_spec_text_clear(&t);
    return list_push(list, text);
}

static int append_string(struct sr_strlist *list, const struct sr_option *o, const char *value,
                         char *err, size_t errlen)
{
    if (value[0] == '\0')
        return errorf(err, errlen, SR_ERR_INVALID, "--%s: must not be empty", o->name);
    return list_push(list, value);
}

static int set_choice(const struct sr_option *o, char **field, const char *value, char *err,
                      size_t errlen)
{
    for (size_t i = 0; o->choices[i]; i++)
        if (strcmp(value, o->choices[i]) == 0)
            return set_string(field, value);
    char list[256] = "";
    for (size_t i = 0; o->choices[i]; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", o->choices[i]);
    }
    return errorf(err, errlen, SR_ERR_INVALID, "--%s: must be one of %s (got '%s')", o->name, list,
                  value);
}

static int set_option(void *base, const struct sr_option *o, const char *value, char *err,
                      size_t errlen)
{
    void *field = (char *)base + o->offset;
    double number;
    int rc;
    switch (o->type) {
    case SR_OPT_STRING:
        if (value[0] == '\0')
            return errorf(err, errlen, SR_ERR_INVALID, "--%s: must not be empty", o->name);
        return set_string(field, value);
    case SR_OPT_INT:
        if ((rc = parse_number(o, value, &number, err, errlen)) != 0)
            return rc;
        *(long *)field = (long)number;
        return 0;
    case SR_OPT_FLOAT:
        if ((rc = parse_number(o, value, &number, err, errlen)) != 0)
            return rc;
        *(double *)field = number;
        return 0;
    case SR_OPT_CHOICE:
        return set_choice(o, field, value, err, errlen);
    case SR_OPT_URL_LIST:
        return append_url(field, o, value, err, errlen);
    case SR_OPT_STRING_LIST:
        return append_string(field, o, value, err, errlen);
    case SR_OPT_WORKER_LIST:
        return append_worker(field, o, value, SR_ROLE_REGULAR, err, errlen);
    case SR_OPT_PREFILL_LIST:
        return append_worker(field, o, value, SR_ROLE_PREFILL, err, errlen);
    case SR_OPT_FLAG:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            *(bool *)field = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            *(bool *)field = false;
        else
            return errorf(err, errlen, SR_ERR_INVALID, "--%s: must be true or false (got '%s')",
                          o->name, value);
        return 0;
    }
    return SR_ERR_INVALID;
}

int sr_options_set(const struct sr_option *table, void *base, const char *name, const char *value,
                   char *err, size_t errlen)
{
    const struct sr_option *o = sr_options_find(table, name);
    if (o == NULL)
        return errorf(err, errlen, SR_ERR_NOT_FOUND, "unknown option --%s", name);
    int rc = set_option(base, o, value, err, errlen);
    if (rc == SR_ERR_NOMEM)
        errorf(err, errlen, rc, "--%s: out of memory", name);
    return rc;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

int sr_options_load_file(const struct sr_option *table, void *base, const char *path, char *err,
                         size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errorf(err, errlen, SR_ERR_IO, "%s: %s", path, strerror(errno));
    char line[4096], msg[512];
    int rc = 0;
    for (unsigned lineno = 1; rc == 0 && fgets(line, sizeof(line), f); lineno++) {
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = errorf(err, errlen, SR_ERR_INVALID, "%s:%u: line too long", path, lineno);
            break;
        }
        char *text = trim(line);
        if (text[0] == '\0' || text[0] == '#')
            continue;
        char *eq = strchr(text, '=');
        if (eq == NULL) {
            rc = errorf(err, errlen, SR_ERR_INVALID, "%s:%u: expected name = value", path, lineno);
            break;
        }
        *eq = '\0';
        char *name = trim(text), *value = trim(eq + 1);
        rc = sr_options_set(table, base, name, value, msg, sizeof(msg));
        if (rc != 0)
            errorf(err, errlen, rc, "%s:%u: %s", path, lineno, msg);
    }
    if (rc == 0 && ferror(f))
        rc = errorf(err, errlen, SR_ERR_IO, "%s: read error", path);
    fclose(f);
    return rc;
}

int sr_options_copy_runtime(const struct sr_option *table, void *dst, const void *src)
{
    for (const struct sr_option *o = table; o->name; o++) {
        if (o->runtime == NULL)
            continue;
        void *to = (char *)dst + o->offset;
        const void *from = (const char *)src + o->offset;
        switch (o->type) {
        case SR_OPT_INT:
            *(long *)to = *(const long *)from;
            break;
        case SR_OPT_FLOAT:
            *(double *)to = *(const double *)from;
            break;
        case SR_OPT_FLAG:
            *(bool *)to = *(const bool *)from;
            break;
        case SR_OPT_STRING:
        case SR_OPT_CHOICE:
            if (*(char *const *)from && set_string(to, *(char *const *)from) != 0)
                return SR_ERR_NOMEM;
            break;
        case SR_OPT_URL_LIST:
        case SR_OPT_STRING_LIST:
        case SR_OPT_WORKER_LIST:
        case SR_OPT_PREFILL_LIST:
            return SR_ERR_INVALID; /* no list is runtime-mutable */
        }
    }
    return 0;
}

int sr_options_init(const struct sr_option *table, void *base, size_t size)
{
    memset(base, 0, size);
    for (const struct sr_option *o = table; o->name; o++) {
        if (o->default_value == NULL)
            continue;
        int rc = set_option(base, o, o->default_value, NULL, 0);
        if (rc != 0) {
            sr_options_clear(table, base, size);
            return rc;
        }
    }
    return 0;
}

void sr_options_clear(const struct sr_option *table, void *base, size_t size)
{
    if (base == NULL)
        return;
    for (const struct sr_option *o = table; o->name; o++) {
        void *field = (char *)base + o->offset;
        if (o->type == SR_OPT_STRING || o->type == SR_OPT_CHOICE) {
            sr_free(*(char **)field);
        } else if (o->type == SR_OPT_URL_LIST || o->type == SR_OPT_STRING_LIST ||
                   o->type == SR_OPT_WORKER_LIST || o->type == SR_OPT_PREFILL_LIST) {
            struct sr_strlist *list = field;
            for (size_t i = 0; i < list->n; i++)
                sr_free(list->items[i]);
            sr_free(list->items);
        }
    }
    memset(base, 0, size);
}

static bool is_flag(const char *arg)
{
    return strncmp(arg, "--", 2) == 0 && arg[2] != '\0';
}

int sr_options_parse_args(const struct sr_option *table, void *base, int argc, char **argv,
                          char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
            return SR_OPTIONS_HELP;
        if (!is_flag(arg))
            return errorf(err, errlen, SR_ERR_INVALID, "unexpected argument '%s'", arg);

        char name[64];
        const char *eq = strchr(arg + 2, '=');
        size_t name_len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (name_len >= sizeof(name))
            return errorf(err, errlen, SR_ERR_INVALID, "unknown option %s", arg);
        memcpy(name, arg + 2, name_len);
        name[name_len] = '\0';
        const struct sr_option *o = sr_options_find(table, name);
        if (o == NULL)
            return errorf(err, errlen, SR_ERR_INVALID, "unknown option --%s (see --help)", name);

        int rc;
        if (eq != NULL) {
            rc = sr_options_set(table, base, name, eq + 1, err, errlen);
        } else if (o->type == SR_OPT_FLAG) {
            rc = sr_options_set(table, base, name, "true", err, errlen);
        } else if (i + 1 >= argc || is_flag(argv[i + 1])) {
            rc = errorf(err, errlen, SR_ERR_INVALID, "--%s: expected %s", name,
                        o->type == SR_OPT_URL_LIST || o->type == SR_OPT_WORKER_LIST
                            ? "at least one value"
                            : "a value");
        } else if (o->type == SR_OPT_PREFILL_LIST) {
            /* URL, then its bootstrap port when the next argument is one. */
            const char *url = argv[++i];
            const char *next = i + 1 < argc ? argv[i + 1] : "";
            bool port = strcmp(next, "none") == 0 || (next[0] >= '0' && next[0] <= '9');
            char joined[2048];
            if (port &&
                snprintf(joined, sizeof(joined), "%s %s", url, next) < (int)sizeof(joined)) {
                i++;
                rc = sr_options_set(table, base, name, joined, err, errlen);
            } else {
                rc = sr_options_set(table, base, name, url, err, errlen);
            }
        } else if (o->type == SR_OPT_URL_LIST || o->type == SR_OPT_WORKER_LIST) {
            rc = 0;
            while (rc == 0 && i + 1 < argc && !is_flag(argv[i + 1]))
                rc = sr_options_set(table, base, name, argv[++i], err, errlen);
        } else {
            rc = sr_options_set(table, base, name, argv[++i], err, errlen);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sr_options_from_args(const struct sr_option *table, void *base, size_t size, int argc,
                         char **argv, FILE *out, FILE *err)
{
    const char *prog = argc > 0 ? argv[0] : "program";
    const char *slash = strrchr(prog, '/');
    prog = slash ? slash + 1 : prog;
    if (sr_options_init(table, base, size) != 0) {
        fprintf(err, "%s: out of memory\n", prog);
        return 1;
    }
    char msg[512];
    int rc = sr_options_parse_args(table, base, argc, argv, msg, sizeof(msg));
    if (rc == 0)
        return -1;
    sr_options_clear(table, base, size);
    if (rc == SR_OPTIONS_HELP) {
        sr_options_print_help(table, out, prog);
        return 0;
    }
    fprintf(err, "%s: %s\n", prog, msg);
    return rc == SR_ERR_NOMEM ? 1 : 2;
}

/* "--name METAVAR" as shown in usage and help. */
static void format_flag(const struct sr_option *o, char *buf, size_t len)
{
    char meta[160];
    if (o->type == SR_OPT_CHOICE) {
        size_t used = (size_t)snprintf(meta, sizeof(meta), "{");
        for (size_t i = 0; o->choices[i] && used < sizeof(meta); i++)
            used += (size_t)snprintf(meta + used, sizeof(meta) - used, "%s%s", i ? "," : "",
                                     o->choices[i]);
        if (used < sizeof(meta))
            snprintf(meta + used, sizeof(meta) - used, "}");
    } else if (o->type == SR_OPT_URL_LIST || o->type == SR_OPT_WORKER_LIST) {
        snprintf(meta, sizeof(meta), " %s [%s ...]", o->metavar, o->metavar);
    } else if (o->type == SR_OPT_PREFILL_LIST) {
        snprintf(meta, sizeof(meta), " %s [BOOTSTRAP_PORT|none]", o->metavar);
    } else if (o->type == SR_OPT_FLAG) {
        meta[0] = '\0';
    } else {
        snprintf(meta, sizeof(meta), " %s", o->metavar);
    }
    if (o->type == SR_OPT_CHOICE)
        snprintf(buf, len, "--%s %s", o->name, meta);
    else
        snprintf(buf, len, "--%s%s", o->name, meta);
}

void sr_options_print_help(const struct sr_option *table, FILE *out, const char *prog)
{
    char flag[256];
    fprintf(out, "usage: %s [-h]", prog);
    for (const struct sr_option *o = table; o->name; o++) {
        format_flag(o, flag, sizeof(flag));
        fprintf(out, " [%s]", flag);
    }
    fprintf(out, "\n\noptions:\n  %-22s show this help message and exit\n", "-h, --help");
    for (const struct sr_option *o = table; o->name; o++) {
        format_flag(o, flag, sizeof(flag));
        if (strlen(flag) > 22)
            fprintf(out, "  %s\n  %-22s", flag, "");
        else
            fprintf(out, "  %-22s", flag);
        fprintf(out, " %s (default: %s)%s\n", o->help, o->default_value ? o->default_value : "None",
                o->runtime ? " [changeable at runtime]" : "");
    }
}
