/* tls: the public port's reloadable TLS context (see tls.h). */
#include "tls.h"

#include "common/alloc.h"

#include <pthread.h>
#include <stdio.h>

struct sr_tls {
    const struct sr_tls_files *files;
    pthread_mutex_t lock; /* the pointer below, against a reload's swap */
    SSL_CTX *ctx;
};

struct sr_tls *sr_tls_new(const struct sr_tls_files *files, char *err, size_t errlen)
{
    SSL_CTX *ctx = sr_tls_server_ctx(files, err, errlen);
    if (ctx == NULL)
        return NULL;
    struct sr_tls *t = sr_calloc(1, sizeof(*t));
    if (t == NULL) {
        SSL_CTX_free(ctx);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->files = files;
    t->ctx = ctx;
    /* No SSL_MODE_RELEASE_BUFFERS: freeing the record buffers between
     * requests on keep-alive connections cost 6% of throughput
     * (tests/bench/RESULTS.md, tls_bench). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void sr_tls_free(struct sr_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->lock);
    sr_free(t);
}

int sr_tls_reload(struct sr_tls *t, char *err, size_t errlen)
{
    SSL_CTX *fresh = sr_tls_server_ctx(t->files, err, errlen);
    if (fresh == NULL)
        return -1;
    SSL_CTX_set_mode(fresh, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    pthread_mutex_lock(&t->lock);
    SSL_CTX *old = t->ctx;
    t->ctx = fresh;
    pthread_mutex_unlock(&t->lock);
    SSL_CTX_free(old); /* live connections hold their own references */
    return 0;
}

SSL *sr_tls_accept(struct sr_tls *t)
{
    pthread_mutex_lock(&t->lock);
    SSL *ssl = SSL_new(t->ctx); /* takes a reference to the context */
    pthread_mutex_unlock(&t->lock);
    return ssl;
}
