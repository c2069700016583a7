/*
 * sync_pb: the replica sync (sync/sync.h) in the admin API's terms. Its
 * status as a SyncStatus message (GetSync, SetSync, WatchStats), a
 * SyncSettings message as struct sr_sync_settings (SetSync), and the
 * settings check's message with the SyncSettings field it is about.
 *
 * SyncStatus carries no credentials: the servers are the sync's URLs
 * without user information, and nothing from SyncSettings but the URLs and
 * the group is ever copied into it.
 *
 * Ownership: struct sr_sync_pb_status owns the status its message points
 * into (release with sr_sync_pb_status_clear); settings filled by
 * sr_sync_pb_settings borrow the message's strings. No I/O; thread-safe.
 */
#ifndef SR_SYNC_PB_H
#define SR_SYNC_PB_H

#include "sync/sync.h"

#include "sglang/router/admin/v1/admin.pb-c.h"

#include <stddef.h>

struct sr_sync_pb_status {
    Sglang__Router__Admin__V1__SyncStatus msg;
    /* What msg points into. */
    struct sr_sync_status st;
    Sglang__Router__Admin__V1__SyncPeer *peers;
    Sglang__Router__Admin__V1__SyncPeer **ptrs;
};

/* The status of sync (NULL: no sync, state "off") in out->msg: every
 * counter set, dropped the sum of the four drop counters. 0 or
 * SR_ERR_NOMEM; either way out is to be cleared. */
int sr_sync_pb_status_fill(struct sr_sync *sync, struct sr_sync_pb_status *out);
void sr_sync_pb_status_clear(struct sr_sync_pb_status *s);

/* in (NULL: nothing set, which is sync off) as settings for
 * sr_sync_apply(); the strings are borrowed from in. */
void sr_sync_pb_settings(const Sglang__Router__Admin__V1__SyncSettings *in,
                         struct sr_sync_settings *out);

/* The message of sr_sync_check() (which names a router flag) with the
 * SyncSettings field first, as UpdateConfig names RouterConfig's:
 * "nats_urls: --sync-nats-url: not a NATS server URL: ...". */
void sr_sync_pb_error(const char *err, char *msg, size_t len);

#endif
