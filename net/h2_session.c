/* h2_session: one HTTP/2 session's options, settings and pump (see h2_session.h). */
#include "h2_session.h"

#include "common/alloc.h"
#include "common/err.h"

#include <event2/buffer.h>

#define DEFAULT_HIGH_WATER (64 * 1024)

/* Known HTTP/2 floods (the options Debian 12's libnghttp2 carries): bounded
 * SETTINGS entries and CONTINUATION frames, and at most 1,000 stream
 * resets, then 33 a second. */
#define MAX_SETTINGS          64
#define MAX_CONTINUATIONS     8
#define RESET_BURST           1000
#define RESET_RATE_PER_SECOND 33

struct sr_h2_session {
    nghttp2_session *session;
    struct evbuffer *out;
    size_t high_water;
    int depth;    /* inside nghttp2 (recv or send): sending waits for the outermost call */
    bool pending; /* a send was asked for from inside: done on the way out */
    int last_rc;  /* nghttp2's code for the last failure */
};

int sr_h2_err(int nghttp2_rc)
{
    if (nghttp2_rc >= 0)
        return SR_OK;
    if (nghttp2_rc == NGHTTP2_ERR_NOMEM)
        return SR_ERR_NOMEM;
    return SR_ERR_INVALID;
}

struct sr_h2_session *sr_h2_session_new(const struct sr_h2_session_config *cfg,
                                        const nghttp2_session_callbacks *cbs, void *user_data,
                                        struct evbuffer *out)
{
    struct sr_h2_session *s = sr_calloc(1, sizeof(*s));
    nghttp2_option *opt = NULL;
    if (s == NULL || nghttp2_option_new(&opt) != 0)
        goto fail;
    s->out = out;
    s->high_water = cfg->out_high_water ? cfg->out_high_water : DEFAULT_HIGH_WATER;
    nghttp2_option_set_max_settings(opt, MAX_SETTINGS);
    nghttp2_option_set_max_continuations(opt, MAX_CONTINUATIONS);
    nghttp2_option_set_stream_reset_rate_limit(opt, RESET_BURST, RESET_RATE_PER_SECOND);
    int rc = cfg->client ? nghttp2_session_client_new2(&s->session, cbs, user_data, opt)
                         : nghttp2_session_server_new2(&s->session, cbs, user_data, opt);
    if (rc != 0)
        goto fail;
    nghttp2_settings_entry settings[2];
    size_t n = 0;
    if (cfg->max_concurrent_streams)
        settings[n++] = (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                                 cfg->max_concurrent_streams};
    if (cfg->max_header_list)
        settings[n++] =
            (nghttp2_settings_entry){NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_header_list};
    if (nghttp2_submit_settings(s->session, NGHTTP2_FLAG_NONE, settings, n) != 0)
        goto fail;
    nghttp2_option_del(opt);
    return s;
fail:
    if (opt)
        nghttp2_option_del(opt);
    if (s && s->session)
        nghttp2_session_del(s->session);
    sr_free(s);
    return NULL;
}

void sr_h2_session_free(struct sr_h2_session *s)
{
    if (s == NULL)
        return;
    nghttp2_session_del(s->session);
    sr_free(s);
}

nghttp2_session *sr_h2_session_nghttp2(struct sr_h2_session *s)
{
    return s->session;
}

/* One pass: frames into out up to the high watermark. */
static long send_some(struct sr_h2_session *s)
{
    long added = 0;
    while (evbuffer_get_length(s->out) < s->high_water) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(s->session, &data);
        if (n < 0) {
            s->last_rc = (int)n;
            return sr_h2_err((int)n);
        }
        if (n == 0)
            break;
        if (evbuffer_add(s->out, data, (size_t)n) != 0) {
            s->last_rc = NGHTTP2_ERR_NOMEM;
            return SR_ERR_NOMEM; /* the frame is lost: the session cannot go on */
        }
        added += n;
    }
    return added;
}

long sr_h2_session_send(struct sr_h2_session *s)
{
    if (s->depth > 0) {
        s->pending = true;
        return 0;
    }
    long total = 0;
    s->depth++;
    do {
        s->pending = false;
        long n = send_some(s);
        if (n < 0) {
            total = n;
            break;
        }
        total += n;
    } while (s->pending && evbuffer_get_length(s->out) < s->high_water);
    s->depth--;
    return total;
}

int sr_h2_session_recv(struct sr_h2_session *s, const uint8_t *data, size_t len)
{
    s->depth++;
    ssize_t n = nghttp2_session_mem_recv(s->session, data, len);
    s->depth--;
    long sent = sr_h2_session_send(s); /* a GOAWAY after an error too */
    if (n < 0) {
        s->last_rc = (int)n;
        return sr_h2_err((int)n);
    }
    return sent < 0 ? (int)sent : 0;
}

bool sr_h2_session_done(struct sr_h2_session *s)
{
    return !nghttp2_session_want_read(s->session) && !nghttp2_session_want_write(s->session);
}

int sr_h2_session_goaway(struct sr_h2_session *s)
{
    return sr_h2_err(nghttp2_submit_goaway(s->session, NGHTTP2_FLAG_NONE,
                                           nghttp2_session_get_last_proc_stream_id(s->session),
                                           NGHTTP2_NO_ERROR, NULL, 0));
}

const char *sr_h2_session_why(const struct sr_h2_session *s)
{
    return s->last_rc ? nghttp2_strerror(s->last_rc) : "no error";
}

int sr_h2_session_terminate(struct sr_h2_session *s, uint32_t error_code)
{
    return sr_h2_err(nghttp2_session_terminate_session(s->session, error_code));
}
