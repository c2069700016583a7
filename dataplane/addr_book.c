/* addr_book: worker addresses resolved off the loops (see addr_book.h). */
#include "addr_book.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct entry {
    const struct sr_worker *worker;
    struct sockaddr_storage addr;
    socklen_t len;
};

struct sr_addr_book {
    pthread_mutex_t lock;
    struct entry *entries;
    size_t n;
};

struct sr_addr_book *sr_addr_book_new(void)
{
    struct sr_addr_book *b = sr_calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    return b;
}

void sr_addr_book_free(struct sr_addr_book *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->lock);
    sr_free(b->entries);
    sr_free(b);
}

int sr_addr_book_resolve(struct sr_addr_book *b, struct sr_worker *w, const char **why)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%u", (unsigned)w->parsed.port);
    int rc = getaddrinfo(w->parsed.host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        *why = gai_strerror(rc);
        return SR_ERR_NOT_FOUND;
    }
    struct entry e = {.worker = w, .len = (socklen_t)res->ai_addrlen};
    memcpy(&e.addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    pthread_mutex_lock(&b->lock);
    if (w->id >= b->n) {
        size_t old = b->n;
        if (sr_grow((void **)&b->entries, &b->n, w->id + 1, sizeof(*b->entries), 16, SIZE_MAX) !=
            0) {
            pthread_mutex_unlock(&b->lock);
            *why = "out of memory";
            return SR_ERR_NOMEM;
        }
        memset(b->entries + old, 0, (b->n - old) * sizeof(*b->entries));
    }
    b->entries[w->id] = e;
    pthread_mutex_unlock(&b->lock);
    return 0;
}

bool sr_addr_book_get(struct sr_addr_book *b, const struct sr_worker *w,
                      struct sockaddr_storage *out, socklen_t *len)
{
    bool found = false;
    pthread_mutex_lock(&b->lock);
    if (w->id < b->n && b->entries[w->id].worker == w) {
        *out = b->entries[w->id].addr;
        *len = b->entries[w->id].len;
        found = true;
    }
    pthread_mutex_unlock(&b->lock);
    return found;
}
