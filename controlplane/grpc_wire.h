/*
 * grpc_wire: the pieces of the gRPC-over-HTTP/2 protocol that are plain
 * data, shared by the server (grpc_server.c) and the client (sglctl): status
 * codes and their names, Length-Prefixed-Message framing, the check a
 * request message passes before protobuf-c unpacks it, grpc-timeout values,
 * and grpc-message percent-encoding (grpc/grpc doc/PROTOCOL-HTTP2.md and
 * doc/statuscodes.md). No I/O; every function is pure. Pointers passed in
 * are borrowed for the call; pointers handed out point into the caller's
 * buffer.
 */
#ifndef SR_GRPC_WIRE_H
#define SR_GRPC_WIRE_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sr_grpc_status {
    SR_GRPC_OK = 0,
    SR_GRPC_CANCELLED = 1,
    SR_GRPC_UNKNOWN = 2,
    SR_GRPC_INVALID_ARGUMENT = 3,
    SR_GRPC_DEADLINE_EXCEEDED = 4,
    SR_GRPC_NOT_FOUND = 5,
    SR_GRPC_ALREADY_EXISTS = 6,
    SR_GRPC_PERMISSION_DENIED = 7,
    SR_GRPC_RESOURCE_EXHAUSTED = 8,
    SR_GRPC_FAILED_PRECONDITION = 9,
    SR_GRPC_ABORTED = 10,
    SR_GRPC_OUT_OF_RANGE = 11,
    SR_GRPC_UNIMPLEMENTED = 12,
    SR_GRPC_INTERNAL = 13,
    SR_GRPC_UNAVAILABLE = 14,
    SR_GRPC_DATA_LOSS = 15,
    SR_GRPC_UNAUTHENTICATED = 16,
};

/* "OK", "INVALID_ARGUMENT", ...; "UNKNOWN" for codes outside 0..16. */
const char *sr_grpc_status_name(int code);

/* The 5-byte message prefix: compressed flag 0, big-endian length. */
#define SR_GRPC_PREFIX 5
void sr_grpc_prefix(uint8_t out[SR_GRPC_PREFIX], uint32_t len);

/* What a complete request body holds. */
enum sr_grpc_unframe {
    SR_GRPC_ONE_MESSAGE, /* *msg / *len set */
    SR_GRPC_NO_MESSAGE,  /* empty body */
    SR_GRPC_MANY,        /* more than one message */
    SR_GRPC_TRUNCATED,   /* a prefix or message cut short */
    SR_GRPC_COMPRESSED,  /* compressed flag set (we negotiate no encoding) */
};
/* Splits a whole body (every DATA frame of the stream, concatenated). */
enum sr_grpc_unframe sr_grpc_unframe(const uint8_t *body, size_t body_len, const uint8_t **msg,
                                     size_t *len);

/* The length a (partial) body's first prefix announces; false until 5
 * bytes are there. Lets a receiver refuse an oversized message before
 * buffering it. */
bool sr_grpc_announced_length(const uint8_t *body, size_t body_len, uint32_t *len);

/* True when no string field of the message msg (len bytes, described by d;
 * nested messages included, SR_GRPC_MAX_NESTING deep) holds a NUL byte.
 * protobuf-c hands strings over NUL-terminated, so "http://w:1\0evil" would
 * arrive cut short and be taken as another value; the server refuses such a
 * request instead. Bytes that are not a valid message pass: unpacking
 * reports those. Never reads outside msg. */
#define SR_GRPC_MAX_NESTING 16
bool sr_grpc_strings_without_nul(const ProtobufCMessageDescriptor *d, const uint8_t *msg,
                                 size_t len);

/* Parses a grpc-timeout value (1-8 digits and a unit H M S m u n) into
 * milliseconds, rounded up. false if malformed. */
bool sr_grpc_parse_timeout(const char *value, size_t len, uint64_t *ms);
/* Formats ms as a grpc-timeout value ("1500m"); out needs 16 bytes. */
void sr_grpc_format_timeout(uint64_t ms, char out[16]);

/* Percent-encodes a grpc-message (bytes outside 0x20-0x7E and '%'),
 * truncating to fit; returns the length written (out is NUL-terminated). */
size_t sr_grpc_percent_encode(const char *in, char *out, size_t cap);
/* Decodes in place what sr_grpc_percent_encode produced (invalid escapes
 * are kept as they are); returns the new length. */
size_t sr_grpc_percent_decode(char *s, size_t len);

#endif
