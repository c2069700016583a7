/* nats: finding and starting the local nats-server (see nats.h). */
#include "nats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* dir/nats-server into path when executable. */
static bool look_in(const char *dir, size_t dir_len, char *path, size_t cap)
{
    if (dir_len == 0) /* an empty PATH entry is the current directory */
        return look_in(".", 1, path, cap);
    int n = snprintf(path, cap, "%.*s/nats-server", (int)dir_len, dir);
    return n > 0 && (size_t)n < cap && executable(path);
}

int sr_nats_find(char *path, size_t cap, char *err, size_t errlen)
{
    const char *override = getenv("SR_NATS_SERVER");
    if (override != NULL) {
        errno = 0;
        if (executable(override) && strlen(override) < cap) {
            snprintf(path, cap, "%s", override);
            return 0;
        }
        snprintf(err, errlen, "SR_NATS_SERVER=%s: %s", override,
                 errno ? strerror(errno) : "not an executable file");
        return -1;
    }
    const char *dirs = getenv("PATH");
    for (const char *p = dirs; p != NULL && *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (look_in(p, len, path, cap))
            return 0;
        p = end ? end + 1 : NULL;
    }
    if (look_in("/usr/sbin", 9, path, cap) || look_in("/usr/bin", 8, path, cap))
        return 0;
    snprintf(err, errlen,
             "--router-replicas: nats-server not found (looked in $PATH, /usr/sbin, /usr/bin; "
             "Debian: apt-get install nats-server; or set SR_NATS_SERVER=/path/to/nats-server, "
             "or give the replicas a server with --router-sync-nats-url)");
    return -1;
}

int sr_nats_start(struct sr_proc *p, const char *exe, int port, const char *log_path)
{
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    char *argv[] = {(char *)exe, "-a", "127.0.0.1", "-p", port_text, NULL};
    return sr_proc_start(p, argv, log_path);
}
