/*
 * pb_json: any protobuf-c message as a JSON object (jansson), driven by its
 * descriptor: field names as in the .proto file, unset optional fields
 * left out, repeated fields as arrays, enums by name, 64-bit integers as
 * JSON integers. For sglctl's --json output.
 */
#ifndef SR_PB_JSON_H
#define SR_PB_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new object (the caller decrefs), or NULL when out of memory. */
json_t *sr_pb_to_json(const ProtobufCMessage *msg);

#endif
