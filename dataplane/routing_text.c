/* routing_text: a strict single-pass JSON scanner and the routing text of
 * the three inference routes (see routing_text.h). */
#include "routing_text.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#include <stdint.h>
#include <limits.h>
#include <string.h>

#define MAX_DEPTH 64

struct scan {
    const char *p, *end;
    int depth;
    const char *why;
};

/* A string token's contents between its quotes, still escaped. */
struct raw_string {
    const char *p;
    size_t len;
    bool escaped;
};

static int fail(struct scan *s, const char *why)
{
    if (s->why == NULL)
        s->why = why;
    return SR_ERR_INVALID;
}

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static bool peek(struct scan *s, char c)
{
    skip_ws(s);
    return s->p < s->end && *s->p == c;
}

static int expect(struct scan *s, char c, const char *why)
{
    if (!peek(s, c))
        return fail(s, why);
    s->p++;
    return 0;
}

/* s->p at the opening quote. memchr finds the closing quote; backslashes
 * before it mean escapes (each skips the next byte), then search again. */
static int scan_string(struct scan *s, struct raw_string *out)
{
    const char *start = ++s->p;
    out->escaped = false;
    for (;;) {
        const char *q = memchr(s->p, '"', (size_t)(s->end - s->p));
        if (q == NULL)
            return fail(s, "unterminated string");
        const char *b = memchr(s->p, '\\', (size_t)(q - s->p));
        if (b == NULL) {
            s->p = q + 1;
            break;
        }
        out->escaped = true;
        if (b + 1 >= s->end)
            return fail(s, "unterminated string");
        s->p = b + 2;
    }
    out->p = start;
    out->len = (size_t)(s->p - 1 - start);
    return 0;
}

static int scan_literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, "invalid literal");
    s->p += n;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A JSON number; *integer says whether it had no fraction or exponent. */
static int scan_number(struct scan *s, bool *integer)
{
    const char *p = s->p;
    *integer = true;
    if (p < s->end && *p == '-')
        p++;
    if (p >= s->end || !is_digit(*p))
        return fail(s, "invalid number");
    if (*p == '0')
        p++;
    else
        while (p < s->end && is_digit(*p))
            p++;
    if (p < s->end && *p == '.') {
        *integer = false;
        if (++p >= s->end || !is_digit(*p))
            return fail(s, "invalid number");
        while (p < s->end && is_digit(*p))
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        *integer = false;
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= s->end || !is_digit(*p))
            return fail(s, "invalid number");
        while (p < s->end && is_digit(*p))
            p++;
    }
    s->p = p;
    return 0;
}

static int skip_value(struct scan *s);

static int skip_container(struct scan *s, char close)
{
    if (++s->depth > MAX_DEPTH)
        return fail(s, "nesting too deep");
    s->p++;
    if (peek(s, close)) {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        int rc;
        if (close == '}') {
            struct raw_string key;
            if (!peek(s, '"'))
                return fail(s, "expected a string key");
            if ((rc = scan_string(s, &key)) != 0 || (rc = expect(s, ':', "expected ':'")) != 0)
                return rc;
        }
        if ((rc = skip_value(s)) != 0)
            return rc;
        if (peek(s, ',')) {
            s->p++;
            continue;
        }
        if ((rc = expect(s, close, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'")) !=
            0)
            return rc;
        s->depth--;
        return 0;
    }
}

static int skip_value(struct scan *s)
{
    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, "unexpected end of JSON");
    struct raw_string str;
    bool integer;
    switch (*s->p) {
    case '"':
        return scan_string(s, &str);
    case '{':
        return skip_container(s, '}');
    case '[':
        return skip_container(s, ']');
    case 't':
        return scan_literal(s, "true");
    case 'f':
        return scan_literal(s, "false");
    case 'n':
        return scan_literal(s, "null");
    default:
        return scan_number(s, &integer);
    }
}

/* ---- output text ---------------------------------------------------- */

static int buf_add(struct sr_text_buf *b, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (n > SIZE_MAX - b->len ||
        sr_grow((void **)&b->data, &b->cap, b->len + n, 1, 256, SIZE_MAX) != 0)
        return SR_ERR_NOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int add_utf8(struct sr_text_buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return buf_add(b, u, n);
}

/* Appends a string's decoded contents. */
static int add_decoded(struct scan *s, struct sr_text_buf *b, const struct raw_string *str)
{
    if (!str->escaped)
        return buf_add(b, str->p, str->len);
    const char *p = str->p, *end = str->p + str->len;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t plain = bs ? (size_t)(bs - p) : (size_t)(end - p);
        if (buf_add(b, p, plain) != 0)
            return SR_ERR_NOMEM;
        if (bs == NULL)
            break;
        p = bs + 1; /* scan_string guarantees a byte after each backslash */
        char c = *p++, out;
        switch (c) {
        case '"':
            out = '"';
            break;
        case '\\':
            out = '\\';
            break;
        case '/':
            out = '/';
            break;
        case 'b':
            out = '\b';
            break;
        case 'f':
            out = '\f';
            break;
        case 'n':
            out = '\n';
            break;
        case 'r':
            out = '\r';
            break;
        case 't':
            out = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (end - p < 4 || hex4(p, &cp) != 0)
                return fail(s, "invalid \\u escape");
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            } else if (cp >= 0xd800 && cp < 0xe000) {
                cp = 0xfffd; /* a lone surrogate */
            }
            if (add_utf8(b, cp) != 0)
                return SR_ERR_NOMEM;
            continue;
        }
        default:
            return fail(s, "invalid escape in string");
        }
        if (buf_add(b, &out, 1) != 0)
            return SR_ERR_NOMEM;
    }
    return 0;
}

static bool key_is(const struct raw_string *k, const char *name)
{
    size_t n = strlen(name);
    return !k->escaped && k->len == n && memcmp(k->p, name, n) == 0;
}

/* ---- the routes' fields ------------------------------------------------- */

/* A token limit: a non-negative integer is taken (saturated at LONG_MAX
 * digits' worth); null, or any other type, leaves *out as it was (the
 * worker judges its own fields); the value is skipped either way. */
static int limit_value(struct scan *s, long *out)
{
    skip_ws(s);
    const char *start = s->p;
    if (s->p < s->end && is_digit(*s->p)) {
        bool integer;
        int rc = scan_number(s, &integer);
        if (rc != 0 || !integer)
            return rc;
        long v = 0;
        for (const char *p = start; p < s->p; p++)
            v = v > (LONG_MAX - 9) / 10 ? LONG_MAX : v * 10 + (*p - '0');
        *out = v;
        return 0;
    }
    return skip_value(s);
}

/* An object's members, s->p at its '{': member() reads each value (or
 * skips it) with the value's key; nesting counts against MAX_DEPTH. */
typedef int (*member_fn)(struct scan *s, const struct raw_string *key, void *ctx);

static int scan_object(struct scan *s, member_fn member, void *ctx)
{
    if (++s->depth > MAX_DEPTH)
        return fail(s, "nesting too deep");
    s->p++;
    if (peek(s, '}')) {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        struct raw_string key;
        int rc;
        if (!peek(s, '"'))
            return fail(s, "expected a string key");
        if ((rc = scan_string(s, &key)) != 0 || (rc = expect(s, ':', "expected ':'")) != 0 ||
            (rc = member(s, &key, ctx)) != 0)
            return rc;
        if (peek(s, ',')) {
            s->p++;
            continue;
        }
        if ((rc = expect(s, '}', "expected ',' or '}'")) != 0)
            return rc;
        s->depth--;
        return 0;
    }
}

static int sampling_param(struct scan *s, const struct raw_string *key, void *max_tokens)
{
    return key_is(key, "max_new_tokens") ? limit_value(s, max_tokens) : skip_value(s);
}

/* /generate's sampling_params (an object; a list of them for a batch:
 * skipped): max_new_tokens. */
static int sampling_params(struct scan *s, long *max_tokens)
{
    return peek(s, '{') ? scan_object(s, sampling_param, max_tokens) : skip_value(s);
}

struct extract {
    struct scan s;
    struct sr_text_buf *buf;
    bool have_text; /* a text/prompt string was found */
    struct raw_string text;
    size_t ids_start, ids_len; /* input_ids rendered in buf */
    bool have_ids;
    bool chat_done;
    size_t batch; /* elements of a prompt list (a batch), 0: one prompt */
};

/* "id,id,...," for an array of integers (s->p at '['). */
static int render_ids(struct extract *x)
{
    struct scan *s = &x->s;
    size_t start = x->buf->len;
    s->p++;
    if (peek(s, ']')) {
        s->p++;
    } else {
        for (;;) {
            skip_ws(s);
            const char *num = s->p;
            bool integer;
            int rc = scan_number(s, &integer);
            if (rc != 0 || !integer)
                return fail(s, "token ids must be integers");
            if (buf_add(x->buf, num, (size_t)(s->p - num)) != 0 || buf_add(x->buf, ",", 1) != 0)
                return SR_ERR_NOMEM;
            if (peek(s, ',')) {
                s->p++;
                continue;
            }
            if ((rc = expect(s, ']', "expected ',' or ']'")) != 0)
                return rc;
            break;
        }
    }
    x->ids_start = start;
    x->ids_len = x->buf->len - start;
    x->have_ids = true;
    return 0;
}

/* A prompt: a string, a list of strings (the first counts), a list of ids,
 * or a list of id lists (the first counts). */
static int prompt_value(struct extract *x, bool ids_only, const char *field_error)
{
    struct scan *s = &x->s;
    skip_ws(s);
    if (s->p >= s->end)
        return fail(s, "unexpected end of JSON");
    if (*s->p == '"' && !ids_only) {
        x->have_text = true;
        return scan_string(s, &x->text);
    }
    if (*s->p == 'n')
        return scan_literal(s, "null");
    if (*s->p != '[')
        return fail(s, field_error);
    const char *open = s->p;
    s->p++;
    skip_ws(s);
    int rc;
    if (s->p < s->end && ((*s->p == '"' && !ids_only) || *s->p == '[')) {
        if (*s->p == '"') {
            if ((rc = scan_string(s, &x->text)) != 0)
                return rc;
            x->have_text = true;
        } else if ((rc = render_ids(x)) != 0) {
            return rc;
        }
        x->batch = 1;
        for (;;) { /* the other elements are only validated */
            if (peek(s, ',')) {
                s->p++;
                if ((rc = skip_value(s)) != 0)
                    return rc;
                x->batch++;
                continue;
            }
            return expect(s, ']', "expected ',' or ']'");
        }
    }
    s->p = open;
    return render_ids(x);
}

/* The "text" of every part of a content list (s->p at '['), decoded into
 * buf; other parts (images, ...) and fields are validated and skipped. */
static int content_parts(struct extract *x)
{
    struct scan *s = &x->s;
    s->p++;
    if (peek(s, ']')) {
        s->p++;
        return 0;
    }
    for (;;) {
        int rc;
        if (peek(s, '{')) {
            s->p++;
            while (!peek(s, '}')) {
                struct raw_string key, value;
                if (!peek(s, '"'))
                    return fail(s, "expected a string key");
                if ((rc = scan_string(s, &key)) != 0 || (rc = expect(s, ':', "expected ':'")) != 0)
                    return rc;
                if (key_is(&key, "text") && peek(s, '"')) {
                    if ((rc = scan_string(s, &value)) != 0 ||
                        (rc = add_decoded(s, x->buf, &value)) != 0)
                        return rc;
                } else if ((rc = skip_value(s)) != 0) {
                    return rc;
                }
                if (!peek(s, ','))
                    break;
                s->p++;
            }
            if ((rc = expect(s, '}', "expected ',' or '}'")) != 0)
                return rc;
        } else if ((rc = skip_value(s)) != 0) {
            return rc;
        }
        if (peek(s, ',')) {
            s->p++;
            continue;
        }
        return expect(s, ']', "expected ',' or ']'");
    }
}

/* "<|role|>\n" + content + "\n" for each message, into buf. */
static int chat_messages(struct extract *x)
{
    struct scan *s = &x->s;
    if (!peek(s, '['))
        return fail(s, "'messages' must be a list");
    s->p++;
    if (peek(s, ']')) {
        s->p++;
        x->chat_done = true;
        return 0;
    }
    for (;;) {
        if (!peek(s, '{'))
            return fail(s, "each message must be an object");
        s->p++;
        struct raw_string role = {"user", 4, false};
        size_t content_start = x->buf->len, content_len = 0;
        bool has_content = false;
        int rc;
        if (peek(s, '}')) {
            s->p++;
        } else {
            for (;;) {
                struct raw_string key;
                if (!peek(s, '"'))
                    return fail(s, "expected a string key");
                if ((rc = scan_string(s, &key)) != 0 || (rc = expect(s, ':', "expected ':'")) != 0)
                    return rc;
                if (key.len == 4 && memcmp(key.p, "role", 4) == 0 && peek(s, '"')) {
                    if ((rc = scan_string(s, &role)) != 0)
                        return rc;
                } else if (key.len == 7 && memcmp(key.p, "content", 7) == 0) {
                    /* Content is rendered after the role, so collect it at
                     * the end of buf and move it into place below. */
                    skip_ws(s);
                    if (s->p < s->end && *s->p == '"') {
                        struct raw_string str;
                        if ((rc = scan_string(s, &str)) != 0 ||
                            (rc = add_decoded(s, x->buf, &str)) != 0)
                            return rc;
                    } else if (s->p < s->end && *s->p == '[') {
                        if ((rc = content_parts(x)) != 0)
                            return rc;
                    } else if ((rc = skip_value(s)) != 0) {
                        return rc;
                    }
                    has_content = true;
                    content_len = x->buf->len - content_start;
                } else if ((rc = skip_value(s)) != 0) {
                    return rc;
                }
                if (peek(s, ',')) {
                    s->p++;
                    continue;
                }
                if ((rc = expect(s, '}', "expected ',' or '}'")) != 0)
                    return rc;
                break;
            }
        }
        /* buf: ... [content]; make it ... <|role|>\n content \n */
        char *content = NULL;
        if (has_content && content_len > 0) {
            content = sr_malloc(content_len);
            if (content == NULL)
                return SR_ERR_NOMEM;
            memcpy(content, x->buf->data + content_start, content_len);
        }
        x->buf->len = content_start;
        rc = buf_add(x->buf, "<|", 2);
        if (rc == 0)
            rc = add_decoded(s, x->buf, &role);
        if (rc == 0)
            rc = buf_add(x->buf, "|>\n", 3);
        if (rc == 0 && content)
            rc = buf_add(x->buf, content, content_len);
        if (rc == 0)
            rc = buf_add(x->buf, "\n", 1);
        sr_free(content);
        if (rc != 0)
            return rc;
        if (peek(s, ',')) {
            s->p++;
            continue;
        }
        if ((rc = expect(s, ']', "expected ',' or ']'")) != 0)
            return rc;
        x->chat_done = true;
        return 0;
    }
}

struct body {
    struct extract *x;
    enum sr_text_source source;
    struct sr_routing_text *out;
};

/* One member of the request body. */
static int body_member(struct scan *s, const struct raw_string *key, void *ctx)
{
    struct body *b = ctx;
    enum sr_text_source source = b->source;
    if (key_is(key, "stream")) {
        skip_ws(s);
        b->out->stream = s->p < s->end && *s->p == 't';
        return skip_value(s);
    }
    if (key_is(key, "model")) {
        struct raw_string m;
        if (!peek(s, '"'))
            return skip_value(s); /* null, or a type the worker judges */
        int rc = scan_string(s, &m);
        if (rc == 0 && m.len > 0) {
            b->out->model = m.p; /* escapes kept: a model id has none (worker_spec.h) */
            b->out->model_len = m.len;
        }
        return rc;
    }
    if (key_is(key, "bootstrap_host") || key_is(key, "bootstrap_port") ||
        key_is(key, "bootstrap_room"))
        b->out->sets_bootstrap = true;
    if (source == SR_TEXT_GENERATE && key_is(key, "return_logprob")) {
        skip_ws(s);
        b->out->return_logprob = s->p < s->end && *s->p == 't';
        return skip_value(s);
    }
    if (source == SR_TEXT_CHAT && key_is(key, "n")) {
        long n = -1;
        int rc = limit_value(s, &n);
        if (rc == 0 && n > 1)
            b->out->batch = (size_t)(n < 1L << 20 ? n : 1L << 20);
        return rc;
    }
    if (source == SR_TEXT_GENERATE && key_is(key, "sampling_params"))
        return sampling_params(s, &b->out->max_tokens);
    if (source != SR_TEXT_GENERATE &&
        (key_is(key, "max_tokens") || key_is(key, "max_completion_tokens")))
        return limit_value(s, &b->out->max_tokens);
    if (source == SR_TEXT_GENERATE && key_is(key, "text"))
        return prompt_value(b->x, false, "'text' must be a string or a list of strings");
    if (source == SR_TEXT_GENERATE && key_is(key, "input_ids"))
        return prompt_value(b->x, true, "'input_ids' must be a list of token ids");
    if (source == SR_TEXT_COMPLETIONS && key_is(key, "prompt"))
        return prompt_value(b->x, false,
                            "'prompt' must be a string, a list of strings or token ids");
    if (source == SR_TEXT_CHAT && key_is(key, "messages"))
        return chat_messages(b->x);
    return skip_value(s);
}

int sr_routing_text_extract(enum sr_text_source source, const char *body, size_t len,
                            struct sr_text_buf *buf, struct sr_routing_text *out, const char **why)
{
    struct extract x = {.s = {body, body + len, 0, NULL}, .buf = buf};
    struct scan *s = &x.s;
    out->text = "";
    out->len = 0;
    out->stream = false;
    out->max_tokens = -1;
    out->model = NULL;
    out->model_len = 0;
    out->batch = 0;
    out->return_logprob = false;
    out->sets_bootstrap = false;
    buf->len = 0;
    if (!peek(s, '{')) {
        *why = s->p < s->end ? "the request body must be a JSON object" : "empty request body";
        return SR_ERR_INVALID;
    }
    struct body b = {&x, source, out};
    int rc = scan_object(s, body_member, &b);
    if (rc == 0) {
        skip_ws(s);
        if (s->p != s->end)
            rc = fail(s, "unexpected data after the JSON object");
    }
    if (rc != 0) {
        *why = s->why ? s->why : "out of memory";
        return rc == SR_ERR_NOMEM ? SR_ERR_NOMEM : SR_ERR_INVALID;
    }
    if (x.batch > 0)
        out->batch = x.batch;
    if (x.have_text) {
        if (!x.text.escaped) {
            out->text = x.text.p;
            out->len = x.text.len;
        } else {
            buf->len = 0;
            if ((rc = add_decoded(s, buf, &x.text)) != 0) {
                *why = s->why ? s->why : "out of memory";
                return rc;
            }
            out->text = buf->data;
            out->len = buf->len;
        }
    } else if (x.have_ids && x.ids_len > 0) {
        out->text = buf->data + x.ids_start;
        out->len = x.ids_len;
    } else if (x.chat_done && buf->len > 0) {
        out->text = buf->data;
        out->len = buf->len;
    }
    return 0;
}

void sr_text_buf_clear(struct sr_text_buf *buf)
{
    sr_free(buf->data);
    memset(buf, 0, sizeof(*buf));
}
