/*
 * options: table-driven command-line options for every program of the
 * project (router, simulated worker, tools).
 *
 * A program declares each option once in a table (name, type, metavar,
 * default, bounds, whether and how it may change at runtime and its field in
 * the admin API, help, and where the value lives in the program's settings
 * struct). The same table drives argv parsing, validation messages, --help
 * and defaults, so they cannot disagree; the router's also drives its
 * runtime settings and its admin API (common/config.h).
 *
 * Parsing accepts "--name value" and "--name=value"; a URL_LIST option takes
 * one or more values (until the next "--" option) and may be repeated; a FLAG
 * takes no value ("--name", or "--name=true|false"). Errors are one line
 * naming the flag, e.g. "--cache-threshold: must be between 0 and 1 (got
 * 1.5)"; programs print it and exit with status 2.
 *
 * Field types by option type: STRING and CHOICE → char * (owned), INT →
 * long, FLOAT → double, FLAG → bool, URL_LIST → struct sr_strlist (owned,
 * canonical URLs, duplicates rejected), STRING_LIST → struct sr_strlist
 * (owned, one value per occurrence, none empty), WORKER_LIST and
 * PREFILL_LIST → struct sr_strlist (owned, canonical worker spec texts,
 * duplicate URLs rejected).
 *
 * Not thread-safe: build the settings, then share them read-only.
 */
#ifndef SR_OPTIONS_H
#define SR_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct sr_strlist {
    char **items;
    size_t n;
};

enum sr_option_type {
    SR_OPT_STRING,
    SR_OPT_INT,
    SR_OPT_FLOAT,
    SR_OPT_CHOICE,
    SR_OPT_URL_LIST,
    SR_OPT_FLAG,
    SR_OPT_STRING_LIST, /* one value per occurrence, repeatable */
    /* Workers (worker_spec.h): one or more "URL[@MODEL]" (until the next
     * "--" option), repeatable; stored in canonical text form. */
    SR_OPT_WORKER_LIST,
    /* Prefill workers: "URL[@MODEL]" and, when the next argument is a port
     * or "none", that bootstrap port; repeatable ("--prefill URL 8998"). */
    SR_OPT_PREFILL_LIST,
};

/* How a runtime-changeable option takes effect once changed. */
enum sr_option_change {
    SR_CHANGE_POLICY = 1, /* the policy or a tunable: every policy instance is re-tuned */
    SR_CHANGE_REQUEST,    /* read per request from each loop's settings view */
    SR_CHANGE_PROCESS,    /* process-wide state, set at once (the log threshold) */
};

/* What a runtime-changeable option adds to its row. Only scalar options
 * (STRING, CHOICE, INT, FLOAT, FLAG) can change at runtime. */
struct sr_option_runtime {
    enum sr_option_change change;
    /* Its field in the program's admin message (for the router, RouterConfig
     * in proto/sglang/router/admin/v1/admin.proto), of the option's type:
     * string for STRING and CHOICE, int64 for INT, double for FLOAT, bool
     * for FLAG. */
    const char *proto_field;
};

struct sr_option {
    const char *name; /* without the leading "--" */
    enum sr_option_type type;
    const char *metavar;
    const char *default_value;  /* parsed like user input; NULL = none */
    double min, max;            /* inclusive bounds for INT and FLOAT */
    const char *const *choices; /* CHOICE: NULL-terminated */
    /* NULL: fixed at start; else static, how it changes. */
    const struct sr_option_runtime *runtime;
    size_t offset; /* of the field in the program's settings struct */
    const char *help;
};

/* Declares a row runtime-changeable: SR_OPTION_RUNTIME(POLICY, "policy"). */
#define SR_OPTION_RUNTIME(how, field) (&(const struct sr_option_runtime){SR_CHANGE_##how, field})

/* Returned by sr_options_parse_args when --help / -h was given. */
#define SR_OPTIONS_HELP 1

/* Tables end with an entry whose name is NULL. */
const struct sr_option *sr_options_find(const struct sr_option *table, const char *name);

/* Zeroes the size bytes at base and applies every default. 0 or
 * SR_ERR_NOMEM (base then holds nothing to release). */
int sr_options_init(const struct sr_option *table, void *base, size_t size);
/* Releases what the table's fields own and zeroes the struct. */
void sr_options_clear(const struct sr_option *table, void *base, size_t size);

/* Copies the runtime-changeable fields of src into dst (both initialised).
 * 0 or SR_ERR_NOMEM. */
int sr_options_copy_runtime(const struct sr_option *table, void *dst, const void *src);

/* Sets one option from text; on error writes a one-line message naming the
 * flag into err. 0, SR_ERR_INVALID, SR_ERR_NOT_FOUND or SR_ERR_NOMEM. */
int sr_options_set(const struct sr_option *table, void *base, const char *name, const char *value,
                   char *err, size_t errlen);

/* Applies a file of "name = value" lines on top of base ('#' starts a
 * comment line; blank lines are skipped; a FLAG takes true or false). Errors
 * name the file and line, e.g. "p.conf:3: --port: must be ...". 0,
 * SR_ERR_IO (cannot read), SR_ERR_INVALID, SR_ERR_NOT_FOUND or SR_ERR_NOMEM. */
int sr_options_load_file(const struct sr_option *table, void *base, const char *path, char *err,
                         size_t errlen);

/* Parses argv[1, argc) on top of base (which holds defaults). 0,
 * SR_OPTIONS_HELP, or a negative error with the message in err. */
int sr_options_parse_args(const struct sr_option *table, void *base, int argc, char **argv,
                          char *err, size_t errlen);

/* The whole command-line contract of a program's main(): fills base (from
 * defaults and argv) and returns -1 when the program should go on, or the
 * exit status it should end with: 0 after --help (usage on out), 2 after a
 * bad argument ("<prog>: <one-line message>" on err), 1 when out of memory.
 * On a non-negative return base holds nothing to release. */
int sr_options_from_args(const struct sr_option *table, void *base, size_t size, int argc,
                         char **argv, FILE *out, FILE *err);

/* Usage text: every flag with its default; runtime-changeable ones say so. */
void sr_options_print_help(const struct sr_option *table, FILE *out, const char *prog);

#endif
