/* log.h — one logging path for every hogo binary.
 *
 * Daemons log to the journal (with structured fields) unless started with -d, tools and
 * foreground daemons log to stderr. `%m` works and prints the error passed in, so the
 * idiom is `return log_error_errno(r, "Cannot open %s: %m", path);`, which logs once and
 * returns r (negative). Log an error once, where it is handled.
 */
#ifndef HOGO_LOG_H
#define HOGO_LOG_H

#include <stdint.h>
#include <syslog.h>

#include "common/util.h"

enum log_target {
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
};

void log_setup(const char *ident, enum log_target target, int max_level);
int log_max_level(void);
/* Parses "debug", "info", "notice", "warning", "err"; returns the syslog level or -EINVAL. */
int log_level_from_string(const char *s);

/* Returns -abs(err) when err != 0, else 0. */
int log_internal(int level, int err, const char *file, int line, const char *func,
                 const char *fmt, ...) _printf_(6, 7);

/* An agent event mirrored into the journal with EVENT_TYPE=, SEQ=, POLICY_VERSION= fields. */
void log_event(int level, const char *event_type, uint64_t seq, const char *policy_version,
               const char *fmt, ...) _printf_(5, 6);

#ifndef __clang_analyzer__
#define log_full_errno(level, err, ...) \
        log_internal((level), (err), __FILE__, __LINE__, __func__, __VA_ARGS__)
#else
/* log_internal() lives in another file, so static analysis cannot see that it returns a
 * negative value for a non-zero err; without this it follows `return log_error_errno(r, ...)`
 * as a success that never wrote the ret_* outputs. */
static inline int log_errno_result(int err, int ret)
{
        if (err != 0 && ret >= 0)
                __builtin_unreachable();
        return ret;
}
#define log_full_errno(level, err, ...)                                                        \
        ({                                                                                     \
                int _log_err = (err);                                                          \
                log_errno_result(_log_err, log_internal((level), _log_err, __FILE__, __LINE__, \
                                                        __func__, __VA_ARGS__));               \
        })
#endif
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_error_errno(err, ...) log_full_errno(LOG_ERR, (err), __VA_ARGS__)
#define log_warning_errno(err, ...) log_full_errno(LOG_WARNING, (err), __VA_ARGS__)
#define log_debug_errno(err, ...) log_full_errno(LOG_DEBUG, (err), __VA_ARGS__)

#endif
