/* Unit tests for common/secret: constant-time bearer checks, both secret
 * file formats and their errors (which never show the content), the holder
 * (flags plus file, reload, a failed reload keeping the secrets in force),
 * checks racing reloads, and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/secret.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static int make_file(void **state)
{
    (void)state;
    snprintf(path, sizeof(path), "/tmp/test_secret.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int remove_file(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void put(const char *content, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    fclose(f);
}

#define PUT(s) put(s, sizeof(s) - 1)

static bool bearer(struct sr_secret *s, const char *header)
{
    return sr_secret_bearer_ok(s, header, strlen(header));
}

static void test_bearer_matches(void **state)
{
    (void)state;
    assert_true(sr_bearer_matches("Bearer abc", 10, "abc"));
    assert_true(sr_bearer_matches("bearer abc", 10, "abc"));
    assert_false(sr_bearer_matches("Bearer abcd", 11, "abc"));
    assert_false(sr_bearer_matches("Bearer ab", 9, "abc"));
    assert_false(sr_bearer_matches("Basic abc", 9, "abc"));
    assert_false(sr_bearer_matches("Bearer abc", 10, NULL));
    assert_false(sr_secret_bearer_ok(NULL, "Bearer abc", 10));
}

static void test_one_trims_trailing_whitespace(void **state)
{
    (void)state;
    char err[300];
    PUT("s3cret-token\r\n\n  ");
    char *t = sr_secret_read_one("--token-file", path, err, sizeof(err));
    assert_non_null(t);
    assert_string_equal(t, "s3cret-token");
    sr_secret_string_free(t);
    PUT("no-newline");
    t = sr_secret_read_one("--token-file", path, err, sizeof(err));
    assert_string_equal(t, "no-newline");
    sr_secret_string_free(t);
}

static void expect_error(enum sr_secret_format fmt, const char *says, const char *never)
{
    char err[300] = "";
    struct sr_secret *s = sr_secret_new(NULL, 0, "--x-file", path, fmt, err, sizeof(err));
    assert_null(s);
    assert_non_null(strstr(err, "--x-file"));
    assert_non_null(strstr(err, path));
    if (strstr(err, says) == NULL)
        fail_msg("expected '%s' in: %s", says, err);
    if (never)
        assert_null(strstr(err, never));
}

static void test_bad_files(void **state)
{
    (void)state;
    PUT("");
    expect_error(SR_SECRET_ONE, "empty", NULL);
    PUT(" \n\t\n");
    expect_error(SR_SECRET_ONE, "empty", NULL);
    PUT("first-line\nsecond-line\n");
    expect_error(SR_SECRET_ONE, "control character", "second");
    put("nul\0byte", 8);
    expect_error(SR_SECRET_ONE, "control character", "nul");
    PUT("# only a comment\n\n");
    expect_error(SR_SECRET_LINES, "no key in the file", NULL);
    PUT("good-key\nbad\tkey\n");
    expect_error(SR_SECRET_LINES, "line 2", "bad");
    char *big = malloc(SR_SECRET_FILE_MAX + 2);
    assert_non_null(big);
    memset(big, 'k', SR_SECRET_FILE_MAX + 1);
    put(big, SR_SECRET_FILE_MAX + 1);
    free(big);
    expect_error(SR_SECRET_ONE, "larger than", NULL);
    unlink(path);
    expect_error(SR_SECRET_ONE, "No such file", NULL);
    char err[300];
    assert_null(sr_secret_read_one("--token-file", path, err, sizeof(err)));
    assert_non_null(strstr(err, "--token-file"));
}

/* Whole text files (PEM): kept as they are, refused empty, with NUL bytes
 * or over the limit, naming the flag and the file. */
static void test_read_text(void **state)
{
    (void)state;
    char err[300];
    PUT("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    char *t = sr_secret_read_text("--tls-ca", path, err, sizeof(err));
    assert_non_null(t);
    assert_string_equal(t, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    sr_secret_string_free(t);
    PUT("");
    assert_null(sr_secret_read_text("--tls-ca", path, err, sizeof(err)));
    assert_non_null(strstr(err, "--tls-ca"));
    assert_non_null(strstr(err, "empty"));
    put("pem\0x", 5);
    assert_null(sr_secret_read_text("--tls-ca", path, err, sizeof(err)));
    assert_non_null(strstr(err, "not text"));
    char *big = malloc(SR_SECRET_FILE_MAX + 2);
    assert_non_null(big);
    memset(big, 'k', SR_SECRET_FILE_MAX + 1);
    put(big, SR_SECRET_FILE_MAX + 1);
    free(big);
    assert_null(sr_secret_read_text("--tls-ca", path, err, sizeof(err)));
    assert_non_null(strstr(err, "larger than"));
    unlink(path);
    assert_null(sr_secret_read_text("--tls-ca", path, err, sizeof(err)));
    assert_non_null(strstr(err, "No such file"));
}

static void test_lines(void **state)
{
    (void)state;
    char err[300];
    PUT("# team A\n  sk-one  \r\n\n#team B\nsk-two");
    const char *fixed[] = {"sk-flag"};
    struct sr_secret *s =
        sr_secret_new(fixed, 1, "--api-key-file", path, SR_SECRET_LINES, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(sr_secret_count(s), 3);
    assert_true(bearer(s, "Bearer sk-one"));
    assert_true(bearer(s, "Bearer sk-two"));
    assert_true(bearer(s, "Bearer sk-flag"));
    assert_false(bearer(s, "Bearer # team A"));
    assert_false(bearer(s, "Bearer sk-one  "));
    sr_secret_free(s);
}

static void test_reload(void **state)
{
    (void)state;
    char err[300];
    PUT("old-token\n");
    struct sr_secret *s =
        sr_secret_new(NULL, 0, "--admin-token-file", path, SR_SECRET_ONE, err, sizeof(err));
    assert_non_null(s);
    assert_string_equal(sr_secret_path(s), path);
    assert_true(bearer(s, "Bearer old-token"));
    PUT("new-token\n");
    assert_true(bearer(s, "Bearer old-token")); /* only a reload reads the file */
    assert_int_equal(sr_secret_reload(s, err, sizeof(err)), 0);
    assert_true(bearer(s, "Bearer new-token"));
    assert_false(bearer(s, "Bearer old-token"));
    /* Unusable files keep what is in force. */
    PUT("");
    assert_int_equal(sr_secret_reload(s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty"));
    unlink(path);
    assert_int_equal(sr_secret_reload(s, err, sizeof(err)), -1);
    assert_true(bearer(s, "Bearer new-token"));
    assert_int_equal(sr_secret_count(s), 1);
    sr_secret_free(s);

    /* Flags only: nothing to reread. */
    const char *fixed[] = {"flag-token"};
    s = sr_secret_new(fixed, 1, "--admin-token-file", NULL, SR_SECRET_ONE, err, sizeof(err));
    assert_non_null(s);
    assert_null(sr_secret_path(s));
    assert_int_equal(sr_secret_reload(s, err, sizeof(err)), 0);
    assert_true(bearer(s, "Bearer flag-token"));
    sr_secret_free(s);
    assert_null(sr_secret_new(NULL, 0, "--x-file", NULL, SR_SECRET_ONE, err, sizeof(err)));
}

struct race {
    struct sr_secret *s;
    atomic_bool stop;
    atomic_long wrong;
};

static void *checker(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->stop)) {
        /* The flag's key is in every list: a torn or freed list shows. */
        if (!bearer(r->s, "Bearer always") || bearer(r->s, "Bearer never"))
            atomic_fetch_add(&r->wrong, 1);
    }
    return NULL;
}

static void test_checks_race_reloads(void **state)
{
    (void)state;
    char err[300];
    PUT("key-a\n");
    const char *fixed[] = {"always"};
    struct race r = {0};
    r.s = sr_secret_new(fixed, 1, "--api-key-file", path, SR_SECRET_LINES, err, sizeof(err));
    assert_non_null(r.s);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, checker, &r), 0);
    for (int i = 0; i < 300; i++) {
        if (i % 2)
            PUT("key-a\nkey-b\n");
        else
            PUT("key-c\n");
        assert_int_equal(sr_secret_reload(r.s, err, sizeof(err)), 0);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&r.wrong), 0);
    assert_true(bearer(r.s, "Bearer key-b"));
    assert_false(bearer(r.s, "Bearer key-c"));
    sr_secret_free(r.s);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    char err[300];
    PUT("k1\nk2\nk3\nk4\nk5\n");
    const char *fixed[] = {"f1", "f2"};
    struct sr_secret *s = NULL;
    int k = 0;
    for (; s == NULL && k < 100; k++) {
        sr_alloc_fail_after(k);
        s = sr_secret_new(fixed, 2, "--api-key-file", path, SR_SECRET_LINES, err, sizeof(err));
        sr_alloc_fail_after(-1);
        if (s == NULL)
            assert_non_null(strstr(err, "out of memory"));
    }
    assert_non_null(s);
    for (int j = 0; j < k; j++) { /* a failed reload keeps the list */
        sr_alloc_fail_after(j);
        int rc = sr_secret_reload(s, err, sizeof(err));
        sr_alloc_fail_after(-1);
        assert_true(rc == 0 || strstr(err, "out of memory") != NULL);
        assert_int_equal(sr_secret_count(s), 7);
    }
    sr_secret_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_matches),
        cmocka_unit_test_setup_teardown(test_one_trims_trailing_whitespace, make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_bad_files, make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_read_text, make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_lines, make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_reload, make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_checks_race_reloads, make_file, remove_file),
        cmocka_unit_test_setup_teardown(test_allocation_failures, make_file, remove_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
