/* err: names of the error codes (see err.h). */
#include "err.h"

const char *sr_strerror(int err)
{
    switch (err) {
    case SR_OK:
        return "success";
    case SR_ERR_NOMEM:
        return "out of memory";
    case SR_ERR_INVALID:
        return "invalid argument";
    case SR_ERR_NOT_FOUND:
        return "not found";
    case SR_ERR_EXISTS:
        return "already exists";
    case SR_ERR_NO_WORKER:
        return "no healthy worker available";
    case SR_ERR_TOO_LARGE:
        return "size limit exceeded";
    case SR_ERR_IO:
        return "input/output error";
    case SR_ERR_CIRCUIT_OPEN:
        return "every worker's circuit breaker is open";
    }
    return "unknown error";
}
