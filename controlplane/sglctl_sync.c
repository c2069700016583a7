/* sglctl sync, sync set: the replica sync's status and settings (see
 * sglctl.h). */
#include "sglctl.h"

#include "common/alloc.h"
#include "common/secret.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void print_sync(const PB(SyncStatus) * s)
{
    printf("%-11s %s\n", "state", s->state ? s->state : "unknown");
    printf("%-11s %s\n", "group", s->group ? s->group : "-");
    for (size_t i = 0; i < s->n_servers; i++)
        printf("%-11s %s\n", "server", s->servers[i]);
    printf("%-11s %s\n", "replica", s->replica_id ? s->replica_id : "-");
    printf("%-11s %llu messages, %llu bytes\n", "sent", (unsigned long long)s->messages_sent,
           (unsigned long long)s->bytes_sent);
    printf("%-11s %llu messages, %llu bytes, %llu dropped\n", "received",
           (unsigned long long)s->messages_received, (unsigned long long)s->bytes_received,
           (unsigned long long)s->dropped);
    printf("%-11s %llu learned, lag %.3f s\n", "placements",
           (unsigned long long)s->placements_learned, s->lag_seconds);
    printf("%-11s %llu received, %llu served\n", "snapshots",
           (unsigned long long)s->snapshots_received, (unsigned long long)s->snapshots_served);
    if (s->last_error)
        printf("%-11s %s\n", "last_error", s->last_error);
    printf("%-11s %zu\n", "peers", s->n_peers);
    if (s->n_peers == 0)
        return;
    printf("%-16s  %14s  %9s\n", "PEER", "LAST_SEEN_SECS", "IN_FLIGHT");
    for (size_t i = 0; i < s->n_peers; i++)
        printf("%-16s  %14.1f  %9lld\n", s->peers[i]->replica_id ? s->peers[i]->replica_id : "?",
               s->peers[i]->last_seen_secs, (long long)s->peers[i]->in_flight);
}

/* What `sync set` reads from its files, owned (secrets wiped on release). */
struct sync_files {
    char *token, *password, *ca, *cert, *key;
};

static void sync_files_clear(struct sync_files *f)
{
    sr_secret_string_free(f->token);
    sr_secret_string_free(f->password);
    sr_secret_string_free(f->ca);
    sr_secret_string_free(f->cert);
    sr_secret_string_free(f->key);
}

/* One file option of `sync set` read into *slot: a secret (its first line)
 * or PEM text. false after a usage error was printed. */
static bool sync_file(const char *flag, const char *path, bool secret, char **slot)
{
    if (*slot != NULL) {
        sr_ctl_usage_error("sync set: %s given twice", flag);
        return false;
    }
    char why[400];
    *slot = secret ? sr_secret_read_one(flag, path, why, sizeof(why))
                   : sr_secret_read_text(flag, path, why, sizeof(why));
    if (*slot == NULL)
        sr_ctl_usage_error("sync set: %s", why);
    return *slot != NULL;
}

/* "--name value" or "--name=value" at argv[*i]; the value or NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* Fills in from `sync set` arguments; URLs and names are borrowed from
 * argv, files read into files. 0 or EXIT_USAGE (printed). */
static int sync_set_args(PB(SyncSettings) * in, struct sync_files *files, int argc, char **argv)
{
    static const struct {
        const char *flag;
        bool secret;
        size_t slot;
    } file_opts[] = {
        {"--token-file", true, offsetof(struct sync_files, token)},
        {"--password-file", true, offsetof(struct sync_files, password)},
        {"--tls-ca", false, offsetof(struct sync_files, ca)},
        {"--tls-cert", false, offsetof(struct sync_files, cert)},
        {"--tls-key", false, offsetof(struct sync_files, key)},
    };
    bool off = false;
    for (int i = 0; i < argc; i++) {
        const char *v;
        size_t k = 0;
        if (strcmp(argv[i], "--off") == 0) {
            off = true;
        } else if ((v = option_value(argc, argv, &i, "--nats-url")) != NULL) {
            in->nats_urls[in->n_nats_urls++] = (char *)v;
        } else if ((v = option_value(argc, argv, &i, "--group")) != NULL) {
            in->group = (char *)v;
        } else if ((v = option_value(argc, argv, &i, "--user")) != NULL) {
            in->user = (char *)v;
        } else {
            while (k < sizeof(file_opts) / sizeof(file_opts[0]) &&
                   (v = option_value(argc, argv, &i, file_opts[k].flag)) == NULL)
                k++;
            if (k == sizeof(file_opts) / sizeof(file_opts[0]))
                return sr_ctl_usage_error("sync set: unexpected '%s'", argv[i]);
            char **slot = (char **)((char *)files + file_opts[k].slot);
            if (!sync_file(file_opts[k].flag, v, file_opts[k].secret, slot))
                return EXIT_USAGE;
        }
    }
    if (off && argc > 1)
        return sr_ctl_usage_error("sync set: --off takes no other option");
    if (!off && in->n_nats_urls == 0)
        return sr_ctl_usage_error("sync set needs --nats-url URL (or --off)");
    in->token = files->token;
    in->password = files->password;
    in->tls_ca_pem = files->ca;
    in->tls_cert_pem = files->cert;
    in->tls_key_pem = files->key;
    return 0;
}

static int sync_set(struct ctl *ctl, int argc, char **argv, struct reply *r)
{
    PB(SyncSettings) in = PB_INIT(SYNC_SETTINGS);
    struct sync_files files = {0};
    in.nats_urls = sr_calloc((size_t)argc + 1, sizeof(*in.nats_urls));
    if (in.nats_urls == NULL) {
        fprintf(stderr, "sglctl: out of memory\n");
        return EXIT_CALL;
    }
    int rc = sync_set_args(&in, &files, argc, argv);
    if (rc == 0) {
        PB(SetSyncRequest) req = PB_INIT(SET_SYNC_REQUEST);
        req.settings = &in;
        if (!sr_ctl_call(ctl, SERVICE "SetSync", &req.base,
                         &sglang__router__admin__v1__set_sync_response__descriptor, r,
                         ctl->timeout_ms))
            rc = EXIT_CALL;
    }
    sync_files_clear(&files);
    sr_free(in.nats_urls);
    return rc;
}

int sr_ctl_sync(struct ctl *ctl, int argc, char **argv)
{
    bool set = argc > 0 && strcmp(argv[0], "set") == 0;
    if ((argc > 0 && sr_ctl_is_help(argv[0])) || (set && argc > 1 && sr_ctl_is_help(argv[1]))) {
        printf("usage: sglctl sync\n"
               "       sglctl sync set --nats-url URL [--nats-url URL...] [--group NAME]\n"
               "                       [--token-file F | --user U --password-file F]\n"
               "                       [--tls-ca F] [--tls-cert F --tls-key F]\n"
               "       sglctl sync set --off\n"
               "The NATS token, password, CA, certificate and key are read from the files\n"
               "here and sent to the router, which never answers them back.\n");
        return 0;
    }
    struct reply r = {0};
    const PB(SyncStatus) * status;
    if (set) {
        int rc = sync_set(ctl, argc - 1, argv + 1, &r);
        if (rc != 0)
            return rc;
        status = ((PB(SetSyncResponse) *)r.msg)->status;
    } else {
        if (argc > 0)
            return sr_ctl_usage_error("unknown sync command '%s'", argv[0]);
        PB(GetSyncRequest) req = PB_INIT(GET_SYNC_REQUEST);
        if (!sr_ctl_call(ctl, SERVICE "GetSync", &req.base,
                         &sglang__router__admin__v1__get_sync_response__descriptor, &r,
                         ctl->timeout_ms))
            return EXIT_CALL;
        status = ((PB(GetSyncResponse) *)r.msg)->status;
    }
    if (ctl->json)
        sr_ctl_print_json(r.msg);
    else if (status)
        print_sync(status);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return 0;
}
