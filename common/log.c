/* log.c — stderr or journal logging, see log.h. */
#include "common/log.h"

#include <stdarg.h>
#include <systemd/sd-journal.h>

static const char *log_ident = "hogo";
static enum log_target log_target_current = LOG_TARGET_STDERR;
static int log_level_max = LOG_INFO;

void log_setup(const char *ident, enum log_target target, int max_level)
{
        log_ident = ident;
        log_target_current = target;
        log_level_max = max_level;
}

int log_max_level(void) { return log_level_max; }

int log_level_from_string(const char *s)
{
        static const struct {
                const char *name;
                int level;
        } levels[] = {
                { "debug", LOG_DEBUG },     { "info", LOG_INFO }, { "notice", LOG_NOTICE },
                { "warning", LOG_WARNING }, { "err", LOG_ERR },   { "error", LOG_ERR },
        };
        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                if (STREQ(s, levels[i].name))
                        return levels[i].level;
        return -EINVAL;
}

static const char *level_name(int level)
{
        switch (level) {
        case LOG_DEBUG: return "debug";
        case LOG_INFO: return "info";
        case LOG_NOTICE: return "notice";
        case LOG_WARNING: return "warning";
        default: return "error";
        }
}

int log_internal(int level, int err, const char *file, int line, const char *func,
                 const char *fmt, ...)
{
        int ret = err < 0 ? err : -err;

        if (level > log_level_max)
                return ret;

        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        errno = err < 0 ? -err : err; /* so that %m prints the error we were given */
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        if (log_target_current == LOG_TARGET_JOURNAL) {
                char cfile[512], cline[32], cfunc[256];
                snprintf(cfile, sizeof cfile, "CODE_FILE=%s", file);
                snprintf(cline, sizeof cline, "CODE_LINE=%d", line);
                snprintf(cfunc, sizeof cfunc, "CODE_FUNC=%s", func);
                sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=%s",
                                log_ident, cfile, cline, cfunc, NULL);
        } else {
                fprintf(stderr, "%s: %s: %s\n", log_ident, level_name(level), msg);
        }
        return ret;
}

void log_event(int level, const char *event_type, uint64_t seq, const char *policy_version,
               const char *fmt, ...)
{
        if (level > log_level_max)
                return;

        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        if (log_target_current == LOG_TARGET_JOURNAL)
                sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=%s",
                                log_ident, "EVENT_TYPE=%s", event_type, "SEQ=%llu",
                                (unsigned long long)seq, "POLICY_VERSION=%s",
                                policy_version ? policy_version : "", NULL);
        else
                fprintf(stderr, "%s: %s: [%s seq=%llu] %s\n", log_ident, level_name(level),
                        event_type, (unsigned long long)seq, msg);
}
