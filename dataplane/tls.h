/*
 * tls: the public port's TLS context, shared by every loop thread and
 * replaced on reload (SIGHUP) without touching open connections: a new
 * context is built from the same files, swapped in for new accepts, and
 * the old one lives on in the connections that use it (OpenSSL counts
 * references). A reload that fails keeps the old context and says why.
 */
#ifndef SR_TLS_H
#define SR_TLS_H

#include "common/tls_config.h"

#include <openssl/ssl.h>
#include <stddef.h>

struct sr_tls;

/* Builds the first context. NULL with a one-line reason in err. The files
 * struct (and its strings) must outlive the object. */
struct sr_tls *sr_tls_new(const struct sr_tls_files *files, char *err, size_t errlen);
void sr_tls_free(struct sr_tls *t);

/* Re-reads the files. 0, or -1 with the reason in err (the old context stays). */
int sr_tls_reload(struct sr_tls *t, char *err, size_t errlen);

/* A new server-side SSL object for an accepted socket, or NULL. */
SSL *sr_tls_accept(struct sr_tls *t);

#endif
