/* utf8: character-boundary helpers (see utf8.h). */
#include "utf8.h"

size_t sr_utf8_floor(const unsigned char *text, size_t len, size_t pos)
{
    if (pos >= len)
        return len;
    for (int i = 0; i < 3 && pos > 0 && (text[pos] & 0xC0) == 0x80; i++)
        pos--;
    return pos;
}
