/* libFuzzer target: dataplane/h2 on arbitrary bytes after the client
 * preface, fed in pieces whose sizes come from the input, with every
 * complete stream going through the real pipeline (routes, API keys,
 * limits, the proxy with no worker: 503; the local routes) of a loop that
 * never runs. Checks that a session never crashes, overruns or leaks,
 * whatever the frames (ASan + UBSan). */
#include "dataplane/h2.h"
#include "dataplane/loop.h"
#include "dataplane/router.h"
#include "dataplane/serve.h"

#include "common/config.h"
#include "common/log.h"
#include "common/registry.h"
#include "common/settings.h"

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static struct sr_config cfg;
static struct sr_router router;
static struct sr_loop *loop;

static void ignore_wake(void *arg)
{
    (void)arg;
}

static int setup(void)
{
    int err = 0;
    if (sr_config_init(&cfg) != 0)
        return -1;
    cfg.max_header_size = 4096;
    cfg.max_payload_size = 8192;
    sr_config_set(&cfg, "api-key", "fuzz-key", NULL, 0);
    sr_log_set_level(SR_LOG_OFF);
    router.cfg = &cfg;
    router.registry = sr_registry_new();
    router.settings = sr_settings_new(&cfg, &err);
    router.addrs = sr_addr_book_new();
    loop = router.registry && router.settings && router.addrs
               ? sr_loop_new(&router, 0, -1, &sr_serve_hooks)
               : NULL;
    return loop ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready = -2;
    if (ready == -2)
        ready = setup();
    if (ready != 0 || size < 1)
        return 0;
    size_t piece = (size_t)data[0] % 64 + 1; /* 1..64-byte pieces */
    data++;
    size--;
    struct evbuffer *out = evbuffer_new();
    struct sr_h2 *h = out ? sr_h2_new(loop, out, true, ignore_wake, NULL) : NULL;
    if (h == NULL) {
        if (out)
            evbuffer_free(out);
        return 0;
    }
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    int rc = sr_h2_feed(h, (const uint8_t *)preface, sizeof(preface) - 1);
    for (size_t off = 0; rc == 0 && off < size; off += piece) {
        size_t len = size - off < piece ? size - off : piece;
        rc = sr_h2_feed(h, data + off, len);
        evbuffer_drain(out, evbuffer_get_length(out)); /* the client reads everything */
        sr_h2_send(h);
    }
    sr_h2_free(h);
    evbuffer_free(out);
    return 0;
}
