/* log: levelled logging to stderr (see log.h). */
#include "log.h"

#include "err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The threshold is the one process-wide setting of this module. */
static atomic_int threshold = SR_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void sr_log_set_level(enum sr_log_level level)
{
    atomic_store(&threshold, (int)level);
}

enum sr_log_level sr_log_get_level(void)
{
    return (enum sr_log_level)atomic_load(&threshold);
}

int sr_log_parse_level(const char *name, enum sr_log_level *out)
{
    for (int i = SR_LOG_DEBUG; i <= SR_LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum sr_log_level)i;
            return 0;
        }
    }
    return SR_ERR_INVALID;
}

void sr_log(enum sr_log_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&threshold, memory_order_relaxed) || level >= SR_LOG_OFF)
        return;

    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L,
                  level_names[level]);

    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    fwrite(line, 1, len, stderr);
}
