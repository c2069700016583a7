/* secret: constant-time credential checks, secret files, the reloadable
 * holder (see secret.h). */
#include "secret.h"

#include "alloc.h"
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

void sr_secret_string_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    sr_free(s);
}

/* ---- the immutable list ---------------------------------------------------- */

struct secret_list {
    atomic_size_t refs;
    size_t n, cap;
    char **items;
};

static void list_unref(struct secret_list *l)
{
    if (l == NULL || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    for (size_t i = 0; i < l->n; i++)
        sr_secret_string_free(l->items[i]);
    sr_free(l->items);
    sr_free(l);
}

static int list_add(struct secret_list *l, const char *s, size_t len)
{
    if (sr_grow((void **)&l->items, &l->cap, l->n + 1, sizeof(*l->items), 4, SIZE_MAX) != 0)
        return -1;
    char *copy = sr_strndup(s, len);
    if (copy == NULL)
        return -1;
    l->items[l->n++] = copy;
    return 0;
}

/* ---- files ------------------------------------------------------------------ */

/* The whole file, NUL-terminated, in *out (*len bytes). 0, or -1 with the
 * reason in err. */
static int read_all(const char *flag, const char *path, char **out, size_t *len, char *err,
                    size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = sr_malloc(cap);
    int rc = buf ? 0 : -1;
    if (buf == NULL)
        snprintf(err, errlen, "%s %s: out of memory", flag, path);
    while (rc == 0) {
        if (n > SR_SECRET_FILE_MAX) {
            snprintf(err, errlen, "%s %s: larger than %d bytes", flag, path, SR_SECRET_FILE_MAX);
            rc = -1;
            break;
        }
        if (n + 1 == cap) {
            /* Not sr_grow: realloc would leave a copy of the secret in
             * freed memory. The same doubling, with a wiped copy. */
            size_t bigger_cap = sr_grow_count(cap, cap + 1, cap, (size_t)SR_SECRET_FILE_MAX + 2);
            char *bigger = sr_malloc(bigger_cap);
            if (bigger == NULL) {
                snprintf(err, errlen, "%s %s: out of memory", flag, path);
                rc = -1;
                break;
            }
            memcpy(bigger, buf, n);
            explicit_bzero(buf, n);
            sr_free(buf);
            buf = bigger;
            cap = bigger_cap;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
            rc = -1;
        } else if (got == 0) {
            break;
        } else {
            n += (size_t)got;
        }
    }
    close(fd);
    if (rc != 0) {
        if (buf)
            explicit_bzero(buf, n);
        sr_free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

/* Appends the secrets of text (len bytes) to l. 0, or -1 with the reason. */
static int parse(struct secret_list *l, const char *text, size_t len, enum sr_secret_format fmt,
                 const char *flag, const char *path, char *err, size_t errlen)
{
    size_t before = l->n, line = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = fmt == SR_SECRET_LINES ? memchr(text + at, '\n', len - at) : NULL;
        size_t end = nl ? (size_t)(nl - text) : len, b = at, e = end;
        at = nl ? end + 1 : len;
        line++;
        if (fmt == SR_SECRET_LINES)
            while (b < e && (text[b] == ' ' || text[b] == '\t'))
                b++;
        while (e > b && is_space(text[e - 1]))
            e--;
        if (b == e || (fmt == SR_SECRET_LINES && text[b] == '#'))
            continue;
        if (has_control(text + b, e - b)) {
            if (fmt == SR_SECRET_LINES)
                snprintf(err, errlen, "%s %s: line %zu: a control character in the key", flag, path,
                         line);
            else
                snprintf(err, errlen,
                         "%s %s: a control character in the secret (more than one line?)", flag,
                         path);
            return -1;
        }
        if (list_add(l, text + b, e - b) != 0) {
            snprintf(err, errlen, "%s %s: out of memory", flag, path);
            return -1;
        }
    }
    if (l->n == before) {
        snprintf(err, errlen, "%s %s: %s", flag, path,
                 fmt == SR_SECRET_LINES ? "no key in the file" : "empty");
        return -1;
    }
    return 0;
}

static int read_file(struct secret_list *l, const char *flag, const char *path,
                     enum sr_secret_format fmt, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (read_all(flag, path, &text, &len, err, errlen) != 0)
        return -1;
    int rc = parse(l, text, len, fmt, flag, path, err, errlen);
    explicit_bzero(text, len);
    sr_free(text);
    return rc;
}

char *sr_secret_read_one(const char *flag, const char *path, char *err, size_t errlen)
{
    struct secret_list l = {.refs = 1};
    char *one = NULL;
    if (read_file(&l, flag, path, SR_SECRET_ONE, err, errlen) == 0) {
        one = l.items[0];
        l.n = 0;
    }
    for (size_t i = 0; i < l.n; i++)
        sr_secret_string_free(l.items[i]);
    sr_free(l.items);
    return one;
}

char *sr_secret_read_text(const char *flag, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (read_all(flag, path, &text, &len, err, errlen) != 0)
        return NULL;
    if (len == 0 || memchr(text, '\0', len) != NULL) {
        snprintf(err, errlen, "%s %s: %s", flag, path, len ? "not text" : "empty");
        sr_secret_string_free(text);
        return NULL;
    }
    return text;
}

/* ---- the holder ---------------------------------------------------------------- */

struct sr_secret {
    char **fixed; /* the flags' secrets, first in every list */
    size_t nfixed;
    char *flag, *path;
    enum sr_secret_format fmt;
    pthread_mutex_t lock; /* the pointer below, against a reload's swap */
    struct secret_list *current;
};

/* A new list: the fixed secrets, then the file's. NULL with the reason. */
static struct secret_list *build(const struct sr_secret *s, char *err, size_t errlen)
{
    struct secret_list *l = sr_calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&l->refs, 1);
    for (size_t i = 0; i < s->nfixed; i++) {
        if (list_add(l, s->fixed[i], strlen(s->fixed[i])) != 0) {
            snprintf(err, errlen, "out of memory");
            list_unref(l);
            return NULL;
        }
    }
    if (s->path && read_file(l, s->flag, s->path, s->fmt, err, errlen) != 0) {
        list_unref(l);
        return NULL;
    }
    if (l->n == 0) {
        snprintf(err, errlen, "no secret given");
        list_unref(l);
        return NULL;
    }
    return l;
}

struct sr_secret *sr_secret_new(const char *const *fixed, size_t nfixed, const char *flag,
                                const char *path, enum sr_secret_format fmt, char *err,
                                size_t errlen)
{
    struct sr_secret *s = sr_calloc(1, sizeof(*s));
    if (s == NULL)
        goto fail_nomem;
    s->fmt = fmt;
    pthread_mutex_init(&s->lock, NULL);
    if (nfixed > 0 && (s->fixed = sr_calloc(nfixed, sizeof(*s->fixed))) == NULL)
        goto fail_nomem;
    for (; s->nfixed < nfixed; s->nfixed++)
        if ((s->fixed[s->nfixed] = sr_strdup(fixed[s->nfixed])) == NULL)
            goto fail_nomem;
    if (path && ((s->flag = sr_strdup(flag ? flag : "secret file")) == NULL ||
                 (s->path = sr_strdup(path)) == NULL))
        goto fail_nomem;
    s->current = build(s, err, errlen);
    if (s->current == NULL)
        goto fail;
    return s;
fail_nomem:
    snprintf(err, errlen, "out of memory");
fail:
    sr_secret_free(s);
    return NULL;
}

void sr_secret_free(struct sr_secret *s)
{
    if (s == NULL)
        return;
    list_unref(s->current);
    for (size_t i = 0; i < s->nfixed; i++)
        sr_secret_string_free(s->fixed[i]);
    sr_free(s->fixed);
    sr_free(s->flag);
    sr_free(s->path);
    pthread_mutex_destroy(&s->lock);
    sr_free(s);
}

const char *sr_secret_path(const struct sr_secret *s)
{
    return s ? s->path : NULL;
}

int sr_secret_reload(struct sr_secret *s, char *err, size_t errlen)
{
    if (s->path == NULL)
        return 0;
    struct secret_list *fresh = build(s, err, errlen);
    if (fresh == NULL)
        return -1;
    pthread_mutex_lock(&s->lock);
    struct secret_list *old = s->current;
    s->current = fresh;
    pthread_mutex_unlock(&s->lock);
    list_unref(old); /* checks in progress hold their own references */
    return 0;
}

static struct secret_list *take(struct sr_secret *s)
{
    pthread_mutex_lock(&s->lock);
    struct secret_list *l = s->current;
    atomic_fetch_add(&l->refs, 1);
    pthread_mutex_unlock(&s->lock);
    return l;
}

size_t sr_secret_count(struct sr_secret *s)
{
    struct secret_list *l = take(s);
    size_t n = l->n;
    list_unref(l);
    return n;
}

bool sr_secret_bearer_ok(struct sr_secret *s, const char *value, size_t len)
{
    if (s == NULL)
        return false;
    struct secret_list *l = take(s);
    bool ok = false;
    for (size_t i = 0; i < l->n; i++)
        ok |= sr_bearer_matches(value, len, l->items[i]);
    list_unref(l);
    return ok;
}
