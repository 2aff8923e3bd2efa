/* source.h — the one small interface every event source of hogo-agent implements.
 *
 * A source (usb, session, files) watches one part of the system, decides with the
 * current policy, enforces, and reports each decision through agent_emit() (agent.h).
 * The core knows sources only through this table of operations; a source knows the core
 * only through agent.h. Adding a source is one new file plus one line in agent/sources.c,
 * and touches no other source.
 *
 * States a source reports: "running"; "unavailable" (this machine has no such facility,
 * e.g. no logind in a container: not an error, the rest of the agent keeps working);
 * "degraded" (running with a fault, e.g. a fanotify mark failed); "failed" (could not start).
 */
#ifndef HOGO_AGENT_SOURCE_H
#define HOGO_AGENT_SOURCE_H

#include <json-c/json.h>

struct agent;
struct policy;

struct source_ops {
        const char *name;
        /* Starts the source on the agent's loop with the policy in force. Returns 0 and a
         * state pointer (a source that finds its facility missing still returns 0 and
         * reports "unavailable"), or -errno when it cannot start at all. */
        int (*init)(struct agent *agent, const struct policy *policy, void **ret_self);
        /* Applies a new, already verified and validated policy; devices/sessions present
         * are re-evaluated under it. */
        int (*apply_policy)(void *self, const struct policy *policy);
        /* Adds {"state": "...", "reason": "...", <source counters>} members to status. */
        void (*status)(void *self, json_object *status);
        /* Adds compliance checks: checks["<name>"] = {"result": "pass|fail|unknown",
         * "reason": "..."}. Never "pass" for what the source could not verify. */
        void (*posture)(void *self, json_object *checks);
        void (*shutdown)(void *self);
};

/* The registered sources, NULL-terminated (agent/sources.c). */
extern const struct source_ops *const agent_sources[];

/* Each source's operations, defined in its own file. */
extern const struct source_ops session_source; /* source_session.c */
extern const struct source_ops usb_source;     /* source_usb.c */

#endif
