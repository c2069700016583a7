/*
 * err: the project's error codes. Functions return 0 (or a count) on success
 * and a negative enum sr_err on failure; sr_strerror names each code.
 * Library codes (nghttp2, OpenSSL, libevent) are converted at the call site.
 */
#ifndef SR_ERR_H
#define SR_ERR_H

enum sr_err {
    SR_OK = 0,
    SR_ERR_NOMEM = -1,        /* an allocation failed */
    SR_ERR_INVALID = -2,      /* malformed or out-of-range input */
    SR_ERR_NOT_FOUND = -3,    /* no such worker, option, ... */
    SR_ERR_EXISTS = -4,       /* already present */
    SR_ERR_NO_WORKER = -5,    /* no routable worker */
    SR_ERR_TOO_LARGE = -6,    /* a size ceiling was hit */
    SR_ERR_IO = -7,           /* a file could not be read or written */
    SR_ERR_CIRCUIT_OPEN = -8, /* healthy workers exist, every circuit breaker is open */
};

/* Static description of an error code; never NULL. */
const char *sr_strerror(int err);

#endif
