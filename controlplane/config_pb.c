/* config_pb: runtime option rows <-> RouterConfig fields (see config_pb.h). */
#include "config_pb.h"

#include "common/err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DESCRIPTOR (&sglang__router__admin__v1__router_config__descriptor)

/* The protobuf type a runtime option of this type maps to (-1: none). */
static int proto_type(enum sr_option_type t)
{
    switch (t) {
    case SR_OPT_STRING:
    case SR_OPT_CHOICE:
        return PROTOBUF_C_TYPE_STRING;
    case SR_OPT_INT:
        return PROTOBUF_C_TYPE_INT64;
    case SR_OPT_FLOAT:
        return PROTOBUF_C_TYPE_DOUBLE;
    case SR_OPT_FLAG:
        return PROTOBUF_C_TYPE_BOOL;
    default:
        return -1;
    }
}

const ProtobufCFieldDescriptor *sr_config_pb_field(const struct sr_option *o)
{
    if (o->runtime == NULL || o->runtime->proto_field == NULL)
        return NULL;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(DESCRIPTOR, o->runtime->proto_field);
    if (f == NULL || f->label != PROTOBUF_C_LABEL_OPTIONAL || (int)f->type != proto_type(o->type))
        return NULL;
    return f;
}

int sr_config_pb_check(char *err, size_t errlen)
{
    for (const struct sr_option *o = sr_config_options(); o->name; o++) {
        if (o->runtime && sr_config_pb_field(o) == NULL) {
            snprintf(err, errlen, "--%s: RouterConfig has no optional field %s of its type",
                     o->name, o->runtime->proto_field ? o->runtime->proto_field : "(none)");
            return SR_ERR_INVALID;
        }
    }
    for (unsigned i = 0; i < DESCRIPTOR->n_fields; i++) {
        const char *name = DESCRIPTOR->fields[i].name;
        int rows = 0;
        for (const struct sr_option *o = sr_config_options(); o->name; o++)
            rows +=
                o->runtime && o->runtime->proto_field && strcmp(o->runtime->proto_field, name) == 0;
        if (rows != 1) {
            snprintf(err, errlen, "RouterConfig.%s: named by %d rows of the option table", name,
                     rows);
            return SR_ERR_INVALID;
        }
    }
    return 0;
}

/* The presence flag of f in msg (NULL for strings: a NULL pointer is absence). */
static protobuf_c_boolean *has_flag(Sglang__Router__Admin__V1__RouterConfig *msg,
                                    const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_STRING
               ? NULL
               : (protobuf_c_boolean *)((char *)msg + f->quantifier_offset);
}

void sr_config_pb_from_config(const struct sr_config *cfg,
                              Sglang__Router__Admin__V1__RouterConfig *msg)
{
    for (const struct sr_option *o = sr_config_options(); o->name; o++) {
        const ProtobufCFieldDescriptor *f = sr_config_pb_field(o);
        if (f == NULL)
            continue;
        const char *from = (const char *)cfg + o->offset;
        char *to = (char *)msg + f->offset;
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
            *(const char **)to = *(char *const *)from;
            break;
        case PROTOBUF_C_TYPE_INT64:
            *(int64_t *)to = *(const long *)from;
            break;
        case PROTOBUF_C_TYPE_DOUBLE:
            *(double *)to = *(const double *)from;
            break;
        case PROTOBUF_C_TYPE_BOOL:
            *(protobuf_c_boolean *)to = *(const bool *)from;
            break;
        default:
            continue;
        }
        if (has_flag(msg, f))
            *has_flag(msg, f) = true;
    }
}

const char *sr_config_pb_text(const Sglang__Router__Admin__V1__RouterConfig *msg,
                              const struct sr_option *o, bool exact, char *buf, size_t len)
{
    const ProtobufCFieldDescriptor *f = sr_config_pb_field(o);
    if (f == NULL)
        return NULL;
    const char *at = (const char *)msg + f->offset;
    if (f->type == PROTOBUF_C_TYPE_STRING)
        return *(char *const *)at;
    if (!*(const protobuf_c_boolean *)((const char *)msg + f->quantifier_offset))
        return NULL;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
        snprintf(buf, len, "%lld", (long long)*(const int64_t *)at);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        snprintf(buf, len, exact ? "%.17g" : "%g", *(const double *)at);
        break;
    default: /* bool */
        snprintf(buf, len, "%s", *(const protobuf_c_boolean *)at ? "true" : "false");
        break;
    }
    return buf;
}

int sr_config_pb_set_text(Sglang__Router__Admin__V1__RouterConfig *msg, const struct sr_option *o,
                          const char *value, char *err, size_t errlen)
{
    const ProtobufCFieldDescriptor *f = sr_config_pb_field(o);
    if (f == NULL) {
        snprintf(err, errlen, "--%s cannot change while the router runs", o->name);
        return SR_ERR_INVALID;
    }
    char *to = (char *)msg + f->offset;
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        *(const char **)to = value;
        return 0;
    case PROTOBUF_C_TYPE_INT64: {
        long long v = strtoll(value, &end, 10);
        if (*value == '\0' || *end != '\0' || errno) {
            snprintf(err, errlen, "--%s: not an integer: '%s'", o->name, value);
            return SR_ERR_INVALID;
        }
        *(int64_t *)to = v;
        break;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = strtod(value, &end);
        if (*value == '\0' || *end != '\0' || errno || !isfinite(d)) {
            snprintf(err, errlen, "--%s: not a number: '%s'", o->name, value);
            return SR_ERR_INVALID;
        }
        *(double *)to = d;
        break;
    }
    default: /* bool */
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
            snprintf(err, errlen, "--%s: expected true or false (got '%s')", o->name, value);
            return SR_ERR_INVALID;
        }
        *(protobuf_c_boolean *)to = value[0] == 't';
        break;
    }
    *has_flag(msg, f) = true;
    return 0;
}
