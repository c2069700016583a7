/* Unit tests for common/registry: add/remove/replace, snapshots that never
 * show a half-updated list, record reuse, listener calls, id reuse, and
 * allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

struct events {
    int added, removed;
    char last_removed[64];
};

static void on_added(void *ctx, struct sr_worker *w)
{
    (void)w;
    ((struct events *)ctx)->added++;
}

static void on_removed(void *ctx, struct sr_worker *w)
{
    struct events *e = ctx;
    assert_true(atomic_load(&w->removed));
    e->removed++;
    strncpy(e->last_removed, w->url, sizeof(e->last_removed) - 1);
}

static struct sr_registry *new_registry(struct events *e)
{
    struct sr_registry *r = sr_registry_new();
    assert_non_null(r);
    struct sr_registry_listener l = {on_added, on_removed, e};
    sr_registry_set_listener(r, &l);
    return r;
}

static void test_add_remove(void **state)
{
    (void)state;
    struct events e = {0};
    struct sr_registry *r = new_registry(&e);
    const char *why = NULL;
    assert_int_equal(sr_registry_add(r, "http://w1:8000", &why), 0);
    assert_int_equal(sr_registry_add(r, "http://w2:8000/", &why), 0);
    assert_int_equal(sr_registry_add(r, "HTTP://W1:8000", &why), SR_ERR_EXISTS);
    assert_int_equal(sr_registry_add(r, "w3:8000", &why), SR_ERR_INVALID);
    assert_non_null(strstr(why, "http://"));
    assert_int_equal(e.added, 2);

    struct sr_worker_set *s = sr_registry_acquire(r);
    assert_int_equal(s->count, 2);
    assert_string_equal(s->workers[0]->url, "http://w1:8000");
    assert_int_equal(sr_worker_health(s->workers[0]), SR_HEALTH_PENDING);
    assert_ptr_equal(sr_worker_set_find(s, "http://W2:8000"), s->workers[1]);
    assert_null(sr_worker_set_find(s, "http://w9:8000"));
    uint64_t v = sr_registry_version(r);

    assert_int_equal(sr_registry_remove(r, "http://w1:8000/", &why), 0);
    assert_string_equal(e.last_removed, "http://w1:8000");
    assert_int_equal(sr_registry_remove(r, "http://w1:8000", &why), SR_ERR_NOT_FOUND);
    assert_int_equal(sr_registry_remove(r, "nope", &why), SR_ERR_INVALID);
    assert_true(sr_registry_version(r) > v);
    /* The old snapshot is unchanged and still usable. */
    assert_int_equal(s->count, 2);
    assert_true(atomic_load(&s->workers[0]->removed));
    assert_false(sr_worker_routable(s->workers[0]));
    sr_worker_set_release(s);

    s = sr_registry_acquire(r);
    assert_int_equal(s->count, 1);
    assert_string_equal(s->workers[0]->url, "http://w2:8000");
    sr_worker_set_release(s);
    sr_registry_free(r);
}

static void test_replace_keeps_surviving_records(void **state)
{
    (void)state;
    struct events e = {0};
    struct sr_registry *r = new_registry(&e);
    const char *a[] = {"http://a:1", "http://b:1", "http://c:1"};
    assert_int_equal(sr_registry_replace(r, a, 3, NULL), 0);
    struct sr_worker_set *s1 = sr_registry_acquire(r);
    struct sr_worker *b = s1->workers[1];
    sr_worker_set_health(b, SR_HEALTH_HEALTHY);
    sr_worker_load_add(b);

    const char *next[] = {"http://d:1", "http://B:1"};
    assert_int_equal(sr_registry_replace(r, next, 2, NULL), 0);
    assert_int_equal(e.added, 4);
    assert_int_equal(e.removed, 2);
    struct sr_worker_set *s2 = sr_registry_acquire(r);
    assert_int_equal(s2->count, 2);
    assert_ptr_equal(s2->workers[1], b); /* same record: health, load, id kept */
    assert_int_equal(sr_worker_load(b), 1);
    assert_true(sr_worker_routable(b));
    assert_int_equal(sr_worker_health(s2->workers[0]), SR_HEALTH_PENDING);

    /* A bad list changes nothing. */
    uint64_t v = sr_registry_version(r);
    const char *dup[] = {"http://x:1", "http://X:1/"};
    const char *why = NULL;
    assert_int_equal(sr_registry_replace(r, dup, 2, &why), SR_ERR_INVALID);
    assert_non_null(strstr(why, "duplicate"));
    const char *bad[] = {"http://x:1", "bogus"};
    assert_int_equal(sr_registry_replace(r, bad, 2, &why), SR_ERR_INVALID);
    assert_int_equal(sr_registry_version(r), v);
    assert_int_equal(e.added, 4);

    assert_int_equal(sr_registry_replace(r, NULL, 0, NULL), 0);
    struct sr_worker_set *s3 = sr_registry_acquire(r);
    assert_int_equal(s3->count, 0);
    sr_worker_load_done(b, SR_BREAKER_SUCCESS);
    sr_worker_set_release(s1);
    sr_worker_set_release(s2);
    sr_worker_set_release(s3);
    sr_registry_free(r);
}

static void test_ids_are_dense_and_reused_only_when_free(void **state)
{
    (void)state;
    struct events e = {0};
    struct sr_registry *r = new_registry(&e);
    const char *a[] = {"http://a:1", "http://b:1", "http://c:1"};
    assert_int_equal(sr_registry_replace(r, a, 3, NULL), 0);
    struct sr_worker_set *s = sr_registry_acquire(r);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(s->workers[i]->id, i);
    uint32_t b_id = s->workers[1]->id;

    assert_int_equal(sr_registry_remove(r, "http://b:1", NULL), 0);
    /* b is still referenced by s: its id must not be handed out. */
    assert_int_equal(sr_registry_add(r, "http://d:1", NULL), 0);
    struct sr_worker_set *s2 = sr_registry_acquire(r);
    struct sr_worker *d = sr_worker_set_find(s2, "http://d:1");
    assert_int_equal(d->id, 3);
    sr_worker_set_release(s2);
    sr_worker_set_release(s); /* last reference to b: its id is free */

    assert_int_equal(sr_registry_add(r, "http://e:1", NULL), 0);
    s2 = sr_registry_acquire(r);
    assert_int_equal(sr_worker_set_find(s2, "http://e:1")->id, b_id);
    sr_worker_set_release(s2);
    sr_registry_free(r);
}

static void test_allocation_failures_change_nothing(void **state)
{
    (void)state;
    const char *list[] = {"http://a:1", "http://b:1", "http://c:1"};
    for (long k = 0; k < 20; k++) {
        struct events e = {0};
        struct sr_registry *r = new_registry(&e);
        assert_int_equal(sr_registry_add(r, "http://a:1", NULL), 0);
        uint64_t v = sr_registry_version(r);
        sr_alloc_fail_after(k);
        int rc = sr_registry_replace(r, list, 3, NULL);
        sr_alloc_fail_after(-1);
        struct sr_worker_set *s = sr_registry_acquire(r);
        if (rc == 0) {
            assert_int_equal(s->count, 3);
        } else {
            assert_int_equal(rc, SR_ERR_NOMEM);
            assert_int_equal(s->count, 1);
            assert_int_equal(sr_registry_version(r), v);
        }
        sr_worker_set_release(s);
        sr_registry_free(r);
    }
}

struct reader {
    struct sr_registry *reg;
    atomic_bool *stop;
    long torn;
    atomic_long reads;
};

static void *read_loop(void *p)
{
    struct reader *rd = p;
    while (!atomic_load(rd->stop)) {
        struct sr_worker_set *s = sr_registry_acquire(rd->reg);
        /* Lists alternate between {a,b,c} and {d,e,f,g,h}. */
        if (s->count == 3) {
            if (strcmp(s->workers[2]->url, "http://c:1") != 0)
                rd->torn++;
        } else if (s->count == 5) {
            if (strcmp(s->workers[4]->url, "http://h:1") != 0)
                rd->torn++;
        } else if (s->count != 0) {
            rd->torn++;
        }
        rd->reads++;
        sr_worker_set_release(s);
    }
    return NULL;
}

static void test_readers_never_see_a_half_update(void **state)
{
    (void)state;
    struct events e = {0};
    struct sr_registry *r = new_registry(&e);
    atomic_bool stop = false;
    struct reader rd[2] = {{r, &stop, 0, 0}, {r, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, read_loop, &rd[i]);
    const char *a[] = {"http://a:1", "http://b:1", "http://c:1"};
    const char *b[] = {"http://d:1", "http://e:1", "http://f:1", "http://g:1", "http://h:1"};
    /* Keep swapping until both readers have overlapped many swaps. */
    for (int i = 0;
         i < 2000 || atomic_load(&rd[0].reads) < 1000 || atomic_load(&rd[1].reads) < 1000; i++)
        assert_int_equal(sr_registry_replace(r, i % 2 ? b : a, i % 2 ? 5 : 3, NULL), 0);
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(rd[0].torn + rd[1].torn, 0);
    assert_true(atomic_load(&rd[0].reads) >= 1000 && atomic_load(&rd[1].reads) >= 1000);
    sr_registry_free(r);
}

static const struct sr_worker_pool *pool_of(struct sr_worker_set *s, const char *model,
                                            enum sr_pool_lookup want)
{
    const struct sr_worker_pool *p = NULL;
    assert_int_equal(sr_worker_set_pool(s, model, model ? strlen(model) : 0, &p), want);
    return p;
}

static void test_worker_spec_text(void **state)
{
    (void)state;
    struct sr_worker_spec_text t;
    const char *why = NULL;
    assert_int_equal(
        sr_worker_spec_parse("HTTP://p1:8000@meta-llama/Llama-3@x 8998", SR_ROLE_PREFILL, &t, &why),
        0);
    assert_string_equal(t.spec.url, "http://p1:8000");
    assert_string_equal(t.spec.model, "meta-llama/Llama-3@x");
    assert_int_equal(t.spec.bootstrap_port, 8998);
    char text[256];
    sr_worker_spec_format(&t.spec, text, sizeof(text));
    assert_string_equal(text, "http://p1:8000@meta-llama/Llama-3@x 8998");
    sr_worker_spec_text_clear(&t);
    assert_int_equal(sr_worker_spec_parse("http://p1:8000 none", SR_ROLE_PREFILL, &t, &why), 0);
    assert_null(t.spec.model);
    assert_int_equal(t.spec.bootstrap_port, SR_BOOTSTRAP_NONE);
    sr_worker_spec_text_clear(&t);
    assert_int_equal(sr_worker_spec_parse("http://[::1]:9/v1", SR_ROLE_DECODE, &t, &why), 0);
    assert_string_equal(t.spec.url, "http://[::1]:9/v1");
    sr_worker_spec_text_clear(&t);
    /* Refused, each with a reason. */
    const char *bad[][2] = {
        {"http://d:1 8998", "regular"},  /* a bootstrap port on a non-prefill worker */
        {"http://p:1 70000", "prefill"}, /* out of range */
        {"http://p:1 12ab", "prefill"},  /* not a number */
        {"http://p:1@", "regular"},      /* empty model */
        {"http://p:1@a b", "regular"},   /* a space in the model */
        {"http://p:1@a\"b", "regular"},  /* a quote */
        {"p:1", "regular"},              /* no scheme */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum sr_worker_role role;
        assert_true(sr_worker_role_parse(bad[i][1], strlen(bad[i][1]), &role));
        why = NULL;
        assert_int_equal(sr_worker_spec_parse(bad[i][0], role, &t, &why), SR_ERR_INVALID);
        assert_non_null(why);
    }
    char longer[300];
    memset(longer, 'm', sizeof(longer));
    assert_true(sr_model_name_valid(longer, SR_MODEL_MAX));
    assert_false(sr_model_name_valid(longer, SR_MODEL_MAX + 1));
}

static void test_pools_by_model_and_role(void **state)
{
    (void)state;
    struct events e = {0};
    struct sr_registry *r = new_registry(&e);
    /* No model known: one pool with everything; any model name finds it. */
    const struct sr_worker_spec specs[] = {
        {"http://r:1", SR_ROLE_REGULAR, SR_BOOTSTRAP_NONE, NULL},
        {"http://p:1", SR_ROLE_PREFILL, 8998, NULL},
        {"http://d:1", SR_ROLE_DECODE, SR_BOOTSTRAP_NONE, NULL},
    };
    assert_int_equal(sr_registry_replace_specs(r, specs, 3, NULL), 0);
    struct sr_worker_set *s = sr_registry_acquire(r);
    assert_int_equal(s->npools, 1);
    const struct sr_worker_pool *p = pool_of(s, "anything", SR_POOL_FOUND);
    assert_null(p->model);
    assert_int_equal(p->role[SR_ROLE_REGULAR]->count, 1);
    assert_int_equal(p->role[SR_ROLE_PREFILL]->count, 1);
    assert_int_equal(p->role[SR_ROLE_PREFILL]->workers[0]->bootstrap_port, 8998);
    assert_int_equal(p->role[SR_ROLE_DECODE]->count, 1);
    assert_true(sr_worker_pool_disaggregated(p));
    pool_of(s, NULL, SR_POOL_FOUND);
    sr_worker_set_release(s);

    /* One model named: still one pool, named after it. */
    assert_int_equal(sr_registry_set_model(r, "http://r:1", "m1", false, NULL), 0);
    s = sr_registry_acquire(r);
    assert_int_equal(s->nmodels, 1);
    p = pool_of(s, "other", SR_POOL_FOUND);
    assert_string_equal(p->model, "m1");
    assert_int_equal(p->role[SR_ROLE_REGULAR]->count + p->role[SR_ROLE_PREFILL]->count, 2);
    sr_worker_set_release(s);

    /* Two models: a pool each, and one for the worker not known yet. */
    assert_int_equal(sr_registry_set_model(r, "http://p:1", "m2", true, NULL), 0);
    s = sr_registry_acquire(r);
    assert_int_equal(s->nmodels, 2);
    assert_int_equal(s->npools, 3);
    p = pool_of(s, "m1", SR_POOL_FOUND);
    assert_int_equal(p->role[SR_ROLE_REGULAR]->count, 1);
    assert_false(sr_worker_pool_disaggregated(p));
    p = pool_of(s, "m2", SR_POOL_FOUND);
    assert_int_equal(p->role[SR_ROLE_PREFILL]->count, 1);
    p = pool_of(s, "m3", SR_POOL_FOUND); /* the unknown-model worker may serve it */
    assert_null(p->model);
    assert_int_equal(p->role[SR_ROLE_DECODE]->count, 1);
    pool_of(s, NULL, SR_POOL_MODEL_REQUIRED);
    sr_worker_set_release(s);

    /* Discovery does not override an administrator's model. */
    assert_int_equal(sr_registry_set_model(r, "http://p:1", "m9", false, NULL), 0);
    s = sr_registry_acquire(r);
    pool_of(s, "m2", SR_POOL_FOUND);
    sr_worker_set_release(s);
    assert_int_equal(sr_registry_set_model(r, "http://d:1", "m1", false, NULL), 0);
    s = sr_registry_acquire(r);
    assert_int_equal(s->npools, 2);
    pool_of(s, "m3", SR_POOL_MODEL_UNKNOWN);
    sr_worker_set_release(s);
    assert_int_equal(sr_registry_set_model(r, "http://x:1", "m1", false, NULL), SR_ERR_NOT_FOUND);
    assert_int_equal(sr_registry_set_model(r, "http://r:1", "a b", true, NULL), SR_ERR_INVALID);

    /* A spec with another role makes a new record; the model stays with
     * the URL only when named again. */
    int removed = e.removed;
    const struct sr_worker_spec again[] = {
        {"http://r:1", SR_ROLE_REGULAR, SR_BOOTSTRAP_NONE, NULL},
        {"http://p:1", SR_ROLE_DECODE, SR_BOOTSTRAP_NONE, "m2"},
        {"http://d:1", SR_ROLE_DECODE, SR_BOOTSTRAP_NONE, NULL},
    };
    assert_int_equal(sr_registry_replace_specs(r, again, 3, NULL), 0);
    assert_int_equal(e.removed, removed + 1);
    s = sr_registry_acquire(r);
    struct sr_worker *w = sr_worker_set_find(s, "http://p:1");
    assert_int_equal(w->role, SR_ROLE_DECODE);
    assert_string_equal(sr_worker_model(w), "m2");
    assert_string_equal(sr_worker_model(sr_worker_set_find(s, "http://r:1")), "m1");
    sr_worker_set_release(s);
    sr_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_remove),
        cmocka_unit_test(test_worker_spec_text),
        cmocka_unit_test(test_pools_by_model_and_role),
        cmocka_unit_test(test_replace_keeps_surviving_records),
        cmocka_unit_test(test_ids_are_dense_and_reused_only_when_free),
        cmocka_unit_test(test_allocation_failures_change_nothing),
        cmocka_unit_test(test_readers_never_see_a_half_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
