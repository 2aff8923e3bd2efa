/* agent_core.h — the agent core's own state, shared by its files and by nothing else.
 *
 * agent.c runs the loop (signals, timers, sd_notify, emitting events); agent_policy.c
 * owns the policy life cycle; agent_status.c answers `status` on the control socket and
 * writes the posture file. Sources never include this header: they see agent.h only.
 */
#ifndef HOGO_AGENT_CORE_H
#define HOGO_AGENT_CORE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/source.h"

struct policy;
struct spool;
struct notifier;
struct control;

/* Where the policy in force came from. */
enum agent_policy_origin {
        AGENT_POLICY_BUILTIN,   /* no valid policy at all: the strict built-in default */
        AGENT_POLICY_DROPPED,   /* <policy_dir>/policy.json, verified */
        AGENT_POLICY_LAST_GOOD, /* <state_dir>/policy-last-good.json: the drop was refused */
};

struct source_instance {
        const struct source_ops *ops;
        void *self;     /* NULL when init failed */
        int init_error; /* -errno from init, 0 when running */
};

struct agent {
        char *config_path;
        struct agent_config *config;
        enum log_target log_target;

        sd_event *event;
        sd_bus *system_bus;
        sd_event_source *sync_timer, *collect_timer, *posture_timer, *watchdog_timer;
        sd_event_source *policy_watch;
        uint64_t watchdog_usec;
        uint64_t started_usec; /* CLOCK_REALTIME */

        /* spool; emitting keeps working for enforcement when it fails */
        struct spool *spool;
        int spool_error;          /* last error opening or writing, 0 when healthy */
        uint64_t emit_failures;   /* events that could not be spooled since start */
        bool sync_pending;
        bool disk_full;
        char *chain_fault;        /* first fault that breaks the event chain, or NULL */

        struct source_instance *sources;
        size_t n_sources;

        /* the policy in force: never NULL once started */
        struct policy *policy;
        enum agent_policy_origin policy_origin;
        uint64_t policy_applied_usec;
        char *policy_rejected_reason; /* why the last dropped policy was refused, or NULL */
        uint64_t policy_rejected_usec;

        struct notifier *notifier;
        struct control *control;

        char *posture_written; /* checks of the last posture file, to write on change */
        bool stopping;
};

/* agent.c */
uint64_t agent_now_usec(void); /* CLOCK_REALTIME */
void agent_update_status(struct agent *agent);
void agent_posture_changed(struct agent *agent);

/* agent_policy.c */
const char *agent_policy_origin_to_string(enum agent_policy_origin origin);
/* Loads the policy at start (drop, else last good, else the built-in default) and hands
 * it to no source yet. */
int agent_policy_start(struct agent *agent);
/* Re-reads the drop and, when it verifies and validates, applies it to every source. */
void agent_policy_reload(struct agent *agent);
/* Watches the policy directory for a new drop. */
int agent_policy_watch(struct agent *agent);
/* For `hogo-agent -n`: verifies the drop; prints problems to f; 0 when usable. */
int agent_policy_check(const struct agent_config *config, FILE *f);

/* agent_status.c */
json_object *agent_status_json(struct agent *agent);
json_object *agent_posture_checks(struct agent *agent);
/* Writes the configured posture_file atomically; force: even when nothing changed. */
int agent_posture_write(struct agent *agent, bool force);
json_object *agent_control_request(void *userdata, json_object *request);

#endif
