/*
 * budget: how many response bytes the router may hold for clients that
 * read slower than workers write, per response, per connection and in all.
 *
 * Every buffer that holds response bytes for a client (an HTTP/1
 * connection's output, an HTTP/2 session's frames and each stream's data)
 * is tracked: its size moves the owning loop's counter (relaxed atomics,
 * one writer each), and the sum over loops is the router's use.
 *
 * The proxy pauses a worker's socket when its client's output is full
 * (sr_reply_output_full): over sr_budget_response_mark() bytes for the
 * response (1 MiB; 64 KiB once the router is over
 * --response-buffer-budget-bytes, so those holding the most stop first),
 * and for HTTP/2 also over SR_BUDGET_CONN_FACTOR marks for the connection
 * as a whole. Over budget, each loop closes the connections that hold
 * more than the small mark and have written nothing for
 * --slow-client-grace-secs, the largest first, until the router is under
 * budget again (sr_client_reap_stalled in conn.h).
 *
 * Threads: sr_budget_track/untrack on the buffer's loop; the queries from
 * any thread.
 */
#ifndef SR_BUDGET_H
#define SR_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;
struct sr_loop;
struct sr_router;

#define SR_BUDGET_MARK_HIGH   (1024 * 1024) /* per response, normally */
#define SR_BUDGET_MARK_LOW    (64 * 1024)   /* per response over budget; resume below it */
#define SR_BUDGET_CONN_FACTOR 4             /* an HTTP/2 connection: this many marks */

/* Counts buf's bytes in l's share. 0, or -1 when out of memory. */
int sr_budget_track(struct evbuffer *buf, struct sr_loop *l);
/* Releases buf's bytes from the count (before freeing it). */
void sr_budget_untrack(struct evbuffer *buf);

/* Response bytes buffered for clients, all loops (a racy sum). */
long sr_budget_used(const struct sr_router *r);
bool sr_budget_exceeded(const struct sr_router *r);

/* The per-response mark in force now. */
size_t sr_budget_response_mark(const struct sr_router *r);

#endif
