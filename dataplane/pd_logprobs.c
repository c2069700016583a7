/* pd_logprobs: prefill logprobs put in front of decode's (see pd_logprobs.h). */
#include "pd_logprobs.h"

#include "common/err.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void sr_pd_merge_init(struct sr_pd_merge *m, bool stream, size_t max)
{
    memset(m, 0, sizeof(*m));
    m->stream = stream;
    sr_buf_init(&m->held, max);
}

void sr_pd_merge_clear(struct sr_pd_merge *m)
{
    json_decref(m->logprobs);
    m->logprobs = NULL;
    sr_buf_free(&m->held);
}

static json_t *input_logprobs(const json_t *answer)
{
    json_t *lp = json_object_get(json_object_get(answer, "meta_info"), "input_token_logprobs");
    return json_is_array(lp) ? lp : NULL;
}

/* The first "data: " event's payload of a stream, parsed. */
static json_t *first_event(const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (stop - p > 5 && memcmp(p, "data:", 5) == 0)
            return json_loadb(p + 5, (size_t)(stop - p - 5), 0, NULL);
        p = nl ? nl + 1 : end;
    }
    return NULL;
}

void sr_pd_merge_prefill(struct sr_pd_merge *m, const char *body, size_t len)
{
    m->have_prefill = true;
    json_t *root = m->stream ? first_event(body, len) : json_loadb(body, len, 0, NULL);
    if (json_is_array(root)) { /* a batch: one list per element */
        json_t *lists = json_array();
        size_t i;
        json_t *el;
        json_array_foreach(root, i, el)
        {
            json_t *lp = input_logprobs(el);
            json_array_append(lists, lp ? lp : json_null());
        }
        m->logprobs = lists;
    } else {
        json_t *lp = input_logprobs(root);
        m->logprobs = lp ? json_incref(lp) : NULL;
    }
    json_decref(root);
}

/* prefix + answer's meta_info.input_token_logprobs, in place. */
static void prepend(json_t *answer, const json_t *prefix)
{
    json_t *lp = input_logprobs(answer);
    if (lp == NULL || !json_is_array(prefix))
        return;
    json_t *merged = json_copy((json_t *)prefix);
    if (merged == NULL || json_array_extend(merged, lp) != 0) {
        json_decref(merged);
        return;
    }
    json_object_set_new(json_object_get(answer, "meta_info"), "input_token_logprobs", merged);
}

/* The answer text with the prefill's logprobs merged, into out; the text
 * unchanged when it is not the shape expected. */
static int merge_text(const struct sr_pd_merge *m, const char *text, size_t len, struct sr_buf *out)
{
    json_t *root = m->logprobs ? json_loadb(text, len, 0, NULL) : NULL;
    if (root == NULL)
        return sr_buf_append(out, text, len);
    if (json_is_array(root) && json_is_array(m->logprobs)) {
        size_t i;
        json_t *el;
        json_array_foreach(root, i, el) prepend(el, json_array_get(m->logprobs, i));
    } else if (json_is_object(root)) {
        prepend(root, m->logprobs);
    }
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (s == NULL)
        return SR_ERR_NOMEM;
    int rc = sr_buf_append_str(out, s);
    free(s);
    return rc;
}

/* Whole events of the held stream to out, each "data: {...}" merged. */
static int flush_events(struct sr_pd_merge *m, struct sr_buf *out, bool all)
{
    size_t start = 0, used = 0;
    const char *h = m->held.data;
    int rc = 0;
    while (rc == 0 && start < m->held.len) {
        const char *sep = NULL;
        for (const char *p = h + start; p + 1 < h + m->held.len; p++)
            if (p[0] == '\n' &&
                (p[1] == '\n' || (p[1] == '\r' && p + 2 < h + m->held.len && p[2] == '\n'))) {
                sep = p;
                break;
            }
        if (sep == NULL && !all)
            break;
        size_t event_end = sep ? (size_t)(sep - h) : m->held.len;
        size_t next = sep ? event_end + (sep[1] == '\n' ? 2 : 3) : m->held.len;
        const char *ev = h + start;
        size_t ev_len = event_end - start;
        bool data = ev_len > 5 && memcmp(ev, "data:", 5) == 0;
        const char *payload = ev + 5;
        size_t plen = ev_len - 5;
        while (data && plen > 0 && *payload == ' ') {
            payload++;
            plen--;
        }
        if (data && !(plen >= 6 && memcmp(payload, "[DONE]", 6) == 0)) {
            rc = sr_buf_append_str(out, "data: ");
            if (rc == 0)
                rc = merge_text(m, payload, plen, out);
            if (rc == 0)
                rc = sr_buf_append(out, "\n\n", 2);
        } else {
            rc = sr_buf_append(out, ev, next - start);
        }
        start = used = next;
    }
    if (rc == 0 && used > 0) {
        memmove(m->held.data, m->held.data + used, m->held.len - used);
        m->held.len -= used;
    }
    return rc;
}

int sr_pd_merge_decode(struct sr_pd_merge *m, const char *data, size_t len, struct sr_buf *out)
{
    int rc = sr_buf_append(&m->held, data, len);
    if (rc == 0 && m->stream && m->have_prefill)
        rc = flush_events(m, out, false);
    return rc;
}

int sr_pd_merge_finish(struct sr_pd_merge *m, struct sr_buf *out)
{
    if (m->stream)
        return flush_events(m, out, true);
    int rc = m->held.len ? merge_text(m, m->held.data, m->held.len, out) : 0;
    m->held.len = 0;
    return rc;
}
