/*
 * utf8: character-boundary helpers for raw UTF-8 text. Pure functions; input
 * is (ptr, len) and need not be NUL-terminated or even valid UTF-8.
 */
#ifndef SR_UTF8_H
#define SR_UTF8_H

#include <stddef.h>

/* The largest boundary <= pos in text[0, len): backs off over continuation
 * bytes (10xxxxxx) so a prefix of length result never ends inside a
 * multi-byte character. pos == len and pos == 0 are boundaries. Backs off at
 * most 3 bytes (longer runs are invalid UTF-8 and are cut at pos - 3). */
size_t sr_utf8_floor(const unsigned char *text, size_t len, size_t pos);

#endif
