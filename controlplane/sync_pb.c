/* sync_pb: the replica sync as admin API messages (see sync_pb.h). */
#include "sync_pb.h"

#include "common/alloc.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

#define PB(name)      Sglang__Router__Admin__V1__##name
#define PB_INIT(name) SGLANG__ROUTER__ADMIN__V1__##name##__INIT

static void counters(PB(SyncStatus) * m, const struct sr_sync_status *st)
{
    m->has_messages_sent = m->has_bytes_sent = true;
    m->has_messages_received = m->has_bytes_received = m->has_dropped = true;
    m->has_placements_learned = m->has_lag_seconds = true;
    m->has_snapshots_received = m->has_snapshots_served = true;
    m->messages_sent = st->messages_sent;
    m->bytes_sent = st->bytes_sent;
    m->messages_received = st->messages_received;
    m->bytes_received = st->bytes_received;
    m->dropped =
        st->dropped_malformed + st->dropped_oversized + st->dropped_group + st->dropped_worker;
    m->placements_learned = st->placements_learned;
    m->lag_seconds = st->lag_seconds;
    m->snapshots_received = st->snapshots_received;
    m->snapshots_served = st->snapshots_served;
}

static int peers(struct sr_sync_pb_status *s)
{
    const struct sr_sync_status *st = &s->st;
    s->peers = sr_calloc(st->npeers + 1, sizeof(*s->peers));
    s->ptrs = sr_calloc(st->npeers + 1, sizeof(*s->ptrs));
    if (s->peers == NULL || s->ptrs == NULL)
        return SR_ERR_NOMEM;
    for (size_t i = 0; i < st->npeers; i++) {
        PB(SyncPeer) peer = PB_INIT(SYNC_PEER);
        peer.replica_id = (char *)st->peers[i].id;
        peer.has_last_seen_secs = peer.has_in_flight = true;
        peer.last_seen_secs = st->peers[i].last_seen_secs;
        peer.in_flight = st->peers[i].in_flight;
        s->peers[i] = peer;
        s->ptrs[i] = &s->peers[i];
    }
    s->msg.n_peers = st->npeers;
    s->msg.peers = s->ptrs;
    return 0;
}

int sr_sync_pb_status_fill(struct sr_sync *sync, struct sr_sync_pb_status *out)
{
    memset(out, 0, sizeof(*out));
    out->msg = (PB(SyncStatus))PB_INIT(SYNC_STATUS);
    out->msg.state = (char *)sr_sync_state_name(SR_SYNC_OFF);
    if (sync == NULL)
        return 0;
    struct sr_sync_status *st = &out->st;
    if (sr_sync_status(sync, st) != 0 || peers(out) != 0)
        return SR_ERR_NOMEM;
    out->msg.state = (char *)sr_sync_state_name(st->state);
    out->msg.group = st->group;
    out->msg.n_servers = st->nservers;
    out->msg.servers = st->servers;
    out->msg.replica_id = st->replica_id;
    out->msg.last_error = st->last_error;
    counters(&out->msg, st);
    return 0;
}

void sr_sync_pb_status_clear(struct sr_sync_pb_status *s)
{
    sr_free(s->peers);
    sr_free(s->ptrs);
    sr_sync_status_clear(&s->st);
    memset(s, 0, sizeof(*s));
}

void sr_sync_pb_settings(const PB(SyncSettings) * in, struct sr_sync_settings *out)
{
    memset(out, 0, sizeof(*out));
    if (in == NULL)
        return;
    *out = (struct sr_sync_settings){
        .urls = (const char *const *)in->nats_urls,
        .nurls = in->n_nats_urls,
        .group = in->group,
        .token = in->token,
        .user = in->user,
        .password = in->password,
        .tls_ca_pem = in->tls_ca_pem,
        .tls_cert_pem = in->tls_cert_pem,
        .tls_key_pem = in->tls_key_pem,
    };
}

void sr_sync_pb_error(const char *err, char *msg, size_t len)
{
    static const struct {
        const char *flag, *field;
    } fields[] = {
        {"--sync-nats-url", "nats_urls"},         {"--sync-group", "group"},
        {"--sync-nats-token", "token"},           {"--sync-nats-user", "user"},
        {"--sync-nats-password", "password"},     {"--sync-nats-tls-ca", "tls_ca_pem"},
        {"--sync-nats-tls-cert", "tls_cert_pem"}, {"--sync-nats-tls-key", "tls_key_pem"},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        size_t n = strlen(fields[i].flag);
        if (strncmp(err, fields[i].flag, n) == 0 && err[n] == ':') {
            snprintf(msg, len, "%s: %s", fields[i].field, err);
            return;
        }
    }
    snprintf(msg, len, "settings: %s", err);
}
