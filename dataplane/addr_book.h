/*
 * addr_book: the socket address of each worker, resolved off the event
 * loops. The health checker (main thread) resolves a worker's host before
 * every check with getaddrinfo, which may block, and stores the result; loop
 * threads only read it when they open a connection. A worker is routable
 * only after a passing check, so it always has an address by then.
 *
 * Locking: one mutex; entries are small copies. Indexed by worker id,
 * tagged with the worker pointer so a reused id never returns a stale
 * address.
 */
#ifndef SR_ADDR_BOOK_H
#define SR_ADDR_BOOK_H

#include "common/worker.h"

#include <stdbool.h>
#include <sys/socket.h>

struct sr_addr_book;

struct sr_addr_book *sr_addr_book_new(void);
void sr_addr_book_free(struct sr_addr_book *b);

/* Resolves w's host and port now (blocking) and records the first address.
 * 0, or a negative error with *why set. */
int sr_addr_book_resolve(struct sr_addr_book *b, struct sr_worker *w, const char **why);

/* Copies w's address; false when it has none yet. */
bool sr_addr_book_get(struct sr_addr_book *b, const struct sr_worker *w,
                      struct sockaddr_storage *out, socklen_t *len);

#endif
