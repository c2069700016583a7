/*
 * http_status: the one table of HTTP status reason phrases, for every
 * HTTP/1 response line written by the router and the simulated worker.
 * No state, no I/O.
 */
#ifndef SR_HTTP_STATUS_H
#define SR_HTTP_STATUS_H

/* The reason phrase for status ("OK", "Not Found"...); "Unknown" for a
 * status not in the table. A static string. */
const char *sr_http_reason(int status);

#endif
