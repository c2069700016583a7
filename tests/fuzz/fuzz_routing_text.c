/* libFuzzer target: dataplane/routing_text on arbitrary bodies, for each
 * route. The text must lie inside the body or the buffer; a second call
 * must give the same answer (no hidden state). */
#include "common/err.h"
#include "dataplane/routing_text.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum sr_text_source sources[] = {SR_TEXT_GENERATE, SR_TEXT_COMPLETIONS,
                                                  SR_TEXT_CHAT};
    for (size_t s = 0; s < 3; s++) {
        struct sr_text_buf buf = {0};
        struct sr_routing_text a, b;
        const char *why = NULL;
        int rc = sr_routing_text_extract(sources[s], (const char *)data, size, &buf, &a, &why);
        if (rc == 0) {
            volatile unsigned char sink = 0;
            for (size_t i = 0; i < a.len; i++)
                sink ^= (unsigned char)a.text[i];
            (void)sink;
            char *copy = NULL;
            if (a.len) {
                copy = __builtin_malloc(a.len);
                memcpy(copy, a.text, a.len);
            }
            int rc2 = sr_routing_text_extract(sources[s], (const char *)data, size, &buf, &b, &why);
            if (rc2 != 0 || b.len != a.len || (a.len && memcmp(copy, b.text, a.len) != 0))
                __builtin_trap();
            __builtin_free(copy);
        } else if (rc != SR_ERR_INVALID && rc != SR_ERR_NOMEM) {
            __builtin_trap();
        } else if (why == NULL) {
            __builtin_trap();
        }
        sr_text_buf_clear(&buf);
    }
    return 0;
}
