/*
 * sglctl: what the command-line client's files share.
 *   sglctl.c          options, the calls, and the config, stats, evict,
 *                     flush-cache and health commands;
 *   sglctl_workers.c  the workers commands and the worker table (also
 *                     `stats queues`'s);
 *   sglctl_sync.c     the sync commands.
 * One struct ctl, owned by main(); single-threaded. Messages received are
 * owned by the caller of sr_ctl_call (protobuf_c_message_free_unpacked).
 */
#ifndef SR_SGLCTL_H
#define SR_SGLCTL_H

#include "common/tls_config.h"

#include "sglang/router/admin/v1/admin.pb-c.h"

#include <stdbool.h>
#include <stddef.h>

#define PB(name)      Sglang__Router__Admin__V1__##name
#define PB_INIT(name) SGLANG__ROUTER__ADMIN__V1__##name##__INIT
#define SERVICE       "/sglang.router.admin.v1.RouterAdmin/"

#define EXIT_CALL  1
#define EXIT_USAGE 2

struct sr_grpc_client;

struct ctl {
    char host[256];
    char port[16];
    const char *token;
    bool tls;
    struct sr_tls_files tls_files; /* client certificate, CA */
    long timeout_ms;
    bool json;
    struct sr_grpc_client *client;
};

struct reply {
    const ProtobufCMessageDescriptor *type;
    ProtobufCMessage *msg; /* the last one received */
    int (*each)(struct ctl *ctl, const ProtobufCMessage *msg, void *arg); /* streaming */
    void *each_arg;
    struct ctl *ctl;
    bool bad;
};

/* "sglctl: ..." and the --help hint on stderr; returns EXIT_USAGE. */
int sr_ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool sr_ctl_is_help(const char *arg);

/* One call (connecting first if need be): true with the response in r->msg
 * (or each message handed to r->each), or false with the error printed. */
bool sr_ctl_call(struct ctl *ctl, const char *path, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *resp_type, struct reply *r, long timeout_ms);
void sr_ctl_print_json(const ProtobufCMessage *m);
/* "label item" lines. */
void sr_ctl_print_list(const char *label, char **items, size_t n);

/* sglctl_workers.c */
void sr_ctl_print_workers(PB(Worker) * *ws, size_t n);
int sr_ctl_workers(struct ctl *ctl, int argc, char **argv);

/* sglctl_sync.c */
int sr_ctl_sync(struct ctl *ctl, int argc, char **argv);

#endif
