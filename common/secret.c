/* secret: constant-time credential checks (see secret.h). */
#include "secret.h"

#include <string.h>
#include <strings.h>

bool sr_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    for (size_t i = 0; i < alen && i < blen; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

bool sr_bearer_matches(const char *value, size_t len, const char *token)
{
    return token && len > 7 && strncasecmp(value, "Bearer ", 7) == 0 &&
           sr_secret_equal(value + 7, len - 7, token, strlen(token));
}
