/*
 * flags: the router's --sync-* flags as replica sync settings, with the
 * files they name read by common/secret (a token or password file: its one
 * secret, trailing whitespace trimmed; a certificate, key or CA file: whole,
 * as PEM text).
 *
 * Ownership: struct sr_sync_flags owns what it read; its `set` points into
 * it and into the config (which must outlive it). Secrets are wiped on
 * clear and never appear in messages.
 */
#ifndef SR_SYNC_FLAGS_H
#define SR_SYNC_FLAGS_H

#include "sync.h"

#include "common/config.h"

struct sr_sync_flags {
    struct sr_sync_settings set;
    char *token, *password, *ca, *cert, *key; /* read from files, owned */
};

/* 0, SR_ERR_INVALID or SR_ERR_IO with a one-line message naming the flag,
 * or SR_ERR_NOMEM. */
int sr_sync_flags_read(const struct sr_config *cfg, struct sr_sync_flags *out, char *err,
                       size_t errlen);
void sr_sync_flags_clear(struct sr_sync_flags *f);

#endif
