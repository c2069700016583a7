/*
 * breaker: a worker's circuit breaker, the passive half of failure
 * detection. Requests report how each attempt on the worker ended; after
 * too many failures in a row the worker gets no traffic for a while, then a
 * few trial requests decide whether it comes back. No I/O, no clock of its
 * own: every call takes the time (sr_breaker_now_ms() in the router, any
 * value in tests).
 *
 * States (the reference router's, sgl-router core/circuit_breaker.rs):
 *   CLOSED     traffic flows. failure_threshold failures in a row (no
 *              success between them), the first and the last no more than
 *              window_ms apart, open it. A success resets the count; a
 *              failure after a longer gap starts a new count. (The
 *              reference declares the window but never uses it.)
 *   OPEN       no traffic for timeout_ms; then, lazily at the next routing
 *              decision, HALF_OPEN.
 *   HALF_OPEN  at most success_threshold trial requests are admitted (the
 *              reference admits every request despite its comment). Each
 *              successful trial counts; success_threshold of them close
 *              the breaker; one failed trial opens it again for another
 *              timeout_ms. A trial without a verdict (the client left, our
 *              own error) gives its slot back.
 * Outcomes of attempts admitted before the current state began (a stream
 * started while CLOSED that ends while OPEN or HALF_OPEN) are ignored
 * outside CLOSED: they say nothing about the worker's recovery. A trial is
 * told apart by its ticket, the number of the half-open period that
 * admitted it.
 *
 * What is a failure is the caller's business; the router counts connection
 * errors, timeouts and 5xx answers, never a client's 4xx (breaker.h says
 * nothing about HTTP).
 *
 * Locking rule: one small mutex per breaker serialises every state change
 * (sr_breaker_admit, sr_breaker_record); each holds it for a few
 * instructions and never calls out. Readers (sr_breaker_allows,
 * sr_breaker_state, the counters) take no lock: they load atomics and may
 * see a state one transition old. That is harmless because admission is
 * decided again under the lock: a trial slot is never handed out twice.
 *
 * Ownership: the struct is embedded in its owner (struct sr_worker);
 * sr_breaker_init / sr_breaker_clear bracket its life.
 */
#ifndef SR_BREAKER_H
#define SR_BREAKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum sr_breaker_state {
    SR_BREAKER_CLOSED = 0, /* the numbers are the Prometheus gauge's */
    SR_BREAKER_OPEN = 1,
    SR_BREAKER_HALF_OPEN = 2,
};

/* How an attempt on the worker ended, as far as its breaker is concerned. */
enum sr_breaker_outcome {
    SR_BREAKER_SUCCESS,
    SR_BREAKER_FAILURE,
    SR_BREAKER_NO_VERDICT, /* says nothing about the worker (client gone) */
};

struct sr_breaker_config {
    bool enabled;               /* false: always CLOSED, records ignored */
    uint32_t failure_threshold; /* >= 1 */
    uint32_t success_threshold; /* >= 1: trials admitted, and needed to close */
    uint64_t timeout_ms;        /* OPEN -> HALF_OPEN */
    uint64_t window_ms;         /* longest span of one run of failures */
};

struct sr_breaker {
    pthread_mutex_t lock;                /* see the locking rule above */
    atomic_int state;                    /* enum sr_breaker_state, as last stored */
    atomic_uint_least64_t open_until_ms; /* OPEN: half-open from then on */
    atomic_uint trial_slots;             /* HALF_OPEN: trials that may still start */
    atomic_ulong opened_total;           /* CLOSED or HALF_OPEN -> OPEN transitions */
    atomic_uint failures;                /* CLOSED: the current run (written under the lock) */
    uint64_t run_start_ms;               /* CLOSED: its first failure (lock) */
    uint32_t successes;                  /* HALF_OPEN: successful trials (lock) */
    uint32_t period;                     /* HALF_OPEN periods so far (lock); a ticket */
};

/* 0, or SR_ERR_NOMEM when the mutex cannot be made. */
int sr_breaker_init(struct sr_breaker *b);
void sr_breaker_clear(struct sr_breaker *b);

/* The state as of now_ms: an OPEN breaker whose timeout passed reads as
 * HALF_OPEN (the transition itself happens at the next admission). */
enum sr_breaker_state sr_breaker_state(const struct sr_breaker *b, uint64_t now_ms);
const char *sr_breaker_state_name(enum sr_breaker_state s);

/* Whether a request may be routed to the worker now (no lock; a hint that
 * sr_breaker_admit confirms). */
bool sr_breaker_allows(const struct sr_breaker *b, uint64_t now_ms);

/* At dispatch, for the chosen worker: true when the attempt may go, with
 * *ticket to pass to sr_breaker_record (non-zero for a half-open trial);
 * false when the breaker is open or every trial slot is taken (pick
 * another worker). */
bool sr_breaker_admit(struct sr_breaker *b, const struct sr_breaker_config *cfg, uint64_t now_ms,
                      uint32_t *ticket);

/* Exactly once per admitted attempt, when it ends. Returns true when the
 * breaker changed state (the caller may log sr_breaker_state()). */
bool sr_breaker_record(struct sr_breaker *b, const struct sr_breaker_config *cfg, uint32_t ticket,
                       enum sr_breaker_outcome outcome, uint64_t now_ms);

static inline unsigned long sr_breaker_opened_total(const struct sr_breaker *b)
{
    return atomic_load_explicit(&b->opened_total, memory_order_relaxed);
}

/* CLOCK_MONOTONIC in milliseconds: the time the router passes in. */
uint64_t sr_breaker_now_ms(void);

#endif
