/* Unit tests for common/options: a program's own table (every option type,
 * flags without values), defaults, errors naming the flag, and help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/options.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct settings {
    char *name;
    long count;
    double ratio;
    char *mode;
    struct sr_strlist urls;
    bool fast;
    bool slow;
    struct sr_strlist keys;
};

static const char *const modes[] = {"a", "b", NULL};

#define F(f) offsetof(struct settings, f)
static const struct sr_option table[] = {
    {"name", SR_OPT_STRING, "NAME", "x", 0, 0, NULL, NULL, F(name), "A name"},
    {"count", SR_OPT_INT, "N", "3", -1, 10, NULL, NULL, F(count), "A count"},
    {"ratio", SR_OPT_FLOAT, "R", "0.5", 0, 1, NULL, SR_OPTION_RUNTIME(REQUEST, "ratio"), F(ratio),
     "A ratio"},
    {"mode", SR_OPT_CHOICE, NULL, "a", 0, 0, modes, NULL, F(mode), "A mode"},
    {"urls", SR_OPT_URL_LIST, "URL", NULL, 0, 0, NULL, NULL, F(urls), "Some URLs"},
    {"fast", SR_OPT_FLAG, NULL, NULL, 0, 0, NULL, NULL, F(fast), "Go fast"},
    {"slow", SR_OPT_FLAG, NULL, "true", 0, 0, NULL, NULL, F(slow), "Go slow"},
    {"key", SR_OPT_STRING_LIST, "KEY", NULL, 0, 0, NULL, NULL, F(keys), "A key (repeatable)"},
    {NULL, 0, NULL, NULL, 0, 0, NULL, NULL, 0, NULL},
};

static int parse(struct settings *s, char *err, const char *const *args)
{
    char *argv[32] = {"prog"};
    int argc = 1;
    while (args[argc - 1] != NULL) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    assert_int_equal(sr_options_init(table, s, sizeof(*s)), 0);
    return sr_options_parse_args(table, s, argc, argv, err, 256);
}

#define PARSE(s, err, ...) parse(s, err, (const char *const[]){__VA_ARGS__, NULL})

static void test_defaults_and_every_type(void **state)
{
    (void)state;
    struct settings s;
    char err[256] = "";
    assert_int_equal(PARSE(&s, err, "--fast", "--count=-1", "--urls", "http://a:1", "http://b:2",
                           "--slow=false", "--mode", "b"),
                     0);
    assert_string_equal(s.name, "x");
    assert_int_equal(s.count, -1);
    assert_true(s.ratio == 0.5);
    assert_string_equal(s.mode, "b");
    assert_int_equal(s.urls.n, 2);
    assert_string_equal(s.urls.items[1], "http://b:2");
    assert_true(s.fast);
    assert_false(s.slow);
    sr_options_clear(table, &s, sizeof(s));
    assert_null(s.name);
}

/* A string list takes one value per occurrence, keeps order and repeats. */
static void test_string_list(void **state)
{
    (void)state;
    struct settings s;
    char err[256] = "";
    assert_int_equal(PARSE(&s, err, "--key", "k1", "--fast", "--key=k2", "--key", "k1"), 0);
    assert_int_equal(s.keys.n, 3);
    assert_string_equal(s.keys.items[0], "k1");
    assert_string_equal(s.keys.items[1], "k2");
    assert_string_equal(s.keys.items[2], "k1");
    sr_options_clear(table, &s, sizeof(s));
    assert_int_equal(PARSE(&s, err, "--key", "a", "b"), SR_ERR_INVALID); /* b: not a flag */
    sr_options_clear(table, &s, sizeof(s));
    assert_int_equal(PARSE(&s, err, "--key="), SR_ERR_INVALID);
    assert_string_equal(err, "--key: must not be empty");
    sr_options_clear(table, &s, sizeof(s));
}

static void test_errors_name_the_flag(void **state)
{
    (void)state;
    static const struct {
        const char *args[3];
        const char *message;
    } cases[] = {
        {{"--count", "11", NULL}, "--count: must be between -1 and 10 (got 11)"},
        {{"--fast=maybe", NULL, NULL}, "--fast: must be true or false (got 'maybe')"},
        {{"--mode", "c", NULL}, "--mode: must be one of a, b (got 'c')"},
        {{"--name", NULL, NULL}, "--name: expected a value"},
        {{"--nope", NULL, NULL}, "unknown option --nope (see --help)"},
        {{"stray", NULL, NULL}, "unexpected argument 'stray'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct settings s;
        char err[256] = "";
        const char *const *a = cases[i].args;
        int rc = a[1] ? PARSE(&s, err, a[0], a[1]) : PARSE(&s, err, a[0]);
        assert_int_equal(rc, SR_ERR_INVALID);
        assert_string_equal(err, cases[i].message);
        sr_options_clear(table, &s, sizeof(s));
    }
}

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/test_options_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* A file of "name = value" lines sets options like argv does; argv given
 * after it wins; errors name the file and the line. */
static void test_load_file(void **state)
{
    (void)state;
    struct settings s;
    char err[256] = "";
    char *path =
        write_temp("# a profile\n\ncount = 7\n  mode=b  \nfast = true\nname = two words\n");
    assert_int_equal(PARSE(&s, err, "--count", "9"), 0);
    assert_int_equal(sr_options_load_file(table, &s, path, err, sizeof(err)), 0);
    assert_int_equal(s.count, 7);
    assert_string_equal(s.mode, "b");
    assert_true(s.fast);
    assert_string_equal(s.name, "two words");
    char *argv[] = {"prog", "--count", "2"};
    assert_int_equal(sr_options_parse_args(table, &s, 3, argv, err, sizeof(err)), 0);
    assert_int_equal(s.count, 2);
    sr_options_clear(table, &s, sizeof(s));
    unlink(path);

    static const struct {
        const char *text;
        int rc;
        const char *message; /* after "PATH:" */
    } bad[] = {
        {"count = 1\ncount = 11\n", SR_ERR_INVALID,
         "2: --count: must be between -1 and 10 (got 11)"},
        {"count 3\n", SR_ERR_INVALID, "1: expected name = value"},
        {"\n# x\nnope = 1\n", SR_ERR_NOT_FOUND, "3: unknown option --nope"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        path = write_temp(bad[i].text);
        assert_int_equal(sr_options_init(table, &s, sizeof(s)), 0);
        assert_int_equal(sr_options_load_file(table, &s, path, err, sizeof(err)), bad[i].rc);
        char want[256];
        snprintf(want, sizeof(want), "%s:%s", path, bad[i].message);
        assert_string_equal(err, want);
        sr_options_clear(table, &s, sizeof(s));
        unlink(path);
    }
    assert_int_equal(sr_options_init(table, &s, sizeof(s)), 0);
    assert_int_equal(sr_options_load_file(table, &s, "/nonexistent/p.conf", err, sizeof(err)),
                     SR_ERR_IO);
    assert_string_equal(err, "/nonexistent/p.conf: No such file or directory");
    sr_options_clear(table, &s, sizeof(s));
}

static void test_from_args_exit_statuses(void **state)
{
    (void)state;
    struct settings s;
    char *help[] = {"/usr/bin/prog", "--help"};
    char *bad[] = {"prog", "--count", "x"};
    char *ok[] = {"prog", "--fast"};
    FILE *out = tmpfile(), *err = tmpfile();
    assert_int_equal(sr_options_from_args(table, &s, sizeof(s), 2, help, out, err), 0);
    assert_int_equal(sr_options_from_args(table, &s, sizeof(s), 3, bad, out, err), 2);
    assert_int_equal(sr_options_from_args(table, &s, sizeof(s), 2, ok, out, err), -1);
    assert_true(s.fast);
    sr_options_clear(table, &s, sizeof(s));
    char text[4096] = "";
    rewind(out);
    size_t n = fread(text, 1, sizeof(text) - 1, out);
    text[n] = '\0';
    assert_non_null(strstr(text, "usage: prog [-h]"));
    assert_non_null(strstr(text, "[--fast]"));
    assert_non_null(strstr(text, "--count N"));
    assert_non_null(strstr(text, "Go slow (default: true)"));
    assert_non_null(strstr(text, "A ratio (default: 0.5) [changeable at runtime]\n"));
    assert_non_null(strstr(text, "A count (default: 3)\n"));
    rewind(err);
    n = fread(text, 1, sizeof(text) - 1, err);
    text[n] = '\0';
    assert_string_equal(text, "prog: --count: must be an integer (got 'x')\n");
    fclose(out);
    fclose(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_every_type), cmocka_unit_test(test_string_list),
        cmocka_unit_test(test_errors_name_the_flag),    cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_from_args_exit_statuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
