/* libFuzzer target: the admin API's parser, without a socket. Arbitrary
 * bytes arrive in pieces (sizes from the input) as a request body's DATA
 * frames do: after each piece the announced length is checked against the
 * limit, as grpc_server refuses an oversized message from its prefix; the
 * whole body is then split by sr_grpc_unframe (the server's one message),
 * and the same bytes are taken message by message as a stream reader does
 * (grpc_client). Every complete message goes through the server's pre-unpack
 * check (sr_grpc_strings_without_nul) and is unpacked, walked and freed as
 * every request type the RouterAdmin and grpc.health.v1 services accept;
 * the worker lists of SetWorkers, AddWorkers (URLs and WorkerSpecs) and
 * RemoveWorkers go through the service's validation of them (workers_pb)
 * and a registry, and SetSync's settings through the replica sync's check
 * (and its message through sync_pb).
 *
 * The check's promise is held against protobuf-c's own parse: unpacking
 * through an allocator that records sizes, every string of a message the
 * check passed must be as long as protobuf-c found it on the wire (it
 * allocates the wire length + 1 and copies), i.e. no NUL cut one short. */
#include "controlplane/grpc_wire.h"
#include "controlplane/sync_pb.h"
#include "controlplane/workers_pb.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/registry.h"

#include "grpc/health/v1/health.pb-c.h"
#include "sglang/router/admin/v1/admin.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LIMIT (64 * 1024) /* the largest message accepted */

#define ADMIN(name) sglang__router__admin__v1__##name##__descriptor

/* What protobuf-c allocated while unpacking one message, and the sizes. */
#define MAX_RECORDED 1024
struct recorder {
    void *ptr[MAX_RECORDED];
    size_t size[MAX_RECORDED];
    size_t n;
    bool full; /* some allocations went unrecorded */
};

static void *record_alloc(void *data, size_t size)
{
    struct recorder *r = data;
    void *p = sr_malloc(size);
    if (p != NULL && r->n < MAX_RECORDED) {
        r->ptr[r->n] = p;
        r->size[r->n++] = size;
    } else if (p != NULL) {
        r->full = true;
    }
    return p;
}

static void record_free(void *data, void *p)
{
    (void)data;
    sr_free(p);
}

/* The size protobuf-c allocated at p, or 0 if it did not (a default value). */
static size_t recorded_size(const struct recorder *r, const void *p)
{
    for (size_t i = r->n; i-- > 0;)
        if (r->ptr[i] == p)
            return r->size[i];
    return 0;
}

/* Walks every string of m (nested messages included), checking each is as
 * long as protobuf-c found it on the wire when clean says no string held a
 * NUL. The admin protos have no oneof: every field has storage of its own. */
static size_t walk(const ProtobufCMessage *m, const struct recorder *r, bool clean)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    size_t sum = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const void *const *values = (const void *const *)((const char *)m + f->offset);
        size_t n = 1;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)m + f->quantifier_offset);
            values = n ? *(const void *const *const *)values : NULL;
        }
        for (size_t k = 0; k < n && values; k++) {
            if (values[k] == NULL)
                continue;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                sum += walk(values[k], r, clean);
                continue;
            }
            size_t len = strlen(values[k]), wire = recorded_size(r, values[k]);
            if (clean && !r->full && wire != 0 && len + 1 != wire)
                __builtin_trap(); /* a NUL the check missed cut this string short */
            sum += len;
        }
    }
    return sum;
}

/* The service's validation of a worker list (urls and WorkerSpecs through
 * workers_pb, then the registry), on a registry of its own: a refusal
 * names its field; what passes goes in, comes out and goes in again. */
static void validate_workers(const ProtobufCMessageDescriptor *d, const ProtobufCMessage *m)
{
    char **urls = NULL;
    size_t n = 0, nspecs = 0;
    Sglang__Router__Admin__V1__WorkerSpec **specs = NULL;
    if (d == &ADMIN(set_workers_request)) {
        const Sglang__Router__Admin__V1__SetWorkersRequest *r = (const void *)m;
        urls = r->urls;
        n = r->n_urls;
        specs = r->workers;
        nspecs = r->n_workers;
    } else if (d == &ADMIN(add_workers_request)) {
        const Sglang__Router__Admin__V1__AddWorkersRequest *r = (const void *)m;
        urls = r->urls;
        n = r->n_urls;
        specs = r->workers;
        nspecs = r->n_workers;
    } else if (d == &ADMIN(remove_workers_request)) {
        urls = ((const Sglang__Router__Admin__V1__RemoveWorkersRequest *)m)->urls;
        n = ((const Sglang__Router__Admin__V1__RemoveWorkersRequest *)m)->n_urls;
    } else {
        return;
    }
    struct sr_registry *reg = sr_registry_new();
    if (reg == NULL)
        return;
    struct sr_workers_pb w;
    char err[600];
    const char *bad = NULL, *why = NULL;
    int rc = sr_workers_pb_specs(urls, n, specs, nspecs, &w, err, sizeof(err));
    if (rc == SR_ERR_INVALID && strncmp(err, "urls[", 5) != 0 && strncmp(err, "workers[", 8) != 0)
        __builtin_trap(); /* a refusal that names no field */
    if (rc == 0 && sr_registry_replace_specs(reg, w.specs, w.n, &why) == 0) {
        /* all valid and distinct: removing and adding them back must work */
        struct sr_worker_set *set = sr_registry_acquire(reg);
        if (set->count != w.n)
            __builtin_trap();
        for (size_t i = 0; i < set->count; i++)
            if (set->workers[i]->role != w.specs[i].role ||
                (w.specs[i].model && strcmp(sr_worker_model(set->workers[i]), w.specs[i].model)))
                __builtin_trap();
        sr_worker_set_release(set);
        const char **list = sr_calloc(w.n + 1, sizeof(*list));
        for (size_t i = 0; list && i < w.n; i++)
            list[i] = w.specs[i].url;
        if (list && (sr_registry_change(reg, NULL, 0, list, w.n, &bad, &why) != 0 ||
                     sr_registry_change_specs(reg, w.specs, w.n, NULL, 0, &bad, &why) != 0))
            __builtin_trap();
        sr_free(list);
    } else if (rc == 0 && why && strcmp(why, "duplicate worker URL") == 0) {
        __builtin_trap(); /* workers_pb lets no duplicate past */
    }
    sr_workers_pb_clear(&w);
    sr_registry_free(reg);
}

/* SetSync's settings through the check the service applies before
 * anything changes; a refusal always names a field. */
static void validate_sync(const ProtobufCMessageDescriptor *d, const ProtobufCMessage *m)
{
    if (d != &ADMIN(set_sync_request))
        return;
    struct sr_sync_settings set;
    sr_sync_pb_settings(((const Sglang__Router__Admin__V1__SetSyncRequest *)m)->settings, &set);
    char err[400], msg[500];
    if (sr_sync_check(&set, err, sizeof(err)) == 0)
        return;
    sr_sync_pb_error(err, msg, sizeof(msg));
    if (strncmp(msg, "settings: ", 10) == 0)
        __builtin_trap(); /* a refusal that names no SyncSettings field */
}

/* One complete message, as each request type. */
static void decode(const uint8_t *msg, size_t len)
{
    static const ProtobufCServiceDescriptor *const services[] = {
        &sglang__router__admin__v1__router_admin__descriptor,
        &grpc__health__v1__health__descriptor,
    };
    for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++) {
        for (unsigned i = 0; i < services[s]->n_methods; i++) {
            const ProtobufCMessageDescriptor *d = services[s]->methods[i].input;
            bool clean = sr_grpc_strings_without_nul(d, msg, len);
            if (!clean && memchr(msg, '\0', len) == NULL) /* refused for a NUL it never saw */
                __builtin_trap();
            /* Unpacked even when refused: the oracle must see what the
             * check's refusals are about, and protobuf-c must survive both. */
            struct recorder rec;
            rec.n = 0;
            rec.full = false;
            ProtobufCAllocator allocator = {record_alloc, record_free, &rec};
            ProtobufCMessage *m = protobuf_c_message_unpack(d, &allocator, len, msg);
            if (m == NULL)
                continue;
            volatile size_t sum = walk(m, &rec, clean);
            (void)sum;
            if (clean) { /* what the service is handed */
                validate_workers(d, m);
                validate_sync(d, m);
            }
            protobuf_c_message_free_unpacked(m, &allocator);
        }
    }
}

/* As the server: pieces appended, the prefix checked after each, then the
 * whole body. */
static void as_request_body(const uint8_t *data, size_t size, size_t piece)
{
    size_t have = 0;
    while (have < size) {
        have += size - have < piece ? size - have : piece;
        uint32_t announced;
        if (sr_grpc_announced_length(data, have, &announced) && announced > LIMIT)
            return; /* RESOURCE_EXHAUSTED before buffering the rest */
    }
    const uint8_t *msg = NULL;
    size_t len = 0;
    if (sr_grpc_unframe(data, size, &msg, &len) != SR_GRPC_ONE_MESSAGE)
        return;
    if (msg != data + SR_GRPC_PREFIX || len != size - SR_GRPC_PREFIX)
        __builtin_trap();
    decode(msg, len);
}

/* As a stream reader: every complete message as soon as its bytes are in. */
static void as_stream(const uint8_t *data, size_t size, size_t piece)
{
    size_t have = 0, off = 0;
    int messages = 0;
    while (have < size && messages < 16) {
        have += size - have < piece ? size - have : piece;
        uint32_t len;
        while (messages < 16 && sr_grpc_announced_length(data + off, have - off, &len) &&
               have - off - SR_GRPC_PREFIX >= len) {
            if (len <= LIMIT && data[off] == 0)
                decode(data + off + SR_GRPC_PREFIX, len);
            off += SR_GRPC_PREFIX + len;
            messages++;
        }
        if (off > have)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] % 64 + 1; /* 1..64-byte pieces */
    data++;
    size--;
    as_request_body(data, size, piece);
    as_stream(data, size, piece);
    return 0;
}
