/*
 * config_pb: the option table's runtime-changeable rows (common/config.c)
 * as fields of the admin API's RouterConfig message. Each such row names
 * its field; the field is found through the message's protobuf-c
 * descriptor, so GetConfig, UpdateConfig and sglctl's `config` command walk
 * the table instead of listing the settings again. A new runtime setting is
 * one row in the table and one field in admin.proto.
 *
 * Values cross as the option's command-line text, so the router validates
 * an update with the command line's bounds and messages.
 *
 * Ownership: a message filled here borrows its strings from the config or
 * the text it was filled from; nothing here allocates. Thread-safe (no
 * state).
 */
#ifndef SR_CONFIG_PB_H
#define SR_CONFIG_PB_H

#include "common/config.h"

#include "sglang/router/admin/v1/admin.pb-c.h"

#include <stdbool.h>
#include <stddef.h>

/* Every runtime row names an optional RouterConfig field of its type (string
 * for STRING and CHOICE, int64 for INT, double for FLOAT, bool for FLAG),
 * and every RouterConfig field is named by exactly one row. 0, or
 * SR_ERR_INVALID with the first mismatch in err. */
int sr_config_pb_check(char *err, size_t errlen);

/* The field of runtime row o, or NULL (a fixed row, or a mismatch). */
const ProtobufCFieldDescriptor *sr_config_pb_field(const struct sr_option *o);

/* Sets every runtime field of msg (initialised) from cfg; strings are
 * borrowed from cfg. */
void sr_config_pb_from_config(const struct sr_config *cfg,
                              Sglang__Router__Admin__V1__RouterConfig *msg);

/* The value of row o's field in msg as text, or NULL when the field is not
 * set. exact: as the command line takes it, doubles to the last bit ("%.17g");
 * otherwise for people ("%g"). Returns buf, or the message's own string. */
const char *sr_config_pb_text(const Sglang__Router__Admin__V1__RouterConfig *msg,
                              const struct sr_option *o, bool exact, char *buf, size_t len);

/* Sets row o's field in msg from text (a string field borrows value). 0, or
 * SR_ERR_INVALID with a one-line reason in err (not a number, not true or
 * false); bounds are the router's to check. */
int sr_config_pb_set_text(Sglang__Router__Admin__V1__RouterConfig *msg, const struct sr_option *o,
                          const char *value, char *err, size_t errlen);

#endif
