/*
 * secret: comparing credentials without leaking them through timing.
 */
#ifndef SR_SECRET_H
#define SR_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* Equal bytes; the time taken depends only on the lengths. */
bool sr_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* An Authorization header value "Bearer <token>" (scheme case-insensitive)
 * carrying exactly token. */
bool sr_bearer_matches(const char *value, size_t len, const char *token);

#endif
