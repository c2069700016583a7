/* alloc: allocation wrappers with failure injection (see alloc.h). */
#include "alloc.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Injection state is process-wide by design: it is a test hook. */
static atomic_long fail_after = -1;
static atomic_long attempts = 0;

static int should_fail(void)
{
    long n = atomic_fetch_add_explicit(&attempts, 1, memory_order_relaxed);
    long k = atomic_load_explicit(&fail_after, memory_order_relaxed);
    return k >= 0 && n >= k;
}

void *sr_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *sr_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *sr_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(ptr, size ? size : 1);
}

void sr_free(void *ptr)
{
    free(ptr);
}

char *sr_strndup(const char *s, size_t len)
{
    char *p = sr_malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *sr_strdup(const char *s)
{
    return sr_strndup(s, strlen(s));
}

size_t sr_alloc_footprint(const void *ptr)
{
    if (ptr == NULL)
        return 0;
    return malloc_usable_size((void *)ptr) + sizeof(size_t);
}

void sr_alloc_tune_for_server(void)
{
    mallopt(M_MXFAST, 0);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

void sr_alloc_fail_after(long k)
{
    atomic_store(&attempts, 0);
    atomic_store(&fail_after, k);
}

long sr_alloc_count(void)
{
    return atomic_load(&attempts);
}
