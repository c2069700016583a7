/*
 * log: levelled, line-oriented logging to stderr.
 *
 * One line per call: "<UTC time> <LEVEL> <message>". The level threshold is
 * process-wide (set once at startup; reads are atomic, so any thread may log).
 * Callers never pass secrets (API keys, Authorization values) to the log.
 */
#ifndef SR_LOG_H
#define SR_LOG_H

enum sr_log_level {
    SR_LOG_DEBUG = 0,
    SR_LOG_INFO = 1,
    SR_LOG_WARN = 2,
    SR_LOG_ERROR = 3,
    SR_LOG_OFF = 4,
};

void sr_log_set_level(enum sr_log_level level);
enum sr_log_level sr_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off"; returns 0 or SR_ERR_INVALID. */
int sr_log_parse_level(const char *name, enum sr_log_level *out);

void sr_log(enum sr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sr_log_debug(...) sr_log(SR_LOG_DEBUG, __VA_ARGS__)
#define sr_log_info(...)  sr_log(SR_LOG_INFO, __VA_ARGS__)
#define sr_log_warn(...)  sr_log(SR_LOG_WARN, __VA_ARGS__)
#define sr_log_error(...) sr_log(SR_LOG_ERROR, __VA_ARGS__)

#endif
