/* agent.h — what the agent core offers to its event sources.
 *
 * The core (agent/agent.c) owns the sd-event loop, the spool, the policy in force, the
 * notifier and the control socket. Sources get the loop to hook their fds and timers in,
 * the system bus, the configuration's paths, and two outputs: agent_emit() records a
 * decision as an event, agent_notice() tells the staff at the terminal.
 */
#ifndef HOGO_AGENT_AGENT_H
#define HOGO_AGENT_AGENT_H

#include <json-c/json.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "common/event.h"
#include "common/log.h"

struct agent;
struct agent_config;

/* Life cycle, for agent/main.c: agent_new() takes ownership of config (log_target is kept
 * for SIGHUP, which re-reads log_level), opens the spool,
 * loads the policy, starts every source and the control socket; agent_run() runs the loop
 * until SIGTERM/SIGINT and returns 0 or -errno; agent_free() shuts everything down. */
int agent_new(const char *config_path, struct agent_config *config, enum log_target log_target,
              struct agent **ret);
int agent_run(struct agent *agent);
void agent_free(struct agent *agent);

sd_event *agent_event_loop(struct agent *agent);
/* The system bus, or NULL when there is none (a container, a test without a bus). */
sd_bus *agent_system_bus(struct agent *agent);
/* Root under which sysfs and the mount table's block devices are found ("/" normally;
 * tests point it elsewhere through the configuration). */
const char *agent_sysfs_root(struct agent *agent);
/* Root under which the desktop's system settings (/etc/dconf) and GNOME's schemas are
 * found ("/" normally; tests point it at a scratch tree so the host is never touched). */
const char *agent_desktop_root(struct agent *agent);

/* Records one decision. Takes ownership of details (may be NULL). Security severities
 * (warning and above) are durable in the spool when this returns; others are durable at
 * the next group commit. Returns the event's seq, or -errno when it could not be spooled
 * (the agent keeps enforcing and reports the spool fault in its status). */
int64_t agent_emit(struct agent *agent, const char *type, enum event_severity severity,
                   const char *user, json_object *details);

/* What a notice to staff is about; the wording (Japanese first, English by locale) and the
 * rule it cites live in agent/notify.c. */
enum notice_kind {
        NOTICE_USB_BLOCKED,         /* subject: device name */
        NOTICE_USB_READ_ONLY,       /* subject: device name */
        NOTICE_LOCK_WARNING,        /* seconds: time left before the screen locks */
        NOTICE_LOGOFF_WARNING,      /* seconds: time left before logoff */
        NOTICE_LOGOFF_HOURS,        /* seconds: time left; outside permitted hours */
        NOTICE_FILES_BULK_WARNING,  /* subject: destination; count: files */
        NOTICE_FILES_BULK_BLOCKED,  /* subject: destination; seconds: cool-down */
        _NOTICE_KIND_MAX,
};

struct notice {
        enum notice_kind kind;
        const char *subject;  /* may be NULL */
        long count;
        long seconds;
        const char *rate_key; /* notices with the same key are rate-limited together */
};

/* Shows a notice to user's active graphical sessions (user NULL: every active session),
 * falling back to their terminals. Never blocks the loop for long; failures are logged. */
void agent_notice(struct agent *agent, const char *user, const struct notice *notice);

#endif
