/* flags: the --sync-* flags as replica sync settings (see flags.h). */
#include "flags.h"

#include "common/err.h"
#include "common/secret.h"

#include <stdio.h>
#include <string.h>

/* The flag's value or its file's (they exclude each other). */
static int one_of(const char *flag, const char *value, const char *path, const char **use,
                  char **owned, char *err, size_t errlen)
{
    *use = value;
    if (path == NULL)
        return 0;
    if (value != NULL) {
        snprintf(err, errlen, "--%s-file: give the value or its file, not both", flag);
        return SR_ERR_INVALID;
    }
    char file_flag[64];
    snprintf(file_flag, sizeof(file_flag), "--%s-file", flag);
    *use = *owned = sr_secret_read_one(file_flag, path, err, errlen);
    return *owned ? 0 : SR_ERR_INVALID;
}

/* A PEM file, whole, into *out. */
static int pem(const char *flag, const char *path, char **out, char *err, size_t errlen)
{
    *out = path ? sr_secret_read_text(flag, path, err, errlen) : NULL;
    return path && *out == NULL ? SR_ERR_INVALID : 0;
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
    int rc = one_of("sync-nats-token", cfg->sync_nats_token, cfg->sync_nats_token_file, &s->token,
                    &f->token, err, errlen);
    if (rc == 0)
        rc = one_of("sync-nats-password", cfg->sync_nats_password, cfg->sync_nats_password_file,
                    &s->password, &f->password, err, errlen);
    if (rc == 0)
        rc = pem("--sync-nats-tls-ca", cfg->sync_nats_tls_ca, &f->ca, err, errlen);
    if (rc == 0)
        rc = pem("--sync-nats-tls-cert", cfg->sync_nats_tls_cert, &f->cert, err, errlen);
    if (rc == 0)
        rc = pem("--sync-nats-tls-key", cfg->sync_nats_tls_key, &f->key, err, errlen);
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
    sr_secret_string_free(f->token);
    sr_secret_string_free(f->password);
    sr_secret_string_free(f->ca);
    sr_secret_string_free(f->cert);
    sr_secret_string_free(f->key);
    memset(f, 0, sizeof(*f));
}
