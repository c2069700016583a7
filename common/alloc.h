/*
 * alloc: the one allocation wrapper of the project.
 *
 * Every heap allocation in our code goes through these functions, so that
 * tests can make the k-th allocation fail and prove that every failure path is
 * handled (the nghttp2 "failmalloc" technique). Callers must check for NULL;
 * nothing here aborts.
 *
 * Failure injection is process-wide and meant for single-threaded unit tests:
 * sr_alloc_fail_after(k) lets k more allocations succeed, then fails every
 * later one until sr_alloc_fail_after(-1) turns injection off.
 *
 * Thread safety: all functions may be called from any thread.
 */
#ifndef SR_ALLOC_H
#define SR_ALLOC_H

#include <stddef.h>

void *sr_malloc(size_t size);
void *sr_calloc(size_t n, size_t size);
/* Like realloc(3); on failure the old block is left untouched. */
void *sr_realloc(void *ptr, size_t size);
/* Accepts NULL. */
void sr_free(void *ptr);
/* Copies of a NUL-terminated string / of len bytes (result NUL-terminated). */
char *sr_strdup(const char *s);
char *sr_strndup(const char *s, size_t len);

/* Heap bytes a live block really occupies (usable size plus the allocator's
 * per-block header); 0 for NULL. Used for honest memory accounting. */
size_t sr_alloc_footprint(const void *ptr);

/* Process-wide allocator settings for long-running servers; call once at
 * the start of main(). Turns off glibc's fastbins, whose deferred
 * consolidation otherwise lands as one long pause inside whichever
 * allocation happens to trigger it (possibly under a hot lock), and raises
 * the heap trim threshold so memory freed by eviction is reused instead of
 * being returned to the kernel and faulted in again. */
void sr_alloc_tune_for_server(void);

/* Test hook: -1 disables injection; k >= 0 lets k allocations succeed and
 * fails all later ones. */
void sr_alloc_fail_after(long k);
/* Allocations attempted since the last sr_alloc_fail_after() call. */
long sr_alloc_count(void);

#endif
