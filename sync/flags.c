/* flags: the --sync-* flags as replica sync settings (see flags.h). */
#include "flags.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_FILE (1u << 20)

static void wipe(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        sr_free(s);
    }
}

/* The whole file into *out (NUL-terminated); trimmed: trailing whitespace
 * dropped (a secret on one line). */
static int read_file(const char *flag, const char *path, bool trimmed, char **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "--%s: cannot read %s: %s", flag, path, strerror(errno));
        return SR_ERR_IO;
    }
    struct sr_buf b;
    sr_buf_init(&b, MAX_FILE);
    int rc = 0;
    char chunk[4096];
    size_t n;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = sr_buf_append(&b, chunk, n);
    bool failed = ferror(f);
    fclose(f);
    if (rc == 0 && !failed && trimmed)
        while (b.len > 0 && strchr(" \t\r\n", b.data[b.len - 1]))
            b.data[--b.len] = '\0';
    if (rc == 0 && !failed && (b.len == 0 || memchr(b.data, '\0', b.len) != NULL)) {
        snprintf(err, errlen, "--%s: %s is %s", flag, path, b.len ? "not text" : "empty");
        rc = SR_ERR_INVALID;
    } else if (rc != 0 || failed) {
        snprintf(err, errlen, "--%s: cannot read %s: %s", flag, path,
                 rc == SR_ERR_TOO_LARGE ? "larger than 1 MiB"
                 : failed               ? "read error"
                                        : "out of memory");
        rc = rc ? rc : SR_ERR_IO;
    }
    if (rc != 0) {
        if (b.data)
            explicit_bzero(b.data, b.len);
        sr_buf_free(&b);
        return rc;
    }
    size_t len;
    *out = sr_buf_take(&b, &len);
    return 0;
}

/* The flag's value or its file's (they exclude each other). */
static int one_of(const char *flag, const char *value, const char *path, bool trimmed,
                  const char **use, char **owned, char *err, size_t errlen)
{
    *use = value;
    if (path == NULL)
        return 0;
    if (value != NULL) {
        snprintf(err, errlen, "--%s-file: give the value or its file, not both", flag);
        return SR_ERR_INVALID;
    }
    char file_flag[64];
    snprintf(file_flag, sizeof(file_flag), "%s-file", flag);
    int rc = read_file(file_flag, path, trimmed, owned, err, errlen);
    *use = *owned;
    return rc;
}

int sr_sync_flags_read(const struct sr_config *cfg, struct sr_sync_flags *f, char *err,
                       size_t errlen)
{
    memset(f, 0, sizeof(*f));
    struct sr_sync_settings *s = &f->set;
    s->urls = (const char *const *)cfg->sync_nats_urls.items;
    s->nurls = cfg->sync_nats_urls.n;
    s->group = cfg->sync_group;
    s->user = cfg->sync_nats_user;
    int rc = one_of("sync-nats-token", cfg->sync_nats_token, cfg->sync_nats_token_file, true,
                    &s->token, &f->token, err, errlen);
    if (rc == 0)
        rc = one_of("sync-nats-password", cfg->sync_nats_password, cfg->sync_nats_password_file,
                    true, &s->password, &f->password, err, errlen);
    if (rc == 0 && cfg->sync_nats_tls_ca)
        rc = read_file("sync-nats-tls-ca", cfg->sync_nats_tls_ca, false, &f->ca, err, errlen);
    if (rc == 0 && cfg->sync_nats_tls_cert)
        rc = read_file("sync-nats-tls-cert", cfg->sync_nats_tls_cert, false, &f->cert, err, errlen);
    if (rc == 0 && cfg->sync_nats_tls_key)
        rc = read_file("sync-nats-tls-key", cfg->sync_nats_tls_key, false, &f->key, err, errlen);
    s->tls_ca_pem = f->ca;
    s->tls_cert_pem = f->cert;
    s->tls_key_pem = f->key;
    if (rc == 0)
        rc = sr_sync_check(s, err, errlen);
    if (rc != 0)
        sr_sync_flags_clear(f);
    return rc;
}

void sr_sync_flags_clear(struct sr_sync_flags *f)
{
    wipe(f->token);
    wipe(f->password);
    sr_free(f->ca);
    sr_free(f->cert);
    wipe(f->key);
    memset(f, 0, sizeof(*f));
}
