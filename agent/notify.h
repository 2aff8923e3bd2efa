/* notify.h — notices to staff at the terminal (agent_notice() in agent.h).
 *
 * A notice goes to every active graphical session of the user (or of everyone) as found
 * through systemd-logind, over org.freedesktop.Notifications on that user's session bus,
 * connecting as that user. The talking happens in a worker of hogo-agent-helper's notice
 * server (notice_server.h, notice_delivery.h), so a session bus or notification daemon
 * that does not answer can never stall the agent's loop: the worker has D-Bus timeouts
 * and is killed after NOTIFY_CHILD_TIMEOUT. A helper that cannot be started or fails
 * leaves the notice recorded as not shown.
 * When no daemon answers, the notice is written to the user's terminals (like wall) and
 * an `agent.notice_fallback` event records that it could not be shown graphically.
 * Notices are rate-limited per rate_key (notice_ratelimit.h).
 */
#ifndef HOGO_AGENT_NOTIFY_H
#define HOGO_AGENT_NOTIFY_H

#include "agent/agent.h"

#define NOTIFY_DBUS_TIMEOUT_USEC (2 * 1000000ull)
#define NOTIFY_CHILD_TIMEOUT_USEC (10 * 1000000ull)
#define NOTIFY_RATELIMIT_INTERVAL_USEC (60 * 1000000ull)
#define NOTIFY_RATELIMIT_BURST 3

struct notifier;

int notifier_new(struct agent *agent, struct notifier **ret);
void notifier_free(struct notifier *notifier);
void notifier_show(struct notifier *notifier, const char *user, const struct notice *notice);
/* Notices delivered so far in status form: {"shown":N,"fallback":N,"suppressed":N,...}. */
void notifier_status(struct notifier *notifier, json_object *status);

#endif
